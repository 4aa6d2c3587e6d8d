//! `nimbus node`: serve many apps, deployed through the admin API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use nimbus_platform::node::Readiness;
use nimbus_platform::{server, signing, Node, NodeConfig, NodeOptions};

use crate::commands::run::CacheArgs;
use crate::commands::values;
use crate::exit;

/// Run a node: many apps in one process, reached by host name
/// (NAME.DOMAIN, or custom hostnames), deployed, replaced, rolled back and
/// removed live through an authenticated admin API.
///
/// State lives in --data-dir: every acknowledged deploy is on disk and comes
/// back after a restart or a crash. Apps' code is loaded on their first
/// request (from the compile cache). The admin API needs a bearer token:
/// --admin-token / NIMBUS_ADMIN_TOKEN, or one generated at first start into
/// DATA/admin-token (mode 0600). Metrics in Prometheus format are on the
/// admin listener's /metrics.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  nimbus node --data-dir ./node-data
  nimbus node --listen 0.0.0.0:3000 --admin 127.0.0.1:3001 --config node.toml
  nimbus node --trusted-key ci.key.pub --require-signatures
  curl -H 'Host: hello.localhost' 127.0.0.1:3000/")]
pub struct NodeArgs {
    /// The address apps are served on: HOST:PORT (an IP address or a host
    /// name) or a port number (on 127.0.0.1); port 0 picks a free port.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3000",
        value_parser = values::listen_address
    )]
    listen: SocketAddr,

    /// Serving threads, each with its own event loop and listening socket
    /// (SO_REUSEPORT; the kernel spreads connections): a request and its
    /// guest stay on one core [default: one per CPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// The address of the admin API (keep it private), as --listen; port 0
    /// picks a free port.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3001",
        value_parser = values::listen_address
    )]
    admin: SocketAddr,

    /// Where bundles, the deployed set and the admin token are kept.
    #[arg(long, value_name = "DIR", default_value = "node-data")]
    data_dir: PathBuf,

    /// The node's config file: domain, bundle size limits, per-app quotas
    /// (see docs/admin-api.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Apps answer on NAME.DOMAIN [default: from --config, else localhost]
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,

    /// The admin API's bearer token [default: DATA/admin-token, generated
    /// at first start]
    #[arg(
        long,
        value_name = "TOKEN",
        env = "NIMBUS_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,

    /// Trust signatures by this public key (from `nimbus keygen`).
    /// Repeatable. Bundles signed by other keys are refused.
    #[arg(long = "trusted-key", value_name = "KEY.pub")]
    trusted_keys: Vec<PathBuf>,

    /// Refuse bundles that are not signed by a trusted key.
    #[arg(long, requires = "trusted_keys")]
    require_signatures: bool,

    /// Let apps reach loopback, private and link-local addresses through
    /// the host names in their allowed_outbound_hosts (by default a name
    /// that resolves to such an address is refused, so that a guest cannot
    /// reach the node's own network; an entry that is an IP literal, e.g.
    /// "http://10.0.0.5:8080", is allowed either way). Also
    /// `allow_private_outbound = true` in --config.
    #[arg(long)]
    allow_private_outbound: bool,

    /// Speak plain HTTP to this registry (HOST[:PORT]) when pulling apps
    /// for `nimbus deploy --from`; loopback registries always are.
    /// Repeatable. Credentials come from the node's Docker config
    /// ($DOCKER_CONFIG/config.json or ~/.docker/config.json) or
    /// NIMBUS_REGISTRY_USERNAME / NIMBUS_REGISTRY_PASSWORD.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,

    #[command(flatten)]
    cache: CacheArgs,
}

pub fn main(args: NodeArgs) -> i32 {
    match node(args) {
        Ok(()) => 0,
        Err(err) => exit::report(&err),
    }
}

fn node(args: NodeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => NodeConfig::from_file(path)?,
        None => NodeConfig::default(),
    };
    if let Some(domain) = &args.domain {
        config.domain = nimbus_platform::config::normalize_domain(domain)?;
    }
    if args.allow_private_outbound {
        config.allow_private_outbound = true;
    }
    let trusted_keys = args
        .trusted_keys
        .iter()
        .map(|path| signing::read_verifying_key(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let idle_unload = config.idle_unload;
    let node = Node::open(NodeOptions {
        data_dir: args.data_dir.clone(),
        config,
        cache: args.cache.cache(),
        trusted_keys,
        require_signatures: args.require_signatures,
        registry: nimbus_oci::RegistryOptions {
            insecure_registries: args.insecure_registries.clone(),
            credentials: super::registry::credentials_from_env()?,
            cache_dir: Some(args.data_dir.join("registry-cache")),
            ..Default::default()
        },
    })?;
    let token_note = match args.admin_token.as_deref().map(str::trim) {
        Some("") => anyhow::bail!("--admin-token / NIMBUS_ADMIN_TOKEN is empty"),
        Some(_) => "given by --admin-token or NIMBUS_ADMIN_TOKEN".to_owned(),
        None => {
            let (_, created) = node.store().admin_token()?;
            let path = args.data_dir.join("admin-token");
            if created {
                format!("generated into {}", path.display())
            } else {
                format!("in {}", path.display())
            }
        }
    };
    let token = match args.admin_token {
        Some(token) => token.trim().to_owned(),
        None => node.store().admin_token()?.0,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let public =
            nimbus_trigger_http::bind_per_core(args.listen, super::up::workers(args.workers))
                .with_context(|| format!("cannot listen on {}", args.listen))?;
        let admin = tokio::net::TcpListener::bind(args.admin)
            .await
            .with_context(|| format!("cannot listen on {} (admin)", args.admin))?;
        let public_addr = public[0].local_addr()?;
        let admin_addr = admin.local_addr()?;
        node.set_public_addr(public_addr);
        let domain = node.config().domain.clone();
        println!("Serving http://{public_addr}");
        println!("  apps at http://NAME.{domain}:{}", public_addr.port());
        println!("Admin API on http://{admin_addr}");
        println!("  admin token {token_note}");
        println!("  {} apps deployed", node.app_count());
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tracing::info!(%public_addr, %admin_addr, apps = node.app_count(), "node started");

        if let Some(idle) = idle_unload {
            let node = node.clone();
            let every = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    node.unload_idle(idle);
                }
            });
        }

        // Apps with Redis, cron or NATS triggers run them from the start.
        {
            let node = node.clone();
            tokio::spawn(async move {
                node.start_event_apps().await;
                node.set_readiness(Readiness::Ready);
            });
        }

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let node_for_signal = node.clone();
        tokio::spawn(async move {
            nimbus_platform::serve::shutdown_signal().await;
            node_for_signal.set_readiness(Readiness::Draining);
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let (public_result, admin_result) = tokio::join!(
            server::serve_public(node.clone(), public, stopped(stop_rx.clone())),
            server::serve_admin(node.clone(), token, admin, stopped(stop_rx)),
        );
        // The listeners are closed: stop taking messages and ticks, and let
        // those in flight finish.
        node.stop_events().await;
        public_result?;
        admin_result?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}
