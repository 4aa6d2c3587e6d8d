//! The Redis relay of the message benchmarks: a Spin SDK 5 Redis component
//! (`#[redis_component]`, `fermyon:spin/inbound-redis`) that publishes every
//! message it receives, unchanged, to the channel named by the Spin
//! variable `out`, on the server named by the variable `redis_address`
//! (`spin_sdk::redis`, `fermyon:spin/redis@2.0.0`). `msgbench relay redis`
//! is the same natively.

use bytes::Bytes;
use spin_sdk::redis::Connection;
use spin_sdk::{redis_component, variables};

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    let address = variables::get("redis_address")?;
    let out = variables::get("out")?;
    Connection::open(&address)?.publish(&out, &message.to_vec())?;
    Ok(())
}

fn main() {}
