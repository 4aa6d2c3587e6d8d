//! A spin-sdk 5 Redis trigger component (`#[redis_component]`, exporting
//! `fermyon:spin/inbound-redis`), for the Redis trigger tests.
//! `redis-trigger-v3` (tests/guests-p3) is the same behaviour on spin-sdk 7.
//!
//! Every message is text; what the component does with it:
//!
//! - `trap`: panics (a trap);
//! - `loop`: spins forever (until the component's `timeout`);
//! - `hog`: allocates 1 MiB blocks until memory runs out (past `memory`);
//! - `error`: returns the interface's error;
//! - anything else: appends it (RPUSH) to the list `seen:<name>` in the
//!   Redis at `address`, where `name` and `address` are Spin variables of
//!   the component, so the test sees from outside which component handled
//!   which message.

use spin_sdk::redis::{Connection, RedisParameter};
use spin_sdk::redis_component;

fn main() {}

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let text = String::from_utf8(message)?;
    match text.as_str() {
        "trap" => panic!("asked to trap"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "hog" => {
            let mut blocks = Vec::new();
            loop {
                blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        "error" => anyhow::bail!("asked to fail"),
        _ => {
            let name = spin_sdk::variables::get("name")?;
            let address = spin_sdk::variables::get("address")?;
            let args = [
                RedisParameter::Binary(format!("seen:{name}").into_bytes()),
                RedisParameter::Binary(text.into_bytes()),
            ];
            let connection = Connection::open(&address)
                .map_err(|err| anyhow::anyhow!("open failed: {err:?}"))?;
            connection
                .execute("RPUSH", &args)
                .map_err(|err| anyhow::anyhow!("RPUSH failed: {err:?}"))?;
            Ok(())
        }
    }
}
