//! `nimbus up`: run an app's triggers (HTTP, Redis, cron, NATS).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use nimbus_app::AppOptions;
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_platform::serve;
use nimbus_runtime::EpochTicker;

use crate::commands::build::{self, manifest_path, report_manifest_error};
use crate::commands::registry::{self, RegistryClientArgs, TrustArgs};
use crate::commands::run::CacheArgs;
use crate::commands::values;
use crate::exit;

/// Run the app in nimbus.toml (or spin.toml): its HTTP routes, Redis
/// channels, cron schedules and NATS subjects.
///
/// Each request, message or tick runs in a fresh sandbox instantiated from
/// code compiled once at start. A component sees only what its manifest
/// grants: its `files` (read-only), `environment`, and
/// `allowed_outbound_hosts`.
///
/// Limits per component in [component.NAME.limits]: memory (exhausted or a
/// trap: 500), timeout (504), max_concurrency (503 with Retry-After; for
/// messages: they wait, up to 1,024, then are dropped), max_body_size (413).
/// SIGINT/SIGTERM let requests and messages in flight finish, then exit 0.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The app manifest, or a directory holding one [default: nimbus.toml,
    /// else spin.toml, in the current directory]
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    file: Option<PathBuf>,

    /// Run the app at this image reference in an OCI registry
    /// (REGISTRY/REPOSITORY:TAG, pushed by `nimbus registry push` or `spin
    /// registry push`) instead of a local manifest: pulled once per digest
    /// into the cache. Its state (SQLite files) goes to .nimbus in the
    /// current directory unless --state-dir says otherwise.
    #[arg(long, value_name = "REFERENCE", conflicts_with_all = ["file", "build"])]
    from: Option<String>,

    #[command(flatten)]
    registry: RegistryClientArgs,

    #[command(flatten)]
    trust: TrustArgs,

    /// The address to listen on: HOST:PORT (an IP address or a host name)
    /// or a port number (on 127.0.0.1); port 0 picks a free port.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3000",
        value_parser = values::listen_address
    )]
    listen: SocketAddr,

    /// Run `nimbus build` first (every component's build command), then
    /// serve.
    #[arg(long)]
    build: bool,

    /// Set an environment variable for every component: KEY=VALUE (over the
    /// manifest's `environment`). Repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = values::key_value)]
    envs: Vec<(String, String)>,

    /// Give an app variable (the manifest's [variables]) a value:
    /// NAME=VALUE. Takes precedence over NIMBUS_VARIABLE_NAME /
    /// SPIN_VARIABLE_NAME, the runtime config and the default. Repeatable.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = values::key_value)]
    variables: Vec<(String, String)>,

    /// Serving threads, each with its own event loop and listening socket
    /// (SO_REUSEPORT; the kernel spreads connections): a request and its
    /// guest stay on one core [default: one per CPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// Runtime config (Spin's runtime-config.toml shape): backends of
    /// key-value stores (`[key_value_store.NAME] type = "redis"`), SQLite
    /// databases, variable values.
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,

    /// SQL to run against the `default` SQLite database before serving (e.g.
    /// migrations): a statement, or @FILE to read it from a file.
    /// Repeatable; run in order.
    #[arg(long, value_name = "STATEMENT|@FILE")]
    sqlite: Vec<String>,

    /// Where the app's state (SQLite files) lives [default: .nimbus next to
    /// the manifest]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    #[command(flatten)]
    cache: CacheArgs,
}

pub fn main(args: UpArgs) -> i32 {
    match up(args) {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<ManifestError>() {
            Some(manifest_err) => report_manifest_error(manifest_err),
            None => exit::report(&err),
        },
    }
}

fn up(mut args: UpArgs) -> anyhow::Result<()> {
    let path = match &args.from {
        Some(reference) => {
            if args.state_dir.is_none() {
                args.state_dir = Some(PathBuf::from(".nimbus"));
            }
            registry::pull_into_cache(&args.registry, &args.trust, reference)?
        }
        None => manifest_path(args.file.as_deref())?,
    };
    if args.build {
        let manifest = Manifest::from_file(&path)?;
        build::build(&manifest, &[])?;
    }
    let mut manifest = nimbus_platform::triggers::read_manifest(&path)?;
    check_variables(&manifest, &args.variables)?;
    for component in manifest.components.values_mut() {
        for (key, value) in &args.envs {
            component.environment.insert(key.clone(), value.clone());
        }
    }
    let runtime_config = match &args.runtime_config_file {
        Some(path) => Some(nimbus_runtime_config::RuntimeConfig::from_file(path)?),
        None => None,
    };
    let sqlite_migrations = super::values::sqlite_statements(&args.sqlite)?;
    let options = AppOptions {
        runtime_config,
        sqlite_migrations,
        data_dir: args.state_dir.clone(),
        variables: args.variables.clone(),
        ..Default::default()
    };
    let (host, app) = serve::load_app(manifest, args.cache.cache(), options)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _epoch = EpochTicker::start(host.engines());
    runtime.block_on(async move {
        // Every trigger the manifest has, in this one process (the list of
        // types: nimbus_platform::triggers).
        let bound = serve::bind(&app, args.listen, workers(args.workers))?;
        for line in bound.summary() {
            println!("{line}");
        }
        if let Some(local) = bound.http_addr() {
            tracing::info!(app = app.manifest().name(), "serving on http://{local}");
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        bound.run(serve::shutdown_signal()).await
    })
}

/// Every `--variable` must name an app variable of the manifest (a misspelt
/// name is an error, as in the runtime config, not silently ignored).
fn check_variables(manifest: &Manifest, variables: &[(String, String)]) -> anyhow::Result<()> {
    for (name, _) in variables {
        if manifest.variables.keys().any(|v| v.as_str() == name) {
            continue;
        }
        let declared: Vec<String> = manifest
            .variables
            .keys()
            .map(|v| format!("`{}`", v.as_str()))
            .collect();
        let hint = if declared.is_empty() {
            "the manifest declares no [variables]".to_owned()
        } else {
            format!("declared variables: {}", declared.join(", "))
        };
        anyhow::bail!(
            "--variable {name}: {} declares no variable `{name}` in [variables] ({hint})",
            manifest.path().display()
        );
    }
    Ok(())
}

/// `--workers`, or one per CPU.
pub fn workers(flag: Option<u16>) -> usize {
    flag.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}
