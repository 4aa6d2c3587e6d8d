//! Starting a server process and waiting until it listens.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// A server process listening on 127.0.0.1:`port`; killed (SIGKILL) on
/// drop.
pub struct ServerProcess {
    name: &'static str,
    child: Option<Child>,
    port: u16,
}

impl ServerProcess {
    /// Runs `command` (stdout and stderr discarded unless `RUST_LOG` is
    /// set) and waits up to `timeout` until 127.0.0.1:`port` accepts
    /// connections. `name` is the server's program, for messages; `install`
    /// says how to install it. Panics when the program is not installed;
    /// returns an error when it exits or does not listen in time (e.g. the
    /// port was taken meanwhile: try another).
    pub fn spawn(
        name: &'static str,
        install: &str,
        mut command: Command,
        port: u16,
        timeout: Duration,
    ) -> Result<ServerProcess, String> {
        if std::env::var_os("RUST_LOG").is_none() {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "{name} is not installed, and these tests need a real server: install it \
                 ({install}, or run scripts/setup.sh) and run the tests again"
            ),
            Err(err) => panic!("cannot run {name}: {err}"),
        };
        let mut server = ServerProcess {
            name,
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    server.child = None;
                    return Err(format!("{name} exited at start ({status})"));
                }
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} did not listen on port {port} within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's program name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
