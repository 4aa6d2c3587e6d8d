//! `wasi:sockets` by grant, with the `sockets-client` guest (Rust's
//! `std::net` on wasm32-wasip2) against a TCP echo and a UDP echo listener
//! on 127.0.0.1, through a real `wasi:http` request per attempt.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_wasi::WasiCapability;
use nimbus_capability::{Capabilities, OutboundPolicy};
use nimbus_test_host::{toml_path, TestApp};

/// A TCP listener on 127.0.0.1 answering each connection with `echo: ` and
/// what it read; returns its port.
fn tcp_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let _ = stream.read_to_end(&mut seen);
                let _ = stream.write_all(b"echo: ");
                let _ = stream.write_all(&seen);
            });
        }
    });
    port
}

/// A UDP socket on 127.0.0.1 answering each datagram with `echo: ` and its
/// contents; returns its port.
fn udp_echo() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let mut reply = b"echo: ".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from);
        }
    });
    port
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An app of `components` (id, `allowed_outbound_hosts` entries), each
/// running the sockets-client guest, under `policy`.
fn app(components: &[(&str, Vec<String>)], policy: OutboundPolicy) -> TestApp {
    let guest = nimbus_test_guests::guest("sockets-client", nimbus_test_guests::Target::P2);
    let mut manifest = "spin_manifest_version = 2\n[application]\nname = \"sockets\"\n".to_owned();
    for (id, _) in components {
        manifest.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{id}/...\"\ncomponent = \"{id}\"\n"
        ));
    }
    for (id, hosts) in components {
        manifest.push_str(&format!(
            "[component.{id}]\nsource = {}\nallowed_outbound_hosts = {hosts:?}\n\
             [component.{id}.limits]\ntimeout = \"10s\"\n",
            toml_path(&guest)
        ));
    }
    let capabilities = Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability);
    TestApp::builder(capabilities, manifest)
        .outbound(policy)
        .build()
        .unwrap()
}

/// The log lines written while `f` runs on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures this thread's log lines until the guard is dropped.
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// One thread, so that the thread-local log subscriber sees the host calls.
#[tokio::test(flavor = "current_thread")]
async fn granted_destinations_round_trip_and_others_are_denied_and_logged() {
    let tcp = tcp_echo();
    let udp = udp_echo();
    let closed = closed_port();
    let host = app(
        &[
            (
                "granted",
                vec![
                    format!("tcp://127.0.0.1:{tcp}"),
                    format!("udp://127.0.0.1:{udp}"),
                ],
            ),
            (
                "cidr",
                vec![
                    format!("*://127.0.0.0/8:{tcp}"),
                    format!("*://127.0.0.0/8:{udp}"),
                ],
            ),
            ("http-only", vec![format!("http://127.0.0.1:{tcp}")]),
            ("nothing", vec![]),
        ],
        OutboundPolicy::default(),
    );
    let (logs, _guard) = Logs::capture();

    for component in ["granted", "cidr"] {
        let (status, body) = host
            .get(
                component,
                &format!("/{component}/?do=tcp&addr=127.0.0.1:{tcp}&msg=hi"),
            )
            .await;
        assert_eq!(
            (status, body.as_str()),
            (200, "tcp ok: echo: hi\n"),
            "{component}"
        );
        let (_, body) = host
            .get(
                component,
                &format!("/{component}/?do=udp&addr=127.0.0.1:{udp}&msg=ho"),
            )
            .await;
        assert_eq!(body, "udp ok: echo: ho\n", "{component}");
    }
    // The CIDR range covers all of 127/8 (the connection is refused: nobody
    // listens there, but it was let through).
    let (_, body) = host
        .get("cidr", &format!("/cidr/?do=tcp&addr=127.0.0.2:{tcp}&msg=x"))
        .await;
    assert!(
        body == "tcp ok: echo: x\n" || body.starts_with("tcp error: ConnectionRefused"),
        "{body}"
    );

    // An ungranted port: access denied, and a log line with the entry to add.
    let (_, body) = host
        .get(
            "granted",
            &format!("/granted/?do=tcp&addr=127.0.0.1:{closed}&msg=x"),
        )
        .await;
    assert!(body.starts_with("tcp error: PermissionDenied"), "{body}");
    let (_, body) = host
        .get(
            "granted",
            &format!("/granted/?do=udp&addr=127.0.0.1:{closed}&msg=x"),
        )
        .await;
    assert!(body.starts_with("udp error: PermissionDenied"), "{body}");
    // TCP to the UDP grant's port and back: the transports are separate.
    let (_, body) = host
        .get(
            "granted",
            &format!("/granted/?do=tcp&addr=127.0.0.1:{udp}&msg=x"),
        )
        .await;
    assert!(body.starts_with("tcp error: PermissionDenied"), "{body}");
    // An http:// entry grants no socket; no entry, no socket at all.
    for component in ["http-only", "nothing"] {
        let (_, body) = host
            .get(
                component,
                &format!("/{component}/?do=tcp&addr=127.0.0.1:{tcp}&msg=x"),
            )
            .await;
        assert!(
            body.starts_with("tcp error: PermissionDenied"),
            "{component}: {body}"
        );
        let (_, body) = host
            .get(
                component,
                &format!("/{component}/?do=udp&addr=127.0.0.1:{udp}&msg=x"),
            )
            .await;
        assert!(
            body.starts_with("udp error: PermissionDenied"),
            "{component}: {body}"
        );
    }
    // Listening stays denied, even with grants.
    let (_, body) = host.get("granted", "/granted/?do=listen&port=0").await;
    assert!(body.starts_with("listen error: PermissionDenied"), "{body}");

    let logs = logs.text();
    for line in [
        format!(
            "TCP connection to 127.0.0.1:{closed} denied: it is not in allowed_outbound_hosts; \
             to allow it, add \"tcp://127.0.0.1:{closed}\""
        ),
        format!("UDP datagram to 127.0.0.1:{closed} denied"),
        format!("add \"tcp://127.0.0.1:{udp}\""),
        "to allowed_outbound_hosts in [component.granted] of the manifest".to_owned(),
        "TCP socket denied: no allowed_outbound_hosts entry grants TCP".to_owned(),
        "UDP socket denied: no allowed_outbound_hosts entry grants UDP".to_owned(),
        "to allowed_outbound_hosts in [component.http-only] of the manifest".to_owned(),
        "to allowed_outbound_hosts in [component.nothing] of the manifest".to_owned(),
    ] {
        assert!(logs.contains(&line), "missing {line:?} in:\n{logs}");
    }
    assert!(logs.contains("component=granted"), "{logs}");
    assert!(
        logs.contains("TCP listen on") || logs.contains("TCP bind to 0.0.0.0:0"),
        "{logs}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn names_are_looked_up_and_connected_to_only_when_granted() {
    let tcp = tcp_echo();
    let udp = udp_echo();
    let host = app(
        &[
            (
                "named",
                vec![
                    format!("tcp://localhost:{tcp}"),
                    format!("udp://localhost:{udp}"),
                ],
            ),
            ("literal", vec![format!("tcp://127.0.0.1:{tcp}")]),
        ],
        OutboundPolicy::default(),
    );
    let (logs, _guard) = Logs::capture();

    let (_, body) = host.get("named", "/named/?do=lookup&name=localhost").await;
    assert!(
        body.starts_with("lookup ok: ") && body.contains("127.0.0.1"),
        "{body}"
    );
    let (_, body) = host
        .get(
            "named",
            &format!("/named/?do=tcp&addr=localhost:{tcp}&msg=by-name"),
        )
        .await;
    assert_eq!(body, "tcp ok: echo: by-name\n");
    let (_, body) = host
        .get(
            "named",
            &format!("/named/?do=udp&addr=localhost:{udp}&msg=by-name"),
        )
        .await;
    assert_eq!(body, "udp ok: echo: by-name\n");
    // The name grants its addresses, also when the guest gives the address.
    let (_, body) = host
        .get(
            "named",
            &format!("/named/?do=tcp&addr=127.0.0.1:{tcp}&msg=ip"),
        )
        .await;
    assert_eq!(body, "tcp ok: echo: ip\n");

    // A name no entry grants cannot be looked up, even with other grants.
    let (_, body) = host
        .get("named", "/named/?do=lookup&name=example.com")
        .await;
    assert!(body.starts_with("lookup error: "), "{body}");
    let (_, body) = host
        .get("literal", "/literal/?do=lookup&name=localhost")
        .await;
    assert!(body.starts_with("lookup error: "), "{body}");
    let (_, body) = host
        .get(
            "literal",
            &format!("/literal/?do=tcp&addr=localhost:{tcp}&msg=x"),
        )
        .await;
    assert!(body.starts_with("tcp error: "), "{body}");

    let logs = logs.text();
    assert!(
        logs.contains(
            "name lookup of example.com denied: no allowed_outbound_hosts entry grants sockets \
             to it; to allow it, add \"tcp://example.com:PORT\""
        ),
        "{logs}"
    );
    assert!(
        logs.contains("name lookup of localhost denied") && logs.contains("[component.literal]"),
        "{logs}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_node_denies_private_destinations_unless_granted_by_address() {
    let tcp = tcp_echo();
    let udp = udp_echo();
    let components = [
        (
            "named",
            vec![format!("tcp://localhost:{tcp}"), format!("*://*:{udp}")],
        ),
        (
            "literal",
            vec![
                format!("tcp://127.0.0.1:{tcp}"),
                format!("udp://127.0.0.0/8:{udp}"),
            ],
        ),
    ];
    let node = app(&components, OutboundPolicy::NODE);
    let (logs, _guard) = Logs::capture();

    // A name or a wildcard is no grant of loopback on a node.
    let (_, body) = node
        .get(
            "named",
            &format!("/named/?do=tcp&addr=localhost:{tcp}&msg=x"),
        )
        .await;
    assert!(body.starts_with("tcp error: PermissionDenied"), "{body}");
    let (_, body) = node
        .get(
            "named",
            &format!("/named/?do=udp&addr=127.0.0.1:{udp}&msg=x"),
        )
        .await;
    assert!(body.starts_with("udp error: PermissionDenied"), "{body}");
    // An IP literal or a CIDR range is.
    let (_, body) = node
        .get(
            "literal",
            &format!("/literal/?do=tcp&addr=127.0.0.1:{tcp}&msg=ok"),
        )
        .await;
    assert_eq!(body, "tcp ok: echo: ok\n");
    let (_, body) = node
        .get(
            "literal",
            &format!("/literal/?do=udp&addr=127.0.0.1:{udp}&msg=ok"),
        )
        .await;
    assert_eq!(body, "udp ok: echo: ok\n");

    let logs = logs.text();
    assert!(
        logs.contains(&format!(
            "TCP connection to 127.0.0.1:{tcp} denied: localhost resolves to 127.0.0.1, a \
             loopback/private address, and this node does not allow private destinations"
        )) && logs.contains("--allow-private-outbound"),
        "{logs}"
    );
    assert!(
        logs.contains(&format!(
            "UDP datagram to 127.0.0.1:{udp} denied: 127.0.0.1 is a loopback/private address"
        )),
        "{logs}"
    );

    // Where private destinations are allowed (`nimbus up`), the name works.
    let up = app(&components, OutboundPolicy::default());
    let (_, body) = up
        .get(
            "named",
            &format!("/named/?do=tcp&addr=localhost:{tcp}&msg=up"),
        )
        .await;
    assert_eq!(body, "tcp ok: echo: up\n");
}
