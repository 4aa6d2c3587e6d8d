//! `nimbus sign`: write a signed bundle.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use nimbus_manifest::ManifestError;
use nimbus_platform::signing;

use crate::commands::build::report_manifest_error;
use crate::commands::deploy::{bundle_from, default_name};
use crate::exit;

/// Sign an app: pack it (or read a bundle) and write a bundle signed with
/// an ed25519 key from `nimbus keygen`.
///
/// The signature covers the bundle's index: every file's path, size and
/// SHA-256. A node started with --trusted-key KEY.pub --require-signatures
/// accepts only bundles signed by a trusted key, with every file unchanged.
/// Upload the result with `nimbus deploy --bundle FILE`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  nimbus keygen -o ci.key
  nimbus sign --key ci.key -o hello.bundle
  nimbus deploy --bundle hello.bundle --to http://127.0.0.1:3001")]
pub struct SignArgs {
    /// The secret key (from `nimbus keygen`).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,

    /// The app manifest, or a directory holding one [default: nimbus.toml,
    /// else spin.toml, in the current directory]
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    file: Option<PathBuf>,

    /// Sign this bundle instead of packing an app.
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    bundle: Option<PathBuf>,

    /// Where to write the signed bundle [default: NAME.bundle]
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn main(args: SignArgs) -> i32 {
    match sign(args) {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<ManifestError>() {
            Some(manifest_err) => report_manifest_error(manifest_err),
            None => exit::report(&err),
        },
    }
}

fn sign(args: SignArgs) -> anyhow::Result<()> {
    let key = signing::read_signing_key(&args.key)?;
    let mut bundle = bundle_from(
        args.file.as_deref(),
        args.bundle.as_deref(),
        Some(&args.key),
    )?;
    // Per-node settings (secrets) never travel in a signed release.
    bundle.settings = None;
    let output = match args.output {
        Some(output) => output,
        None => PathBuf::from(format!("{}.bundle", default_name(&bundle)?)),
    };
    // Through a temporary file and a rename: a failure leaves no partial
    // bundle behind.
    nimbus_platform::store::write_atomically(&output, &bundle.to_bytes())
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "Signed {} ({} files) with key {}",
        output.display(),
        bundle.files.len(),
        signing::key_id(&key.verifying_key())
    );
    Ok(())
}
