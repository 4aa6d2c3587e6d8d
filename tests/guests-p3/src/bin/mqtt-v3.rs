// A Spin SDK 7 HTTP component (`#[http_service]`) that publishes with
// `spin_sdk::mqtt` (`spin:mqtt/mqtt@3.0.0`, async), for the
// nimbus-cap-outbound-mqtt tests. `mqtt-v2` in tests/guests-spin is the same
// with spin-sdk 5 (`fermyon:spin/mqtt@2.0.0`, synchronous).
//
// It reads the component variables `address`, `username` and `password`
// and opens connections with them (keep-alive: `keep_alive` from the query,
// else 30 s). `GET /?case=CASE&topic=T&qos=N` (any path):
//
// - `case=open`: opens one connection: `opened`.
// - `case=publish`: opens one connection and publishes `hello qosN from v3`
//   to topic `T` with QoS `N` (0, 1 or 2): `ok`.
// - `case=many&n=N`: opens `N` connections and holds them all: `opened`.
//   When one fails with `too-many-connections`, it drops one it holds and
//   opens again, which must work (a dropped connection frees its place),
//   then answers that error.
//
// An interface error answers 200 `error: VARIANT` (the variant's WIT name:
// `invalid-address`, `too-many-connections`, `connection-failed`, `other`),
// followed for the last two by a newline and the message. A failed check
// inside the guest (a bad query, a missing variable, an error message
// holding the password) answers 500 `FAIL: WHAT`.

use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::mqtt::{Connection, Error, Qos};

const VERSION: &str = "v3";

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let query = req.uri().query().unwrap_or_default().to_owned();
    match run(&query).await {
        Ok(body) => (StatusCode::OK, body),
        Err(fail) => (StatusCode::INTERNAL_SERVER_ERROR, format!("FAIL: {fail}")),
    }
}

/// The value of `key` in `query` (no percent-decoding: the tests use plain
/// words).
fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

async fn variable(name: &str) -> Result<String, String> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|err| format!("variable `{name}`: {err:?}"))
}

struct Settings {
    address: String,
    username: String,
    password: String,
    keep_alive: u64,
}

impl Settings {
    async fn open(&self) -> Result<Connection, Error> {
        Connection::open(
            &self.address,
            &self.username,
            &self.password,
            self.keep_alive,
        )
        .await
    }

    /// The answer for an interface error; FAIL if its message names the
    /// password.
    fn error(&self, err: Error) -> Result<String, String> {
        let (variant, message) = match err {
            Error::InvalidAddress => ("invalid-address", None),
            Error::TooManyConnections => ("too-many-connections", None),
            Error::ConnectionFailed(message) => ("connection-failed", Some(message)),
            Error::Other(message) => ("other", Some(message)),
        };
        match message {
            Some(message) if !self.password.is_empty() && message.contains(&self.password) => {
                Err(format!("the {variant} error names the password: {message}"))
            }
            Some(message) => Ok(format!("error: {variant}\n{message}")),
            None => Ok(format!("error: {variant}")),
        }
    }
}

async fn run(query: &str) -> Result<String, String> {
    let settings = Settings {
        address: variable("address").await?,
        username: variable("username").await?,
        password: variable("password").await?,
        keep_alive: match param(query, "keep_alive") {
            Some(secs) => secs.parse().map_err(|_| format!("bad keep_alive {secs:?}"))?,
            None => 30,
        },
    };
    match param(query, "case") {
        Some("open") => match settings.open().await {
            Ok(_connection) => Ok("opened".into()),
            Err(err) => settings.error(err),
        },
        Some("publish") => {
            let topic = param(query, "topic").ok_or("no topic")?;
            let (qos, n) = match param(query, "qos") {
                Some("0") => (Qos::AtMostOnce, 0),
                Some("1") => (Qos::AtLeastOnce, 1),
                Some("2") => (Qos::ExactlyOnce, 2),
                other => return Err(format!("bad qos {other:?}")),
            };
            let connection = match settings.open().await {
                Ok(connection) => connection,
                Err(err) => return settings.error(err),
            };
            let payload = format!("hello qos{n} from {VERSION}");
            match connection.publish(topic, payload.into_bytes(), qos).await {
                Ok(()) => Ok("ok".into()),
                Err(err) => settings.error(err),
            }
        }
        Some("many") => {
            let n: usize = match param(query, "n") {
                Some(n) => n.parse().map_err(|_| format!("bad n {n:?}"))?,
                None => return Err("no n".into()),
            };
            let mut held = Vec::new();
            for _ in 0..n {
                match settings.open().await {
                    Ok(connection) => held.push(connection),
                    Err(Error::TooManyConnections) if !held.is_empty() => {
                        held.pop();
                        match settings.open().await {
                            Ok(connection) => held.push(connection),
                            Err(err) => {
                                return Err(format!(
                                    "opening after dropping a connection: {err:?}"
                                ))
                            }
                        }
                        return settings.error(Error::TooManyConnections);
                    }
                    Err(err) => return settings.error(err),
                }
            }
            Ok("opened".into())
        }
        other => Err(format!("bad case {other:?}")),
    }
}

fn main() {}
