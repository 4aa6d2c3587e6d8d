//! `{{project-name}}`: a Redis message handler. `nimbus up` subscribes to the
//! channel in `nimbus.toml` and runs this function, in a fresh sandbox, for
//! every message published there.

use bytes::Bytes;
use spin_sdk::redis_component;

/// Called with each message's payload. An `Err` is logged by nimbus (with
/// the component, the trigger and the message id); the next message runs
/// anyway.
#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    println!("{{project-name}} got: {}", String::from_utf8_lossy(&message));
    Ok(())
}
