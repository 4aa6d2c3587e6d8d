//! Real guests against a real broker: `mqtt-v2` (spin-sdk 5,
//! `fermyon:spin/mqtt@2.0.0`, on the sync engine) and `mqtt-v3` (spin-sdk
//! 7, `spin:mqtt/mqtt@3.0.0`, on the concurrent engine), served through the
//! capability seam (`nimbus-test-host`), publishing to Mosquitto; what
//! arrives is read with Mosquitto's own `mosquitto_sub`.
//!
//! The guests' protocol is described at the top of their sources
//! (`tests/guests-spin/src/bin/mqtt-v2.rs`, `tests/guests-p3/src/bin/mqtt-v3.rs`).

use std::time::{Duration, Instant};

use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_outbound_mqtt::{
    MqttAppState, MqttCapability, CONNECT_TIMEOUT, MAX_CONNECTIONS_PER_INSTANCE,
};
use nimbus_cap_variables::VariablesCapability;
use nimbus_cap_wasi::WasiCapability;
use nimbus_capability::Capabilities;
use nimbus_test_guests::Target;
use nimbus_test_host::{toml_path, TestApp};
use nimbus_test_servers::{Mosquitto, Subscriber};

/// Both guests: the component id (`v2`, `v3`) and the version each writes
/// in its payloads.
const VERSIONS: [&str; 2] = ["v2", "v3"];

/// The guest package and guest of each of [`VERSIONS`].
const GUESTS: [(&str, &str); 2] = [("guests-spin", "mqtt-v2"), ("guests-p3", "mqtt-v3")];

/// How long a message may take from the guest to `mosquitto_sub`.
const DELIVERY: Duration = Duration::from_secs(10);

/// An app with components `v2` and `v3` (the two guests), both granted
/// `allowed` and given `address`, `username` and `password` as variables.
fn app(allowed: &[String], address: &str, username: &str, password: &str) -> TestApp {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    let mut manifest = String::from(
        "spin_manifest_version = 2\n[application]\nname = \"mqtt-test\"\n\
         [variables]\naddress = { required = true }\nusername = { default = \"\" }\n\
         password = { default = \"\", secret = true }\n",
    );
    for version in VERSIONS {
        manifest.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{version}/...\"\ncomponent = \"{version}\"\n"
        ));
    }
    for (version, (package, guest)) in VERSIONS.iter().zip(GUESTS) {
        let source = nimbus_test_guests::package_guest(package, guest, Target::P2);
        manifest.push_str(&format!(
            "[component.{version}]\nsource = {}\nallowed_outbound_hosts = [{}]\n\
             variables = {{ address = \"{{{{ address }}}}\", username = \"{{{{ username }}}}\", \
             password = \"{{{{ password }}}}\" }}\n",
            toml_path(&source),
            allowed.join(", ")
        ));
    }
    let capabilities = Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability)
        .with(VariablesCapability)
        .with(MqttCapability::new());
    TestApp::builder(capabilities, manifest)
        .variable("address", address)
        .variable("username", username)
        .variable("password", password)
        .build()
        .expect("the app loads")
}

/// `GET /?QUERY` to a fresh instance of `version`'s component.
async fn call(app: &TestApp, version: &str, query: &str) -> (u16, String) {
    app.get(version, &format!("/{version}/?{query}")).await
}

/// The app's pool.
fn pool(app: &TestApp) -> &MqttAppState {
    app.services()
        .get::<MqttCapability>()
        .expect("the app has the MQTT capability")
}

/// Asserts that `subscriber` receives `hello qosN from VERSION` on `topic`
/// next.
fn assert_received(subscriber: &Subscriber, topic: &str, qos: u8, version: &str) {
    let message = subscriber.next(DELIVERY);
    let expected = (
        topic.to_owned(),
        format!("hello qos{qos} from {version}").into_bytes(),
    );
    assert_eq!(
        message
            .as_ref()
            .map(|(t, p)| (t.as_str(), String::from_utf8_lossy(p))),
        Some((expected.0.as_str(), String::from_utf8_lossy(&expected.1))),
        "what mosquitto_sub received on {topic}"
    );
}

/// The first line of a guest's answer (the error variant), and the rest
/// (the message).
fn split(body: &str) -> (&str, &str) {
    body.split_once('\n').unwrap_or((body, ""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sdks_publish_with_every_qos() {
    let broker = Mosquitto::start();
    let app = app(
        &[broker.url()],
        &format!("{}?client_id=app", broker.url()),
        "",
        "",
    );
    for version in VERSIONS {
        for qos in 0..=2u8 {
            let topic = format!("nimbus/{version}/qos{qos}");
            let subscriber = broker.subscribe(&topic, 2);
            let query = format!("case=publish&topic={topic}&qos={qos}");
            assert_eq!(
                call(&app, version, &query).await,
                (200, "ok".into()),
                "{version} {qos}"
            );
            assert_received(&subscriber, &topic, qos, version);
        }
    }
    // Six requests of two components with the same arguments: one
    // connection, kept in the app's pool.
    assert_eq!(pool(&app).connected(), 1);

    // Another app has its own pool.
    let other = self::app(&[broker.url()], &broker.url(), "", "");
    assert_eq!(
        call(&other, "v3", "case=open").await,
        (200, "opened".into())
    );
    assert_eq!(pool(&other).connected(), 1);
    assert_eq!(pool(&app).connected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_auth_with_right_and_wrong_credentials() {
    let (user, password) = ("mqtt-user-7", "s3cret-pass-42");
    let broker = Mosquitto::start_with_password(user, password);
    let right = app(&[broker.url()], &broker.url(), user, password);
    let wrong_password = "wr0ng-pass-99";
    let wrong = app(&[broker.url()], &broker.url(), user, wrong_password);
    let anonymous = app(&[broker.url()], &broker.url(), "", "");
    for version in VERSIONS {
        let topic = format!("secure/{version}");
        let subscriber = broker.subscribe(&topic, 1);
        let query = format!("case=publish&topic={topic}&qos=1");
        assert_eq!(call(&right, version, &query).await, (200, "ok".into()));
        assert_received(&subscriber, &topic, 1, version);

        for (app, secret) in [(&wrong, wrong_password), (&anonymous, "")] {
            let (status, body) = call(app, version, &query).await;
            assert_eq!(status, 200, "{body}");
            let (variant, message) = split(&body);
            assert_eq!(variant, "error: connection-failed", "{body}");
            assert!(message.contains("refused the connection"), "{body}");
            // Neither the user name nor the password is in what the guest
            // sees.
            assert!(!message.contains(user), "{body}");
            if !secret.is_empty() {
                assert!(!message.contains(secret), "{body}");
            }
        }
        assert!(subscriber.next(Duration::from_millis(200)).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_brokers_are_reached() {
    let broker = Mosquitto::start();
    let password = "never-shown-1";
    // Another port of the same host, and no grant at all.
    for allowed in [vec!["mqtt://127.0.0.1:1".to_owned()], vec![]] {
        let app = app(&allowed, &broker.url(), "user", password);
        for version in VERSIONS {
            let (status, body) = call(&app, version, "case=open").await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                split(&body),
                (
                    "error: connection-failed",
                    format!(
                        "address mqtt://127.0.0.1:{} is not allowed: it is not in the component's allowed_outbound_hosts",
                        broker.port()
                    )
                    .as_str()
                )
            );
        }
        assert_eq!(pool(&app).connected(), 0);
    }
    // A grant without a port is for the default port (1883) only.
    let app = app(&["mqtt://127.0.0.1".to_owned()], &broker.url(), "", "");
    let (_, body) = call(&app, "v2", "case=open").await;
    assert!(body.contains("is not allowed"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_addresses_are_refused() {
    for address in [
        "not a url",
        "mqtts://127.0.0.1:8883",
        "mqtt://u:p@127.0.0.1",
    ] {
        let app = app(&["mqtt://127.0.0.1:*".to_owned()], address, "", "");
        for version in VERSIONS {
            assert_eq!(
                call(&app, version, "case=open").await,
                (200, "error: invalid-address".into()),
                "{version} {address}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_down_fails_fast_and_is_used_again_when_back() {
    let mut broker = Mosquitto::start();
    let password = "down-pass-5";
    let app = app(&[broker.url()], &broker.url(), "down-user", password);
    for version in VERSIONS {
        let topic = format!("restart/{version}");
        let query = format!("case=publish&topic={topic}&qos=1");
        let subscriber = broker.subscribe(&topic, 1);
        assert_eq!(call(&app, version, &query).await, (200, "ok".into()));
        assert_received(&subscriber, &topic, 1, version);
        drop(subscriber);

        broker.stop();
        for _ in 0..2 {
            let start = Instant::now();
            let (status, body) = call(&app, version, &query).await;
            assert!(
                start.elapsed() < CONNECT_TIMEOUT,
                "the guest waited {:?}",
                start.elapsed()
            );
            assert_eq!(status, 200, "{body}");
            assert_eq!(split(&body).0, "error: connection-failed", "{body}");
            assert!(
                !body.contains(password) && !body.contains("down-user"),
                "{body}"
            );
        }

        broker.restart();
        let subscriber = broker.subscribe(&topic, 1);
        assert_eq!(call(&app, version, &query).await, (200, "ok".into()));
        assert_received(&subscriber, &topic, 1, version);
        assert_eq!(pool(&app).connected(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_holds_at_most_its_share_of_connections() {
    let broker = Mosquitto::start();
    let app = app(&[broker.url()], &broker.url(), "", "");
    let max = MAX_CONNECTIONS_PER_INSTANCE;
    for version in VERSIONS {
        let query = |n: usize| format!("case=many&n={n}");
        assert_eq!(
            call(&app, version, &query(max)).await,
            (200, "opened".into())
        );
        assert_eq!(
            call(&app, version, &query(max + 1)).await,
            (200, "error: too-many-connections".into())
        );
        // The connections were the last request's: they are gone.
        assert_eq!(
            call(&app, version, &query(max)).await,
            (200, "opened".into())
        );
    }
    // All of them were handles on one pooled connection.
    assert_eq!(pool(&app).connected(), 1);
}
