//! `order-processor`: runs for every message published on the Redis
//! channel `orders` (a Spin `#[redis_component]`). A message is an order as
//! JSON; a valid one is stored in the `default` key-value store under
//! `order:<id>`, with the time it was processed. An invalid one is refused
//! (the handler returns an error, which Nimbus logs) and stored nowhere.

use anyhow::{ensure, Context as _};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;
use spin_sdk::redis_component;

/// An order as published.
#[derive(Deserialize)]
struct Order {
    id: String,
    item: String,
    quantity: u32,
}

/// An order as stored.
#[derive(Serialize)]
struct Stored<'a> {
    id: &'a str,
    item: &'a str,
    quantity: u32,
    processed_at: u64,
}

#[redis_component]
fn on_order(message: Bytes) -> anyhow::Result<()> {
    let order: Order = serde_json::from_slice(&message).context("an order is JSON: {\"id\", \"item\", \"quantity\"}")?;
    ensure!(
        !order.id.is_empty() && order.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "order id {:?} must be letters, digits and '-'",
        order.id
    );
    ensure!(order.quantity > 0, "order {}: quantity must be at least 1", order.id);
    let processed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let stored = Stored {
        id: &order.id,
        item: &order.item,
        quantity: order.quantity,
        processed_at,
    };
    let store = Store::open_default()?;
    store.set(&format!("order:{}", order.id), &serde_json::to_vec(&stored)?)?;
    println!("order {}: {} x {}", order.id, order.quantity, order.item);
    Ok(())
}
