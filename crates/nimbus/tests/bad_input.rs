//! Bad input to a real `nimbus up` (issue 7): malformed and oversized
//! requests, slow clients, idle connections, request-smuggling shapes, odd
//! request targets and bytes, HTTP/2 garbage, and broken `.wasm` files at load.
//!
//! Every HTTP case talks raw bytes over TCP to a server on 127.0.0.1:0 while a
//! background thread sends a steady stream of good requests to the same
//! server; none of those may fail. Each case prints one figures line:
//! `case=… outcome=… healthy_requests=… healthy_errors=…`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{probe, write_manifest, Server};

/// The test app: a healthy route for the background load, a probe that
/// reports what it saw (`path=`, `count=`, `body=`), and a probe with a 3 s
/// `timeout`.
fn app(dir: &Path) -> PathBuf {
    let probe = probe();
    write_manifest(
        dir,
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "bad-input"
[[trigger.http]]
route = "/ok/..."
component = "healthy"
[[trigger.http]]
route = "/probe/..."
component = "probe"
[[trigger.http]]
route = "/timed/..."
component = "timed"
[component.healthy]
source = "{probe}"
[component.probe]
source = "{probe}"
[component.timed]
source = "{probe}"
[component.timed.limits]
timeout = "3s"
"#
        ),
    )
}

// ---------------------------------------------------------------------------
// Healthy background load

/// A thread sending `GET /ok/` one after another (each on its own
/// connection) until stopped, counting requests and failures.
struct HealthyLoad {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    errors: Arc<AtomicUsize>,
    first_error: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthyLoad {
    fn start(addr: SocketAddr) -> HealthyLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let first_error = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, done, errors, first_error) = (
                stop.clone(),
                done.clone(),
                errors.clone(),
                first_error.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match healthy_request(addr) {
                        Ok(()) => {}
                        Err(err) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(err);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        HealthyLoad {
            stop,
            done,
            errors,
            first_error,
            thread: Some(thread),
        }
    }

    /// Stops the load (after at least a few requests) and returns
    /// (requests, errors, first error).
    fn finish(mut self) -> (usize, usize, Option<String>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.done.load(Ordering::Relaxed) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (
            self.done.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.first_error.lock().unwrap().clone(),
        )
    }
}

fn healthy_request(addr: SocketAddr) -> Result<(), String> {
    let ex = try_exchange(
        addr,
        b"GET /ok/ HTTP/1.1\r\nHost: healthy\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    )
    .map_err(|err| format!("healthy request: connect: {err}"))?;
    let text = String::from_utf8_lossy(&ex.raw);
    if ex.status == Some(200) && text.contains("component=") && text.contains("body=0") {
        Ok(())
    } else {
        Err(format!("healthy request got {:?}: {text:?}", ex.status))
    }
}

/// Runs `check` (which returns what nimbus did, for the figures line) under
/// healthy load, prints the figures line and asserts no healthy request
/// failed.
fn case(server: &Server, name: &str, check: impl FnOnce() -> String) {
    let load = HealthyLoad::start(server.addr);
    let outcome = check();
    let (requests, errors, first_error) = load.finish();
    println!(
        "case={name} outcome=\"{outcome}\" healthy_requests={requests} healthy_errors={errors}"
    );
    assert_eq!(
        errors, 0,
        "healthy requests failed during {name}: {first_error:?}"
    );
    assert!(requests > 0);
    assert_no_panic(server);
}

fn assert_no_panic(server: &Server) {
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "the server panicked:\n{logs}");
}

// ---------------------------------------------------------------------------
// Raw HTTP/1 exchanges

/// What came back for some raw bytes.
#[derive(Debug)]
struct Exchange {
    /// The status of the first response, if any.
    status: Option<u16>,
    /// How many responses (status lines) came back.
    responses: usize,
    /// Everything read.
    raw: Vec<u8>,
    /// The server closed (or reset) the connection before the wait ran out.
    closed: bool,
}

impl Exchange {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// One short description for the figures line.
    fn outcome(&self) -> String {
        let status = self
            .status
            .map_or("no response".to_owned(), |s| s.to_string());
        let closed = if self.closed { "closed" } else { "open" };
        if self.responses > 1 {
            format!("{status} then {} more, {closed}", self.responses - 1)
        } else {
            format!("{status}, {closed}")
        }
    }

    /// Refused: at most one response, a 4xx (or 505), and the connection
    /// closed; or closed with no response at all.
    fn assert_rejected(&self, what: &str) {
        assert!(
            self.closed,
            "{what}: the server kept the connection open: {self:?}"
        );
        assert!(self.responses <= 1, "{what}: {}", self.text());
        if let Some(status) = self.status {
            assert!(
                (400..500).contains(&status) || status == 505,
                "{what}: got {status}: {}",
                self.text()
            );
        }
    }
}

/// Writes `bytes`, then reads until the server closes or `wait` runs out.
fn exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Exchange {
    try_exchange(addr, bytes, wait).expect("connect")
}

fn try_exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> std::io::Result<Exchange> {
    let mut stream = TcpStream::connect(addr)?;
    // The server may answer and close before reading everything.
    let _ = stream.write_all(bytes);
    Ok(read_until_close(&mut stream, wait))
}

fn read_until_close(stream: &mut TcpStream, wait: Duration) -> Exchange {
    let deadline = Instant::now() + wait;
    let mut raw = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            // A reset is a close too (the server closed with unread input).
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let status = raw
        .starts_with(b"HTTP/1.")
        .then(|| {
            std::str::from_utf8(raw.get(9..12)?)
                .ok()?
                .parse::<u16>()
                .ok()
        })
        .flatten();
    let responses = usize::from(raw.starts_with(b"HTTP/1."))
        + raw.windows(9).filter(|w| w == b"\r\nHTTP/1.").count();
    Exchange {
        status,
        responses,
        raw,
        closed,
    }
}

/// Reads one whole response (Content-Length or chunked) off a keep-alive
/// connection; returns its status.
fn read_one_response(stream: &mut TcpStream) -> u16 {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = &raw[end + 4..];
            let complete =
                if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
                    body.len() >= len.trim().parse::<usize>().unwrap()
                } else {
                    body.ends_with(b"0\r\n\r\n")
                };
            if complete {
                return head[9..12].parse().unwrap();
            }
        }
        let n = stream.read(&mut buf).expect("read response");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Waits (up to `wait`) for `condition`; returns whether it came true.
fn eventually(wait: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Malformed, oversized and odd requests

#[test]
fn malformed_request_lines_and_headers_get_400_and_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    let huge_method = format!(
        "{} /probe/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "A".repeat(1 << 20)
    );
    let mut random = vec![0u8; 4096];
    fill_random(&mut random, 7);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("request-line/garbage", b"GARBAGE\r\n\r\n".to_vec()),
        ("request-line/random-bytes", random),
        (
            "request-line/tls-client-hello",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
        ),
        (
            "request-line/missing-version",
            b"GET /probe/\r\n\r\n".to_vec(),
        ),
        (
            "request-line/http-9.9",
            b"GET /probe/ HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "request-line/space-in-target",
            b"GET /probe/a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("request-line/huge-method-1MiB", huge_method.into_bytes()),
        (
            "header/no-colon",
            b"GET /probe/ HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n".to_vec(),
        ),
        (
            "header/nul-in-value",
            b"GET /probe/ HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(),
        ),
        (
            "header/bare-cr-in-value",
            b"GET /probe/ HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n".to_vec(),
        ),
        (
            "header/space-before-colon",
            b"GET /probe/ HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(),
        ),
        (
            "header/obs-fold",
            b"GET /probe/ HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n".to_vec(),
        ),
        (
            "header/bad-name-char",
            b"GET /probe/ HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        case(&server, name, || {
            let ex = exchange(addr, &bytes, WAIT);
            ex.assert_rejected(name);
            ex.outcome()
        });
    }
    // Nothing above reached a guest.
    let logs = server.logs();
    assert!(!logs.contains("component=\"probe\""), "{logs}");

    // A long method is still a token (RFC 9110 sets no length): while the
    // whole head fits hyper's buffer (~400 KiB) the guest gets it verbatim.
    case(&server, "request-line/long-method-64KiB", || {
        let method = "A".repeat(64 * 1024);
        let bytes = format!("{method} /probe/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let ex = exchange(addr, bytes.as_bytes(), WAIT);
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        // (The echo is chunked: count the bytes rather than find the run.)
        let echoed = ex.raw.iter().filter(|b| **b == b'A').count();
        assert!(echoed >= method.len(), "the guest saw another method");
        format!("{} (the guest got the method)", ex.outcome())
    });
}

#[test]
fn oversized_headers_get_431_and_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    case(&server, "oversized/one-1MiB-header", || {
        let mut bytes = b"GET /probe/ HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        bytes.extend(std::iter::repeat_n(b'a', 1 << 20));
        bytes.extend(b"\r\n\r\n");
        let ex = exchange(addr, &bytes, WAIT);
        ex.assert_rejected("1 MiB header");
        ex.outcome()
    });
    case(&server, "oversized/10k-headers", || {
        let mut bytes = b"GET /probe/ HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..10_000 {
            bytes.extend(format!("X-H{i}: v\r\n").as_bytes());
        }
        bytes.extend(b"\r\n");
        let ex = exchange(addr, &bytes, WAIT);
        ex.assert_rejected("10k headers");
        ex.outcome()
    });
    case(&server, "oversized/8KiB-path", || {
        let bytes = format!(
            "GET /probe/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "p".repeat(8 * 1024)
        );
        let ex = exchange(addr, bytes.as_bytes(), WAIT);
        // A long (but not oversized) target is served.
        assert!(ex.closed, "{ex:?}");
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        ex.outcome()
    });
}

#[test]
fn smuggling_shapes_are_refused_or_framed_as_rfc_9112_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    let hidden = "GET /probe/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    // Content-Length and Transfer-Encoding: chunked together: RFC 9112 §6.3
    // lets a server reject it or frame by Transfer-Encoding and then close
    // the connection. hyper does the latter: the guest reads an empty chunked
    // body, one response, then the close; what follows never runs.
    for (name, bytes) in [
        (
            "smuggling/cl-and-te-chunked",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}",
                5 + hidden.len()
            ),
        ),
        (
            "smuggling/te-chunked-and-cl",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n{hidden}"
            ),
        ),
    ] {
        case(&server, name, || {
            let ex = exchange(addr, bytes.as_bytes(), WAIT);
            assert!(ex.closed, "{name}: connection kept open: {ex:?}");
            assert_eq!(ex.responses, 1, "{name}: {}", ex.text());
            if ex.status == Some(200) {
                assert!(ex.text().contains("body=0\n"), "{name}: {}", ex.text());
                format!("{} (framed by Transfer-Encoding, body=0)", ex.outcome())
            } else {
                ex.assert_rejected(name);
                ex.outcome()
            }
        });
    }

    let refused: Vec<(&str, String)> = vec![
        (
            "smuggling/two-different-content-lengths",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{hidden}",
                hidden.len()
            ),
        ),
        (
            "smuggling/content-length-list",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0, {}\r\n\r\n{hidden}",
                hidden.len()
            ),
        ),
        (
            "smuggling/content-length-plus-sign",
            format!("POST /probe/ HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n{hidden}"),
        ),
        (
            "smuggling/content-length-negative",
            format!("POST /probe/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{hidden}"),
        ),
        (
            "smuggling/te-chunked-identity",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{hidden}"
            ),
        ),
        (
            "smuggling/te-space-before-colon",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{hidden}"
            ),
        ),
        (
            "smuggling/te-xchunked",
            format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{hidden}"
            ),
        ),
        (
            "smuggling/te-on-http-1.0",
            format!(
                "POST /probe/ HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"
            ),
        ),
    ];
    for (name, bytes) in &refused {
        case(&server, name, || {
            let ex = exchange(addr, bytes.as_bytes(), WAIT);
            ex.assert_rejected(name);
            ex.outcome()
        });
    }

    // A Content-Length body that looks like a request is a body: the guest
    // reads all of it, and it never runs as a second request.
    case(&server, "smuggling/request-hidden-in-cl-body", || {
        let bytes = format!(
            "POST /probe/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{hidden}",
            hidden.len()
        );
        // Keep-alive: a smuggled request would be answered on this connection.
        let ex = exchange(addr, bytes.as_bytes(), Duration::from_secs(3));
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        assert_eq!(ex.responses, 1, "{}", ex.text());
        let text = ex.text();
        assert!(text.contains("path=/probe/\n"), "{text}");
        assert!(text.contains(&format!("body={}\n", hidden.len())), "{text}");
        ex.outcome()
    });

    // Chunk framing errors after valid headers: the guest sees a body error,
    // and the connection is closed after the one response.
    for (name, body) in [
        ("smuggling/chunk-size-not-hex", "zz\r\nabc\r\n0\r\n\r\n"),
        (
            "smuggling/chunk-size-overflow",
            "fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        ),
        ("smuggling/chunk-missing-crlf", "3\r\nabcXX0\r\n\r\n"),
    ] {
        case(&server, name, || {
            let bytes = format!(
                "POST /probe/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}{hidden}"
            );
            let ex = exchange(addr, bytes.as_bytes(), WAIT);
            assert!(ex.closed, "{name}: {ex:?}");
            assert!(ex.responses <= 1, "{name}: {}", ex.text());
            let text = ex.text();
            assert!(
                ex.status.is_some_and(|s| s == 400) || text.contains("body-error="),
                "{name}: {text}"
            );
            let what = if text.contains("body-error=") {
                " (guest saw body-error)"
            } else {
                ""
            };
            format!("{}{what}", ex.outcome())
        });
    }

    // Plain pipelining still works: two requests, two responses, in order.
    case(&server, "pipelining/two-requests", || {
        let bytes = "GET /probe/one HTTP/1.1\r\nHost: x\r\n\r\nGET /probe/two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let ex = exchange(addr, bytes.as_bytes(), WAIT);
        let text = ex.text();
        assert_eq!(ex.responses, 2, "{text}");
        let one = text.find("path=/probe/one").expect("first response");
        let two = text.find("path=/probe/two").expect("second response");
        assert!(one < two, "{text}");
        ex.outcome()
    });

    let logs = server.logs();
    assert!(
        !logs.contains("/probe/smuggled"),
        "smuggled request ran:\n{logs}"
    );
}

#[test]
fn odd_targets_and_bytes_in_paths_are_refused_or_served_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    let send = |target: &[u8]| {
        let mut bytes = b"GET ".to_vec();
        bytes.extend_from_slice(target);
        bytes.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        exchange(addr, &bytes, WAIT)
    };

    // Percent-encoded invalid UTF-8 is plain ASCII on the wire: the guest
    // gets it exactly as sent (nimbus does not decode paths).
    case(&server, "utf8/percent-encoded-invalid", || {
        let ex = send(b"/probe/%ff%fe%C0%AF?q=%c3%28");
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        assert!(
            ex.text().contains("path=/probe/%ff%fe%C0%AF\n"),
            "{}",
            ex.text()
        );
        ex.outcome()
    });
    // Raw bytes that are not valid UTF-8, DEL and control bytes in a request
    // target: refused with 400 before any guest runs.
    for (name, target) in [
        ("utf8/raw-invalid-in-path", &b"/probe/\xff\xfe"[..]),
        ("utf8/raw-invalid-in-query", &b"/probe/?q=\xc3\x28"[..]),
        ("utf8/raw-del-and-controls", &b"/probe/\x7f\x01"[..]),
    ] {
        case(&server, name, || {
            let ex = send(target);
            ex.assert_rejected(name);
            ex.outcome()
        });
    }

    // Raw bytes that are valid UTF-8 are let through by the parser (`http`
    // keeps the target as a UTF-8 string): routed and passed on verbatim.
    case(&server, "utf8/raw-valid-utf8-in-path", || {
        let ex = send("/probe/é?q=ü".as_bytes());
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        assert!(ex.text().contains("path=/probe/é\n"), "{}", ex.text());
        ex.outcome()
    });

    // Absolute form: routed by its path; the guest sees the path.
    case(&server, "target/absolute-form", || {
        let ex = send(b"http://example.com/probe/abs?x=1");
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        assert!(ex.text().contains("path=/probe/abs\n"), "{}", ex.text());
        ex.outcome()
    });
    // Asterisk form (OPTIONS *) and authority form (CONNECT) match no route.
    case(&server, "target/asterisk-form", || {
        let ex = exchange(
            addr,
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            WAIT,
        );
        assert!(ex.closed, "{ex:?}");
        assert!(
            ex.status.is_some_and(|s| (400..500).contains(&s)),
            "{}",
            ex.text()
        );
        ex.outcome()
    });
    case(&server, "target/authority-form-connect", || {
        let ex = exchange(
            addr,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            WAIT,
        );
        assert!(ex.closed, "{ex:?}");
        assert!(
            ex.status.is_some_and(|s| (400..500).contains(&s)),
            "{}",
            ex.text()
        );
        ex.outcome()
    });
    let logs = server.logs();
    assert!(!logs.contains("/probe/\u{fffd}"), "{logs}");
}

#[test]
fn http2_garbage_after_the_preface_ends_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut random = vec![0u8; 4096];
    fill_random(&mut random, 11);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "http2/random-bytes-after-preface",
            [PREFACE, &random].concat(),
        ),
        (
            // A frame header claiming a 16 MiB DATA frame on stream 1.
            "http2/oversized-frame",
            [
                PREFACE,
                b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\xff\xff\xff\x00\x00\x00\x00\x01",
            ]
            .concat(),
        ),
        (
            "http2/headers-frame-with-garbage-hpack",
            [
                PREFACE,
                b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
                b"\x00\x00\x08\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff",
            ]
            .concat(),
        ),
    ];
    for (name, bytes) in cases {
        case(&server, name, || {
            let ex = exchange(addr, &bytes, WAIT);
            assert!(ex.closed, "{name}: connection not closed: {ex:?}");
            // An HTTP/2 GOAWAY frame (type 7) or nothing; never an HTTP/1 answer.
            assert!(!ex.raw.starts_with(b"HTTP/1."), "{name}: {}", ex.text());
            let goaway = ex.raw.windows(4).any(|w| w[3] == 7 && w[0] == 0);
            format!(
                "{} bytes back{}, closed",
                ex.raw.len(),
                if goaway { " (GOAWAY)" } else { "" }
            )
        });
    }
}

// ---------------------------------------------------------------------------
// Slow clients and idle connections

#[test]
fn slowloris_a_header_byte_a_second_is_disconnected_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    case(&server, "slowloris/header-byte-per-second", || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /probe/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        let started = Instant::now();
        let mut writer = stream.try_clone().unwrap();
        let dripping = std::thread::spawn(move || {
            // One byte a second, for at most 20 s.
            for _ in 0..20 {
                std::thread::sleep(Duration::from_secs(1));
                if writer.write_all(b"a").is_err() {
                    return;
                }
            }
        });
        let ex = read_until_close(&mut stream, Duration::from_secs(20));
        let waited = started.elapsed();
        let _ = stream.shutdown(Shutdown::Both);
        dripping.join().unwrap();
        // Each byte does not reset the 10 s header timeout.
        assert!(ex.closed, "still open after {waited:?}");
        assert!(
            waited >= Duration::from_secs(8) && waited < Duration::from_secs(15),
            "closed after {waited:?}"
        );
        format!("{}, after {:.1} s", ex.outcome(), waited.as_secs_f64())
    });
}

#[test]
fn slow_bodies_complete_or_end_at_the_timeout_or_the_body_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&app(dir.path()));
    let addr = server.addr;
    // Drips `total` body bytes, one a second, after the head; stops after
    // `send` bytes (then stalls).
    let drip = |path: &str, total: usize, send: usize, wait: Duration| {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let started = Instant::now();
        let dripping = std::thread::spawn(move || {
            for _ in 0..send {
                if writer.write_all(b"b").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        let ex = read_until_close(&mut stream, wait);
        let waited = started.elapsed();
        let _ = stream.shutdown(Shutdown::Both);
        dripping.join().unwrap();
        (ex, waited)
    };

    // A body that trickles in (1 byte/s) but keeps coming is read to the end.
    case(&server, "slow-body/trickle-completes", || {
        let (ex, waited) = drip("/probe/", 5, 5, Duration::from_secs(20));
        assert_eq!(ex.status, Some(200), "{}", ex.text());
        assert!(ex.text().contains("body=5\n"), "{}", ex.text());
        format!("{}, after {:.1} s", ex.outcome(), waited.as_secs_f64())
    });
    // ... unless the component's `timeout` runs out first: the wall clock
    // covers the time the guest waits for its body.
    case(&server, "slow-body/trickle-past-timeout", || {
        let (ex, waited) = drip("/timed/", 100, 20, Duration::from_secs(20));
        assert_eq!(ex.status, Some(504), "{}", ex.text());
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        format!("{}, after {:.1} s", ex.outcome(), waited.as_secs_f64())
    });
    // A body that stops arriving fails in the guest after the body idle
    // timeout (30 s); the guest answers (here 200 with `body-error=`).
    case(&server, "slow-body/stalled", || {
        let (ex, waited) = drip("/probe/", 10, 2, Duration::from_secs(45));
        assert!(ex.closed, "{ex:?}");
        assert!(ex.text().contains("body-error="), "{}", ex.text());
        assert!(
            waited >= Duration::from_secs(28) && waited < Duration::from_secs(42),
            "{waited:?}"
        );
        format!(
            "{} with body-error, after {:.1} s",
            ex.outcome(),
            waited.as_secs_f64()
        )
    });
}

#[test]
fn a_thousand_idle_connections_do_not_stop_others_and_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = app(dir.path());
    let server = Server::start(&manifest);
    let addr = server.addr;
    let pid = server.process.pid();
    // Warm up (the first request opens whatever the server opens lazily).
    assert_eq!(server.get("/ok/").status, 200);
    let baseline = fd_count(pid);

    case(&server, "idle/1000-keep-alive-connections", || {
        // 1,000 connections that each made one request and now sit idle.
        let started = Instant::now();
        let mut idle = Vec::new();
        for _ in 0..1000 {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            assert_eq!(read_one_response(&mut stream), 404);
            idle.push(stream);
        }
        let opened = started.elapsed();
        let peak = fd_count(pid);
        assert!(peak <= baseline + 1000 + 50, "fds: {baseline} -> {peak}");
        // Others are served meanwhile (the healthy load runs throughout).
        assert_eq!(server.get("/probe/").status, 200);
        // Idle keep-alive connections are closed by the server after the
        // header read timeout (10 s, started when it waits for the next
        // request), so the fd count returns to baseline while the clients
        // still hold their ends.
        let returned = eventually(Duration::from_secs(25), || fd_count(pid) <= baseline + 5);
        let after = fd_count(pid);
        let closed_by_server = idle
            .iter_mut()
            // A closed one answers EOF at once; the wait only matters for the
            // few the fd count allows to be still closing.
            .map(|s| read_until_close(s, Duration::from_secs(3)).closed)
            .filter(|closed| *closed)
            .count();
        assert!(
            returned,
            "fds: baseline {baseline}, peak {peak}, now {after}"
        );
        assert_eq!(closed_by_server, 1000);
        format!(
            "opened in {:.1} s; server fds {baseline} -> {peak} -> {after} (closed by the server at the 10 s idle timeout)",
            opened.as_secs_f64()
        )
    });

    case(&server, "idle/200-silent-connections", || {
        // Connections that never send a byte (and ones that stop inside the
        // HTTP/2 preface, where HTTP/1 and HTTP/2 are told apart) are closed
        // after the header timeout too.
        let started = Instant::now();
        let mut silent = Vec::new();
        for i in 0..200 {
            let mut stream = TcpStream::connect(addr).unwrap();
            if i % 2 == 1 {
                stream.write_all(b"PRI * HTTP/2").unwrap();
            }
            silent.push(stream);
        }
        eventually(Duration::from_secs(5), || fd_count(pid) >= baseline + 200);
        let peak = fd_count(pid);
        let returned = eventually(Duration::from_secs(25), || fd_count(pid) <= baseline + 5);
        let waited = started.elapsed();
        let after = fd_count(pid);
        let closed_by_server = silent
            .iter_mut()
            // A closed one answers EOF at once; the wait only matters for the
            // few the fd count allows to be still closing.
            .map(|s| read_until_close(s, Duration::from_secs(3)).closed)
            .filter(|closed| *closed)
            .count();
        assert!(
            returned,
            "fds: baseline {baseline}, peak {peak}, now {after}"
        );
        assert_eq!(closed_by_server, 200);
        assert!(waited >= Duration::from_secs(5), "{waited:?}");
        format!(
            "server fds {baseline} -> {peak} -> {after}, all closed by the server after {:.1} s",
            waited.as_secs_f64()
        )
    });
}

#[test]
fn silent_connections_do_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&app(dir.path()));
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Let the server accept them.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let status = server.terminate();
    let waited = started.elapsed();
    println!(
        "case=idle/sigterm-with-20-silent-connections outcome=\"exit {:?} after {:.2} s\"",
        status.code(),
        waited.as_secs_f64()
    );
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(waited < Duration::from_secs(5), "shutdown took {waited:?}");
    drop(silent);
}

// ---------------------------------------------------------------------------
// Bad modules at load

/// Runs `nimbus up` on `manifest`; it must exit (not serve) within a minute.
fn up_must_fail(manifest: &Path) -> (Option<i32>, String) {
    let (status, stderr) = common::up_refused(common::up_command(manifest, &[]));
    (status.code(), stderr)
}

/// `bytes` with every `from` replaced by `to` (same length).
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn bad_modules_are_refused_at_load_with_one_line_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let probe_bytes = std::fs::read(probe()).unwrap();
    let mut random = vec![0u8; 64 * 1024];
    fill_random(&mut random, 3);
    let mut random_with_magic = b"\0asm\x0d\x00\x01\x00".to_vec();
    random_with_magic.extend(&random[..4096]);
    let command_component = std::fs::read(nimbus_test_guests::guest(
        "hello-env",
        nimbus_test_guests::Target::P2,
    ))
    .unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty-file", Vec::new()),
        ("random-bytes", random),
        ("random-after-component-header", random_with_magic),
        (
            "truncated-component",
            probe_bytes[..probe_bytes.len() / 2].to_vec(),
        ),
        (
            "truncated-component-header",
            probe_bytes[..probe_bytes.len().min(12)].to_vec(),
        ),
        ("core-module", b"\0asm\x01\x00\x00\x00".to_vec()),
        ("empty-component", b"\0asm\x0d\x00\x01\x00".to_vec()),
        ("command-component-no-incoming-handler", command_component),
        ("component-importing-unknown-interface", {
            let renamed = replace_all(
                &probe_bytes,
                b"wasi:cli/environment",
                b"nimbus:no/such-thing",
            );
            assert_ne!(renamed, probe_bytes);
            renamed
        }),
    ];
    for (name, bytes) in cases {
        let file = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&file, &bytes).unwrap();
        let manifest = write_manifest(
            dir.path(),
            &format!(
                "spin_manifest_version = 2\n[application]\nname = \"bad\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"broken-{name}\"\n[component.broken-{name}]\nsource = \"{}\"\n",
                file.display()
            ),
        );
        let started = Instant::now();
        let (code, stderr) = up_must_fail(&manifest);
        let line = stderr.trim_end();
        println!(
            "case=load/{name} outcome=\"exit {code:?} in {:.2} s: {line}\"",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(line.lines().count(), 1, "{name}: not one line: {stderr}");
        assert!(
            line.contains(&format!("broken-{name}")) || line.contains(&format!("{name}.wasm")),
            "{name}: does not name the component or file: {stderr}"
        );
        if name == "component-importing-unknown-interface" {
            assert!(line.contains("nimbus:no/such-thing"), "{stderr}");
        }
    }
}

// ---------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn fill_random(buf: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
}
