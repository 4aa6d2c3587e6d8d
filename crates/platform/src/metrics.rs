//! The node's metrics, in Prometheus text format on the admin listener's
//! `/metrics`. Request metrics are fed by each app's
//! [`RequestObserver`], event metrics (Redis, cron, NATS) by its
//! [`EventObserver`]; deploy metrics by the registry.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use nimbus_trigger::{EventObserver, EventRecord};
use nimbus_trigger_http::{RequestObserver, RequestRecord};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    app: String,
    component: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    app: String,
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    app: String,
    component: String,
    trigger: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventTriggerLabels {
    app: String,
    component: String,
    trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    app: String,
    reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn memory_histogram() -> Histogram {
    // 64 KiB … 4 GiB
    Histogram::new(exponential_buckets(65536.0, 4.0, 9))
}

/// Every metric of the node.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<ComponentLabels>,
    instantiation: HistogramFamily<ComponentLabels>,
    in_flight: Family<ComponentLabels, Gauge<i64, AtomicI64>>,
    memory: HistogramFamily<ComponentLabels>,
    events: Family<EventLabels, Counter>,
    event_latency: HistogramFamily<EventTriggerLabels>,
    unrouted: Counter,
    deploys: Family<AppLabels, Counter>,
    rollbacks: Family<AppLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    apps: Gauge<i64, AtomicI64>,
    apps_loaded: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "nimbus_requests",
            "Requests handled, by app, component and status class (1xx..5xx)",
            requests.clone(),
        );
        let latency: HistogramFamily<ComponentLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "nimbus_request_duration_seconds",
            "Time from a request's arrival until its response head and guest were done",
            latency.clone(),
        );
        let instantiation: HistogramFamily<ComponentLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "nimbus_instantiation_duration_seconds",
            "Time to create a component instance for a request",
            instantiation.clone(),
        );
        let in_flight = Family::<ComponentLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "nimbus_instances_in_flight",
            "Requests being handled (each by its own instance) right now",
            in_flight.clone(),
        );
        let memory: HistogramFamily<ComponentLabels> =
            Family::new_with_constructor(memory_histogram as fn() -> Histogram);
        registry.register(
            "nimbus_instance_memory_bytes",
            "Peak linear memory of each request's instance",
            memory.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "nimbus_events",
            "Events (Redis and NATS messages, cron ticks) by app, component, trigger type and outcome (ok, error, trap, memory, timeout, busy, dropped, skipped)",
            events.clone(),
        );
        let event_latency: HistogramFamily<EventTriggerLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "nimbus_event_duration_seconds",
            "Time from an event's arrival until its guest was done (includes waiting for a max_concurrency slot)",
            event_latency.clone(),
        );
        let unrouted = Counter::default();
        registry.register(
            "nimbus_unrouted_requests",
            "Requests whose host name matched no app (404)",
            unrouted.clone(),
        );
        let deploys = Family::<AppLabels, Counter>::default();
        registry.register("nimbus_deploys", "Deploys that went live", deploys.clone());
        let rollbacks = Family::<AppLabels, Counter>::default();
        registry.register("nimbus_rollbacks", "Rollbacks done", rollbacks.clone());
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "nimbus_deploy_refusals",
            "Deploys refused, by reason: bundle, signature, manifest, quota, load, name, hostname",
            refusals.clone(),
        );
        let apps = Gauge::<i64, AtomicI64>::default();
        registry.register("nimbus_apps", "Apps deployed", apps.clone());
        let apps_loaded = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "nimbus_apps_loaded",
            "Apps whose code is loaded (the others load on their next request)",
            apps_loaded.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            instantiation,
            in_flight,
            memory,
            events,
            event_latency,
            unrouted,
            deploys,
            rollbacks,
            refusals,
            apps,
            apps_loaded,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// An observer for `app`'s trigger.
    pub fn observer(self: &Arc<Self>, app: &str) -> Arc<dyn RequestObserver> {
        Arc::new(AppObserver {
            app: app.to_owned(),
            metrics: self.clone(),
        })
    }

    /// An observer for `app`'s Redis, cron and NATS triggers.
    pub fn event_observer(self: &Arc<Self>, app: &str) -> Arc<dyn EventObserver> {
        Arc::new(AppObserver {
            app: app.to_owned(),
            metrics: self.clone(),
        })
    }

    /// A request for a host no app answers on.
    pub fn unrouted(&self) {
        self.unrouted.inc();
    }

    /// A deploy went live.
    pub fn deployed(&self, app: &str) {
        self.deploys
            .get_or_create(&AppLabels { app: app.into() })
            .inc();
    }

    /// A rollback was done.
    pub fn rolled_back(&self, app: &str) {
        self.rollbacks
            .get_or_create(&AppLabels { app: app.into() })
            .inc();
    }

    /// A deploy was refused for `reason` (a category, not the message).
    pub fn refused(&self, app: &str, reason: &str) {
        self.refusals
            .get_or_create(&RefusalLabels {
                app: app.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// How many apps are deployed and loaded.
    pub fn set_apps(&self, deployed: usize, loaded: usize) {
        self.apps.set(deployed as i64);
        self.apps_loaded.set(loaded as i64);
    }
}

struct AppObserver {
    app: String,
    metrics: Arc<Metrics>,
}

impl AppObserver {
    fn labels(&self, component: &str) -> ComponentLabels {
        ComponentLabels {
            app: self.app.clone(),
            component: component.to_owned(),
        }
    }
}

impl RequestObserver for AppObserver {
    fn request_started(&self, component: &str) {
        self.metrics
            .in_flight
            .get_or_create(&self.labels(component))
            .inc();
    }

    fn request_finished(&self, record: &RequestRecord<'_>) {
        let component = record.component.unwrap_or("-");
        let labels = self.labels(component);
        if record.component.is_some() {
            self.metrics.in_flight.get_or_create(&labels).dec();
        }
        let class = match record.status {
            100..=599 => format!("{}xx", record.status / 100),
            _ => "other".to_owned(),
        };
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                app: self.app.clone(),
                component: component.to_owned(),
                status: class,
            })
            .inc();
        self.metrics
            .latency
            .get_or_create(&labels)
            .observe(record.duration.as_secs_f64());
        if let Some(took) = record.instantiate {
            self.metrics
                .instantiation
                .get_or_create(&labels)
                .observe(took.as_secs_f64());
        }
        if record.memory > 0 {
            self.metrics
                .memory
                .get_or_create(&labels)
                .observe(record.memory as f64);
        }
    }
}

impl EventObserver for AppObserver {
    fn event_finished(&self, record: &EventRecord<'_>) {
        self.metrics
            .events
            .get_or_create(&EventLabels {
                app: self.app.clone(),
                component: record.component.to_owned(),
                trigger: record.trigger_type.to_owned(),
                outcome: record.outcome.as_str().to_owned(),
            })
            .inc();
        let ran = !matches!(
            record.outcome,
            nimbus_trigger::EventOutcome::Dropped | nimbus_trigger::EventOutcome::Skipped
        );
        if ran {
            self.metrics
                .event_latency
                .get_or_create(&EventTriggerLabels {
                    app: self.app.clone(),
                    component: record.component.to_owned(),
                    trigger: record.trigger_type.to_owned(),
                })
                .observe(record.duration.as_secs_f64());
        }
        if record.memory > 0 {
            self.metrics
                .memory
                .get_or_create(&self.labels(record.component))
                .observe(record.memory as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn counts_requests_by_status_class() {
        let metrics = Arc::new(Metrics::new());
        let observer = metrics.observer("shop");
        let method = http::Method::GET;
        for status in [200, 200, 404, 503] {
            observer.request_started("web");
            observer.request_finished(&RequestRecord {
                component: Some("web"),
                method: &method,
                path: "/",
                status,
                duration: Duration::from_millis(3),
                memory: 1 << 20,
                instantiate: Some(Duration::from_micros(50)),
            });
        }
        metrics.deployed("shop");
        metrics.refused("shop", "quota");
        let text = metrics.encode();
        assert!(
            text.contains(r#"nimbus_requests_total{app="shop",component="web",status="2xx"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"nimbus_requests_total{app="shop",component="web",status="5xx"} 1"#)
        );
        assert!(text.contains(r#"nimbus_instances_in_flight{app="shop",component="web"} 0"#));
        assert!(
            text.contains(r#"nimbus_request_duration_seconds_count{app="shop",component="web"} 4"#)
        );
        assert!(text.contains(r#"nimbus_deploys_total{app="shop"} 1"#));
        assert!(text.contains(r#"nimbus_deploy_refusals_total{app="shop",reason="quota"} 1"#));
    }

    #[test]
    fn counts_events_by_trigger_and_outcome() {
        let metrics = Arc::new(Metrics::new());
        let observer = metrics.event_observer("shop");
        let outcomes = [
            nimbus_trigger::EventOutcome::Handled,
            nimbus_trigger::EventOutcome::Handled,
            nimbus_trigger::EventOutcome::Dropped,
        ];
        for (n, outcome) in outcomes.iter().enumerate() {
            observer.event_finished(&EventRecord {
                trigger_type: "redis",
                trigger_id: "orders",
                source: "redis://127.0.0.1:6379 orders",
                component: "worker",
                event_id: &format!("orders#{n}"),
                outcome,
                duration: Duration::from_millis(2),
                memory: if *outcome == nimbus_trigger::EventOutcome::Handled {
                    1 << 20
                } else {
                    0
                },
            });
        }
        let text = metrics.encode();
        assert!(
            text.contains(r#"nimbus_events_total{app="shop",component="worker",trigger="redis",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(text.contains(
            r#"nimbus_events_total{app="shop",component="worker",trigger="redis",outcome="dropped"} 1"#
        ));
        assert!(text.contains(
            r#"nimbus_event_duration_seconds_count{app="shop",component="worker",trigger="redis"} 2"#
        ));
    }
}
