//! `mosquitto`, the MQTT broker, and its own subscriber client
//! (`mosquitto_sub`) to see what was published.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{free_port, ServerProcess};

const INSTALL: &str = "Debian/Ubuntu: `apt-get install -y mosquitto mosquitto-clients`; \
                       macOS: `brew install mosquitto`";

/// A `mosquitto` broker without persistence, listening on 127.0.0.1 and a
/// free port; killed on drop.
pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    credentials: Option<(String, String)>,
    process: Option<ServerProcess>,
}

impl Mosquitto {
    /// Starts a broker that lets anyone connect (`allow_anonymous true`).
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(None)
    }

    /// Starts a broker that lets only `user` with `password` connect (a
    /// password file made with `mosquitto_passwd -b -c`,
    /// `allow_anonymous false`).
    pub fn start_with_password(user: &str, password: &str) -> Mosquitto {
        Mosquitto::start_with(Some((user.to_owned(), password.to_owned())))
    }

    fn start_with(credentials: Option<(String, String)>) -> Mosquitto {
        let dir = tempfile::tempdir().expect("a temporary directory");
        if let Some((user, password)) = &credentials {
            make_password_file(&dir.path().join("passwd"), user, password);
        }
        let mut broker = Mosquitto {
            port: 0,
            dir,
            credentials,
            process: None,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            broker.port = free_port();
            match broker.spawn() {
                Ok(()) => return broker,
                Err(err) => last_error = err,
            }
        }
        panic!("cannot start mosquitto: {last_error}");
    }

    /// Writes the config for the current port and starts the broker.
    fn spawn(&mut self) -> Result<(), String> {
        let config = self.dir.path().join("mosquitto.conf");
        let mut text = format!(
            "# Written by nimbus-test-servers.\n\
             listener {port} 127.0.0.1\n\
             persistence false\n\
             log_dest stderr\n\
             # Started as root, mosquitto would otherwise switch to the user\n\
             # `mosquitto`, who cannot read this directory (ignored otherwise).\n\
             user root\n",
            port = self.port
        );
        match &self.credentials {
            Some(_) => {
                text.push_str("allow_anonymous false\n");
                text.push_str(&format!(
                    "password_file {}\n",
                    self.dir.path().join("passwd").display()
                ));
            }
            None => text.push_str("allow_anonymous true\n"),
        }
        std::fs::write(&config, text).map_err(|err| format!("cannot write {config:?}: {err}"))?;
        let mut command = Command::new("mosquitto");
        command.arg("-c").arg(&config);
        let process = ServerProcess::spawn(
            "mosquitto",
            INSTALL,
            command,
            self.port,
            Duration::from_secs(10),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the broker (SIGKILL): its clients' connections break.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the broker again on the same port (nothing retained survives).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("mosquitto restarts on its port");
    }

    /// Subscribes to `topic` with `qos` (0, 1 or 2) with the broker's own
    /// client, `mosquitto_sub` (with the broker's credentials, if it has
    /// some). Returns once the subscription is active: a message published
    /// afterwards is seen by [`Subscriber::next`].
    pub fn subscribe(&self, topic: &str, qos: u8) -> Subscriber {
        static PROBES: AtomicU64 = AtomicU64::new(0);
        // A second topic of the subscriber's own, published to until the
        // subscriber sees it: then its subscriptions are active.
        let probe = format!(
            "nimbus-test-probe/{}/{}",
            std::process::id(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        );
        let mut command = Command::new("mosquitto_sub");
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-t", topic, "-t", &probe, "-q", &qos.to_string(), "-v"]);
        self.add_credentials(&mut command);
        command.stdout(Stdio::piped()).stdin(Stdio::null());
        if std::env::var_os("RUST_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "mosquitto_sub is not installed, and these tests need the broker's own client: \
                 install it ({INSTALL}, or run scripts/setup.sh) and run the tests again"
            ),
            Err(err) => panic!("cannot run mosquitto_sub: {err}"),
        };
        let stdout = child.stdout.take().expect("mosquitto_sub's piped stdout");
        let (messages, received) = mpsc::channel();
        let (ready, probed) = mpsc::channel();
        let probe_topic = probe.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                // `-v` prints `TOPIC PAYLOAD`.
                let (topic, payload) = match line.iter().position(|b| *b == b' ') {
                    Some(space) => (&line[..space], line[space + 1..].to_vec()),
                    None => (&line[..], Vec::new()),
                };
                let topic = String::from_utf8_lossy(topic).into_owned();
                let sent = if topic == probe_topic {
                    ready.send(()).is_ok()
                } else {
                    messages.send((topic, payload)).is_ok()
                };
                if !sent {
                    break;
                }
            }
        });
        let subscriber = Subscriber {
            child,
            messages: received,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.publish_probe(&probe);
            if probed.recv_timeout(Duration::from_millis(100)).is_ok() {
                return subscriber;
            }
            if Instant::now() > deadline {
                panic!("mosquitto_sub did not subscribe to {topic:?} within 10 s");
            }
        }
    }

    /// Publishes `probe` to topic `probe` with `mosquitto_pub`.
    fn publish_probe(&self, probe: &str) {
        let mut command = Command::new("mosquitto_pub");
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-t", probe, "-m", "probe", "-q", "1"]);
        self.add_credentials(&mut command);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match command.status() {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "mosquitto_pub is not installed: install it ({INSTALL}) and run the tests again"
            ),
            Err(err) => panic!("cannot run mosquitto_pub: {err}"),
        }
    }

    fn add_credentials(&self, command: &mut Command) {
        if let Some((user, password)) = &self.credentials {
            command.args(["-u", user, "-P", password]);
        }
    }
}

/// Writes a mosquitto password file at `path` holding `user` with
/// `password`.
fn make_password_file(path: &Path, user: &str, password: &str) {
    let status = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(path)
        .args([user, password])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("mosquitto_passwd failed ({status})"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "mosquitto_passwd is not installed: install it ({INSTALL}) and run the tests again"
        ),
        Err(err) => panic!("cannot run mosquitto_passwd: {err}"),
    }
    restrict(path);
}

/// Makes `path` readable by its owner only (mosquitto warns otherwise).
#[cfg(unix)]
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict(_: &Path) {}

/// A running `mosquitto_sub -v`; killed on drop.
pub struct Subscriber {
    child: Child,
    messages: mpsc::Receiver<(String, Vec<u8>)>,
}

impl Subscriber {
    /// The next message received (topic and payload), waiting up to
    /// `timeout`; `None` if none came.
    pub fn next(&self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        self.messages.recv_timeout(timeout).ok()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Mosquitto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mosquitto")
            .field("port", &self.port)
            .field("dir", &PathBuf::from(self.dir.path()))
            .field("password", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}
