//! How a guest's failure becomes a response status and a log line, shared by
//! both executors.

use http::StatusCode;
use nimbus_capability::{AppComponent, InstanceState};
use nimbus_runtime::wasmtime::{PoolConcurrencyLimitError, Store, Trap};
use nimbus_runtime::MemoryLimiter;
pub(crate) use nimbus_trigger::event::{memory_note, with_deadline};

use crate::access_log::AccessLog;

/// A store for one request's instance of `component` (the event layer's
/// [`nimbus_trigger::event::instance_store`]). `Err` is the status to
/// answer (logged).
pub(crate) fn instance_store(component: &AppComponent) -> Result<Store<InstanceState>, StatusCode> {
    nimbus_trigger::event::instance_store(component).map_err(|err| {
        tracing::error!(component = %component.id, "cannot prepare an instance: {}", nimbus_runtime::one_line(&err));
        StatusCode::INTERNAL_SERVER_ERROR
    })
}

/// After a guest's run: records its peak memory and, for a failure, logs
/// it and returns the status to answer.
pub(crate) fn outcome(
    component: &str,
    log: &AccessLog,
    limiter: &MemoryLimiter,
    result: nimbus_runtime::wasmtime::Result<()>,
) -> Option<StatusCode> {
    log.set_memory(limiter.peak());
    let err = result.err()?;
    let status = failure_status(&err);
    tracing::warn!(
        component = %component,
        "guest failed ({status}): {}{}",
        nimbus_runtime::one_line(&err),
        memory_note(limiter.denied())
    );
    Some(status)
}

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
