//! `nimbus registry`: push apps to OCI registries and pull them, in Spin's
//! artifact format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_oci::{PulledApp, Registry, RegistryOptions};
use nimbus_platform::signing;

use crate::commands::build::{self, manifest_path, report_manifest_error};
use crate::exit;

/// Push apps to an OCI registry and pull them, in Spin's format: an app
/// pushed by `spin registry push` runs on nimbus, and one pushed by nimbus
/// runs on Spin.
///
/// Registries on localhost/127.0.0.1 are spoken to over plain HTTP, others
/// over HTTPS unless --insecure. Credentials come from the Docker config
/// ($DOCKER_CONFIG/config.json or ~/.docker/config.json, credential
/// helpers included) or from NIMBUS_REGISTRY_USERNAME and
/// NIMBUS_REGISTRY_PASSWORD.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  nimbus registry push 127.0.0.1:5000/hello:v1
  nimbus registry push --key ci.key registry.example.com/team/hello:v1
  nimbus registry pull 127.0.0.1:5000/hello:v1 -o ./hello
  nimbus up --from 127.0.0.1:5000/hello:v1
  nimbus deploy --from 127.0.0.1:5000/hello:v1 --to http://127.0.0.1:3001")]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Pack the app (its manifest, every component's Wasm, every file its
    /// `files` mount) and push it: layers the registry already has are not
    /// uploaded again.
    Push(PushArgs),
    /// Pull an app and write it out as a directory nimbus (or Spin) runs:
    /// a spin.toml, the components' Wasm, their files.
    Pull(PullArgs),
}

/// How to reach the registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryClientArgs {
    /// Speak plain HTTP, not HTTPS, to the registry (always so for
    /// localhost and 127.0.0.1).
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
struct PushArgs {
    /// Where to push: REGISTRY/REPOSITORY:TAG (e.g. 127.0.0.1:5000/hello:v1)
    #[arg(value_name = "REFERENCE")]
    reference: String,

    /// The app manifest, or a directory holding one [default: nimbus.toml,
    /// else spin.toml, in the current directory]
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    file: Option<PathBuf>,

    /// Run `nimbus build` first.
    #[arg(long)]
    build: bool,

    /// Sign the app with this secret key (from `nimbus keygen`): nodes
    /// started with --trusted-key KEY.pub --require-signatures accept it.
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,

    #[command(flatten)]
    registry: RegistryClientArgs,
}

#[derive(Debug, Args)]
struct PullArgs {
    /// What to pull: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:…
    #[arg(value_name = "REFERENCE")]
    reference: String,

    /// The directory to write the app into (created; must be empty if it
    /// exists) [default: the repository's last path segment]
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,

    #[command(flatten)]
    trust: TrustArgs,

    #[command(flatten)]
    registry: RegistryClientArgs,
}

/// Signature checks on pull.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// Accept only an app signed by this public key (from `nimbus
    /// keygen`). Repeatable.
    #[arg(long = "trusted-key", value_name = "KEY.pub")]
    pub trusted_keys: Vec<PathBuf>,
}

pub fn main(args: RegistryArgs) -> i32 {
    let result = match args.command {
        RegistryCommand::Push(args) => push(args),
        RegistryCommand::Pull(args) => pull(args),
    };
    match result {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<ManifestError>() {
            Some(manifest_err) => report_manifest_error(manifest_err),
            None => exit::report(&err),
        },
    }
}

/// `NIMBUS_REGISTRY_USERNAME` and `NIMBUS_REGISTRY_PASSWORD`, if set (both
/// or neither).
pub fn credentials_from_env() -> anyhow::Result<Option<(String, String)>> {
    let user = std::env::var("NIMBUS_REGISTRY_USERNAME").ok();
    let password = std::env::var("NIMBUS_REGISTRY_PASSWORD").ok();
    match (user, password) {
        (Some(user), Some(password)) => Ok(Some((user, password))),
        (None, None) => Ok(None),
        _ => anyhow::bail!(
            "set both NIMBUS_REGISTRY_USERNAME and NIMBUS_REGISTRY_PASSWORD, or neither"
        ),
    }
}

/// A registry client for `reference` as the flags say.
pub fn registry(args: &RegistryClientArgs, reference: &str) -> anyhow::Result<Registry> {
    let mut options = RegistryOptions {
        credentials: credentials_from_env()?,
        cache_dir: cache_root().map(|dir| dir.join("registry")),
        ..Default::default()
    };
    if args.insecure {
        let parsed = nimbus_oci::parse_reference(reference)?;
        options
            .insecure_registries
            .push(parsed.resolve_registry().to_owned());
    }
    Ok(Registry::new(options))
}

/// Where pulled layers and apps are kept: below NIMBUS_CACHE_DIR, else the
/// user's cache directory (as compiled code is).
fn cache_root() -> Option<PathBuf> {
    std::env::var_os("NIMBUS_CACHE_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(nimbus_runtime::default_cache_dir)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn push(args: PushArgs) -> anyhow::Result<()> {
    let path = manifest_path(args.file.as_deref())?;
    if args.build {
        build::build(&Manifest::from_file(&path)?, &[])?;
    }
    let manifest = nimbus_platform::triggers::read_manifest(&path)?;
    manifest.check_sources()?;
    let key = args
        .key
        .as_deref()
        .map(signing::read_signing_key)
        .transpose()?;
    let packed = nimbus_oci::pack(&manifest)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.title".to_owned(),
        manifest.name().to_owned(),
    );
    if let Some(version) = manifest.version() {
        annotations.insert(
            "org.opencontainers.image.version".to_owned(),
            version.to_owned(),
        );
    }
    if let Some(description) = &manifest.application.description {
        annotations.insert(
            "org.opencontainers.image.description".to_owned(),
            description.clone(),
        );
    }
    if let Some(key) = &key {
        annotations.insert(
            nimbus_oci::SIGNATURE_ANNOTATION.to_owned(),
            signing::sign_artifact(key, packed.locked_digest()),
        );
    }
    let size: usize = packed.layers.iter().map(|l| l.data.len()).sum();
    println!(
        "Pushing {} to {} ({} layers, {})",
        manifest.name(),
        args.reference,
        packed.layers.len(),
        bytesize::ByteSize::b(size as u64).display().iec()
    );
    let registry = registry(&args.registry, &args.reference)?;
    let pushed = runtime()?.block_on(registry.push(&args.reference, &packed, annotations))?;
    println!(
        "Pushed {}@{} ({} layers uploaded, {} already in the registry{})",
        pushed.reference,
        pushed.digest,
        pushed.uploaded,
        pushed.present,
        key.map(|k| format!("; signed by {}", signing::key_id(&k.verifying_key())))
            .unwrap_or_default()
    );
    Ok(())
}

/// Pulls `reference` and checks its signature against `trust` (any trusted
/// key given: a signature by one of them is required).
pub fn pull_app(
    registry_args: &RegistryClientArgs,
    trust: &TrustArgs,
    reference: &str,
) -> anyhow::Result<PulledApp> {
    let trusted = trust
        .trusted_keys
        .iter()
        .map(|path| signing::read_verifying_key(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registry = registry(registry_args, reference)?;
    eprintln!("Pulling {reference}");
    let pulled = runtime()?.block_on(registry.pull(reference))?;
    let signer = signing::verify_artifact(
        pulled
            .annotations
            .get(nimbus_oci::SIGNATURE_ANNOTATION)
            .map(String::as_str),
        &pulled.locked_digest,
        &trusted,
        !trusted.is_empty(),
    )
    .map_err(|why| anyhow::anyhow!("{reference}: {why}"))?;
    let size: usize = pulled.files.files.values().map(Vec::len).sum();
    eprintln!(
        "Pulled {}@{} ({} files, {}{})",
        pulled.reference,
        pulled.digest,
        pulled.files.files.len(),
        bytesize::ByteSize::b(size as u64).display().iec(),
        signer
            .map(|s| format!(", signed by {}", s.key_id))
            .unwrap_or_default()
    );
    Ok(pulled)
}

fn pull(args: PullArgs) -> anyhow::Result<()> {
    let output = match &args.output {
        Some(dir) => dir.clone(),
        None => PathBuf::from(nimbus_oci::repository_name(&args.reference)?),
    };
    if output.exists() && !is_empty_dir(&output)? {
        anyhow::bail!(
            "{} exists and is not an empty directory; choose another with -o",
            output.display()
        );
    }
    let pulled = pull_app(&args.registry, &args.trust, &args.reference)?;
    pulled.files.write_to(&output)?;
    println!(
        "Wrote {} to {} (run it with `nimbus up -f {}`)",
        pulled.reference,
        output.display(),
        output.display()
    );
    Ok(())
}

fn is_empty_dir(path: &Path) -> anyhow::Result<bool> {
    if !path.is_dir() {
        return Ok(false);
    }
    Ok(std::fs::read_dir(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .next()
        .is_none())
}

/// Pulls `reference` into the cache (once per digest) and returns the
/// manifest's path there, for `nimbus up --from`.
pub fn pull_into_cache(
    registry_args: &RegistryClientArgs,
    trust: &TrustArgs,
    reference: &str,
) -> anyhow::Result<PathBuf> {
    let pulled = pull_app(registry_args, trust, reference)?;
    let root = cache_root().unwrap_or_else(std::env::temp_dir).join("apps");
    let hex = pulled.digest.trim_start_matches("sha256:");
    let dir = root.join(hex);
    let manifest = dir.join(nimbus_oci::MANIFEST_NAME);
    if !manifest.is_file() {
        // Written beside, then renamed: a half-written app is never used.
        let staging = root.join(format!("{hex}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        pulled.files.write_to(&staging)?;
        if let Err(err) = std::fs::rename(&staging, &dir) {
            let _ = std::fs::remove_dir_all(&staging);
            if !manifest.is_file() {
                return Err(err).with_context(|| format!("cannot write {}", dir.display()));
            }
        }
    }
    Ok(manifest)
}
