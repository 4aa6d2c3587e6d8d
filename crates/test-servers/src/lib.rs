//! Dev-only: the real servers the tests talk to, each started on 127.0.0.1
//! and a free port in its own temporary directory, and killed when dropped.
//!
//! A server that is not installed fails the test with the command that
//! installs it (`scripts/setup.sh` installs them all): a test that needs a
//! server never passes silently without one.
//!
//! Every server can be stopped and restarted on the same port, for tests of
//! what a guest sees while its database is down and after it comes back.

mod mariadb;
mod mosquitto;
mod nats;
mod postgres;
mod process;
mod redis;
mod registry;

pub use mariadb::MariaDb;
pub use mosquitto::{Mosquitto, Subscriber};
pub use nats::{NatsClient, NatsMessage, NatsServer, NatsSubscription};
pub use postgres::Postgres;
pub use process::{free_port, ServerProcess};
pub use redis::RedisServer;
pub use registry::OciRegistry;
