//! A Spin SDK HTTP component that reads a component variable with
//! `spin_sdk::variables::get` (`fermyon:spin/variables@2.0.0`), for the
//! nimbus-cap-variables tests.
//!
//! `GET /<anything>/<key>`: 200 with the value of variable `<key>` (the last
//! path segment), or 500 with the error, Debug-formatted (e.g.
//! `Error::Undefined("…")`, `Error::InvalidName("…")`).

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let key = req.path().rsplit('/').next().unwrap_or_default();
    match spin_sdk::variables::get(key) {
        Ok(value) => Response::new(200, value),
        Err(err) => Response::new(500, format!("{err:?}")),
    }
}

fn main() {}
