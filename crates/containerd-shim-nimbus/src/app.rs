//! An app image: the manifest at the root of the container's rootfs, served
//! like `nimbus up` (all its triggers) until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use containerd_shim_wasm::sandbox::context::RuntimeContext;
use nimbus_app::AppOptions;
use nimbus_platform::serve;
use nimbus_runtime::EpochTicker;

use crate::env_pairs;

/// Where the HTTP trigger listens unless the container says otherwise.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:80";

/// The container environment variable that moves the HTTP listener (the one
/// `containerd-shim-spin` reads, so pods written for it work unchanged).
pub const LISTEN_ENV: &str = "SPIN_HTTP_LISTEN_ADDR";

/// A runtime config at the root of the image (Spin's convention for app
/// images): key-value and SQLite backends, variable values.
pub const RUNTIME_CONFIG: &str = "runtime-config.toml";

/// The app manifest in `dir`: `nimbus.toml`, else `spin.toml` (as `nimbus
/// up` picks), if either is a file.
pub fn manifest_in(dir: &Path) -> Option<PathBuf> {
    ["nimbus.toml", "spin.toml"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// The HTTP listen address: [`LISTEN_ENV`] from `env` (HOST:PORT, or a
/// port alone), else [`DEFAULT_LISTEN`].
pub fn listen_address(env: &[(String, String)]) -> anyhow::Result<SocketAddr> {
    let Some((_, value)) = env.iter().find(|(key, _)| key == LISTEN_ENV) else {
        return Ok(DEFAULT_LISTEN.parse()?);
    };
    let value = value.trim();
    if let Ok(port) = value.parse::<u16>() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    // Spin accepts http://HOST:PORT too.
    let bare = value
        .strip_prefix("http://")
        .unwrap_or(value)
        .trim_end_matches('/');
    use std::net::ToSocketAddrs as _;
    bare.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| format!("{LISTEN_ENV}={value:?} is not HOST:PORT or a port number"))
}

/// App variables from the container's environment: `NIMBUS_VARIABLE_NAME`
/// before `SPIN_VARIABLE_NAME` (the process's own environment is the shim's
/// and is not read).
pub fn variables(env: &[(String, String)]) -> Vec<(String, String)> {
    ["NIMBUS_VARIABLE_", "SPIN_VARIABLE_"]
        .into_iter()
        .flat_map(|prefix| {
            env.iter().filter_map(move |(key, value)| {
                let name = key.strip_prefix(prefix)?;
                (!name.is_empty()).then(|| (name.to_ascii_lowercase(), value.clone()))
            })
        })
        .collect()
}

/// Serves the app of `manifest_path` until SIGTERM/SIGINT; 0 once requests
/// and messages in flight have finished.
pub async fn serve(ctx: &impl RuntimeContext, manifest_path: &Path) -> anyhow::Result<i32> {
    let env = env_pairs(ctx);
    let listen = listen_address(&env)?;
    let manifest = nimbus_platform::triggers::read_manifest(manifest_path)?;
    let runtime_config = manifest_path.with_file_name(RUNTIME_CONFIG);
    let runtime_config = if runtime_config.is_file() {
        Some(nimbus_runtime_config::RuntimeConfig::from_file(
            &runtime_config,
        )?)
    } else {
        None
    };
    let options = AppOptions {
        runtime_config,
        variables: variables(&env),
        // The process environment is the shim's, not the container's.
        ignore_host_environment: true,
        ..Default::default()
    };
    let (host, app) = serve::load_app(manifest, crate::cache::compile_cache(), options)?;
    let _epoch = EpochTicker::start(host.engines());
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let bound = serve::bind(&app, listen, workers)?;
    for line in bound.summary() {
        println!("{line}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    bound.run(serve::shutdown_signal()).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(
            listen_address(&[]).unwrap(),
            "0.0.0.0:80".parse::<SocketAddr>().unwrap()
        );
        for (value, expected) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("3000", "0.0.0.0:3000"),
            ("http://0.0.0.0:81/", "0.0.0.0:81"),
        ] {
            assert_eq!(
                listen_address(&env(&[(LISTEN_ENV, value)])).unwrap(),
                expected.parse::<SocketAddr>().unwrap(),
                "{value}"
            );
        }
        let err = listen_address(&env(&[(LISTEN_ENV, "nowhere")])).unwrap_err();
        assert!(err.to_string().contains(LISTEN_ENV), "{err}");
    }

    #[test]
    fn variables_from_the_container_environment() {
        let vars = variables(&env(&[
            ("SPIN_VARIABLE_GREETING", "spin"),
            ("PATH", "/bin"),
            ("NIMBUS_VARIABLE_GREETING", "nimbus"),
            ("SPIN_VARIABLE_", "empty name"),
        ]));
        assert_eq!(
            vars,
            env(&[("greeting", "nimbus"), ("greeting", "spin")]),
            "NIMBUS_ first: the first match wins"
        );
    }

    #[test]
    fn manifest_prefers_nimbus_toml() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(manifest_in(dir.path()), None);
        std::fs::write(dir.path().join("spin.toml"), "").unwrap();
        assert_eq!(manifest_in(dir.path()), Some(dir.path().join("spin.toml")));
        std::fs::write(dir.path().join("nimbus.toml"), "").unwrap();
        assert_eq!(
            manifest_in(dir.path()),
            Some(dir.path().join("nimbus.toml"))
        );
    }
}
