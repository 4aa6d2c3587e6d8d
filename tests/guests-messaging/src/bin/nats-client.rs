//! A NATS component that uses the messaging imports on command, for the
//! NATS trigger's and the messaging capability's tests. Each message is a
//! request whose payload is a command; the outcome is the reply:
//!
//! - `connect ADDRESS`: `client.connect(ADDRESS)`; replies `ok` or
//!   `error: ERROR` (the interface's error, debug-printed);
//! - `request SUBJECT BODY`: connects to `$NATS_ADDRESS`, sends a request
//!   to SUBJECT (timeout 3 s) and replies with the replies' payloads joined
//!   by `|`, or `error: ERROR`.

wit_bindgen::generate!({
    path: "../../crates/messaging-types/wit",
    world: "wasi:messaging/messaging-request-reply@0.2.0-draft",
    generate_all,
});

use exports::wasi::messaging::incoming_handler::Guest;
use wasi::messaging::request_reply::{self, RequestOptions};
use wasi::messaging::types::{Client, Error, Message};

struct Commands;

fn run(command: &str) -> Result<String, Error> {
    let mut words = command.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("connect"), Some(address), None) => {
            Client::connect(address)?;
            Ok("ok".into())
        }
        (Some("request"), Some(subject), Some(body)) => {
            let address = std::env::var("NATS_ADDRESS")
                .map_err(|_| Error::Other("no NATS_ADDRESS".into()))?;
            let client = Client::connect(&address)?;
            let options = RequestOptions::new();
            options.set_timeout_ms(3000);
            let replies = request_reply::request(
                &client,
                subject,
                &Message::new(body.as_bytes()),
                Some(options),
            )?;
            let payloads: Vec<String> = replies
                .iter()
                .map(|reply| String::from_utf8_lossy(&reply.data()).into_owned())
                .collect();
            Ok(payloads.join("|"))
        }
        _ => Err(Error::Other(format!("unknown command {command:?}"))),
    }
}

impl Guest for Commands {
    fn handle(message: Message) -> Result<(), Error> {
        let command = String::from_utf8_lossy(&message.data()).into_owned();
        let answer = match run(&command) {
            Ok(answer) => answer,
            Err(err) => format!("error: {err:?}"),
        };
        request_reply::reply(&message, Message::new(answer.as_bytes()))
    }
}

export!(Commands);

fn main() {}
