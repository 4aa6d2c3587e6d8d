//! Real guest components (tests/guests-kv, built for wasm32-wasip2) served by
//! a minimal `wasi:http` host, the way the HTTP trigger runs them: a fresh
//! store per request, the key-value interfaces added to the linker with
//! `add_to_linker`, and `KeyValueAppState::instance` per request.
//!
//! Guests: `kv-spin` (spin-sdk 5.2, `fermyon:spin/key-value@2.0.0`),
//! `kv-wasi` (`wasi:keyvalue@0.2.0-draft` via wit-bindgen) and
//! `kv-wasi-draft2` (`wasi:keyvalue@0.2.0-draft2`, compare-and-swap).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use common::{app_kv, configure, redis_config, RedisServer};
use http_body_util::{BodyExt, Full};
use nimbus_cap_key_value::{KeyValueAppState, KeyValueInstance, KeyValueView};
use nimbus_test_guests::Target;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-request store state, like the HTTP trigger's `HttpState` plus the
/// key-value instance.
struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    kv: KeyValueInstance,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    })
}

/// A guest of tests/guests-kv, linked and pre-instantiated (compiled once
/// per test process).
fn guest(name: &str) -> Arc<ProxyPre<HostState>> {
    static GUESTS: OnceLock<Mutex<HashMap<String, Arc<ProxyPre<HostState>>>>> = OnceLock::new();
    let mut guests = GUESTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(pre) = guests.get(name) {
        return pre.clone();
    }
    let path = nimbus_test_guests::package_guest("guests-kv", name, Target::P2);
    let component = Component::from_file(engine(), &path).unwrap();
    let mut linker = Linker::<HostState>::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    nimbus_cap_key_value::add_to_linker(&mut linker, |state: &mut HostState| KeyValueView {
        instance: &mut state.kv,
        table: &mut state.table,
    })
    .unwrap();
    let pre = linker
        .instantiate_pre(&component)
        .unwrap_or_else(|err| panic!("linking {name}: {err:?}"));
    let pre = Arc::new(ProxyPre::new(pre).unwrap());
    guests.insert(name.to_owned(), pre.clone());
    pre
}

/// Serves one request with a fresh instance of `guest_name` running as
/// component `component` of the app `kv`; returns status and body.
async fn request(
    kv: &KeyValueAppState,
    guest_name: &str,
    component: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let pre = guest(guest_name);
    let state = HostState {
        wasi: WasiCtx::builder().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        kv: kv.instance(component),
    };
    let mut store = Store::new(engine(), state);
    let req = http::Request::builder()
        .method(if body.is_empty() { "GET" } else { "POST" })
        .uri(format!("http://localhost{path}"))
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let guest_req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .unwrap();
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(sender)
        .unwrap();
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, guest_req, out)
            .await
    });
    let response = match receiver.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => panic!("{guest_name} answered with an error: {code:?}"),
        Err(_) => panic!(
            "{guest_name} set no response: {:?}",
            task.await.unwrap().err()
        ),
    };
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    task.await
        .unwrap()
        .unwrap_or_else(|err| panic!("{guest_name} failed: {err:?}"));
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn ok(body: &str) -> (u16, String) {
    (200, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_sdk_guest_uses_its_granted_stores() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv(
        "app",
        dir.path(),
        &[("web", &["default", "cache"]), ("other", &["default"])],
    );
    let kv = configure(Some(redis_config(&redis.url(), &["cache"])), &app);
    let spin = |path: &'static str, body: &'static str| {
        let kv = kv.clone();
        async move { request(&kv, "kv-spin", "web", path, body).await }
    };

    for store in ["default", "cache"] {
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
        kv.store("default").unwrap().describe(),
        format!(
            "sqlite {}",
            app.data_dir
                .join(nimbus_cap_key_value::DEFAULT_DB_FILE)
                .display()
        )
    );
    assert_eq!(kv.store("cache").unwrap().backend_kind(), "redis");

    // A component may open only what its manifest lists.
    assert_eq!(
        request(&kv, "kv-spin", "other", "/get/visits?store=cache", "").await,
        (500, "error: Error::AccessDenied".into())
    );
    assert_eq!(
        request(&kv, "kv-spin", "other", "/get/visits", "").await,
        ok("2")
    );
    assert_eq!(
        spin("/get/x?store=nope", "").await,
        (500, "error: Error::AccessDenied".into())
    );
    assert_eq!(
        request(&kv, "kv-spin", "stranger", "/get/visits", "").await,
        (500, "error: Error::AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_keyvalue_guest_on_both_backends() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default", "cache"])]);
    let kv = configure(Some(redis_config(&redis.url(), &["cache"])), &app);

    for store in ["default", "cache"] {
        let call = |route: &str, body: &str| {
            let kv = kv.clone();
            let path = if route.contains('?') {
                format!("{route}&store={store}")
            } else {
                format!("{route}?store={store}")
            };
            let body = body.to_owned();
            async move { request(&kv, "kv-wasi", "web", &path, &body).await }
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
        request(&kv, "kv-wasi", "web", "/get/a?store=secret", "").await,
        (500, "error: Error::AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_keyvalue_draft2_guest_compare_and_swap() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default", "cache"])]);
    let kv = configure(Some(redis_config(&redis.url(), &["cache"])), &app);

    for store in ["default", "cache"] {
        let call = |route: &str, body: &str| {
            let kv = kv.clone();
            let path = if route.contains('?') {
                format!("{route}&store={store}")
            } else {
                format!("{route}?store={store}")
            };
            let body = body.to_owned();
            async move { request(&kv, "kv-wasi-draft2", "web", &path, &body).await }
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
        request(&kv, "kv-wasi-draft2", "nobody", "/get/k", "").await,
        (500, "error: Error::AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guest_requests_do_not_lose_updates() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = app_kv("app", dir.path(), &[("web", &["default", "cache"])]);
    let kv = configure(Some(redis_config(&redis.url(), &["cache"])), &app);
    const REQUESTS: usize = 24;

    for store in ["default", "cache"] {
        let mut tasks = Vec::new();
        for i in 0..REQUESTS {
            let kv = kv.clone();
            tasks.push(tokio::spawn(async move {
                // Half through atomics.increment, half through CAS loops.
                if i % 2 == 0 {
                    let path = format!("/incr/hits?store={store}");
                    request(&kv, "kv-wasi", "web", &path, "").await
                } else {
                    let path = format!("/append/log?store={store}");
                    request(&kv, "kv-wasi-draft2", "web", &path, "x").await
                }
            }));
        }
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 200, "{body}");
        }
        let s = kv.store(store).unwrap();
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
    let app = app_kv("app", dir.path(), &[("web", &["default"])]);
    let kv = configure(None, &app);
    assert_eq!(
        request(&kv, "kv-spin", "web", "/set/shared", "from spin").await,
        ok("ok")
    );
    assert_eq!(
        request(&kv, "kv-wasi", "web", "/get/shared", "").await,
        ok("from spin")
    );
    assert_eq!(
        request(&kv, "kv-wasi-draft2", "web", "/get/shared", "").await,
        ok("from spin")
    );
    assert_eq!(request(&kv, "kv-wasi", "web", "/incr/n", "").await, ok("1"));
    assert_eq!(request(&kv, "kv-spin", "web", "/bump/n", "").await, ok("2"));
    assert_eq!(
        request(&kv, "kv-wasi-draft2", "web", "/incr/n", "").await,
        ok("3")
    );
    // Data outlives the app state (a restart of nimbus).
    drop(kv);
    let kv = configure(None, &app);
    assert_eq!(request(&kv, "kv-spin", "web", "/get/n", "").await, ok("3"));
}
