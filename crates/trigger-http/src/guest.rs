//! How a guest's failure becomes a response status and a log line, shared by
//! both executors.

use std::future::Future;
use std::time::Duration;

use http::StatusCode;
use nimbus_capability::{AppComponent, InstanceState};
use nimbus_runtime::wasmtime::{Engine, PoolConcurrencyLimitError, Store, Trap};
use nimbus_runtime::MemoryLimiter;

use crate::access_log::AccessLog;

/// A store for one request's instance of `component` (a `wasi:http`
/// executor's): every capability prepared, memory limited, yielding to its
/// thread at every epoch tick. `Err` is the status to answer (logged).
pub(crate) fn instance_store(
    engine: &Engine,
    component: &AppComponent,
) -> Result<Store<InstanceState>, StatusCode> {
    let state = match component.services.instance_builder(component.limits.memory) {
        Ok(builder) => builder.build(),
        Err(err) => {
            tracing::error!(component = %component.id, "cannot prepare an instance: {}", nimbus_runtime::one_line(&err));
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| state.limiter());
    nimbus_runtime::yield_every_tick(&mut store);
    Ok(store)
}

/// Runs a guest's call under the component's `timeout`: past it the call
/// ends as an epoch interrupt (guest code stops at its next yield, a guest
/// waiting in a host call is dropped).
pub(crate) async fn with_deadline(
    timeout: Option<Duration>,
    run: impl Future<Output = nimbus_runtime::wasmtime::Result<()>>,
) -> nimbus_runtime::wasmtime::Result<()> {
    match timeout {
        Some(timeout) => nimbus_runtime::with_timeout(timeout, run)
            .await
            .unwrap_or_else(|| Err(Trap::Interrupt.into())),
        None => run.await,
    }
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
