//! A minimal `wasi:http` host for the SQLite guest: WASI p2, wasi-http and
//! this capability, one store per request (like `nimbus up`).

#![allow(dead_code)]

use std::convert::Infallible;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use nimbus_cap_sqlite::{SqliteInstance, SqliteView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    sqlite: SqliteInstance,
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

/// The SQLite guest, linked once.
pub struct Host {
    engine: Engine,
    pre: ProxyPre<State>,
}

/// The path of guest `sqlite-exec` (built on first use).
pub fn guest_path() -> std::path::PathBuf {
    nimbus_test_guests::package_guest("guests-spin", "sqlite-exec", nimbus_test_guests::Target::P2)
}

impl Host {
    pub fn new() -> Host {
        Host::from_file(&guest_path())
    }

    pub fn from_file(path: &Path) -> Host {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path).unwrap();
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        nimbus_cap_sqlite::add_to_linker(&mut linker, |s: &mut State| SqliteView {
            instance: &mut s.sqlite,
            table: &mut s.table,
        })
        .unwrap();
        let pre = ProxyPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Host { engine, pre }
    }

    /// Sends `POST /exec` with `body` to a fresh instance holding `sqlite`;
    /// returns the status and the body.
    pub async fn post(&self, sqlite: SqliteInstance, body: &serde_json::Value) -> (u16, String) {
        let state = State {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            sqlite,
        };
        let mut store = Store::new(&self.engine, state);
        let body = Full::new(Bytes::from(serde_json::to_vec(body).unwrap()))
            .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} });
        let request = http::Request::builder()
            .method("POST")
            .uri("http://localhost/exec")
            .header("content-type", "application/json")
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

    /// Runs `statements` (`(sql, params)`) on `database` in one request on
    /// one connection; returns the status and the parsed answer.
    pub async fn exec(
        &self,
        sqlite: SqliteInstance,
        database: &str,
        statements: &[(&str, serde_json::Value)],
    ) -> (u16, serde_json::Value) {
        let statements: Vec<serde_json::Value> = statements
            .iter()
            .map(|(sql, params)| serde_json::json!({"sql": sql, "params": params}))
            .collect();
        let body = serde_json::json!({"database": database, "statements": statements});
        let (status, text) = self.post(sqlite, &body).await;
        let answer = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("answer {text:?} is not JSON: {err}"));
        (status, answer)
    }

    /// Like [`Host::exec`], but panics unless it succeeded; returns the
    /// rows of the last statement.
    pub async fn query(
        &self,
        sqlite: SqliteInstance,
        statements: &[(&str, serde_json::Value)],
    ) -> serde_json::Value {
        let (status, answer) = self.exec(sqlite, "default", statements).await;
        assert_eq!(status, 200, "{answer}");
        answer["results"].as_array().unwrap().last().unwrap()["rows"].clone()
    }
}
