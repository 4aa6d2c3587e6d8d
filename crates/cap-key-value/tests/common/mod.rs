//! Shared by the integration tests: a real `redis-server` on a free port,
//! and helpers to configure apps. (PostgreSQL comes from
//! `nimbus_test_servers::Postgres`.)

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nimbus_cap_key_value::{
    AppKv, KeyValueAppState, KeyValueCapability, KeyValueConfig, PostgresStoreConfig,
    RedisStoreConfig, StoreConfig,
};

/// A `redis-server` started for one test on 127.0.0.1 and a free port, with
/// no persistence; killed on drop. Panics (failing the test) when
/// `redis-server` is not installed: the Redis tests must never pass
/// silently without a server.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> RedisServer {
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().unwrap(),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("cannot start redis-server: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed, and the Redis tests need a real server: \
                 install it (Debian/Ubuntu: `apt-get install -y redis-server`; macOS: \
                 `brew install redis`) and run the tests again"
            ),
            Err(err) => panic!("cannot run redis-server: {err}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("redis-server exited at start ({status})"));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("redis-server did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (its data is gone).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("redis-server restarts on its port");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A runtime config with Redis stores `labels` at `url`.
pub fn redis_config(url: &str, labels: &[&str]) -> KeyValueConfig {
    KeyValueConfig {
        stores: labels
            .iter()
            .map(|label| {
                (
                    label.to_string(),
                    StoreConfig::Redis(RedisStoreConfig {
                        url: url.to_owned(),
                    }),
                )
            })
            .collect(),
    }
}

/// A runtime config with PostgreSQL stores `labels` at `url`.
pub fn postgres_config(url: &str, labels: &[&str]) -> KeyValueConfig {
    KeyValueConfig {
        stores: labels
            .iter()
            .map(|label| {
                (
                    label.to_string(),
                    StoreConfig::Postgres(PostgresStoreConfig {
                        url: url.to_owned(),
                    }),
                )
            })
            .collect(),
    }
}

/// `AppKv` for `app_id` with its data dir under `dir` and `grants`.
pub fn app_kv(app_id: &str, dir: &Path, grants: &[(&str, &[&str])]) -> AppKv {
    AppKv {
        app_id: app_id.to_owned(),
        data_dir: dir.join(app_id).join(".nimbus"),
        grants: grants
            .iter()
            .map(|(component, labels)| {
                (
                    component.to_string(),
                    labels.iter().map(|l| l.to_string()).collect(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Configures the key-value capability for an app.
pub fn configure(config: Option<KeyValueConfig>, app: &AppKv) -> KeyValueAppState {
    KeyValueCapability::new()
        .configure(config, app)
        .expect("the key-value capability configures")
}
