//! `mariadbd`, with a data directory made by `mariadb-install-db`.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{free_port, ServerProcess};

const INSTALL: &str =
    "Debian/Ubuntu: `apt-get install -y mariadb-server`; macOS: `brew install mariadb`";

const DATABASE: &str = MariaDb::DATABASE;
const USER: &str = MariaDb::USER;
const PASSWORD: &str = MariaDb::PASSWORD;

/// A MariaDB server on 127.0.0.1 and a free port, with its data, socket and
/// pid files in a temporary directory: database [`MariaDb::DATABASE`],
/// owned by user [`MariaDb::USER`] with password [`MariaDb::PASSWORD`].
/// Killed when dropped.
pub struct MariaDb {
    // Fields drop in order: the server is killed before its directory goes.
    process: Option<ServerProcess>,
    port: u16,
    dir: tempfile::TempDir,
}

/// Whether this process runs as root (`mariadbd` then needs `--user=root`).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

impl MariaDb {
    /// The database the server has for the tests.
    pub const DATABASE: &'static str = "nimbus";
    /// The user that owns [`MariaDb::DATABASE`] (from any host).
    pub const USER: &'static str = "nimbus";
    /// [`MariaDb::USER`]'s password.
    pub const PASSWORD: &'static str = "nimbus-test-Pw.7";

    /// Initialises a data directory and starts a server on a free port.
    ///
    /// # Panics
    ///
    /// When MariaDB is not installed (with the command that installs it),
    /// or the server does not start.
    pub fn start() -> MariaDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        install(dir.path());
        let mut server = MariaDb {
            process: None,
            port: 0,
            dir,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("cannot start mariadbd: {last_error}");
    }

    fn data_dir(dir: &Path) -> PathBuf {
        dir.join("data")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let mut command = Command::new("mariadbd");
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", Self::data_dir(dir).display()))
            .arg(format!("--socket={}", dir.join("mariadbd.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .arg(format!("--tmpdir={}", dir.display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .args(server_options());
        if is_root() {
            command.arg("--user=root");
        }
        match ServerProcess::spawn(
            "mariadbd",
            INSTALL,
            command,
            self.port,
            Duration::from_secs(30),
        ) {
            Ok(process) => {
                self.process = Some(process);
                Ok(())
            }
            Err(err) => {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!("{err}; its log ends with:\n{}", tail.join("\n")))
            }
        }
    }

    /// `mysql://nimbus:PASSWORD@127.0.0.1:PORT/nimbus`.
    pub fn url(&self) -> String {
        format!(
            "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` with the `mariadb` client (as [`MariaDb::USER`], in
    /// [`MariaDb::DATABASE`], over TCP) and returns its output: tab-separated
    /// rows without column names. Panics when the client fails.
    pub fn sql(&self, sql: &str) -> String {
        let output = Command::new("mariadb")
            .args([
                "--no-defaults",
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
            ])
            .args([
                "-u",
                USER,
                "--skip-column-names",
                "--batch",
                "-e",
                sql,
                DATABASE,
            ])
            .env("MYSQL_PWD", PASSWORD)
            .output()
            .unwrap_or_else(|err| panic!("cannot run the mariadb client ({INSTALL}): {err}"));
        assert!(
            output.status.success(),
            "mariadb -e {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }

    /// Kills the server (SIGKILL); its data stays.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port, with the same data (what
    /// was committed before [`MariaDb::stop`] is there).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("mariadbd restarts on its port");
    }
}

/// Options for a quick, small, throwaway server (no binary log, no
/// performance schema, no fsync: a test's data need not survive a power
/// cut).
fn server_options() -> [&'static str; 10] {
    [
        "--skip-log-bin",
        "--skip-name-resolve",
        "--skip-performance-schema",
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=4M",
        "--innodb-use-native-aio=0",
        "--innodb-flush-method=nosync",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--max-connections=200",
    ]
}

/// Makes the data directory in `dir/data` with `mariadb-install-db`, and in
/// it database [`MariaDb::DATABASE`] and user [`MariaDb::USER`].
///
/// One bootstrap at a time in a test process, and up to three tries: two
/// bootstraps started together on a loaded 2-core machine have failed once
/// ("Installation of system tables failed"), where a second try works.
fn install(dir: &Path) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = String::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(MariaDb::data_dir(dir));
        match install_once(dir) {
            Ok(()) => return,
            Err(output) => last = output,
        }
    }
    panic!("{last}");
}

fn install_once(dir: &Path) -> Result<(), String> {
    let setup = dir.join("setup.sql");
    // The bootstrap runs with the grant tables off: FLUSH PRIVILEGES turns
    // them on so that CREATE USER works.
    std::fs::write(
        &setup,
        format!(
            "FLUSH PRIVILEGES;\n\
             CREATE DATABASE {DATABASE};\n\
             CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
             GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'%';\n"
        ),
    )
    .expect("the setup SQL is written");
    let mut command = Command::new("mariadb-install-db");
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", MariaDb::data_dir(dir).display()))
        .arg(format!("--extra-file={}", setup.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .args(server_options());
    if is_root() {
        command.arg("--user=root");
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "mariadb-install-db is not installed, and these tests need a real server: install \
             MariaDB ({INSTALL}, or run scripts/setup.sh) and run the tests again"
        ),
        Err(err) => panic!("cannot run mariadb-install-db: {err}"),
    };
    if !output.status.success() {
        return Err(format!(
            "mariadb-install-db failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}
