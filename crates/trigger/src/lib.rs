//! The seam every trigger plugs into.
//!
//! A trigger is how work reaches an app: HTTP requests today; Redis
//! messages, cron ticks and NATS messages. Each trigger type is its own
//! crate that knows no capability: it takes an app from
//! the app layer, reads its own `[[trigger.TYPE]]` sections (its schema, its
//! errors), and turns each request, message or tick into a fresh instance of
//! the component named there.
//!
//! A trigger's life:
//! 1. *configure*: the trigger crate builds itself from an app (and the
//!    host's settings for its type, such as the HTTP listen address). A bad
//!    section is refused here, naming `file:line:col`.
//! 2. *run*: [`Trigger::run`] until the [`Shutdown`] signal, then stop taking
//!    new work and let work in flight finish.
//!
//! [`run_all`] runs every trigger of an app in one process and stops them all
//! on one signal (SIGTERM/Ctrl-C for `nimbus up`).
//!
//! [`event`] is what every trigger but HTTP shares: one event (a message, a
//! tick) in a fresh instance under the component's limits, with its
//! access-log line and metrics record.

pub mod event;

pub use event::{
    EventHandler, EventObserver, EventOutcome, EventRecord, EventRunner, GuestAnswer, GuestCall,
};

use std::future::Future;
use std::pin::Pin;

/// A future a trigger runs as.
pub type TriggerFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A future that completes when a trigger takes events (see
/// [`Trigger::ready`]).
pub type ReadyFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A configured trigger of one app, ready to run.
pub trait Trigger: Send + 'static {
    /// The manifest's trigger type (`http`, `redis`, `cron`, …).
    fn trigger_type(&self) -> &'static str;

    /// What it listens to, for `nimbus up` to print: one line per
    /// subscription or schedule (e.g. `order-processor: redis://127.0.0.1:6379
    /// channel "orders"`).
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }

    /// Completes once the trigger takes events: its subscriptions are
    /// active at their servers. A node replacing a release waits for the new
    /// release's triggers to be ready (bounded) before it stops the old
    /// one's, so a queue group is never without a member. Called before
    /// [`Trigger::run`]; the default completes at once (nothing to set up).
    fn ready(&self) -> ReadyFuture {
        Box::pin(std::future::ready(()))
    }

    /// Runs until `shutdown` fires, then stops taking new work, lets work in
    /// flight finish, and returns. An error ends every trigger of the app.
    fn run(self: Box<Self>, shutdown: Shutdown) -> TriggerFuture;
}

/// Counts the subscriptions of a trigger that are active, for
/// [`Trigger::ready`]: made with how many there are, told of each as it
/// becomes active. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Readiness {
    active: std::sync::Arc<tokio::sync::watch::Sender<usize>>,
    needed: usize,
}

impl Readiness {
    /// Readiness for `needed` subscriptions (ready at once when 0).
    pub fn new(needed: usize) -> Readiness {
        Readiness {
            active: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            needed,
        }
    }

    /// One more subscription is active. Call it once per subscription (on
    /// its first success; reconnects do not count again).
    pub fn one_ready(&self) {
        self.active.send_modify(|n| *n += 1);
    }

    /// Completes when every subscription has been active.
    pub fn wait(&self) -> ReadyFuture {
        let mut active = self.active.subscribe();
        let needed = self.needed;
        Box::pin(async move {
            let _ = active.wait_for(|n| *n >= needed).await;
        })
    }
}

/// Tells running triggers to stop. Cheap to clone; every clone fires at once.
#[derive(Clone, Debug)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

/// Fires a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownHandle(tokio::sync::watch::Sender<bool>);

impl Shutdown {
    /// A signal and the handle that fires it.
    pub fn new() -> (ShutdownHandle, Shutdown) {
        let (sender, receiver) = tokio::sync::watch::channel(false);
        (ShutdownHandle(sender), Shutdown(receiver))
    }

    /// Completes when the signal fires (at once if it has).
    pub async fn wait(mut self) {
        // An error means the handle is gone: nobody can fire it any more,
        // which also means stop.
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    /// Whether the signal has fired.
    pub fn fired(&self) -> bool {
        *self.0.borrow()
    }
}

impl ShutdownHandle {
    /// Fires the signal.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// Runs every trigger in `triggers` in this process until `stop` completes,
/// then tells them all to stop and waits for each to finish. If a trigger
/// fails (or ends) before that, the others are stopped too and the first
/// error is returned.
pub async fn run_all(
    triggers: Vec<Box<dyn Trigger>>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (handle, shutdown) = Shutdown::new();
    let mut running = tokio::task::JoinSet::new();
    for trigger in triggers {
        let kind = trigger.trigger_type();
        let run = trigger.run(shutdown.clone());
        running.spawn(async move { (kind, run.await) });
    }
    let mut first_error: Option<anyhow::Error> = None;
    tokio::pin!(stop);
    tokio::select! {
        () = &mut stop => {}
        Some(ended) = running.join_next() => {
            match ended {
                Ok((_, Err(err))) => first_error = Some(err),
                Ok((kind, Ok(()))) => tracing::warn!("the {kind} trigger stopped by itself; stopping the others"),
                Err(err) => first_error = Some(anyhow::anyhow!("a trigger panicked: {err}")),
            }
        }
    }
    handle.fire();
    while let Some(ended) = running.join_next().await {
        match ended {
            Ok((_, Ok(()))) => {}
            Ok((_, Err(err))) => {
                first_error.get_or_insert(err);
            }
            Err(err) => {
                first_error.get_or_insert(anyhow::anyhow!("a trigger panicked: {err}"));
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counting {
        stopped: Arc<AtomicUsize>,
        fail: bool,
    }

    impl Trigger for Counting {
        fn trigger_type(&self) -> &'static str {
            "test"
        }

        fn run(self: Box<Self>, shutdown: Shutdown) -> TriggerFuture {
            Box::pin(async move {
                if self.fail {
                    anyhow::bail!("cannot subscribe");
                }
                shutdown.wait().await;
                self.stopped.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }
    }

    fn triggers(stopped: &Arc<AtomicUsize>, fail: bool) -> Vec<Box<dyn Trigger>> {
        let mut list: Vec<Box<dyn Trigger>> = (0..3)
            .map(|_| {
                Box::new(Counting {
                    stopped: stopped.clone(),
                    fail: false,
                }) as Box<dyn Trigger>
            })
            .collect();
        if fail {
            list.push(Box::new(Counting {
                stopped: stopped.clone(),
                fail: true,
            }));
        }
        list
    }

    #[tokio::test]
    async fn one_signal_stops_every_trigger() {
        let stopped = Arc::new(AtomicUsize::new(0));
        let stop = tokio::time::sleep(std::time::Duration::from_millis(20));
        run_all(triggers(&stopped, false), stop).await.unwrap();
        assert_eq!(stopped.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failing_trigger_stops_the_others_and_reports_its_error() {
        let stopped = Arc::new(AtomicUsize::new(0));
        let err = run_all(triggers(&stopped, true), std::future::pending())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "cannot subscribe");
        assert_eq!(stopped.load(Ordering::SeqCst), 3);
    }
}
