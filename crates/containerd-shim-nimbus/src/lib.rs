//! `containerd-shim-nimbus-v1`: a containerd shim (runtime
//! `io.containerd.nimbus.v1`, built on runwasi's `containerd-shim-wasm`) that
//! runs a container's WebAssembly with Nimbus's engine and executors.
//!
//! The library (youki's libcontainer underneath) creates the container as
//! any runtime would: namespaces, cgroups, the image's rootfs as `/`, the
//! container's stdio. Inside it, instead of `exec`ing a program, it calls
//! [`NimbusSandbox`], which picks one of:
//!
//! - **An app image** ("tar-rootfs" Spin app: `spin.toml` or `nimbus.toml`
//!   at `/`, beside its `.wasm` files and static files): served like `nimbus
//!   up` ([`app`]), HTTP on `SPIN_HTTP_LISTEN_ADDR` (default `0.0.0.0:80`),
//!   Redis, cron and NATS triggers too; SIGTERM/SIGINT let requests in
//!   flight finish, then the container exits 0.
//! - **A plain image** whose entrypoint (`args[0]`) is a `.wasm` module or
//!   component: run like `nimbus run` ([`command`]); the guest's exit status
//!   is the container's.
//! - **An image with Wasm layers** (Spin's OCI artifact format or a raw
//!   Wasm layer; containerd 1.7.7 and later pull those): see [`oci_layers`].
//!
//! Compiled code is cached by content for every container on the node in a
//! directory the shim opens before the container is created ([`cache`]).

use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::shim::{Shim, Version};

pub mod app;
pub mod cache;
pub mod command;
pub mod oci_layers;

/// The shim: its name makes the runtime `io.containerd.nimbus.v1` and the
/// binary `containerd-shim-nimbus-v1`.
pub struct NimbusShim;

impl Shim for NimbusShim {
    type Sandbox = NimbusSandbox;

    fn name() -> &'static str {
        "nimbus"
    }

    fn version() -> Version {
        containerd_shim_wasm::shim::version!()
    }

    fn supported_layers_types() -> &'static [&'static str] {
        oci_layers::SUPPORTED_LAYER_TYPES
    }
}

/// Runs one container's Wasm (created inside the container, its rootfs
/// being `/`).
#[derive(Default)]
pub struct NimbusSandbox;

/// What a container holds, decided from its rootfs and its image's layers.
enum Workload<'a> {
    /// An app manifest at the root of the rootfs.
    App(std::path::PathBuf),
    /// Wasm layers of the image (containerd 1.7.7+).
    Layers(&'a [containerd_shim_wasm::sandbox::context::WasmLayer]),
    /// A program: the entrypoint is a `.wasm` file.
    Command,
}

fn workload<'a>(ctx: &'a impl RuntimeContext) -> Workload<'a> {
    if let Source::Oci(layers) = ctx.entrypoint().source {
        return Workload::Layers(layers);
    }
    match app::manifest_in(std::path::Path::new("/")) {
        Some(manifest) => Workload::App(manifest),
        None => Workload::Command,
    }
}

impl Sandbox for NimbusSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> anyhow::Result<i32> {
        init_logging(ctx);
        use_container_tmp();
        let result = match workload(ctx) {
            Workload::App(manifest) => app::serve(ctx, &manifest).await,
            Workload::Layers(layers) => oci_layers::run(ctx, layers).await,
            Workload::Command => command::run(ctx).await,
        };
        // The library logs a returned error to the shim's log only and exits
        // 137: say it on the container's stderr (`kubectl logs`) instead.
        Ok(result.unwrap_or_else(|err| {
            eprintln!("error: {}", nimbus_runtime::one_line(&err));
            nimbus_trigger_command::exit::FAILURE
        }))
    }

    async fn can_handle(&self, ctx: &impl RuntimeContext) -> anyhow::Result<()> {
        match workload(ctx) {
            Workload::App(_) | Workload::Layers(_) => Ok(()),
            Workload::Command => command::check(ctx),
        }
    }
}

/// Whether the shim keeps `name` from containerd's environment.
///
/// A Wasm container's process is a fork of the shim, never `exec`ed: its
/// `/proc/self/environ`, which a guest granted the container's `/` can
/// read, is the environment the shim daemon started with, which containerd
/// passes on whole (proxy settings, tokens, …). So `main` drops everything
/// else in `start` (which spawns the daemon with its own environment): what
/// containerd's shim protocol sets, logging and tracing settings, `PATH`
/// and the shim's own settings stay.
pub fn shim_env_allowed(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "NAMESPACE",
        "TTRPC_ADDRESS",
        "GRPC_ADDRESS",
        "MAX_SHIM_VERSION",
        "SCHED_CORE",
        "TRACECONTEXT",
        "SHIM_DEBUGGER",
        "TMPDIR",
    ];
    const PREFIXES: &[&str] = &["NIMBUS_SHIM_", "RUST_", "OTEL_", "XDG_RUNTIME_DIR", "DBUS_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// The container's environment (`KEY=VALUE` entries of the OCI spec) as
/// pairs; entries without `=` are skipped.
pub fn env_pairs(ctx: &impl RuntimeContext) -> Vec<(String, String)> {
    ctx.envs()
        .iter()
        .filter_map(|entry| entry.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// Temporary files (e.g. the staging directory of a component's `files`)
/// go to the container's `/tmp`, made if the image has none (a `FROM
/// scratch` app image): the process's `TMPDIR` is the shim's, a path on
/// the node. A read-only rootfs without `/tmp` needs a volume there.
fn use_container_tmp() {
    let tmp = std::path::Path::new("/tmp");
    if !tmp.is_dir() {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        match std::fs::DirBuilder::new().mode(0o1777).create(tmp) {
            // The umask took bits off the mode: set it as a /tmp has it.
            Ok(()) => {
                let _ = std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o1777));
            }
            Err(err) => tracing::warn!("cannot create /tmp in the container: {err}"),
        }
    }
    let _ = tempfile::env::override_temp_dir(tmp);
}

/// Logs of Nimbus inside the container go to its stderr: `RUST_LOG` from
/// the container's environment, else what `nimbus up` logs by default.
fn init_logging(ctx: &impl RuntimeContext) {
    use tracing_subscriber::EnvFilter;
    let filter = env_pairs(ctx)
        .into_iter()
        .find(|(key, _)| key == "RUST_LOG")
        .and_then(|(_, value)| EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| EnvFilter::new("warn,nimbus::access=info"));
    // `try_init`: the library's `log` logger is already installed in this
    // process, so bridging `log` fails; the subscriber is set regardless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn shim_environment_allow_list() {
        for kept in [
            "PATH",
            "TTRPC_ADDRESS",
            "NIMBUS_SHIM_CACHE_DIR",
            "RUST_LOG",
            "OTEL_SDK_DISABLED",
        ] {
            assert!(super::shim_env_allowed(kept), "{kept}");
        }
        for dropped in [
            "HTTPS_PROXY",
            "AWS_SECRET_ACCESS_KEY",
            "HOME",
            "NIMBUS_VARIABLE_X",
        ] {
            assert!(!super::shim_env_allowed(dropped), "{dropped}");
        }
    }
}
