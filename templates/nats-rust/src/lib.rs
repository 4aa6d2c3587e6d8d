//! `{{project-name}}`: a NATS worker. `nimbus up` subscribes to the subject
//! in `nimbus.toml` and runs this function, in a fresh sandbox, for every
//! message published there. A request (a message with a reply subject, e.g.
//! from `nats request`) is answered with its payload in upper case.

wit_bindgen::generate!({
    path: "wit",
    world: "messaging-request-reply",
});

use exports::wasi::messaging::incoming_handler::Guest;
use wasi::messaging::request_reply;
use wasi::messaging::types::{Error, Message};

struct Worker;

export!(Worker);

impl Guest for Worker {
    /// Called with each message. An `Err` is logged by nimbus (with the
    /// component, the trigger and the subject); the next message runs
    /// anyway.
    fn handle(message: Message) -> Result<(), Error> {
        let payload = String::from_utf8_lossy(&message.data()).into_owned();
        let topic = message.topic().unwrap_or_default();
        println!("{{project-name}} got: {payload} on {topic}");

        // The interface has no way to ask whether a message is a request:
        // `reply` answers `other` for one without a reply subject (a plain
        // publish), so that error means there was nobody to answer.
        let answer = Message::new(payload.to_uppercase().as_bytes());
        match request_reply::reply(&message, answer) {
            Ok(()) | Err(Error::Other(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
