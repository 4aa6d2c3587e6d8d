//! Running guest code under a deadline: shared by every trigger.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use wasmtime::{Store, UpdateDeadline};

/// Makes guest code in `store` yield to its thread at every epoch tick (to
/// the back of the queue: `yield_now`), so a guest that computes never holds
/// the thread, and the other requests on it, for its whole timeout;
/// [`with_timeout`] stops it at a yield.
pub fn yield_every_tick<T>(store: &mut Store<T>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| {
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

/// Runs `fut` for at most `timeout`; `None` when the time ran out.
///
/// Like `tokio::time::timeout`, but the timer is armed only if `fut` does not
/// finish in its first poll: most requests run to completion in one poll
/// (the guest yields or waits only when it computes for longer than an epoch
/// tick or blocks in a host call), so they never touch the timer wheel. The
/// deadline is still counted from the call.
pub async fn with_timeout<F: Future>(timeout: Duration, fut: F) -> Option<F::Output> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut fut = std::pin::pin!(fut);
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
