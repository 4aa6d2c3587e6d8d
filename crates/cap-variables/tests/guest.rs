//! The guests `variables-get` (spin-sdk, `fermyon:spin/variables`) and
//! `config-get` (wit-bindgen, `wasi:config/store`) against this capability,
//! through a real `wasi:http` request per call.

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use nimbus_cap_variables::{
    VariablesAppState, VariablesCapability, VariablesConfig, VariablesInstance,
};
use nimbus_manifest::Manifest;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    variables: VariablesInstance,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

/// One guest of tests/guests-spin, linked with WASI, wasi-http and this
/// capability.
struct Host {
    engine: Engine,
    pre: ProxyPre<State>,
}

impl Host {
    fn new(guest: &str) -> Host {
        let path =
            nimbus_test_guests::package_guest("guests-spin", guest, nimbus_test_guests::Target::P2);
        let engine = Engine::default();
        let component = Component::from_file(&engine, path).unwrap();
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        nimbus_cap_variables::add_to_linker(&mut linker, |s: &mut State| &mut s.variables).unwrap();
        let pre = ProxyPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Host { engine, pre }
    }

    /// `GET path` on a fresh instance holding `variables`.
    async fn get(&self, variables: VariablesInstance, path: &str) -> (u16, String) {
        let state = State {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            variables,
        };
        let mut store = Store::new(&self.engine, state);
        let body = Empty::<Bytes>::new()
            .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} });
        let request = http::Request::builder()
            .uri(format!("http://localhost{path}"))
            .body(body)
            .unwrap();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .unwrap();
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .unwrap();
        let proxy = self.pre.instantiate_async(&mut store).await.unwrap();
        let task = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
        });
        let response = receiver.await.unwrap().unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        task.await.unwrap().unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }
}

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "variables-test"

[variables]
greeting = { default = "Hello" }
name = { required = true }
api_token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "reader"
[[trigger.http]]
route = "/other/..."
component = "other"

[component.reader]
source = "reader.wasm"
variables = { message = "{{ greeting }}, {{ name }}!", token = "Bearer {{ api_token }}" }

[component.other]
source = "other.wasm"
variables = { only_other = "not for reader" }
"#;

fn configure() -> VariablesAppState {
    let manifest = Manifest::from_str(MANIFEST, "spin.toml", ".").unwrap();
    let env: HashMap<&str, &str> = [("NIMBUS_VARIABLE_NAME", "Ada")].into();
    let config = VariablesConfig {
        values: [("api_token".to_string(), "t-123".to_string())].into(),
    };
    VariablesCapability
        .configure(Some(config), &manifest, &|k| {
            env.get(k).map(|v| v.to_string())
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_sdk_guest_reads_templated_variables() {
    let vars = configure();
    let host = Host::new("variables-get");
    assert_eq!(
        host.get(vars.instance("reader"), "/v/message").await,
        (200, "Hello, Ada!".to_string())
    );
    assert_eq!(
        host.get(vars.instance("reader"), "/v/token").await,
        (200, "Bearer t-123".to_string())
    );
    // Another component's key is undefined here.
    let (status, body) = host.get(vars.instance("reader"), "/v/only_other").await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("Error::Undefined(")
            && body.contains("component `reader` has no variable `only_other`"),
        "{body}"
    );
    let (status, body) = host.get(vars.instance("reader"), "/v/Bad-Name").await;
    assert_eq!(status, 500);
    assert!(body.starts_with("Error::InvalidName("), "{body}");
    assert_eq!(
        host.get(vars.instance("other"), "/v/only_other").await,
        (200, "not for reader".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_config_guest_reads_templated_variables() {
    let vars = configure();
    let host = Host::new("config-get");
    assert_eq!(
        host.get(vars.instance("reader"), "/get/message").await,
        (200, "Hello, Ada!".to_string())
    );
    assert_eq!(
        host.get(vars.instance("reader"), "/get/nope").await,
        (404, "none".to_string())
    );
    assert_eq!(
        host.get(vars.instance("reader"), "/get/only_other").await,
        (404, "none".to_string())
    );
    // get-all: this component's keys only, in manifest order.
    assert_eq!(
        host.get(vars.instance("reader"), "/all").await,
        (200, "message=Hello, Ada!\ntoken=Bearer t-123\n".to_string())
    );
    assert_eq!(
        host.get(vars.instance("other"), "/all").await,
        (200, "only_other=not for reader\n".to_string())
    );
}
