//! A NATS worker (export `wasi:messaging/incoming-handler@0.2.0-draft`),
//! for the NATS trigger's tests. For each message, by payload:
//!
//! - `trap`: panics (the instance traps);
//! - `loop`: spins until the component's timeout stops it;
//! - `fail`: returns the interface's `error` (`other`);
//! - anything else, `P`: publishes `done.P` with the payload `$WORKER`
//!   (an environment variable, naming the process) to the server at
//!   `$NATS_ADDRESS` with the producer, and, if the message is a request,
//!   replies `echo: P`.

wit_bindgen::generate!({
    path: "../../crates/messaging-types/wit",
    world: "wasi:messaging/messaging-request-reply@0.2.0-draft",
    generate_all,
});

use exports::wasi::messaging::incoming_handler::Guest;
use wasi::messaging::types::{Client, Error, Message};
use wasi::messaging::{producer, request_reply};

struct Worker;

impl Guest for Worker {
    fn handle(message: Message) -> Result<(), Error> {
        let payload = String::from_utf8_lossy(&message.data()).into_owned();
        match payload.as_str() {
            "trap" => panic!("the message asked for a trap"),
            "loop" => loop {
                std::hint::spin_loop();
            },
            "fail" => return Err(Error::Other("the message asked for an error".into())),
            _ => {}
        }
        let address =
            std::env::var("NATS_ADDRESS").map_err(|_| Error::Other("no NATS_ADDRESS".into()))?;
        let worker = std::env::var("WORKER").unwrap_or_default();
        let client = Client::connect(&address)?;
        let done = Message::new(worker.as_bytes());
        done.set_content_type("text/plain")
            .map_err(|()| Error::Other("content type".into()))?;
        producer::send(&client, &format!("done.{payload}"), done)?;
        if payload.starts_with("req-") {
            request_reply::reply(
                &message,
                Message::new(format!("echo: {payload}").as_bytes()),
            )?;
        }
        Ok(())
    }
}

export!(Worker);

fn main() {}
