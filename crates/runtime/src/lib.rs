//! The runtime layer of Nimbus: the one [`wasmtime::Engine`] and everything that
//! belongs to it.
//!
//! - [`EngineConfig`] builds the engine with the settings every trigger shares
//!   (pooling allocator where the address space allows it, epoch interruption,
//!   copy-on-write memory images, parallel compilation).
//! - [`Loader`] turns bytes on disk (Wasm binary, WAT text or a `.cwasm`) into a
//!   compiled [`Compiled`] module or component, through the on-disk
//!   [`CompileCache`].
//! - [`limits`] holds the per-instance resource limiter and the [`EpochTicker`]
//!   that drives wall-clock timeouts.
//! - [`Capability`] is the seam every host service plugs into.

mod cache;
mod capability;
mod engine;
pub mod limits;
mod loader;

pub use cache::{default_cache_dir, CompileCache};
pub use capability::Capability;
pub use engine::{EngineConfig, EpochTicker, PoolSize, EPOCH_TICK};
pub use limits::{MemoryLimiter, ResourceLimits};
pub use loader::{one_line, Compiled, LoadError, Loader, SharedCode, WasmKind};

pub use wasmtime;
