//! WASI 0.3 HTTP handlers and apps built with today's Spin SDK, served by
//! the HTTP trigger in-process (the same trigger `nimbus up` runs, loaded
//! through the real capability list): `tests/guests-p3` (the `wasip3`
//! bindings and spin-sdk 7) and `tests/guests-spin6` (spin-sdk 6, WASI
//! 0.3.0-rc-2026-03-15), beside spin-sdk 5 components of the same app.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::in_process::{get, send, trigger};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use nimbus_test_guests::{package_guest, Target};

fn guest(package: &str, name: &str) -> String {
    package_guest(package, name, Target::P2)
        .to_str()
        .unwrap()
        .to_owned()
}

fn post(uri: &str, body: &str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header("host", "app.example")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

fn stream_manifest(limits: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "p3-stream"

[[trigger.http]]
route = "/stream/..."
component = "stream"

[component.stream]
source = "{}"
{limits}
"#,
        guest("guests-p3", "p3-http-stream")
    )
}

#[tokio::test(flavor = "current_thread")]
async fn p3_handler_streams_its_body_after_returning_the_response() {
    let (trigger, _dir) = trigger(&stream_manifest(""));
    let response = trigger
        .handle(
            post("/stream/x?chunks=3", "abc"),
            common::in_process::CLIENT.parse().unwrap(),
            common::in_process::LOCAL.parse().unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let mut body = response.into_body();
    let mut text = String::new();
    let mut first_data = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("the body streams without error");
        if let Some(data) = frame.data_ref() {
            first_data.get_or_insert_with(Instant::now);
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert_eq!(
        text,
        "p3 Method::Post /stream/x?chunks=3 body=\"abc\"\nchunk 1\nchunk 2\nchunk 3\n"
    );
    // The guest waits 20 ms before each chunk: the first bytes reached the
    // client while it was still writing.
    let streamed_for = first_data.expect("some data").elapsed();
    assert!(
        streamed_for >= Duration::from_millis(40),
        "the whole body arrived at once ({streamed_for:?} after the first bytes)"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn p3_handler_is_stopped_by_its_timeout_while_streaming() {
    let (trigger, _dir) = trigger(&stream_manifest(
        "[component.stream.limits]\ntimeout = \"300ms\"",
    ));
    let started = Instant::now();
    // 1,000 chunks 20 ms apart: 20 s, far past the 300 ms timeout.
    let response = trigger
        .handle(
            get("/stream/x?chunks=1000"),
            common::in_process::CLIENT.parse().unwrap(),
            common::in_process::LOCAL.parse().unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut text = String::new();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    text.push_str(&String::from_utf8_lossy(data));
                }
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not stopped: {:?}",
        started.elapsed()
    );
    assert!(
        failed || !text.contains("chunk 1000"),
        "the body was not cut off: {} bytes",
        text.len()
    );
    assert!(text.starts_with("p3 Method::Get"), "{text}");
}

fn spin_app_manifest(upstream_port: u16, echo_port: u16) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "spin-sdk-apps"

[variables]
greeting = {{ default = "hej" }}
upstream = {{ default = "127.0.0.1:{upstream_port}" }}

# spin-sdk 7 everywhere else; the same source built with spin-sdk 6 under
# /six; a spin-sdk 5 key-value component under /get and /set.
[[trigger.http]]
route = "/..."
component = "seven"

[[trigger.http]]
route = "/users/:id/..."
component = "seven"

[[trigger.http]]
route = "/six/..."
component = "six"

[[trigger.http]]
route = "/get/..."
component = "five"

[[trigger.http]]
route = "/set/..."
component = "five"

[component.seven]
source = "{seven}"
key_value_stores = ["default"]
sqlite_databases = ["default"]
# A variable template, resolved at load.
allowed_outbound_hosts = ["http://{{{{ upstream }}}}", "tcp://127.0.0.1:{echo_port}"]
[component.seven.variables]
message = "{{{{ greeting }}}} from seven"

[component.six]
source = "{six}"
key_value_stores = ["default"]
[component.six.variables]
message = "{{{{ greeting }}}} from six"

[component.five]
source = "{five}"
key_value_stores = ["default"]
"#,
        seven = guest("guests-p3", "spin7-app"),
        six = guest("guests-spin6", "spin6-app"),
        five = guest("guests-kv", "kv-spin"),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn spin_sdk_7_and_6_apps_run_beside_spin_sdk_5_and_share_its_stores() {
    let upstream = common::upstream();
    let echo = tcp_echo();
    let (trigger, _dir) = trigger(&spin_app_manifest(upstream, echo));

    // #[http_service] with Spin's request headers, route parameters included.
    let (status, _, body) = send(&trigger, get("/users/ada/profile")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.starts_with("hello from nimbus-guests-p3 at /profile\n"),
        "{body}"
    );
    assert!(body.contains("spin-path-match-id: ada"), "{body}");
    assert!(
        body.contains("spin-matched-route: /users/:id/..."),
        "{body}"
    );
    assert!(
        body.contains("spin-full-url: http://app.example/users/ada/profile"),
        "{body}"
    );
    let (status, _, body) = send(&trigger, get("/six/hello")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.starts_with("hello from nimbus-guests-spin6 at /hello\n"),
        "{body}"
    );

    // Key-value: spin-sdk 7, 6 and 5 see one store.
    let (status, _, body) = send(&trigger, post("/kv/set/shared", "from seven")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, _, body) = send(&trigger, get("/get/shared")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "from seven"));
    let (status, _, body) = send(&trigger, get("/six/kv/get/shared")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "from seven"));
    let (status, _, body) = send(&trigger, post("/set/old", "from five")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, _, body) = send(&trigger, get("/kv/get/old")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "from five"));
    let (status, _, body) = send(&trigger, get("/kv/keys")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "old\nshared"));
    let (status, _, body) = send(&trigger, get("/kv/get/nothing")).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, "missing"));

    // SQLite through spin:sqlite@3.1.0 (execute-async, last-insert-rowid,
    // changes); the rows persist between requests.
    let (status, _, body) = send(&trigger, get("/sqlite")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "rowid=2 changes=2 rows=[\"Rex\", \"Tom\"]");
    let (_, _, body) = send(&trigger, get("/sqlite")).await;
    assert_eq!(
        body,
        "rowid=4 changes=2 rows=[\"Rex\", \"Tom\", \"Rex\", \"Tom\"]"
    );
    // spin-sdk 6 is not granted SQLite.
    let (status, _, body) = send(&trigger, get("/six/sqlite")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");

    // Variables, each component its own.
    let (_, _, body) = send(&trigger, get("/variables/message")).await;
    assert_eq!(body, "hej from seven");
    let (_, _, body) = send(&trigger, get("/six/variables/message")).await;
    assert_eq!(body, "hej from six");
    let (status, _, body) = send(&trigger, get("/variables/greeting")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("Undefined"), "{body}");

    // Outbound HTTP (wasi:http/client@0.3.0): granted host only.
    let (status, _, body) = send(
        &trigger,
        get(&format!(
            "/outbound?url=http://127.0.0.1:{upstream}/anything"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "200 upstream says hi\n");
    let (status, _, body) = send(&trigger, get("/six/outbound?url=http://127.0.0.1:1/")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");

    // Sockets (std::net in a spin-sdk app): the granted tcp:// entry only.
    let (status, _, body) = send(&trigger, get(&format!("/tcp?to=127.0.0.1:{echo}"))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ping"));
    let (status, _, body) = send(&trigger, get(&format!("/six/tcp?to=127.0.0.1:{echo}"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.starts_with("connect: "), "{body}");
}

#[tokio::test(flavor = "current_thread")]
async fn p3_handler_has_the_limits_of_a_0_2_one() {
    let (trigger, _dir) = trigger(&stream_manifest(
        "[component.stream.limits]\ntimeout = \"300ms\"\nmemory = \"32MiB\"\nmax_body_size = \"1KiB\"",
    ));
    let (status, _, body) = send(&trigger, get("/stream/?do=trap")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body, "500 Internal Server Error\n");
    let (status, _, _) = send(&trigger, get("/stream/?do=spin")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let (status, _, _) = send(&trigger, get("/stream/?do=memory")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The resource table's cap (4,096) stops a guest that hoards handles.
    let (status, _, body) = send(&trigger, get("/stream/?do=resources")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (status, _, _) = send(&trigger, post("/stream/", &"x".repeat(4096))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Every failure ended its own request only.
    let (status, _, body) = send(&trigger, get("/stream/ok?chunks=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.ends_with("chunk 1\n"), "{body}");
}

/// A TCP listener on 127.0.0.1 that echoes the first 4 bytes of every
/// connection; its port.
fn tcp_echo() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4];
            if stream.read_exact(&mut buf).is_ok() {
                let _ = stream.write_all(&buf);
            }
        }
    });
    port
}

#[tokio::test(flavor = "current_thread")]
async fn p3_sockets_reach_only_what_allowed_outbound_hosts_grants() {
    let granted = tcp_echo();
    let other = tcp_echo();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "p3-sockets"

[[trigger.http]]
route = "/..."
component = "client"

[component.client]
source = "{}"
allowed_outbound_hosts = ["tcp://127.0.0.1:{granted}", "tcp://localhost:{granted}"]
"#,
        guest("guests-p3", "p3-http-stream")
    );
    let (trigger, _dir) = trigger(&manifest);
    let (status, _, body) = send(&trigger, get(&format!("/?do=tcp&to=127.0.0.1:{granted}"))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "tcp: reply \"ping\"")
    );
    // A granted name is looked up (wasi:sockets/ip-name-lookup@0.3.0), then
    // its address is connected to.
    let (_, _, body) = send(&trigger, get(&format!("/?do=tcp&to=localhost:{granted}"))).await;
    assert_eq!(body, "tcp: reply \"ping\"");
    // Another port of the same host: refused by the socket check.
    let (_, _, body) = send(&trigger, get(&format!("/?do=tcp&to=127.0.0.1:{other}"))).await;
    assert_eq!(body, "tcp: connect: ErrorCode::AccessDenied");
    // A name no entry grants is not even looked up.
    let (_, _, body) = send(&trigger, get(&format!("/?do=tcp&to=example.com:{granted}"))).await;
    assert_eq!(body, "tcp: lookup: ErrorCode::AccessDenied");
}
