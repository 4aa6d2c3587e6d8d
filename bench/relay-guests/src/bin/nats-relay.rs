//! The NATS relay of the message benchmarks: a `wasi:messaging@0.2.0-draft`
//! component (world `messaging-core`: exports `incoming-handler`, imports
//! `producer`) that sends every message it is handed, its payload
//! unchanged, to the subject named by the Spin variable `out`, on a client
//! of the server named by the variable `nats_address`
//! (`nats://127.0.0.1:PORT`). `msgbench relay nats` is the same natively.

wit_bindgen::generate!({
    path: "wit",
    world: "wasi:messaging/messaging-core@0.2.0-draft",
    generate_all,
});

use exports::wasi::messaging::incoming_handler::Guest;
use spin_sdk::variables;
use wasi::messaging::producer;
use wasi::messaging::types::{Client, Error, Message};

struct Relay;

fn variable(name: &str) -> Result<String, Error> {
    variables::get(name).map_err(|err| Error::Other(format!("variable {name}: {err}")))
}

impl Guest for Relay {
    fn handle(message: Message) -> Result<(), Error> {
        let client = Client::connect(&variable("nats_address")?)?;
        producer::send(&client, &variable("out")?, Message::new(&message.data()))
    }
}

export!(Relay);

fn main() {}
