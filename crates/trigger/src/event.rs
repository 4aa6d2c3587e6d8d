//! Running a component for one event (a message, a tick), shared by every
//! trigger that is not HTTP: a fresh instance with the component's grants and
//! limits, `max_concurrency` with a bounded wait, the outcome, one access-log
//! line and the observer's record.
//!
//! A trigger builds an [`EventRunner`] per app, asks it for an
//! [`EventHandler`] per (trigger, component), and hands each event to
//! [`EventHandler::dispatch`] (fire and forget: Redis, NATS) or
//! [`EventHandler::run`] (wait for it: cron). It gives the handler a
//! [`GuestCall`]: what to call in the instance (its bindings, its argument).
//! [`EventRunner::drain`] waits for every event in flight when the trigger
//! stops.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nimbus_capability::{AppComponent, InstanceState};
use nimbus_manifest::ComponentId;
use nimbus_runtime::wasmtime::{self, PoolConcurrencyLimitError, Store, Trap};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// How many events of one component run at once when its `[component.ID
/// .limits]` sets no `max_concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// How many events of one component may wait for a free slot (past
/// `max_concurrency`); more are dropped, with a log line and the `dropped`
/// outcome.
pub const MAX_WAITING: usize = 1024;

/// A boxed future borrowing the store for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the guest's export answered: `Err` is the guest's own error value
/// (its `result<_, error>`), as text for the log.
pub type GuestAnswer = Result<(), String>;

/// What to do in a fresh instance: instantiate (from the trigger's
/// pre-instantiated component) and call the export with the event. An `Err`
/// is a trap, a timeout or a host error; the guest's own error is `Ok(Err)`.
pub type GuestCall = Box<
    dyn for<'a> FnOnce(&'a mut Store<InstanceState>) -> BoxFuture<'a, wasmtime::Result<GuestAnswer>>
        + Send,
>;

/// How one event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The guest handled it (returned `ok`).
    Handled,
    /// The guest returned its error value.
    GuestError(String),
    /// The guest trapped (or its instance could not be made).
    Trapped,
    /// The guest asked for more memory than its `memory` limit, then failed.
    OutOfMemory,
    /// The guest ran past its `timeout`.
    TimedOut,
    /// No instance slot was free in the host's pool.
    NoInstance,
    /// Too many events of the component were waiting: not run.
    Dropped,
    /// Not run: the previous run of the same trigger was still going (cron).
    Skipped,
}

impl EventOutcome {
    /// The outcome's name in logs and metrics: `ok`, `error`, `trap`,
    /// `memory`, `timeout`, `busy`, `dropped`, `skipped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventOutcome::Handled => "ok",
            EventOutcome::GuestError(_) => "error",
            EventOutcome::Trapped => "trap",
            EventOutcome::OutOfMemory => "memory",
            EventOutcome::TimedOut => "timeout",
            EventOutcome::NoInstance => "busy",
            EventOutcome::Dropped => "dropped",
            EventOutcome::Skipped => "skipped",
        }
    }
}

impl fmt::Display for EventOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about one finished (or dropped, or skipped) event.
#[derive(Debug, Clone)]
pub struct EventRecord<'a> {
    /// The trigger type: `redis`, `cron`, `nats`.
    pub trigger_type: &'static str,
    /// The trigger's id in the manifest.
    pub trigger_id: &'a str,
    /// Where the event came from, for people: `redis://host:port orders`,
    /// `nats://host:port jobs.> (workers)`, `*/2 * * * * *`. Never holds a
    /// password.
    pub source: &'a str,
    /// The component that handled it.
    pub component: &'a str,
    /// The event's id (a message sequence number, a tick's time).
    pub event_id: &'a str,
    /// How it ended.
    pub outcome: &'a EventOutcome,
    /// From dispatch until the guest was done (includes waiting for a slot).
    pub duration: Duration,
    /// Peak linear memory of the instance, in bytes (0 when none ran).
    pub memory: usize,
}

/// Receives a record of every event (the node's metrics).
pub trait EventObserver: Send + Sync + 'static {
    /// An event finished, was dropped or was skipped.
    fn event_finished(&self, record: &EventRecord<'_>);
}

/// The events of one app's triggers: the concurrency slots of each
/// component (shared by every trigger that runs it) and the events in
/// flight.
pub struct EventRunner {
    observer: Option<Arc<dyn EventObserver>>,
    limits: Mutex<HashMap<ComponentId, Arc<ComponentSlots>>>,
    in_flight: TaskTracker,
}

/// A component's `max_concurrency` and its waiting room.
struct ComponentSlots {
    slots: Arc<Semaphore>,
    max: usize,
    waiting: AtomicUsize,
}

impl EventRunner {
    /// A runner reporting every event to `observer`, if any.
    pub fn new(observer: Option<Arc<dyn EventObserver>>) -> Arc<EventRunner> {
        Arc::new(EventRunner {
            observer,
            limits: Mutex::new(HashMap::new()),
            in_flight: TaskTracker::new(),
        })
    }

    /// The handler for the events of trigger `trigger_id` (of type
    /// `trigger_type`, from `source`) that run `component`.
    pub fn handler(
        self: &Arc<Self>,
        trigger_type: &'static str,
        trigger_id: &str,
        source: &str,
        component: Arc<AppComponent>,
    ) -> EventHandler {
        let slots = {
            let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            limits
                .entry(component.id.clone())
                .or_insert_with(|| {
                    let max = component
                        .limits
                        .max_concurrency
                        .map_or(DEFAULT_MAX_CONCURRENCY, |n| n as usize)
                        .max(1);
                    Arc::new(ComponentSlots {
                        slots: Arc::new(Semaphore::new(max)),
                        max,
                        waiting: AtomicUsize::new(0),
                    })
                })
                .clone()
        };
        EventHandler {
            runner: self.clone(),
            info: Arc::new(HandlerInfo {
                trigger_type,
                trigger_id: trigger_id.to_owned(),
                source: source.to_owned(),
                component,
                slots,
            }),
        }
    }

    /// Waits until every event dispatched so far has finished. Call it after
    /// the trigger stopped taking events.
    pub async fn drain(&self) {
        self.in_flight.close();
        self.in_flight.wait().await;
        self.in_flight.reopen();
    }
}

struct HandlerInfo {
    trigger_type: &'static str,
    trigger_id: String,
    source: String,
    component: Arc<AppComponent>,
    slots: Arc<ComponentSlots>,
}

/// Runs one (trigger, component)'s events. Cheap to clone.
#[derive(Clone)]
pub struct EventHandler {
    runner: Arc<EventRunner>,
    info: Arc<HandlerInfo>,
}

impl EventHandler {
    /// Runs the event in the background: it waits for a slot of the
    /// component's `max_concurrency` unless [`MAX_WAITING`] events already
    /// wait, in which case it is dropped (logged, observed) at once. Returns
    /// whether it was accepted.
    pub fn dispatch(&self, event_id: String, call: GuestCall) -> bool {
        let started = Instant::now();
        let slots = &self.info.slots;
        let handler = self.clone();
        // A free slot is taken here, in arrival order; only events that
        // find none wait (and count against MAX_WAITING).
        if let Ok(permit) = slots.slots.clone().try_acquire_owned() {
            self.runner.in_flight.spawn(async move {
                let _permit = permit;
                handler.execute(&event_id, started, call).await;
            });
            return true;
        }
        if slots.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
            self.dropped(&event_id, started);
            return false;
        }
        slots.waiting.fetch_add(1, Ordering::Relaxed);
        self.runner.in_flight.spawn(async move {
            let permit = handler.info.slots.slots.clone().acquire_owned().await;
            handler.info.slots.waiting.fetch_sub(1, Ordering::Relaxed);
            let Ok(_permit) = permit else { return };
            handler.execute(&event_id, started, call).await;
        });
        true
    }

    /// Runs the event now and waits for it (a slot of the component's
    /// `max_concurrency` first: if none is free the event is dropped).
    pub async fn run(&self, event_id: &str, call: GuestCall) -> EventOutcome {
        let started = Instant::now();
        let Ok(_permit) = self.info.slots.slots.clone().try_acquire_owned() else {
            return self.dropped(event_id, started);
        };
        let handler = self.clone();
        let event_id = event_id.to_owned();
        // Tracked (for `drain`) and on its own task, so a guest is never
        // cancelled halfway by its trigger's loop moving on.
        let task = self
            .runner
            .in_flight
            .spawn(async move { handler.execute(&event_id, started, call).await });
        task.await.unwrap_or(EventOutcome::Trapped)
    }

    /// Records an event not run because the previous run was still going.
    pub fn skipped(&self, event_id: &str) {
        tracing::warn!(
            trigger = self.info.trigger_type,
            trigger_id = %self.info.trigger_id,
            component = %self.info.component.id,
            event = event_id,
            "skipped: the previous run of {} is still going",
            self.info.component.id
        );
        self.finish(event_id, &EventOutcome::Skipped, Duration::ZERO, 0);
    }

    fn dropped(&self, event_id: &str, started: Instant) -> EventOutcome {
        let info = &self.info;
        tracing::warn!(
            trigger = info.trigger_type,
            trigger_id = %info.trigger_id,
            component = %info.component.id,
            event = event_id,
            "dropped: {} events of {} are running (max_concurrency) and {MAX_WAITING} are waiting",
            info.slots.max,
            info.component.id
        );
        let outcome = EventOutcome::Dropped;
        self.finish(event_id, &outcome, started.elapsed(), 0);
        outcome
    }

    async fn execute(&self, event_id: &str, started: Instant, call: GuestCall) -> EventOutcome {
        let component = &self.info.component;
        let mut store = match instance_store(component) {
            Ok(store) => store,
            Err(err) => {
                self.failed(event_id, "cannot prepare an instance", &err);
                let outcome = EventOutcome::Trapped;
                self.finish(event_id, &outcome, started.elapsed(), 0);
                return outcome;
            }
        };
        let result = with_deadline(component.limits.timeout, call(&mut store)).await;
        let limiter = store.data().limiter_ref();
        let memory = limiter.peak();
        let outcome = match result {
            Ok(Ok(())) => EventOutcome::Handled,
            Ok(Err(error)) => {
                tracing::warn!(
                    trigger = self.info.trigger_type,
                    trigger_id = %self.info.trigger_id,
                    component = %component.id,
                    event = event_id,
                    "the guest returned an error: {error}"
                );
                EventOutcome::GuestError(error)
            }
            Err(err) => {
                let outcome = failure_outcome(&err, limiter.denied().is_some());
                let note = memory_note(limiter.denied());
                let what = match outcome {
                    EventOutcome::TimedOut => "timed out",
                    EventOutcome::NoInstance => "no instance slot free",
                    _ => "guest failed",
                };
                tracing::warn!(
                    trigger = self.info.trigger_type,
                    trigger_id = %self.info.trigger_id,
                    component = %component.id,
                    event = event_id,
                    "{what}: {}{note}",
                    nimbus_runtime::one_line(&err)
                );
                outcome
            }
        };
        drop(store);
        self.finish(event_id, &outcome, started.elapsed(), memory);
        outcome
    }

    fn failed(&self, event_id: &str, what: &str, err: &anyhow::Error) {
        tracing::error!(
            trigger = self.info.trigger_type,
            trigger_id = %self.info.trigger_id,
            component = %self.info.component.id,
            event = event_id,
            "{what}: {}",
            nimbus_runtime::one_line(err)
        );
    }

    /// The access-log line and the observer's record.
    fn finish(&self, event_id: &str, outcome: &EventOutcome, duration: Duration, memory: usize) {
        let info = &self.info;
        tracing::info!(
            target: "nimbus::access",
            trigger = info.trigger_type,
            trigger_id = %info.trigger_id,
            source = %info.source,
            component = %info.component.id,
            event = event_id,
            outcome = outcome.as_str(),
            duration_ms = (duration.as_secs_f64() * 1e6).round() / 1e3,
            memory,
            "event"
        );
        if let Some(observer) = &self.runner.observer {
            observer.event_finished(&EventRecord {
                trigger_type: info.trigger_type,
                trigger_id: &info.trigger_id,
                source: &info.source,
                component: info.component.id.as_str(),
                event_id,
                outcome,
                duration,
                memory,
            });
        }
    }
}

/// A store for one event's instance of `component`: every capability
/// prepared, memory limited, yielding at every epoch tick, on the engine the
/// component was compiled for.
pub fn instance_store(component: &AppComponent) -> anyhow::Result<Store<InstanceState>> {
    let state = component
        .services
        .instance_builder(component.limits.memory)?
        .build();
    let mut store = Store::new(component.compiled.engine(), state);
    store.limiter(|state| state.limiter());
    nimbus_runtime::yield_every_tick(&mut store);
    Ok(store)
}

/// Runs a guest's call under `timeout`: past it the call ends as an epoch
/// interrupt (a trap with [`Trap::Interrupt`]).
pub async fn with_deadline<T>(
    timeout: Option<Duration>,
    run: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    match timeout {
        Some(timeout) => nimbus_runtime::with_timeout(timeout, run)
            .await
            .unwrap_or_else(|| Err(Trap::Interrupt.into())),
        None => run.await,
    }
}

/// Says, for the log, that the guest had asked for more memory than its
/// limit before it failed (empty when it had not).
pub fn memory_note(memory_denied: Option<usize>) -> String {
    match memory_denied {
        Some(total) => format!(
            " (after its memory limit refused to grow linear memory to {total} bytes; raise `memory` in [component.ID.limits])"
        ),
        None => String::new(),
    }
}

fn failure_outcome(err: &wasmtime::Error, memory_denied: bool) -> EventOutcome {
    if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return EventOutcome::TimedOut;
    }
    if err.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
        return EventOutcome::NoInstance;
    }
    if memory_denied {
        return EventOutcome::OutOfMemory;
    }
    EventOutcome::Trapped
}

/// Renders a trigger setting that may hold `{{ variable }}` templates (a
/// Redis address, a channel, a NATS subject) with the app's variables.
/// `what` names the setting in errors (e.g. "`address` of trigger
/// `orders-redis-trigger`").
pub fn render_setting(
    app: &nimbus_capability::App,
    what: &str,
    text: &str,
) -> anyhow::Result<String> {
    let template =
        nimbus_manifest::Template::parse(text).map_err(|err| anyhow::anyhow!("{what}: {err}"))?;
    template
        .render(|name| app.services().variable(name).map(|v| v.value))
        .map_err(|name| {
            anyhow::anyhow!(
                "{what} uses variable `{name}`, which has no value; give it one (--variable {name}=VALUE, or a default in [variables])"
            )
        })
}
