//! `redis-server`.

use std::process::Command;
use std::time::Duration;

use crate::{free_port, ServerProcess};

/// A `redis-server` with no persistence, on 127.0.0.1 and a free port.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<ServerProcess>,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> RedisServer {
        let mut dir = tempfile::tempdir().expect("a temporary directory");
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                dir,
                process: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(err) => {
                    last_error = err;
                    dir = server.dir;
                }
            }
        }
        panic!("cannot start redis-server: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        let process = ServerProcess::spawn(
            "redis-server",
            "Debian/Ubuntu: `apt-get install -y redis-server`; macOS: `brew install redis`",
            command,
            self.port,
            Duration::from_secs(10),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port (its data is gone).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("redis-server restarts on its port");
    }
}
