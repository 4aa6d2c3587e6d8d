//! `orders-api`: the orders `order-processor` stored, over HTTP.
//!
//! - `GET /orders` lists the ids of every stored order (JSON array);
//! - `GET /orders/<id>` returns one order (JSON), or 404.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let store = Store::open_default()?;
    let path = req.path();
    let id = path.trim_start_matches("/orders").trim_start_matches('/');
    if id.is_empty() {
        let mut ids: Vec<String> = store
            .get_keys()?
            .into_iter()
            .filter_map(|key| key.strip_prefix("order:").map(str::to_owned))
            .collect();
        ids.sort();
        return Ok(json(200, serde_json::to_vec(&ids)?));
    }
    match store.get(&format!("order:{id}"))? {
        Some(order) => Ok(json(200, order)),
        None => Ok(Response::builder()
            .status(404)
            .header("content-type", "text/plain")
            .body(format!("no order {id}\n"))
            .build()),
    }
}

fn json(status: u16, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .build()
}
