//! A page-hit counter: each request to a path adds one to that path's
//! counter in the app's `default` key-value store and answers
//! `<path> has been visited N times`.
//!
//! The store is embedded SQLite under `.nimbus/` next to the manifest unless
//! a runtime config file moves it (to Redis, for example); the code is the
//! same either way.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle_counter(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.path().to_owned();
    match visit(&path) {
        Ok(count) => Ok(text(
            200,
            format!("{path} has been visited {count} times\n"),
        )),
        // A store that cannot be reached (say, Redis is down) is the host's
        // problem, not the client's: 503, with the store's error.
        Err(err) => Ok(text(503, format!("key-value store error: {err}\n"))),
    }
}

/// Adds one to the counter of `path` and returns the new count.
///
/// `fermyon:spin/key-value` has no atomic increment, so this is a read then
/// a write: two requests racing on one path can both read N and both write
/// N + 1. A counter that must not lose updates uses
/// `wasi:keyvalue/atomics.increment` instead.
fn visit(path: &str) -> Result<u64, spin_sdk::key_value::Error> {
    let store = Store::open_default()?;
    let key = format!("hits:{path}");
    let count = store
        .get(&key)?
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    store.set(&key, count.to_string().as_bytes())?;
    Ok(count)
}

fn text(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
