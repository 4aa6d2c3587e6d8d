//! How a guest's failure becomes a response status and a log line, shared by
//! both executors.

use http::StatusCode;
use nimbus_runtime::wasmtime::{PoolConcurrencyLimitError, Trap};

/// The status for a guest that failed: 504 for its timeout, 503 when no
/// instance slot was free, 500 otherwise (traps, memory limit).
pub(crate) fn failure_status(err: &nimbus_runtime::wasmtime::Error) -> StatusCode {
    if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return StatusCode::GATEWAY_TIMEOUT;
    }
    if err.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::INTERNAL_SERVER_ERROR
}

/// Says, for the log, that the guest had asked for more memory than its
/// limit before it failed.
pub(crate) fn memory_note(memory_denied: Option<usize>) -> String {
    match memory_denied {
        Some(total) => format!(
            " (after its memory limit refused to grow linear memory to {total} bytes; raise `memory` in [component.ID.limits])"
        ),
        None => String::new(),
    }
}
