//! A spin-sdk 7 Redis trigger component (`#[redis_subscriber]`, exporting
//! the async `spin:redis/inbound-redis@3.0.0`), for the Redis trigger tests.
//! `redis-trigger-v2` (tests/guests-spin) is the same behaviour on
//! spin-sdk 5.
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
use spin_sdk::redis_subscriber;

fn main() {}

#[redis_subscriber]
async fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
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
            let name = spin_sdk::variables::get("name").await?;
            let address = spin_sdk::variables::get("address").await?;
            let args = vec![
                RedisParameter::Binary(format!("seen:{name}").into_bytes()),
                RedisParameter::Binary(text.into_bytes()),
            ];
            let connection = Connection::open(address)
                .await
                .map_err(|err| anyhow::anyhow!("open failed: {err:?}"))?;
            connection
                .execute("RPUSH".to_owned(), args)
                .await
                .map_err(|err| anyhow::anyhow!("RPUSH failed: {err:?}"))?;
            Ok(())
        }
    }
}
