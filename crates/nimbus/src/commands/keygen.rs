//! `nimbus keygen`: make a signing key pair.

use std::path::PathBuf;

use clap::Args;
use nimbus_platform::signing;

use crate::exit;

/// Generate an ed25519 key pair for signing bundles: KEY (secret, mode
/// 0600) and KEY.pub (give it to nodes with --trusted-key).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  nimbus keygen                    # writes nimbus.key and nimbus.key.pub
  nimbus keygen -o ci.key")]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes to the same path
    /// plus .pub. Existing files are not overwritten.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "KEY",
        default_value = "nimbus.key"
    )]
    output: PathBuf,
}

pub fn main(args: KeygenArgs) -> i32 {
    let result = signing::generate().and_then(|key| {
        let public = signing::write_key_pair(&key, &args.output)?;
        println!("Secret key: {} (keep it private)", args.output.display());
        println!("Public key: {}", public.display());
        println!("Key id:     {}", signing::key_id(&key.verifying_key()));
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(err) => exit::report(&err),
    }
}
