//! `nimbus deploy`: pack an app and upload it to a node.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_platform::bundle::{self, Bundle};
use nimbus_platform::client::AdminClient;
use nimbus_platform::settings::AppSettings;
use nimbus_platform::signing;

use crate::commands::build::{manifest_path, report_manifest_error};
use crate::exit;

/// Where a node's admin API is, and its token.
#[derive(Debug, Clone, Args)]
pub struct NodeClientArgs {
    /// The node's admin API.
    #[arg(
        long = "to",
        value_name = "URL",
        env = "NIMBUS_NODE",
        default_value = "http://127.0.0.1:3001",
        global = true
    )]
    pub node: String,

    /// The admin token (the node's DATA/admin-token).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "NIMBUS_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

impl NodeClientArgs {
    /// A client for the node.
    pub fn client(&self) -> anyhow::Result<AdminClient> {
        AdminClient::new(
            &self.node,
            self.token.as_deref().map(str::trim).map(str::to_owned),
        )
    }
}

/// Deploy an app to a node: pack the manifest, every component's Wasm and
/// its files into a bundle (with a SHA-256 per file), optionally sign it,
/// and upload it.
///
/// The node checks the bundle, verifies its signature against its trusted
/// keys, and loads every component before the new version replaces the
/// running one; requests in flight finish on the old version. A refused
/// bundle leaves the running version serving, and the reason is printed.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  nimbus deploy --to http://127.0.0.1:3001
  nimbus deploy -f apps/shop/nimbus.toml --name shop --hostname shop.example.com
  nimbus deploy --key ci.key                 # sign, then upload
  nimbus deploy --bundle shop.bundle         # upload a bundle from `nimbus sign`
  nimbus deploy --variable api_key=$API_KEY --runtime-config-file rc.toml --sqlite @migrations.sql

Settings (--variable, --runtime-config-file, --sqlite) are kept by the node
with the app and applied on every load, whichever release serves; a deploy
that gives none keeps the app's settings, one that gives any replaces them
all. Values are never shown back.")]
pub struct DeployArgs {
    /// The app manifest, or a directory holding one [default: nimbus.toml,
    /// else spin.toml, in the current directory]
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    file: Option<PathBuf>,

    /// Upload this bundle (from `nimbus sign`) instead of packing.
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    bundle: Option<PathBuf>,

    /// Have the node pull the app from this image reference in an OCI
    /// registry (REGISTRY/REPOSITORY:TAG) instead of uploading one: the
    /// node verifies every layer's digest and, under its signature policy,
    /// the image's signature (`nimbus registry push --key`). The app's name
    /// defaults to the repository's last path segment.
    #[arg(long, value_name = "REFERENCE", conflicts_with_all = ["file", "bundle", "key"])]
    from: Option<String>,

    /// The app's name on the node [default: the manifest's application
    /// name]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// A custom hostname the app also answers on. Repeatable.
    #[arg(long = "hostname", value_name = "HOST")]
    hostnames: Vec<String>,

    /// Sign the bundle with this secret key (from `nimbus keygen`) before
    /// uploading.
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,

    /// An app variable's value on the node, NAME=VALUE (secrets too: the
    /// node never shows it back). Repeatable.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,

    /// A runtime config for the app on the node (Spin's runtime-config.toml
    /// shape: key-value and SQLite backends, [variables]); relative paths
    /// in it are below the app's data directory on the node.
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,

    /// SQL the node runs against the app's `default` SQLite database on
    /// every load (e.g. idempotent migrations): a statement, or @FILE.
    /// Repeatable; run in order.
    #[arg(long, value_name = "STATEMENT|@FILE")]
    sqlite: Vec<String>,

    #[command(flatten)]
    node: NodeClientArgs,
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// The settings given on the command line (`None`: none given).
fn settings(args: &DeployArgs) -> anyhow::Result<Option<AppSettings>> {
    let runtime_config = match &args.runtime_config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("--runtime-config-file: cannot read {}", path.display())
            })?;
            // Checked here, where the error can name the user's file.
            nimbus_runtime_config::RuntimeConfig::from_str(&text, path)?;
            Some(text)
        }
        None => None,
    };
    let sqlite = super::values::sqlite_statements(&args.sqlite)?;
    let settings = AppSettings {
        variables: args.variables.iter().cloned().collect(),
        runtime_config,
        sqlite,
    };
    Ok((!settings.is_empty()).then_some(settings))
}

pub fn main(args: DeployArgs) -> i32 {
    match deploy(args) {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<ManifestError>() {
            Some(manifest_err) => report_manifest_error(manifest_err),
            None => exit::report(&err),
        },
    }
}

/// Packs the app of `file` (or reads `bundle`), signing it with `key`.
pub fn bundle_from(
    file: Option<&std::path::Path>,
    bundle_file: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> anyhow::Result<Bundle> {
    let mut bundle = match bundle_file {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Bundle::from_bytes(&bytes, u64::MAX)
                .with_context(|| format!("{} is not a valid bundle", path.display()))?
        }
        None => bundle::pack(&manifest_path(file)?)?,
    };
    if let Some(key) = key {
        let key = signing::read_signing_key(key)?;
        signing::sign(&mut bundle, &key);
    }
    Ok(bundle)
}

/// The app name a bundle's manifest declares, made into a host-name label.
pub fn default_name(bundle: &Bundle) -> anyhow::Result<String> {
    let text = bundle
        .files
        .get(&bundle.index.manifest)
        .context("the bundle has no manifest")?;
    let text = String::from_utf8_lossy(text);
    let manifest = Manifest::from_str(&text, &bundle.index.manifest, ".")?;
    Ok(host_label(manifest.name()))
}

/// `name` made into a host-name label: lowercase, anything but letters and
/// digits turned into `-`, none at either end.
fn host_label(name: &str) -> String {
    let label: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.trim_matches('-').to_owned()
}

fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    if let Some(reference) = &args.from {
        return deploy_from(&args, reference);
    }
    let mut bundle = bundle_from(
        args.file.as_deref(),
        args.bundle.as_deref(),
        args.key.as_deref(),
    )?;
    bundle.settings = settings(&args)?;
    let name = match args.name {
        Some(name) => name,
        None => default_name(&bundle)?,
    };
    let client = args.node.client()?;
    let mut path = format!("/v1/apps/{name}");
    for (i, host) in args.hostnames.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(&format!("hostname={host}"));
    }
    let bytes = bundle.to_bytes();
    let response = client
        .send_blocking(nimbus_platform::http::Method::PUT, &path, bytes)?
        .ok()
        .with_context(|| format!("the node refused the deploy of {name}"))?;
    print_deployed(&name, &response.json()?);
    Ok(())
}

/// `--from`: the node pulls the app itself.
fn deploy_from(args: &DeployArgs, reference: &str) -> anyhow::Result<()> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => host_label(&nimbus_oci::repository_name(reference)?),
    };
    let client = args.node.client()?;
    let mut path = format!("/v1/apps/{name}/pull");
    for (i, host) in args.hostnames.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(&format!("hostname={host}"));
    }
    let body = nimbus_platform::serde_json::json!({
        "reference": reference,
        "settings": settings(args)?,
    });
    println!("Asking {} to pull {reference}", args.node.node);
    let response = client
        .send_blocking(
            nimbus_platform::http::Method::POST,
            &path,
            nimbus_platform::serde_json::to_vec(&body)?,
        )?
        .ok()
        .with_context(|| format!("the node refused the deploy of {name} from {reference}"))?;
    print_deployed(&name, &response.json()?);
    Ok(())
}

fn print_deployed(name: &str, info: &nimbus_platform::serde_json::Value) {
    let release = &info["current"];
    println!(
        "Deployed {name} (release {}{}, {} files)",
        release["id"].as_str().unwrap_or("?"),
        release["signed_by"]
            .as_str()
            .map(|k| format!(", signed by {k}"))
            .unwrap_or_default(),
        release["files"]
    );
    if let Some(url) = info["url"].as_str() {
        println!("  {url}");
    }
    for host in info["hostnames"].as_array().into_iter().flatten() {
        println!("  http://{}", host.as_str().unwrap_or_default());
    }
    for route in info["routes"].as_array().into_iter().flatten() {
        println!(
            "    {}: {}",
            route["component"].as_str().unwrap_or_default(),
            route["route"].as_str().unwrap_or_default()
        );
    }
}
