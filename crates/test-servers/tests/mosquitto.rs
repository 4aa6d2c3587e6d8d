//! The Mosquitto harness itself: a subscriber sees what the broker's own
//! publisher (`mosquitto_pub`) sends, with and without a password, across a
//! restart on the same port.

use std::process::{Command, Stdio};
use std::time::Duration;

use nimbus_test_servers::Mosquitto;

/// Publishes `message` to `topic` with `mosquitto_pub`; whether the broker
/// took it.
fn publish(
    broker: &Mosquitto,
    credentials: Option<(&str, &str)>,
    topic: &str,
    message: &str,
) -> bool {
    let mut command = Command::new("mosquitto_pub");
    command
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", topic, "-m", message, "-q", "1"]);
    if let Some((user, password)) = credentials {
        command.args(["-u", user, "-P", password]);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub runs")
        .success()
}

#[test]
fn a_subscriber_sees_what_is_published_across_a_restart() {
    let mut broker = Mosquitto::start();
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));
    let subscriber = broker.subscribe("harness/a", 1);
    assert!(publish(&broker, None, "harness/other", "not this"));
    assert!(publish(&broker, None, "harness/a", "hello there"));
    assert_eq!(
        subscriber.next(Duration::from_secs(10)),
        Some(("harness/a".to_owned(), b"hello there".to_vec()))
    );
    assert_eq!(subscriber.next(Duration::from_millis(200)), None);

    let port = broker.port();
    broker.stop();
    assert!(!publish(&broker, None, "harness/a", "down"));
    broker.restart();
    assert_eq!(broker.port(), port);
    let subscriber = broker.subscribe("harness/a", 0);
    assert!(publish(&broker, None, "harness/a", "back"));
    assert_eq!(
        subscriber.next(Duration::from_secs(10)),
        Some(("harness/a".to_owned(), b"back".to_vec()))
    );
}

#[test]
fn a_password_broker_lets_only_its_user_in() {
    let broker = Mosquitto::start_with_password("harness-user", "harness-pass");
    let subscriber = broker.subscribe("harness/secure", 2);
    assert!(!publish(&broker, None, "harness/secure", "anonymous"));
    assert!(!publish(
        &broker,
        Some(("harness-user", "wrong")),
        "harness/secure",
        "wrong"
    ));
    assert!(publish(
        &broker,
        Some(("harness-user", "harness-pass")),
        "harness/secure",
        "right"
    ));
    assert_eq!(
        subscriber.next(Duration::from_secs(10)),
        Some(("harness/secure".to_owned(), b"right".to_vec()))
    );
}
