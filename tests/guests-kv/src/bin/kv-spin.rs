//! A Spin SDK HTTP component (`#[http_component]`, spin-sdk 5.2) using
//! `spin_sdk::key_value::Store` (`fermyon:spin/key-value@2.0.0`).
//!
//! Routes; the store is the `store` query parameter (default `default`):
//!
//! - `/get/KEY`: the value, or `404 missing`
//! - `/set/KEY` (body: the value): `ok`
//! - `/delete/KEY`: `ok`
//! - `/exists/KEY`: `true` or `false`
//! - `/keys`: every key, one per line, sorted
//! - `/bump/KEY`: reads the value as a number (missing: 0), writes it plus
//!   one and answers it (not atomic: Spin's key-value has no increment)
//!
//! A store error answers `500 error: {err:?}` (e.g. `error: Error::AccessDenied`).

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

fn reply(status: u16, body: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())
        .build()
}

fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| v.to_string())
    })
}

#[http_component]
fn handle_kv(req: Request) -> anyhow::Result<impl IntoResponse> {
    let label = param(req.query(), "store").unwrap_or_else(|| "default".to_string());
    let store = match Store::open(&label) {
        Ok(store) => store,
        Err(err) => return Ok(reply(500, format!("error: {err:?}"))),
    };
    let path = req.path().trim_start_matches('/').to_string();
    let (op, key) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let result = match op {
        "get" => match store.get(key) {
            Ok(Some(value)) => return Ok(reply(200, String::from_utf8_lossy(&value))),
            Ok(None) => return Ok(reply(404, "missing")),
            Err(err) => Err(err),
        },
        "set" => store.set(key, req.body()).map(|()| "ok".to_string()),
        "delete" => store.delete(key).map(|()| "ok".to_string()),
        "exists" => store.exists(key).map(|found| found.to_string()),
        "keys" => store.get_keys().map(|mut keys| {
            keys.sort();
            keys.join("\n")
        }),
        "bump" => store.get(key).and_then(|value| {
            let current: i64 = value
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let next = current + 1;
            store
                .set(key, next.to_string().as_bytes())
                .map(|()| next.to_string())
        }),
        _ => return Ok(reply(404, format!("no route {op}"))),
    };
    Ok(match result {
        Ok(body) => reply(200, body),
        Err(err) => reply(500, format!("error: {err:?}")),
    })
}

fn main() {}
