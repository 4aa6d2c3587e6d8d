//! `nats-server`, and a small client of its own (the NATS text protocol over
//! a `TcpStream`) to publish, subscribe and request.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::{free_port, ServerProcess};

const INSTALL: &str =
    "Debian/Ubuntu: `apt-get install -y nats-server`; macOS: `brew install nats-server`";

/// A `nats-server` on 127.0.0.1 and a free port; killed on drop.
pub struct NatsServer {
    port: u16,
    process: Option<ServerProcess>,
}

impl NatsServer {
    /// Starts a server anyone may connect to.
    pub fn start() -> NatsServer {
        let mut server = NatsServer {
            port: 0,
            process: None,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("cannot start nats-server: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new("nats-server");
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        let process = ServerProcess::spawn(
            "nats-server",
            INSTALL,
            command,
            self.port,
            Duration::from_secs(10),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL): its clients' connections break.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port (no subscription survives:
    /// clients subscribe again when they reconnect).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("nats-server restarts on its port");
    }

    /// A client connected to the server.
    pub fn client(&self) -> NatsClient {
        NatsClient::connect(self.port)
    }
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("port", &self.port)
            .finish()
    }
}

/// A message a [`NatsClient`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsMessage {
    /// The subject it was published to.
    pub subject: String,
    /// Its reply subject, if any.
    pub reply: Option<String>,
    /// Its headers block (`NATS/1.0` and the header lines), if any.
    pub headers: Option<String>,
    /// The payload.
    pub payload: Vec<u8>,
}

type Routes = Arc<Mutex<HashMap<u64, mpsc::Sender<NatsMessage>>>>;

/// A minimal NATS client: text protocol, headers understood, pings
/// answered. Panics on any I/O error (it is a test's client).
pub struct NatsClient {
    writer: Arc<Mutex<TcpStream>>,
    routes: Routes,
    pongs: mpsc::Receiver<()>,
    next_sid: AtomicU64,
}

/// The messages of one subscription of a [`NatsClient`].
pub struct NatsSubscription {
    /// The subscription id.
    pub sid: u64,
    messages: mpsc::Receiver<NatsMessage>,
}

impl NatsSubscription {
    /// The next message, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<NatsMessage> {
        self.messages.recv_timeout(timeout).ok()
    }
}

impl NatsClient {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> NatsClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
        let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
        let mut info = String::new();
        reader.read_line(&mut info).expect("read INFO");
        assert!(
            info.starts_with("INFO "),
            "nats-server greeted with {info:?}"
        );
        let writer = Arc::new(Mutex::new(stream));
        let routes: Routes = Arc::default();
        let (pong, pongs) = mpsc::channel();
        let (thread_writer, thread_routes) = (writer.clone(), routes.clone());
        std::thread::spawn(move || read_loop(reader, thread_writer, thread_routes, pong));
        let client = NatsClient {
            writer,
            routes,
            pongs,
            next_sid: AtomicU64::new(1),
        };
        client.write(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n");
        client.flush();
        client
    }

    fn write(&self, bytes: &[u8]) {
        let mut writer = self.writer.lock().unwrap();
        writer.write_all(bytes).expect("write to nats-server");
    }

    /// Waits until the server has processed everything sent so far (a
    /// PING/PONG round trip).
    pub fn flush(&self) {
        self.write(b"PING\r\n");
        self.pongs
            .recv_timeout(Duration::from_secs(10))
            .expect("nats-server answered PING");
    }

    /// Subscribes to `subject` (in queue group `group`, if given); active
    /// when this returns.
    pub fn subscribe(&self, subject: &str, group: Option<&str>) -> NatsSubscription {
        let sid = self.next_sid.fetch_add(1, Ordering::Relaxed);
        let (sender, messages) = mpsc::channel();
        self.routes.lock().unwrap().insert(sid, sender);
        let line = match group {
            Some(group) => format!("SUB {subject} {group} {sid}\r\n"),
            None => format!("SUB {subject} {sid}\r\n"),
        };
        self.write(line.as_bytes());
        self.flush();
        NatsSubscription { sid, messages }
    }

    /// Publishes `payload` to `subject` (with `reply` as its reply subject).
    pub fn publish(&self, subject: &str, reply: Option<&str>, payload: &[u8]) {
        let mut frame = match reply {
            Some(reply) => format!("PUB {subject} {reply} {}\r\n", payload.len()).into_bytes(),
            None => format!("PUB {subject} {}\r\n", payload.len()).into_bytes(),
        };
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.write(&frame);
    }

    /// Sends a request and waits up to `timeout` for the first reply.
    pub fn request(&self, subject: &str, payload: &[u8], timeout: Duration) -> Option<NatsMessage> {
        static INBOXES: AtomicU64 = AtomicU64::new(0);
        let inbox = format!(
            "_INBOX.test{}.{}",
            std::process::id(),
            INBOXES.fetch_add(1, Ordering::Relaxed)
        );
        let replies = self.subscribe(&inbox, None);
        self.publish(subject, Some(&inbox), payload);
        let reply = replies.next(timeout);
        self.write(format!("UNSUB {}\r\n", replies.sid).as_bytes());
        self.routes.lock().unwrap().remove(&replies.sid);
        reply
    }
}

impl Drop for NatsClient {
    fn drop(&mut self) {
        if let Ok(writer) = self.writer.lock() {
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn read_loop(
    mut reader: BufReader<TcpStream>,
    writer: Arc<Mutex<TcpStream>>,
    routes: Routes,
    pong: mpsc::Sender<()>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("PING") => {
                let _ = writer.lock().unwrap().write_all(b"PONG\r\n");
            }
            Some("PONG") => {
                let _ = pong.send(());
            }
            Some("MSG") | Some("HMSG") => {
                let headers = words[0] == "HMSG";
                // MSG subject sid [reply] size; HMSG subject sid [reply] hsize size
                let numbers = if headers { 2 } else { 1 };
                let fixed = 3 + numbers;
                let reply = (words.len() > fixed).then(|| words[3].to_owned());
                let sizes: Vec<usize> = words[words.len() - numbers..]
                    .iter()
                    .map(|n| n.parse().expect("a size"))
                    .collect();
                let total = *sizes.last().expect("a size");
                let mut body = vec![0; total + 2];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                body.truncate(total);
                let (header_block, payload) = if headers {
                    let payload = body.split_off(sizes[0]);
                    (Some(String::from_utf8_lossy(&body).into_owned()), payload)
                } else {
                    (None, body)
                };
                let sid: u64 = words[2].parse().unwrap_or(0);
                let message = NatsMessage {
                    subject: words[1].to_owned(),
                    reply,
                    headers: header_block,
                    payload,
                };
                if let Some(route) = routes.lock().unwrap().get(&sid) {
                    let _ = route.send(message);
                }
            }
            _ => {}
        }
    }
}
