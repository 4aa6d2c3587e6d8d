//! `nimbus run`: run one WASI command — a `wasm32-wasip1` core module
//! (`_start`), a WASI 0.2 component (`wasi:cli/run@0.2`) or a WASI 0.3 one
//! (`wasi:cli/run@0.3`, the component-model async ABI) — under explicit
//! grants and resource limits, and report how it ended.

use std::time::Duration;

use anyhow::Context as _;
use nimbus_capability::{InstanceBuilder, InstanceState, ModuleState};
use nimbus_runtime::limits::ResourceLimits;
use nimbus_runtime::wasmtime::component::Component;
use nimbus_runtime::wasmtime::{Engine, Linker, Module, Store, Trap, WasmBacktrace};
use nimbus_runtime::{Compiled, EpochTicker, MemoryLimiter};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::I32Exit;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The guest returned or called `exit` with this status.
    Exited(i32),
    /// The guest trapped (or a host call it made failed fatally).
    Trapped {
        /// The trap reason, e.g. "wasm `unreachable` instruction executed".
        reason: String,
        /// The Wasm backtrace, one frame per line, when there is one.
        backtrace: Option<String>,
    },
    /// The wall-clock limit was reached.
    TimedOut(Duration),
    /// The guest needed more linear memory than its limit and then failed.
    MemoryExhausted {
        /// The limit in bytes.
        limit: u64,
        /// The total the guest asked for when it was refused.
        requested: usize,
    },
    /// The guest used up its fuel.
    FuelExhausted(u64),
}

/// Exit statuses for the ways a command ends other than its own `exit`, as
/// `nimbus run` and the containerd shim report them (the same as `wasmtime
/// run` where it has one).
pub mod exit {
    /// The program could not be loaded or started.
    pub const FAILURE: i32 = 1;
    /// The wall-clock limit was reached.
    pub const TIMEOUT: i32 = 124;
    /// The guest needed more memory than its limit allows.
    pub const MEMORY_LIMIT: i32 = 125;
    /// The guest used up its fuel.
    pub const FUEL: i32 = 126;
    /// The guest trapped (128 + SIGABRT).
    pub const TRAP: i32 = 134;
}

impl Outcome {
    /// The process exit status for this outcome: the guest's own, or one of
    /// [`exit`]'s.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Exited(code) => *code,
            Outcome::Trapped { .. } => exit::TRAP,
            Outcome::TimedOut(_) => exit::TIMEOUT,
            Outcome::MemoryExhausted { .. } => exit::MEMORY_LIMIT,
            Outcome::FuelExhausted(_) => exit::FUEL,
        }
    }
}

/// Runs `compiled` as a command in the instance `instance` describes (its
/// WASI grants added by the caller) under `limits`.
///
/// Returns `Err` when the program cannot start at all: an import the host
/// does not provide, no `_start`/`wasi:cli/run` export, a directory that
/// cannot be opened. Everything that happens once the guest runs is an
/// [`Outcome`].
pub async fn run(
    compiled: &Compiled,
    instance: InstanceBuilder,
    limits: ResourceLimits,
) -> anyhow::Result<Outcome> {
    // The engine the code was compiled for (sync, or concurrent for a
    // component that uses the component-model async ABI).
    let engine = compiled.engine();
    let _ticker = limits.timeout.map(|_| EpochTicker::start([engine]));
    match compiled {
        Compiled::Module(module) => run_module(engine, module, instance, limits).await,
        Compiled::Component(component) => run_component(engine, component, instance, limits).await,
    }
}

fn new_store<T: Send>(
    engine: &Engine,
    state: T,
    limits: &ResourceLimits,
    limiter: fn(&mut T) -> &mut MemoryLimiter,
) -> anyhow::Result<Store<T>> {
    let mut store = Store::new(engine, state);
    store
        .limiter(move |state| limiter(state) as &mut dyn nimbus_runtime::wasmtime::ResourceLimiter);
    match limits.timeout {
        Some(timeout) => store.set_epoch_deadline(EpochTicker::ticks_for(timeout)),
        // Epoch interruption is compiled in; without a timeout the deadline is
        // effectively never.
        None => store.set_epoch_deadline(u64::MAX / 2),
    }
    store.epoch_deadline_trap();
    if engine.get_consume_fuel() {
        store
            .set_fuel(limits.fuel.unwrap_or(u64::MAX))
            .map_err(anyhow::Error::from)?;
    }
    Ok(store)
}

async fn run_module(
    engine: &Engine,
    module: &Module,
    instance: InstanceBuilder,
    limits: ResourceLimits,
) -> anyhow::Result<Outcome> {
    if module.get_export("_start").is_none() {
        anyhow::bail!(
            "the module has no `_start` export: it is a library (reactor), not a WASI command"
        );
    }
    let mut linker: Linker<ModuleState> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state| &mut state.wasi)
        .map_err(anyhow::Error::from)?;
    let pre = linker
        .instantiate_pre(module)
        .map_err(anyhow::Error::from)
        .context("cannot link the module")?;
    let mut store = new_store(engine, instance.build_module(), &limits, |s| s.limiter())?;
    let call = async {
        let instance = pre.instantiate_async(&mut store).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    };
    let result = with_timeout(limits.timeout, call).await;
    Ok(classify(
        result,
        &limits,
        store.data().limiter_ref().denied(),
    ))
}

async fn run_component(
    engine: &Engine,
    component: &Component,
    instance: InstanceBuilder,
    limits: ResourceLimits,
) -> anyhow::Result<Outcome> {
    let mut linker = nimbus_runtime::wasmtime::component::Linker::<InstanceState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    // WASI 0.3 only on the concurrent engine (the sync one refuses its
    // concurrent host functions, and compiles no component that imports it).
    if engine.get_concurrency_support() {
        wasmtime_wasi::p3::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;
    }
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)
        .context("cannot link the component")?;
    let mut store = new_store(engine, instance.build(), &limits, |s| s.limiter())?;
    // A 0.3 command's `run` is an async export: it runs inside the store's
    // event loop. A 0.2 one is called directly.
    let entry = match wasmtime_wasi::p3::bindings::CommandPre::new(pre.clone()) {
        Ok(pre) => Entry::P3(pre),
        Err(_) => Entry::P2(CommandPre::new(pre).map_err(|err| {
            anyhow::Error::from(err).context(
                "the component exports neither `wasi:cli/run@0.2` nor `wasi:cli/run@0.3`: it is not a WASI command",
            )
        })?),
    };
    let call = async {
        let status = match &entry {
            Entry::P3(pre) => {
                let command = pre.instantiate_async(&mut store).await?;
                store
                    .run_concurrent(async |store| command.wasi_cli_run().call_run(store).await)
                    .await??
            }
            Entry::P2(pre) => {
                let command = pre.instantiate_async(&mut store).await?;
                command.wasi_cli_run().call_run(&mut store).await?
            }
        };
        status.map_err(|()| nimbus_runtime::wasmtime::Error::new(I32Exit(1)))
    };
    let result = with_timeout(limits.timeout, call).await;
    Ok(classify(
        result,
        &limits,
        store.data().limiter_ref().denied(),
    ))
}

/// A command's entry point: `wasi:cli/run` at 0.3 or 0.2.
enum Entry {
    P3(wasmtime_wasi::p3::bindings::CommandPre<InstanceState>),
    P2(CommandPre<InstanceState>),
}

/// `None` when the timeout fired. The epoch deadline stops guest code; this
/// outer timeout also covers a guest blocked in a host call (e.g. a sleep).
async fn with_timeout<F: std::future::Future>(
    timeout: Option<Duration>,
    future: F,
) -> Option<F::Output> {
    match timeout {
        // A little slack so the epoch deadline (which carries a backtrace)
        // usually fires first.
        Some(timeout) => {
            nimbus_runtime::with_timeout(timeout + Duration::from_millis(50), future).await
        }
        None => Some(future.await),
    }
}

fn classify(
    result: Option<nimbus_runtime::wasmtime::Result<()>>,
    limits: &ResourceLimits,
    memory_denied: Option<usize>,
) -> Outcome {
    let err = match result {
        None => return Outcome::TimedOut(limits.timeout.unwrap_or_default()),
        Some(Ok(())) => return Outcome::Exited(0),
        Some(Err(err)) => err,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) if limits.timeout.is_some() => {
            return Outcome::TimedOut(limits.timeout.unwrap_or_default())
        }
        Some(Trap::OutOfFuel) => return Outcome::FuelExhausted(limits.fuel.unwrap_or_default()),
        _ => {}
    }
    if let (Some(limit), Some(requested)) = (limits.max_memory, memory_denied) {
        return Outcome::MemoryExhausted { limit, requested };
    }
    let backtrace = err
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| bt.to_string())
        .filter(|bt| !bt.trim().is_empty());
    let reason = match err.downcast_ref::<Trap>() {
        Some(trap) => trap
            .to_string()
            .trim_start_matches("wasm trap: ")
            .to_owned(),
        None => {
            // A host error: its own message, without the backtrace context.
            let err = anyhow::Error::from(err);
            err.chain()
                .map(|c| c.to_string())
                .find(|m| !m.starts_with("error while executing at wasm backtrace"))
                .unwrap_or_else(|| err.to_string())
        }
    };
    Outcome::Trapped { reason, backtrace }
}
