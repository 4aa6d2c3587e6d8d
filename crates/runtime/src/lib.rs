//! The runtime layer of Nimbus: the [`Engines`] and everything that belongs to
//! them.
//!
//! - [`EngineConfig`] builds the two engines (sync for WASI 0.2 and core
//!   modules, concurrent for the component-model async ABI) with the settings
//!   every trigger shares (pooling allocator where the address space allows
//!   it, epoch interruption, copy-on-write memory images, parallel
//!   compilation).
//! - [`Loader`] turns bytes on disk (Wasm binary, WAT text or a `.cwasm`) into a
//!   compiled [`Compiled`] module or component, through the on-disk
//!   [`CompileCache`].
//! - [`limits`] holds the per-instance resource limiter and the [`EpochTicker`]
//!   that drives wall-clock timeouts.
//! - [`with_timeout`] and [`yield_every_tick`] run guest code under a
//!   deadline, the same way for every trigger.
//! - [`one_line`] flattens an error and its causes for a log line.

mod cache;
mod engine;
mod guest;
pub mod limits;
mod loader;
pub mod wasi_versions;

pub use cache::{default_cache_dir, CompileCache};
pub use engine::{EngineConfig, Engines, EpochTicker, PoolSize, EPOCH_TICK};
pub use guest::{with_timeout, yield_every_tick};
pub use limits::{MemoryLimiter, ResourceLimits};
pub use loader::{one_line, Compiled, ErrorChain, LoadError, Loader, SharedCode, WasmKind};

pub use wasmtime;
