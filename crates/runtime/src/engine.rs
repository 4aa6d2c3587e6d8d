use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch ticker advances the engine's epoch: `nimbus run`
/// enforces timeouts with this granularity, and HTTP guests yield to their
/// serving thread at every tick, so it bounds how long a guest that computes
/// delays the other requests of its thread (the ticker costs one atomic
/// increment per tick).
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How many instances the pooling allocator reserves slots for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Component instances alive at once.
    pub component_instances: u32,
    /// Core instances alive at once (a component holds several).
    pub core_instances: u32,
    /// Linear memories alive at once.
    pub memories: u32,
    /// Tables alive at once.
    pub tables: u32,
}

impl PoolSize {
    /// Enough for one command (`nimbus run`): a single component or module.
    pub const COMMAND: PoolSize = PoolSize {
        component_instances: 2,
        core_instances: 64,
        memories: 16,
        tables: 64,
    };

    /// A server (`nimbus up`): up to 1,000 instances in flight at once.
    /// Slots are address-space reservations, committed only when used.
    pub const SERVER: PoolSize = PoolSize {
        component_instances: 1_000,
        core_instances: 10_000,
        memories: 2_000,
        tables: 4_000,
    };
}

/// Every setting of the [`Engines`], in one place, so that `nimbus run`,
/// `nimbus compile` and `nimbus up` build compatible engines.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Use the pooling allocator with slots for this many instances; `None`
    /// allocates on demand. When the pool cannot be reserved (a small
    /// address-space limit), [`EngineConfig::build`] falls back to on-demand.
    pub pool: Option<PoolSize>,
    /// Compile fuel metering into the code (needed for `--fuel`). It slows
    /// guests down, so it is off unless asked for.
    pub consume_fuel: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pool: Some(PoolSize::COMMAND),
            consume_fuel: false,
        }
    }
}

impl EngineConfig {
    /// The largest linear memory one instance may have in the pool. Per-store
    /// limits ([`crate::MemoryLimiter`]) are what usually applies; this is the
    /// hard ceiling.
    pub const MAX_MEMORY_SIZE: usize = 4 << 30;
    /// Table elements per table in the pool.
    pub const TABLE_ELEMENTS: usize = 100_000;

    fn wasmtime_config(&self, concurrent: bool) -> Config {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.consume_fuel(self.consume_fuel);
        config.parallel_compilation(true);
        config.memory_init_cow(true);
        // Wasmtime's default: backtraces of up to 20 frames on traps.
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(20));
        config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
        config.wasm_component_model(true);
        // WASI 0.3 components (and Spin SDK 6/7 ones) use the component-model
        // async ABI: `task.return`, `stream`/`future`, async exports
        // (stackless, callback async only). Only the concurrent engine has it:
        // with concurrency support on, every call of an export goes through
        // the store's event loop and every store drop disposes a worker
        // fiber, which costs a 0.2 guest 10-20% of its requests per second.
        config.wasm_component_model_async(concurrent);
        config.concurrency_support(concurrent);
        config
    }

    fn pooling_config(pool: PoolSize) -> PoolingAllocationConfig {
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_component_instances(pool.component_instances)
            .total_core_instances(pool.core_instances)
            .total_memories(pool.memories)
            .total_tables(pool.tables)
            .total_stacks(pool.component_instances.max(pool.core_instances / 8).max(1))
            .max_memories_per_module(4)
            .max_tables_per_module(4)
            .max_memories_per_component(pool.memories.min(16))
            .max_tables_per_component(pool.tables.min(64))
            .max_core_instances_per_component(pool.core_instances.min(64))
            .max_memory_size(Self::MAX_MEMORY_SIZE)
            .table_elements(Self::TABLE_ELEMENTS)
            // Reusing a slot: reset what the last instance dirtied with memset
            // (found with PAGEMAP_SCAN where the kernel has it) instead of
            // returning pages to the kernel and faulting them in again. Most of
            // the per-request cost is here, not in compiled code.
            .linear_memory_keep_resident(10 << 20)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(1 << 20)
            .pagemap_scan(wasmtime::Enabled::Auto);
        pooling
    }

    /// Builds both engines: the sync one (WASI 0.2 components and core
    /// modules) and the concurrent one (components that use the
    /// component-model async ABI, such as WASI 0.3 ones). Both get the same
    /// pool size: slots are address-space reservations, committed only when
    /// used, so a 0.3 guest keeps the pooling allocator's fast instantiation
    /// without costing a host that runs none.
    pub fn build(&self) -> anyhow::Result<Engines> {
        Ok(Engines {
            sync: self.build_one(false)?,
            concurrent: self.build_one(true)?,
        })
    }

    fn build_one(&self, concurrent: bool) -> anyhow::Result<Engine> {
        if let Some(pool) = self.pool {
            let mut config = self.wasmtime_config(concurrent);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(Self::pooling_config(
                pool,
            )));
            match Engine::new(&config) {
                Ok(engine) => return Ok(engine),
                Err(err) => tracing::warn!(
                    "pooling allocator unavailable ({err:#}); allocating instances on demand"
                ),
            }
        }
        let config = self.wasmtime_config(concurrent);
        Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("failed to create the Wasmtime engine")
    }
}

/// The two engines every host runs, built from one [`EngineConfig`]: code
/// compiled by one runs only in stores and linkers of the same one.
///
/// - [`Engines::sync`] has the component-model async ABI and Wasmtime's
///   concurrency support off: WASI 0.2 components and core modules, which
///   are called directly on a fiber (no event loop per call).
/// - [`Engines::concurrent`] has them on: components that use
///   `task.return`, `stream`, `future` or async functions (WASI 0.3,
///   `spin:*@3`), which need the store's event loop.
///
/// The [`crate::Loader`] picks the engine per component; triggers then use
/// the engine of the compiled code ([`crate::Compiled::engine`]).
#[derive(Clone)]
pub struct Engines {
    sync: Engine,
    concurrent: Engine,
}

impl Engines {
    /// The engine of WASI 0.2 components and core modules.
    pub fn sync(&self) -> &Engine {
        &self.sync
    }

    /// The engine of components that use the component-model async ABI.
    pub fn concurrent(&self) -> &Engine {
        &self.concurrent
    }

    /// Whether `engine` is the concurrent one (by identity).
    pub fn is_concurrent(&self, engine: &Engine) -> bool {
        Engine::same(engine, &self.concurrent)
    }
}

impl<'a> IntoIterator for &'a Engines {
    type Item = &'a Engine;
    type IntoIter = std::array::IntoIter<&'a Engine, 2>;

    fn into_iter(self) -> Self::IntoIter {
        [&self.sync, &self.concurrent].into_iter()
    }
}

/// A stable fingerprint of everything in `engine` that affects compiled code,
/// used to key the compile cache.
pub(crate) fn engine_fingerprint(engine: &Engine) -> String {
    // DefaultHasher is SipHash with fixed keys: stable for one build of
    // nimbus, which is all the cache needs (the Wasmtime version is part of
    // the cache path as well).
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A background thread that advances the epoch of its engines every
/// [`EPOCH_TICK`], so that stores with an epoch deadline are interrupted on
/// time. Stops when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking the epoch of every engine in `engines`: `&Engines`
    /// for both of a host's, `[engine]` for one.
    pub fn start<'a>(engines: impl IntoIterator<Item = &'a Engine>) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let engines: Vec<Engine> = engines.into_iter().cloned().collect();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("nimbus-epoch".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    for engine in &engines {
                        engine.increment_epoch();
                    }
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }

    /// The number of ticks that covers `timeout` (rounded up).
    pub fn ticks_for(timeout: Duration) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        let ticks = timeout.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up() {
        let tick = EPOCH_TICK;
        assert_eq!(EpochTicker::ticks_for(Duration::from_nanos(1)), 1);
        assert_eq!(EpochTicker::ticks_for(tick), 1);
        assert_eq!(EpochTicker::ticks_for(tick + Duration::from_nanos(1)), 2);
        assert_eq!(EpochTicker::ticks_for(tick * 200), 200);
    }

    #[test]
    fn fuel_changes_the_fingerprint() {
        let plain = EngineConfig {
            pool: None,
            consume_fuel: false,
        }
        .build()
        .unwrap();
        let fuel = EngineConfig {
            pool: None,
            consume_fuel: true,
        }
        .build()
        .unwrap();
        let pooled = EngineConfig::default().build().unwrap();
        for (plain, fuel, pooled) in [
            (plain.sync(), fuel.sync(), pooled.sync()),
            (plain.concurrent(), fuel.concurrent(), pooled.concurrent()),
        ] {
            assert_ne!(engine_fingerprint(plain), engine_fingerprint(fuel));
            // The allocator does not change compiled code: one cache serves both.
            assert_eq!(engine_fingerprint(plain), engine_fingerprint(pooled));
        }
        // The two engines compile differently: separate cache entries.
        assert_ne!(
            engine_fingerprint(plain.sync()),
            engine_fingerprint(plain.concurrent())
        );
        assert!(!plain.sync().get_concurrency_support());
        assert!(plain.concurrent().get_concurrency_support());
        assert!(plain.is_concurrent(plain.concurrent()));
        assert!(!plain.is_concurrent(plain.sync()));
    }
}
