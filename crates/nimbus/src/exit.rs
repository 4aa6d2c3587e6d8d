//! Exit statuses of `nimbus` other than the guest's own.

/// nimbus could not load or start the program (bad file, link error, bad
/// `--dir`, …).
pub const FAILURE: i32 = nimbus_trigger_command::exit::FAILURE;
/// The wall-clock limit (`--timeout`) was reached.
pub const TIMEOUT: i32 = nimbus_trigger_command::exit::TIMEOUT;
/// The guest needed more memory than `--max-memory` allows.
pub const MEMORY_LIMIT: i32 = nimbus_trigger_command::exit::MEMORY_LIMIT;
/// The guest used up its `--fuel`.
pub const FUEL: i32 = nimbus_trigger_command::exit::FUEL;
/// The guest trapped (as `wasmtime run` reports it: 128 + SIGABRT).
pub const TRAP: i32 = nimbus_trigger_command::exit::TRAP;

/// Prints `err` as one line, `error: outer: inner: …`, and returns
/// [`FAILURE`].
pub fn report(err: &anyhow::Error) -> i32 {
    eprintln!("error: {}", one_line(err));
    FAILURE
}

pub use nimbus_runtime::one_line;
