//! The cron trigger: Fermyon's spin-trigger-cron, built in.
//!
//! `[[trigger.cron]]` names a component and a `cron_expression` (6 fields,
//! seconds first, in UTC). At each tick the component runs in a fresh
//! instance (the shared [`nimbus_trigger::event`] layer: limits, timeout,
//! outcome, access-log line) and its `handle-cron-event` export gets the
//! tick's time. A tick that finds the previous run of the same trigger still
//! going is skipped and logged, never queued. On shutdown the schedules stop
//! first, then the runs in flight finish.

mod config;
mod guest;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use nimbus_capability::App;
use nimbus_manifest::{Manifest, ManifestError};
use nimbus_trigger::{EventHandler, EventObserver, EventRunner, Shutdown, Trigger, TriggerFuture};

pub use config::{cron_triggers, CronTriggerConfig, Schedule, TRIGGER_TYPE};
pub use guest::CronGuest;

/// Checks every `[[trigger.cron]]` section (and `[application.trigger.cron]`)
/// against the schema, reporting every problem with `file:line:col`.
pub fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    cron_triggers(manifest).map(drop)
}

/// The app's cron trigger, ready to run; `None` when the manifest has no
/// `[[trigger.cron]]`. Every event is reported to `observer`, if any.
pub fn trigger(
    app: &Arc<App>,
    observer: Option<Arc<dyn EventObserver>>,
) -> anyhow::Result<Option<Box<dyn Trigger>>> {
    let configs = cron_triggers(app.manifest())?;
    if configs.is_empty() {
        return Ok(None);
    }
    let runner = EventRunner::new(observer);
    let mut schedules = Vec::with_capacity(configs.len());
    for config in configs {
        let component = app.component(config.component.as_str()).with_context(|| {
            format!(
                "trigger `{}` names component `{}`, which the app does not have",
                config.id, config.component
            )
        })?;
        let guest = CronGuest::load(app, component)
            .with_context(|| format!("cannot set up cron trigger `{}`", config.id))?;
        if guest.is_async() {
            tracing::debug!(component = %component.id, "cron export is an async func (concurrent engine)");
        }
        let handler = runner.handler(
            TRIGGER_TYPE,
            &config.id,
            config.schedule.expression(),
            component.clone(),
        );
        schedules.push(Scheduled {
            config,
            handler,
            guest,
        });
    }
    Ok(Some(Box::new(CronTrigger { runner, schedules })))
}

/// Every `[[trigger.cron]]` of one app, ready to run.
pub struct CronTrigger {
    runner: Arc<EventRunner>,
    schedules: Vec<Scheduled>,
}

/// One `[[trigger.cron]]`: its schedule, its component and how to call it.
struct Scheduled {
    config: CronTriggerConfig,
    handler: EventHandler,
    guest: CronGuest,
}

impl Trigger for CronTrigger {
    fn trigger_type(&self) -> &'static str {
        TRIGGER_TYPE
    }

    /// `COMPONENT: cron "EXPR" (next 2026-12-03T10:00:02Z)`: the next tick in
    /// UTC.
    fn summary(&self) -> Vec<String> {
        let now = Utc::now();
        self.schedules
            .iter()
            .map(|s| {
                let next = match s.config.schedule.next_after(&now) {
                    Some(tick) => format!("next {}", event_id(&tick)),
                    None => "no tick left".to_owned(),
                };
                format!(
                    "{}: cron {:?} ({next})",
                    s.config.component,
                    s.config.schedule.expression()
                )
            })
            .collect()
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> TriggerFuture {
        Box::pin(async move {
            let CronTrigger { runner, schedules } = *self;
            let mut loops = tokio::task::JoinSet::new();
            for scheduled in schedules {
                loops.spawn(run_schedule(scheduled, shutdown.clone()));
            }
            // Each loop stops at the signal and waits for its run in flight.
            while loops.join_next().await.is_some() {}
            runner.drain().await;
            Ok(())
        })
    }
}

/// A tick's event id: its scheduled time, RFC 3339 in UTC, whole seconds.
fn event_id(tick: &DateTime<Utc>) -> String {
    tick.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// How far behind its schedule a loop may fall (a busy or suspended host)
/// before it gives up the ticks it missed rather than firing them late.
const MAX_LATENESS: Duration = Duration::from_secs(1);

/// Runs one trigger's schedule until `shutdown`: at each tick, the component
/// in a fresh instance, unless its previous run is still going.
async fn run_schedule(scheduled: Scheduled, shutdown: Shutdown) {
    let Scheduled {
        config,
        handler,
        guest,
    } = scheduled;
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    let mut next = config.schedule.next_after(&Utc::now());
    while let Some(tick) = next {
        // The wait is on tokio's (monotonic) clock; ticks are wall-clock
        // times, so a long wait is re-measured when it ends.
        let wait = (tick - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(wait) => {}
        }
        if Utc::now() < tick {
            continue;
        }
        let id = event_id(&tick);
        if running.as_ref().is_some_and(|run| !run.is_finished()) {
            handler.skipped(&id);
        } else {
            let timestamp = u64::try_from(tick.timestamp()).unwrap_or(0);
            let call = guest.call(timestamp);
            let handler = handler.clone();
            running = Some(tokio::spawn(async move {
                handler.run(&id, call).await;
            }));
        }
        next = config.schedule.next_after(&tick);
        let now = Utc::now();
        if next.is_some_and(|n| n + MAX_LATENESS < now) {
            tracing::warn!(
                trigger = TRIGGER_TYPE,
                trigger_id = %config.id,
                component = %config.component,
                "behind schedule (the host was busy or suspended): ticks until now are not run"
            );
            next = config.schedule.next_after(&now);
        }
    }
    if let Some(run) = running {
        let _ = run.await;
    }
    if next.is_none() {
        tracing::info!(
            trigger = TRIGGER_TYPE,
            trigger_id = %config.id,
            "cron_expression {:?} has no tick left",
            config.schedule.expression()
        );
        // A trigger that ends stops the app's others: wait for the signal.
        stop.await;
    }
}
