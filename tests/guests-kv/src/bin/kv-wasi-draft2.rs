//! A `wasi:http` proxy component using `wasi:keyvalue@0.2.0-draft2` (the
//! Spin 3 version, with compare-and-swap) through `wit-bindgen` bindings
//! generated from the WIT vendored in
//! `crates/cap-key-value/wit/keyvalue-draft2`.
//!
//! Routes; the bucket is the `store` query parameter (default `default`):
//!
//! - `/get/KEY`: the value, or `<none>`
//! - `/set/KEY` (body: the value): `ok`
//! - `/incr/KEY?by=N` (signed, default 1): `atomics.increment`
//! - `/append/KEY` (body: text): appends with a compare-and-swap retry loop;
//!   answers the number of retries
//! - `/cas-conflict/KEY`: starts a CAS, overwrites the key behind its back,
//!   and shows that `swap` fails with a fresh handle holding the new value,
//!   which then succeeds; answers a transcript
//! - `/get-many` (body: keys): `key=value` lines, `key -` when missing
//! - `/list`: every key, one per line, sorted
//!
//! A store error answers `500 error: {err:?}` (e.g. `error: Error::AccessDenied`).

mod bindings {
    wit_bindgen::generate!({
        path: "../../crates/cap-key-value/wit/keyvalue-draft2",
        world: "wasi:keyvalue/imports",
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};
use nimbus_guests_kv::{answer, respond, Req};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct KvWasiDraft2;
wasip2::http::proxy::export!(KvWasiDraft2);

fn text(value: Option<Vec<u8>>) -> String {
    match value {
        Some(v) => String::from_utf8_lossy(&v).into_owned(),
        None => "<none>".to_string(),
    }
}

fn append(bucket: &store::Bucket, key: &str, suffix: &[u8]) -> Result<String, store::Error> {
    let mut cas = atomics::Cas::new(bucket, key)?;
    let mut retries = 0u32;
    loop {
        let mut value = cas.current()?.unwrap_or_default();
        value.extend_from_slice(suffix);
        match atomics::swap(cas, &value) {
            Ok(()) => return Ok(retries.to_string()),
            Err(atomics::CasError::CasFailed(fresh)) => {
                retries += 1;
                cas = fresh;
            }
            Err(atomics::CasError::StoreError(err)) => return Err(err),
        }
    }
}

fn cas_conflict(bucket: &store::Bucket, key: &str) -> Result<String, store::Error> {
    let mut log = Vec::new();
    let cas = atomics::Cas::new(bucket, key)?;
    log.push(format!("seen={}", text(cas.current()?)));
    bucket.set(key, b"intruder")?;
    match atomics::swap(cas, b"mine") {
        Ok(()) => log.push("first swap succeeded".to_string()),
        Err(atomics::CasError::StoreError(err)) => return Err(err),
        Err(atomics::CasError::CasFailed(fresh)) => {
            log.push(format!(
                "first swap failed; fresh={}",
                text(fresh.current()?)
            ));
            match atomics::swap(fresh, b"mine") {
                Ok(()) => log.push("second swap succeeded".to_string()),
                Err(atomics::CasError::StoreError(err)) => return Err(err),
                Err(atomics::CasError::CasFailed(_)) => log.push("second swap failed".to_string()),
            }
        }
    }
    log.push(format!("final={}", text(bucket.get(key)?)));
    Ok(log.join("\n"))
}

impl Guest for KvWasiDraft2 {
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
            "get" => bucket.get(key).map(text),
            "set" => bucket.set(key, &req.body).map(|()| "ok".to_string()),
            "incr" => {
                let by = req.param("by").and_then(|b| b.parse().ok()).unwrap_or(1i64);
                atomics::increment(&bucket, key, by).map(|n| n.to_string())
            }
            "append" => append(&bucket, key, &req.body),
            "cas-conflict" => cas_conflict(&bucket, key),
            "get-many" => {
                let keys: Vec<String> = String::from_utf8_lossy(&req.body)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                batch::get_many(&bucket, &keys).map(|pairs| {
                    pairs
                        .into_iter()
                        .map(|(k, v)| match v {
                            Some(v) => format!("{k}={}", String::from_utf8_lossy(&v)),
                            None => format!("{k} -"),
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            "list" => bucket.list_keys(None).map(|page| {
                let mut keys = page.keys;
                keys.sort();
                keys.join("\n")
            }),
            other => return respond(out, 404, format!("no route {other}")),
        };
        answer(out, result);
    }
}

fn main() {}
