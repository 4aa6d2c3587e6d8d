//! `nimbus run`: run a WASI program.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use bytesize::ByteSize;
use clap::Args;
use nimbus_cap_wasi::{DirGrant, Stdio, WasiAppState, WasiGrants};
use nimbus_capability::InstanceBuilder;
use nimbus_runtime::wasmtime::component::Component;
use nimbus_runtime::{CompileCache, Compiled, EngineConfig, LoadError, Loader, ResourceLimits};
use nimbus_trigger_command::Outcome;

use crate::exit;

/// Run a WASI program: a wasm32-wasip1 module, a wasm32-wasip2 component, WAT
/// text, or a .cwasm from `nimbus compile`.
///
/// The program sees nothing of the host but what the flags grant: no files,
/// no environment variables, no network. Its stdin, stdout and stderr are
/// nimbus's own. Arguments after the file (or after `--`) are passed to it.
#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  the guest's own   when it returns or calls exit (proc_exit(3) gives 3)
  1                 nimbus could not load or start the program
  2                 invalid command line
  124               --timeout reached
  125               --max-memory exceeded (the guest failed after a refused memory.grow)
  126               --fuel used up
  134               the guest trapped (a backtrace is printed)

Examples:
  nimbus run hello.wasm
  nimbus run --env NAME=Ada hello.wasm
  nimbus run --dir ./data::/data read-config.wasm
  nimbus run --max-memory 32MiB --timeout 2s app.wasm -- --flag arg")]
pub struct RunArgs {
    /// Grant a host directory: HOST::GUEST (read-write; `:rw` may be added),
    /// HOST::GUEST:ro (read-only), or HOST (same path inside). Two colons
    /// between HOST and GUEST. Repeatable.
    #[arg(long = "dir", value_name = "HOST::GUEST[:ro|:rw]")]
    dirs: Vec<DirGrant>,

    /// Set an environment variable: KEY=VALUE, or KEY to pass the host's value
    /// through. Repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY[=VALUE]")]
    envs: Vec<String>,

    /// Cap the program's linear memory (all memories together), e.g. 32MiB.
    /// A refused memory.grow returns -1 to the guest.
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<Size>,

    /// Stop the program after this wall-clock time, e.g. 2s, 500ms, 1m.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// Stop the program after it consumes this much fuel (about one unit per
    /// Wasm instruction). Compiles with fuel metering, which is slower.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    #[command(flatten)]
    cache: CacheArgs,

    /// The program to run, then its arguments (argv[1..]). Everything after
    /// the program, flags included, goes to the program; `--` is optional.
    #[arg(
        value_name = "WASM [ARGS]...",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    wasm_and_args: Vec<String>,
}

/// Where compiled code is cached.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Directory for compiled code [default: $XDG_CACHE_HOME/nimbus or ~/.cache/nimbus]
    #[arg(long, value_name = "DIR", env = "NIMBUS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile every time; neither read nor write the cache (overrides
    /// --cache-dir and NIMBUS_CACHE_DIR).
    #[arg(long)]
    no_cache: bool,
}

impl CacheArgs {
    /// The cache to use, if any.
    pub fn cache(&self) -> Option<CompileCache> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(nimbus_runtime::default_cache_dir)
            .map(CompileCache::new)
    }
}

pub fn main(args: RunArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}

fn run(args: RunArgs) -> anyhow::Result<i32> {
    let (wasm, guest_args) = args
        .wasm_and_args
        .split_first()
        .context("no WebAssembly file given")?;
    let wasm = PathBuf::from(wasm);
    // `nimbus run app.wasm -- --flag`: the `--` only separates.
    let guest_args = match guest_args.split_first() {
        Some((first, rest)) if first == "--" => rest,
        _ => guest_args,
    };
    let limits = ResourceLimits {
        max_memory: args.max_memory.as_ref().map(|size| size.bytes),
        timeout: args.timeout,
        fuel: args.fuel,
    };
    let wasi = WasiAppState::new(WasiGrants {
        args: std::iter::once(program_name(&wasm))
            .chain(guest_args.iter().cloned())
            .collect(),
        env: environment(&args.envs),
        dirs: args.dirs.clone(),
        stdio: Stdio::Inherit,
    })?;

    let engine = EngineConfig {
        consume_fuel: args.fuel.is_some(),
        ..EngineConfig::default()
    }
    .build()?;
    let loader = Loader::new(engine, args.cache.cache());
    let compiled = loader
        .load_file(&wasm)
        .map_err(|err| explain_load_error(err, args.fuel.is_some()))?;
    if let Compiled::Component(component) = &*compiled {
        if is_http_component(component) {
            anyhow::bail!(
                "{}: this is a wasi:http component: serve it with `nimbus up` (it exports \
                 wasi:http/incoming-handler; `nimbus up` serves it from a manifest with an \
                 [[trigger.http]] route to it, and `nimbus new` writes one)",
                wasm.display()
            );
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut instance = InstanceBuilder::new(limits.max_memory);
    wasi.prepare(&mut instance);
    let outcome = runtime
        .block_on(nimbus_trigger_command::run(&compiled, instance, limits))
        .with_context(|| format!("cannot start {}", wasm.display()))?;
    let name = wasm.display();
    Ok(match outcome {
        Outcome::Exited(code) => code,
        Outcome::Trapped { reason, backtrace } => {
            eprintln!("error: {name} trapped: {reason}");
            if let Some(backtrace) = backtrace {
                eprintln!("{backtrace}");
            }
            exit::TRAP
        }
        Outcome::TimedOut(timeout) => {
            eprintln!(
                "error: {name} was stopped: it ran longer than --timeout {}",
                humantime::format_duration(timeout)
            );
            exit::TIMEOUT
        }
        Outcome::MemoryExhausted { limit, requested } => {
            let limit = args
                .max_memory
                .as_ref()
                .map_or_else(|| limit.to_string(), |size| size.text.clone());
            eprintln!(
                "error: {name} was stopped: it needed more memory than --max-memory {limit} (asked for {} in total)",
                ByteSize::b(requested as u64).display().iec()
            );
            exit::MEMORY_LIMIT
        }
        Outcome::FuelExhausted(fuel) => {
            eprintln!("error: {name} was stopped: it used up its --fuel {fuel}");
            exit::FUEL
        }
    })
}

/// A `.cwasm` compiled without fuel metering does not load into the engine
/// `--fuel` needs: say which `nimbus compile` to run.
fn explain_load_error(err: LoadError, fuel: bool) -> anyhow::Error {
    match &err {
        LoadError::IncompatiblePrecompiled { path, message }
            if fuel && message.contains("without fuel support") =>
        {
            anyhow::anyhow!(
                "{} was compiled without fuel metering, which --fuel needs: recompile it with \
                 `nimbus compile --fuel {}` (or run the .wasm itself)",
                path.display(),
                path.with_extension("wasm").display()
            )
        }
        _ => err.into(),
    }
}

/// Whether `component` is an HTTP handler: it exports
/// `wasi:http/incoming-handler` (a `wasi:cli/run` beside it does not make it
/// runnable here: it imports the wasi:http host `nimbus run` lacks).
fn is_http_component(component: &Component) -> bool {
    component
        .component_type()
        .exports(component.engine())
        .any(|(name, _)| name.starts_with("wasi:http/incoming-handler@"))
}

/// A size as the user wrote it (for messages) and in bytes.
#[derive(Debug, Clone)]
struct Size {
    text: String,
    bytes: u64,
}

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let size: ByteSize = text.parse()?;
        Ok(Size {
            text: text.to_owned(),
            bytes: size.as_u64(),
        })
    }
}

/// argv[0]: the file name as the user gave it.
fn program_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `KEY=VALUE` as given; `KEY` alone takes the host's value, or is skipped
/// with a warning when the host has none.
fn environment(envs: &[String]) -> Vec<(String, String)> {
    envs.iter()
        .filter_map(|entry| match entry.split_once('=') {
            Some((key, value)) => Some((key.to_owned(), value.to_owned())),
            None => match std::env::var(entry) {
                Ok(value) => Some((entry.clone(), value)),
                Err(_) => {
                    tracing::warn!(
                        "--env {entry}: {entry} is not set in nimbus's environment; not passed"
                    );
                    None
                }
            },
        })
        .collect()
}
