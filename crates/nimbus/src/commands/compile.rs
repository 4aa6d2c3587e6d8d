//! `nimbus compile`: precompile a module or component ahead of time.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use nimbus_runtime::{EngineConfig, Loader};

use crate::exit;

/// Precompile a .wasm (module or component) or WAT file to native code
/// (.cwasm) for this machine and this version of nimbus.
///
/// `nimbus run app.cwasm` then starts without compiling. A .cwasm is native
/// code: run only ones you built yourself. One built by another version or
/// configuration is refused at load.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Output file [default: the input with the extension .cwasm]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Compile with fuel metering, for `nimbus run --fuel`.
    #[arg(long)]
    fuel: bool,

    /// The module or component to compile.
    #[arg(value_name = "WASM")]
    wasm: PathBuf,
}

pub fn main(args: CompileArgs) -> i32 {
    match compile(args) {
        Ok(()) => 0,
        Err(err) => exit::report(&err),
    }
}

fn compile(args: CompileArgs) -> anyhow::Result<()> {
    let engine = EngineConfig {
        // Nothing is instantiated: no pool needed (and it does not affect
        // the compiled code).
        pool: None,
        consume_fuel: args.fuel,
    }
    .build()?;
    let loader = Loader::new(engine, None);
    let (kind, cwasm) = loader.precompile_file(&args.wasm)?;
    let output = args
        .output
        .unwrap_or_else(|| args.wasm.with_extension("cwasm"));
    std::fs::write(&output, cwasm).with_context(|| format!("cannot write {}", output.display()))?;
    tracing::info!(
        "compiled {kind} {} to {}",
        args.wasm.display(),
        output.display()
    );
    Ok(())
}
