//! Real guest components (tests/guests-kv, built for wasm32-wasip2) served
//! through the capability seam the way the HTTP trigger runs them
//! (`nimbus-test-host`): grants from a manifest, backends from runtime
//! config, a fresh instance per request.
//!
//! Guests: `kv-spin` (spin-sdk 5.2, `fermyon:spin/key-value@2.0.0`),
//! `kv-wasi` (`wasi:keyvalue@0.2.0-draft` via wit-bindgen) and
//! `kv-wasi-draft2` (`wasi:keyvalue@0.2.0-draft2`, compare-and-swap).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::RedisServer;
use nimbus_cap_key_value::{KeyValueAppState, KeyValueCapability};
use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_wasi::WasiCapability;
use nimbus_capability::Capabilities;
use nimbus_test_guests::Target;
use nimbus_test_host::{toml_path, TestApp};
use nimbus_test_servers::Postgres;

/// An app `app` with its data in `dir/app/.nimbus` whose components are
/// `(id, guest of tests/guests-kv, key_value_stores)`, with `runtime_config`.
fn load_app(
    dir: &Path,
    components: &[(&str, &str, &[&str])],
    runtime_config: &str,
) -> Arc<TestApp> {
    let mut manifest =
        String::from("spin_manifest_version = 2\n[application]\nname = \"kv-test\"\n");
    for (id, _, _) in components {
        manifest.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{id}/...\"\ncomponent = \"{id}\"\n"
        ));
    }
    for (id, guest, labels) in components {
        let source = nimbus_test_guests::package_guest("guests-kv", guest, Target::P2);
        let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        manifest.push_str(&format!(
            "[component.{id}]\nsource = {}\nkey_value_stores = [{}]\n",
            toml_path(&source),
            labels.join(", ")
        ));
    }
    let capabilities = Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability)
        .with(KeyValueCapability::new());
    let app = TestApp::builder(capabilities, manifest)
        .app_id("app")
        .data_dir(dir.join("app").join(".nimbus"))
        .runtime_config(runtime_config)
        .build()
        .expect("the app loads");
    Arc::new(app)
}

/// Runtime config with Redis stores `labels` at `url`.
fn redis_config(url: &str, labels: &[&str]) -> String {
    labels
        .iter()
        .map(|label| format!("[key_value_store.{label}]\ntype = \"redis\"\nurl = \"{url}\"\n"))
        .collect()
}

/// Runtime config with Redis store `cache` and PostgreSQL store `shared`.
fn redis_and_postgres_config(redis: &RedisServer, pg: &Postgres) -> String {
    format!(
        "{}[key_value_store.shared]\ntype = \"postgres\"\nurl = \"{}\"\n",
        redis_config(&redis.url(), &["cache"]),
        pg.url()
    )
}

/// The key-value capability's state of `app`, for host-side checks.
fn kv(app: &TestApp) -> &KeyValueAppState {
    app.services()
        .get::<KeyValueCapability>()
        .expect("the app has the key-value capability")
}

/// Serves one request with a fresh instance of `component` (GET without a
/// body, else POST); returns status and body.
async fn request(app: &TestApp, component: &str, path: &str, body: &str) -> (u16, String) {
    let method = if body.is_empty() { "GET" } else { "POST" };
    app.request(component, method, path, body.to_owned()).await
}

fn ok(body: &str) -> (u16, String) {
    (200, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_sdk_guest_uses_its_granted_stores() {
    let redis = RedisServer::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = load_app(
        dir.path(),
        &[
            ("web", "kv-spin", &["default", "cache", "shared"]),
            ("other", "kv-spin", &["default"]),
            ("stranger", "kv-spin", &[]),
        ],
        &redis_and_postgres_config(&redis, &pg),
    );
    let spin = |path: &'static str, body: &'static str| {
        let app = app.clone();
        async move { request(&app, "web", path, body).await }
    };

    for store in ["default", "cache", "shared"] {
        let q = |route: &str| -> &'static str {
            Box::leak(format!("{route}?store={store}").into_boxed_str())
        };
        assert_eq!(spin(q("/get/greeting"), "").await, (404, "missing".into()));
        assert_eq!(spin(q("/exists/greeting"), "").await, ok("false"));
        assert_eq!(spin(q("/set/greeting"), "hello").await, ok("ok"));
        assert_eq!(spin(q("/get/greeting"), "").await, ok("hello"));
        assert_eq!(spin(q("/exists/greeting"), "").await, ok("true"));
        assert_eq!(spin(q("/bump/visits"), "").await, ok("1"));
        assert_eq!(spin(q("/bump/visits"), "").await, ok("2"));
        assert_eq!(spin(q("/keys"), "").await, ok("greeting\nvisits"));
        assert_eq!(spin(q("/delete/greeting"), "").await, ok("ok"));
        assert_eq!(spin(q("/keys"), "").await, ok("visits"));
    }
    // Each label is its own store, on its own backend.
    assert_eq!(
        kv(&app).store("default").unwrap().describe(),
        format!(
            "sqlite {}",
            app.data_dir()
                .join(nimbus_cap_key_value::DEFAULT_DB_FILE)
                .display()
        )
    );
    assert_eq!(kv(&app).store("cache").unwrap().backend_kind(), "redis");
    assert_eq!(kv(&app).store("shared").unwrap().backend_kind(), "postgres");

    // A component may open only what its manifest lists.
    assert_eq!(
        request(&app, "other", "/get/visits?store=cache", "").await,
        (500, "error: Error::AccessDenied".into())
    );
    assert_eq!(request(&app, "other", "/get/visits", "").await, ok("2"));
    assert_eq!(
        spin("/get/x?store=nope", "").await,
        (500, "error: Error::AccessDenied".into())
    );
    assert_eq!(
        request(&app, "stranger", "/get/visits", "").await,
        (500, "error: Error::AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_keyvalue_guest_on_every_backend() {
    let redis = RedisServer::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = load_app(
        dir.path(),
        &[("web", "kv-wasi", &["default", "cache", "shared"])],
        &redis_and_postgres_config(&redis, &pg),
    );

    for store in ["default", "cache", "shared"] {
        let call = |route: &str, body: &str| {
            let app = app.clone();
            let path = if route.contains('?') {
                format!("{route}&store={store}")
            } else {
                format!("{route}?store={store}")
            };
            let body = body.to_owned();
            async move { request(&app, "web", &path, &body).await }
        };
        assert_eq!(call("/get/a", "").await, ok("<none>"));
        assert_eq!(call("/set/a", "1").await, ok("ok"));
        assert_eq!(call("/get/a", "").await, ok("1"));
        assert_eq!(call("/exists/a", "").await, ok("true"));
        assert_eq!(call("/incr/a", "").await, ok("2"));
        assert_eq!(call("/incr/a?by=40", "").await, ok("42"));
        assert_eq!(call("/incr/fresh", "").await, ok("1"));
        assert_eq!(call("/set/text", "abc").await, ok("ok"));
        let (status, body) = call("/incr/text", "").await;
        assert_eq!(status, 500);
        assert!(
            body.starts_with("error: Error::Other(") && body.contains("text"),
            "{body}"
        );
        assert_eq!(call("/set-many", "b1=x\nb2=y\n").await, ok("ok"));
        assert_eq!(
            call("/get-many", "b1\nmissing\nb2").await,
            ok("b1=x\nmissing -\nb2=y")
        );
        assert_eq!(call("/delete-many", "b1\nmissing").await, ok("ok"));
        assert_eq!(call("/list", "").await, ok("a\nb2\nfresh\ntext"));
        assert_eq!(call("/delete/a", "").await, ok("ok"));
        assert_eq!(call("/exists/a", "").await, ok("false"));
    }
    assert_eq!(
        request(&app, "web", "/get/a?store=secret", "").await,
        (500, "error: Error::AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_keyvalue_draft2_guest_compare_and_swap() {
    let redis = RedisServer::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let app = load_app(
        dir.path(),
        &[
            ("web", "kv-wasi-draft2", &["default", "cache", "shared"]),
            ("nobody", "kv-wasi-draft2", &[]),
        ],
        &redis_and_postgres_config(&redis, &pg),
    );

    for store in ["default", "cache", "shared"] {
        let call = |route: &str, body: &str| {
            let app = app.clone();
            let path = if route.contains('?') {
                format!("{route}&store={store}")
            } else {
                format!("{route}?store={store}")
            };
            let body = body.to_owned();
            async move { request(&app, "web", &path, &body).await }
        };
        assert_eq!(call("/incr/n?by=-3", "").await, ok("-3"));
        assert_eq!(call("/incr/n?by=5", "").await, ok("2"));
        assert_eq!(call("/set/k", "original").await, ok("ok"));
        assert_eq!(
            call("/cas-conflict/k", "").await,
            ok("seen=original\nfirst swap failed; fresh=intruder\nsecond swap succeeded\nfinal=mine")
        );
        assert_eq!(
            call("/cas-conflict/new", "").await,
            ok("seen=<none>\nfirst swap failed; fresh=intruder\nsecond swap succeeded\nfinal=mine")
        );
        assert_eq!(call("/append/log", "a").await, ok("0"));
        assert_eq!(call("/append/log", "b").await, ok("0"));
        assert_eq!(call("/get/log", "").await, ok("ab"));
        assert_eq!(call("/get-many", "log\nnope").await, ok("log=ab\nnope -"));
        assert_eq!(call("/list", "").await, ok("k\nlog\nn\nnew"));
    }
    assert_eq!(
        request(&app, "nobody", "/get/k", "").await,
        (500, "error: Error::AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guest_requests_do_not_lose_updates() {
    let redis = RedisServer::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    // One component per guest, with the same grants.
    let app = load_app(
        dir.path(),
        &[
            ("web-wasi", "kv-wasi", &["default", "cache", "shared"]),
            (
                "web-draft2",
                "kv-wasi-draft2",
                &["default", "cache", "shared"],
            ),
        ],
        &redis_and_postgres_config(&redis, &pg),
    );
    const REQUESTS: usize = 24;

    for store in ["default", "cache", "shared"] {
        let mut tasks = Vec::new();
        for i in 0..REQUESTS {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                // Half through atomics.increment, half through CAS loops.
                if i % 2 == 0 {
                    let path = format!("/incr/hits?store={store}");
                    request(&app, "web-wasi", &path, "").await
                } else {
                    let path = format!("/append/log?store={store}");
                    request(&app, "web-draft2", &path, "x").await
                }
            }));
        }
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 200, "{body}");
        }
        let s = kv(&app).store(store).unwrap();
        assert_eq!(
            s.get("hits").await.unwrap(),
            Some((REQUESTS / 2).to_string().into_bytes()),
            "{store}"
        );
        assert_eq!(
            s.get("log").await.unwrap(),
            Some(vec![b'x'; REQUESTS / 2]),
            "{store}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interface_sees_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    // One component per guest, each granted `default`.
    let components: &[(&str, &str, &[&str])] = &[
        ("spin", "kv-spin", &["default"]),
        ("wasi", "kv-wasi", &["default"]),
        ("draft2", "kv-wasi-draft2", &["default"]),
    ];
    let app = load_app(dir.path(), components, "");
    assert_eq!(
        request(&app, "spin", "/set/shared", "from spin").await,
        ok("ok")
    );
    assert_eq!(
        request(&app, "wasi", "/get/shared", "").await,
        ok("from spin")
    );
    assert_eq!(
        request(&app, "draft2", "/get/shared", "").await,
        ok("from spin")
    );
    assert_eq!(request(&app, "wasi", "/incr/n", "").await, ok("1"));
    assert_eq!(request(&app, "spin", "/bump/n", "").await, ok("2"));
    assert_eq!(request(&app, "draft2", "/incr/n", "").await, ok("3"));
    // Data outlives the app state (a restart of nimbus).
    drop(app);
    let app = load_app(dir.path(), components, "");
    assert_eq!(request(&app, "spin", "/get/n", "").await, ok("3"));
}
