//! The pool against a scripted broker: a few lines of MQTT on a local
//! socket, so that tests choose when (and whether) publishes are
//! acknowledged. The real broker (Mosquitto) is in `tests/`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nimbus_manifest::HostPattern;
use nimbus_outbound_networking::{AllowedHosts, OutboundPolicy, CONNECT_TIMEOUT};
use rumqttc::QoS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{MqttAppState, MqttError};

/// What the scripted broker saw.
#[derive(Debug, Default)]
struct Seen {
    /// Client id and whether a user name was given, per CONNECT.
    connects: Vec<(String, bool)>,
    /// Topic, payload and QoS of each PUBLISH.
    publishes: Vec<(String, Vec<u8>, u8)>,
    /// How many clients said DISCONNECT.
    disconnects: usize,
}

/// A broker that accepts every CONNECT and acknowledges a QoS 1 or 2
/// publish after `delay`, except one whose payload starts with `hold`
/// (never acknowledged) or `drop` (the connection is closed instead).
struct ScriptedBroker {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl ScriptedBroker {
    async fn start(delay: Duration) -> ScriptedBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorder = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, delay, recorder.clone()));
            }
        });
        ScriptedBroker { port, seen }
    }

    fn allowed(&self) -> AllowedHosts {
        allowed(&[&format!("mqtt://127.0.0.1:{}", self.port)])
    }

    fn address(&self, query: &str) -> String {
        format!("mqtt://127.0.0.1:{}{query}", self.port)
    }

    fn connects(&self) -> Vec<(String, bool)> {
        self.seen.lock().unwrap().connects.clone()
    }
}

fn allowed(patterns: &[&str]) -> AllowedHosts {
    let patterns: Vec<HostPattern> = patterns.iter().map(|p| p.parse().unwrap()).collect();
    AllowedHosts::new("test", patterns.into(), OutboundPolicy::default())
}

/// Reads one packet: its first byte and its body.
async fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let first = stream.read_u8().await.ok()?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let byte = stream.read_u8().await.ok()?;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.ok()?;
    Some((first, body))
}

/// A length-prefixed string at `at` in `body`, and where the next field is.
fn string(body: &[u8], at: usize) -> (String, usize) {
    let len = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let text = String::from_utf8_lossy(&body[at + 2..at + 2 + len]).into_owned();
    (text, at + 2 + len)
}

async fn serve(mut stream: TcpStream, delay: Duration, seen: Arc<Mutex<Seen>>) {
    let (acks, mut to_send) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    loop {
        tokio::select! {
            packet = read_packet(&mut stream) => {
                let Some((first, body)) = packet else { return };
                match first >> 4 {
                    1 => {
                        // CONNECT: protocol name, level, flags, keep-alive, then
                        // the client id.
                        let (_, at) = string(&body, 0);
                        let flags = body[at + 1];
                        let (client_id, _) = string(&body, at + 4);
                        seen.lock().unwrap().connects.push((client_id, flags & 0x80 != 0));
                        stream.write_all(&[0x20, 2, 0, 0]).await.unwrap();
                    }
                    3 => {
                        let qos = (first >> 1) & 3;
                        let (topic, mut at) = string(&body, 0);
                        let pkid = if qos > 0 {
                            at += 2;
                            [body[at - 2], body[at - 1]]
                        } else {
                            [0, 0]
                        };
                        let payload = body[at..].to_vec();
                        let hold = payload.starts_with(b"hold");
                        if payload.starts_with(b"drop") {
                            return;
                        }
                        seen.lock().unwrap().publishes.push((topic, payload, qos));
                        if qos > 0 && !hold {
                            let ack = if qos == 1 { 0x40 } else { 0x50 };
                            let acks = acks.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                let _ = acks.send(vec![ack, 2, pkid[0], pkid[1]]);
                            });
                        }
                    }
                    // PUBREL: PUBCOMP at once.
                    6 => stream.write_all(&[0x70, 2, body[0], body[1]]).await.unwrap(),
                    // PINGREQ.
                    12 => stream.write_all(&[0xd0, 0]).await.unwrap(),
                    14 => {
                        seen.lock().unwrap().disconnects += 1;
                        return;
                    }
                    _ => {}
                }
            }
            Some(ack) = to_send.recv() => stream.write_all(&ack).await.unwrap(),
        }
    }
}

fn pool(timeout: Duration) -> MqttAppState {
    MqttAppState::new("test-app", timeout)
}

#[tokio::test]
async fn publish_returns_once_the_broker_acknowledged() {
    let delay = Duration::from_millis(300);
    let broker = ScriptedBroker::start(delay).await;
    let pool = pool(Duration::from_secs(10));
    let conn = pool
        .open(
            &broker.allowed(),
            broker.address(""),
            "".into(),
            "".into(),
            30,
        )
        .await
        .unwrap();
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let start = Instant::now();
        conn.publish("t".into(), b"m".to_vec(), qos, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(start.elapsed() >= delay, "{qos:?} returned before its ack");
    }
    conn.publish(
        "t".into(),
        b"m".to_vec(),
        QoS::AtMostOnce,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    // QoS 0 returned once written: the broker reads it soon after.
    let deadline = Instant::now() + Duration::from_secs(5);
    while broker.seen.lock().unwrap().publishes.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = broker.seen.lock().unwrap();
    let qos: Vec<u8> = seen.publishes.iter().map(|p| p.2).collect();
    assert_eq!(qos, [1, 2, 0]);
}

#[tokio::test]
async fn acknowledgements_go_to_their_own_publish() {
    let broker = ScriptedBroker::start(Duration::ZERO).await;
    let pool = pool(Duration::from_secs(10));
    let conn = pool
        .open(
            &broker.allowed(),
            broker.address(""),
            "".into(),
            "".into(),
            30,
        )
        .await
        .unwrap();
    // The first publish is never acknowledged; the ones after it are, and
    // must not settle it.
    let held = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.publish(
                "t".into(),
                b"hold".to_vec(),
                QoS::AtLeastOnce,
                Duration::from_millis(800),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..5u8 {
        conn.publish(
            "t".into(),
            vec![b'a', i],
            QoS::AtLeastOnce,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    match held.await.unwrap() {
        Err(MqttError::Other(why)) => assert!(why.contains("did not acknowledge"), "{why}"),
        other => panic!("the held publish: {other:?}"),
    }
    // The connection still works.
    assert!(conn.is_alive());
}

#[tokio::test]
async fn a_broken_connection_fails_its_waiters_and_the_next_open_reconnects() {
    let broker = ScriptedBroker::start(Duration::ZERO).await;
    let pool = pool(Duration::from_secs(10));
    let allowed = broker.allowed();
    let open = || {
        pool.open(
            &allowed,
            broker.address("?client_id=app"),
            "".into(),
            "".into(),
            30,
        )
    };
    let first = open().await.unwrap();
    let err = first
        .publish(
            "t".into(),
            b"drop".to_vec(),
            QoS::AtLeastOnce,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MqttError::ConnectionFailed(_)), "{err:?}");
    assert!(!first.is_alive());
    let second = open().await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    second
        .publish(
            "t".into(),
            b"x".to_vec(),
            QoS::AtLeastOnce,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let connects = broker.connects();
    assert_eq!(connects.len(), 2);
    assert_ne!(connects[0].0, connects[1].0, "client ids are unique");
    assert!(connects.iter().all(|(id, _)| id.starts_with("app-")));
}

#[tokio::test]
async fn connections_are_pooled_per_address_credentials_and_keep_alive() {
    let broker = ScriptedBroker::start(Duration::ZERO).await;
    let pool = pool(Duration::from_secs(10));
    let allowed = broker.allowed();
    let open = |user: &str, password: &str, keep_alive| {
        pool.open(
            &allowed,
            broker.address(""),
            user.into(),
            password.into(),
            keep_alive,
        )
    };
    let a = open("", "", 30).await.unwrap();
    let again = open("", "", 30).await.unwrap();
    assert!(Arc::ptr_eq(&a, &again));
    let other_keep_alive = open("", "", 0).await.unwrap();
    let user = open("u", "p", 30).await.unwrap();
    let other_password = open("u", "q", 30).await.unwrap();
    assert!(!Arc::ptr_eq(&a, &other_keep_alive));
    assert!(!Arc::ptr_eq(&user, &other_password));
    assert_eq!(pool.connected(), 4);
    let connects = broker.connects();
    assert_eq!(connects.len(), 4);
    // No user name: no credentials at all.
    assert_eq!(
        connects.iter().map(|c| c.1).collect::<Vec<_>>(),
        [false, false, true, true]
    );
    let mut ids: Vec<&str> = connects.iter().map(|c| c.0.as_str()).collect();
    assert!(ids
        .iter()
        .all(|id| id.starts_with("nimbus-") && id.len() == 23));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);

    // Another app has a pool of its own.
    let other_app = MqttAppState::new("other", Duration::from_secs(1));
    let b = other_app
        .open(&allowed, broker.address(""), "".into(), "".into(), 30)
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
}

#[tokio::test]
async fn denied_and_unreachable_brokers_fail_fast() {
    let broker = ScriptedBroker::start(Duration::ZERO).await;
    let pool = pool(Duration::from_secs(10));
    // Not granted (another port).
    let err = pool
        .open(
            &allowed(&["mqtt://127.0.0.1:1"]),
            broker.address(""),
            "user".into(),
            "s3cret".into(),
            30,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        MqttError::ConnectionFailed(format!(
            "address mqtt://127.0.0.1:{} is not allowed: it is not in the component's allowed_outbound_hosts",
            broker.port
        ))
    );
    assert!(broker.connects().is_empty());

    // Granted, but nobody listens.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let start = Instant::now();
    let err = pool
        .open(
            &allowed(&["mqtt://127.0.0.1:*"]),
            format!("mqtt://127.0.0.1:{port}"),
            "user".into(),
            "s3cret".into(),
            30,
        )
        .await
        .err()
        .unwrap();
    assert!(start.elapsed() < CONNECT_TIMEOUT);
    match err {
        MqttError::ConnectionFailed(why) => {
            assert!(
                why.starts_with(&format!("cannot connect to mqtt://127.0.0.1:{port}")),
                "{why}"
            );
            assert!(!why.contains("s3cret") && !why.contains("user"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.connected(), 0);

    assert_eq!(
        pool.open(
            &broker.allowed(),
            "mqtts://x".into(),
            "".into(),
            "".into(),
            1
        )
        .await
        .err(),
        Some(MqttError::InvalidAddress)
    );
}

#[tokio::test]
async fn bad_topics_and_payloads_are_refused_before_the_broker() {
    let broker = ScriptedBroker::start(Duration::ZERO).await;
    let pool = pool(Duration::from_secs(10));
    let conn = pool
        .open(
            &broker.allowed(),
            broker.address(""),
            "".into(),
            "".into(),
            30,
        )
        .await
        .unwrap();
    for topic in ["", "a/+/b", "a/#", "nul\0"] {
        let err = conn
            .publish(
                topic.into(),
                vec![],
                QoS::AtMostOnce,
                Duration::from_secs(1),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, MqttError::Other(why) if why.starts_with("invalid topic")),
            "{topic:?}: {err:?}"
        );
    }
    let err = conn
        .publish(
            "t".into(),
            vec![0; crate::MAX_PAYLOAD_SIZE + 1],
            QoS::AtMostOnce,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MqttError::Other(_)), "{err:?}");
    // The largest payload goes through, and the connection stands.
    conn.publish(
        "t".into(),
        vec![7; crate::MAX_PAYLOAD_SIZE],
        QoS::AtLeastOnce,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(conn.is_alive());
    assert!(broker.seen.lock().unwrap().publishes.len() == 1);
}

#[tokio::test]
async fn a_connection_the_pool_drops_says_goodbye() {
    let broker = ScriptedBroker::start(Duration::ZERO).await;
    let pool = pool(Duration::from_secs(10));
    let conn = pool
        .open(
            &broker.allowed(),
            broker.address(""),
            "".into(),
            "".into(),
            30,
        )
        .await
        .unwrap();
    // An instance still holding the connection keeps it open.
    let deadline = Instant::now() + Duration::from_secs(5);
    drop(pool);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(broker.seen.lock().unwrap().disconnects, 0);
    assert!(conn.is_alive());
    drop(conn);
    while broker.seen.lock().unwrap().disconnects == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(broker.seen.lock().unwrap().disconnects, 1);
}
