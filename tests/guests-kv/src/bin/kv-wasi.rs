//! A `wasi:http` proxy component using `wasi:keyvalue@0.2.0-draft` (the
//! Wasmtime version) through `wit-bindgen` bindings generated from the WIT
//! vendored in `crates/cap-key-value/wit/keyvalue-draft`.
//!
//! Routes; the bucket is the `store` query parameter (default `default`):
//!
//! - `/get/KEY`: the value, or `<none>`
//! - `/set/KEY` (body: the value), `/delete/KEY`: `ok`
//! - `/exists/KEY`: `true` or `false`
//! - `/incr/KEY?by=N` (default 1): `atomics.increment`, the new value
//! - `/set-many` (body: `key=value` lines), `/delete-many` (body: keys):
//!   `batch`, `ok`
//! - `/get-many` (body: keys): `key=value` lines, `key -` when missing
//! - `/list`: every key (all `list-keys` pages), one per line, sorted
//!
//! A store error answers `500 error: {err:?}` (e.g. `error: Error::AccessDenied`).

mod bindings {
    wit_bindgen::generate!({
        path: "../../crates/cap-key-value/wit/keyvalue-draft",
        world: "wasi:keyvalue/imports",
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};
use nimbus_guests_kv::{answer, respond, Req};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct KvWasi;
wasip2::http::proxy::export!(KvWasi);

fn lines(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

impl Guest for KvWasi {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let req = Req::read(request);
        let label = req.param("store").unwrap_or_else(|| "default".to_string());
        let bucket = match store::open(&label) {
            Ok(bucket) => bucket,
            Err(err) => return respond(out, 500, format!("error: {err:?}")),
        };
        let segments = req.segments();
        let key = segments.get(1).copied().unwrap_or("");
        let result: Result<String, store::Error> = match segments[0] {
            "get" => bucket.get(key).map(|v| match v {
                Some(v) => String::from_utf8_lossy(&v).into_owned(),
                None => "<none>".to_string(),
            }),
            "set" => bucket.set(key, &req.body).map(|()| "ok".to_string()),
            "delete" => bucket.delete(key).map(|()| "ok".to_string()),
            "exists" => bucket.exists(key).map(|found| found.to_string()),
            "incr" => {
                let by = req.param("by").and_then(|b| b.parse().ok()).unwrap_or(1u64);
                atomics::increment(&bucket, key, by).map(|n| n.to_string())
            }
            "set-many" => {
                let pairs: Vec<(String, Vec<u8>)> = lines(&req.body)
                    .into_iter()
                    .map(|line| {
                        let (k, v) = line.split_once('=').unwrap_or((&line, ""));
                        (k.to_string(), v.as_bytes().to_vec())
                    })
                    .collect();
                batch::set_many(&bucket, &pairs).map(|()| "ok".to_string())
            }
            "get-many" => {
                let keys = lines(&req.body);
                batch::get_many(&bucket, &keys).map(|values| {
                    keys.iter()
                        .zip(values)
                        .map(|(key, value)| match value {
                            Some((k, v)) => format!("{k}={}", String::from_utf8_lossy(&v)),
                            None => format!("{key} -"),
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            "delete-many" => {
                batch::delete_many(&bucket, &lines(&req.body)).map(|()| "ok".to_string())
            }
            "list" => {
                let mut keys = Vec::new();
                let mut cursor = None;
                loop {
                    match bucket.list_keys(cursor) {
                        Ok(page) => {
                            keys.extend(page.keys);
                            match page.cursor {
                                Some(next) => cursor = Some(next),
                                None => break Ok(()),
                            }
                        }
                        Err(err) => break Err(err),
                    }
                }
                .map(|()| {
                    keys.sort();
                    keys.join("\n")
                })
            }
            other => return respond(out, 404, format!("no route {other}")),
        };
        answer(out, result);
    }
}

fn main() {}
