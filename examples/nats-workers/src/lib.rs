//! `worker`: one worker of a NATS worker pool (`wasi:messaging`'s
//! `incoming-handler`, run by `[[trigger.nats]]` in queue group `workers`).
//!
//! - `jobs.<id>`: publishes the lowercase hex SHA-256 of the payload to
//!   `results.<id>` (`producer.send`, on a client connected to the server
//!   named by the Spin variable `nats_address`), and prints `<id>: <digest>`.
//! - `hash` (a request): replies with the hex SHA-256 of the payload
//!   (`request-reply.reply`).

wit_bindgen::generate!({
    path: "wit",
    world: "messaging-request-reply",
});

use exports::wasi::messaging::incoming_handler::Guest;
use sha2::{Digest, Sha256};
use wasi::messaging::types::{Client, Error, Message};
use wasi::messaging::{producer, request_reply};

struct Worker;

export!(Worker);

impl Guest for Worker {
    fn handle(message: Message) -> Result<(), Error> {
        let topic = message.topic().unwrap_or_default();
        let digest = hex_sha256(&message.data());
        if topic == "hash" {
            return request_reply::reply(&message, text(&digest));
        }
        let Some(job) = topic.strip_prefix("jobs.") else {
            return Err(Error::Other(format!("unexpected subject {topic:?}")));
        };
        let address = spin_sdk::variables::get("nats_address")
            .map_err(|err| Error::Other(format!("variable nats_address: {err}")))?;
        let client = Client::connect(&address)?;
        producer::send(&client, &format!("results.{job}"), text(&digest))?;
        println!("{job}: {digest}");
        Ok(())
    }
}

/// A `text/plain` message.
fn text(body: &str) -> Message {
    let message = Message::new(body.as_bytes());
    // NATS messages carry a content type (a header): this cannot fail.
    let _ = message.set_content_type("text/plain");
    message
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
