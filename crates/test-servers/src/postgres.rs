//! PostgreSQL: `initdb`, `postgres` and the `psql` client.
//!
//! Each [`Postgres`] is a cluster of its own in a temporary directory (in
//! `/dev/shm` when it has room: see `cluster_base`). Its data directory
//! is a copy of a template cluster (`initdb` plus the `nimbus` database)
//! built once per PostgreSQL installation and kept in
//! `$TMPDIR/nimbus-test-postgres-<uid>/`: `initdb` takes 1 to 3 s, a copy
//! and a start about 0.2 s.
//!
//! As root, `initdb` and `postgres` (which refuse to run as root) run as the
//! `postgres` user (else `nobody`), and the temporary directories are given
//! to that user.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::fs;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{ErrorKind, Write};
#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{free_port, ServerProcess};

const INSTALL: &str =
    "Debian/Ubuntu: `apt-get install -y postgresql`; macOS: `brew install postgresql`";

/// The role and the database of every cluster.
const USER: &str = "nimbus";
const DATABASE: &str = "nimbus";

/// Bump when the template changes (initdb flags, what is created in it).
const TEMPLATE_VERSION: u32 = 1;

/// A PostgreSQL server with a cluster of its own, listening on 127.0.0.1
/// and a free port (and on a Unix socket in its temporary directory), with
/// the role `nimbus` (superuser, a random password, `scram-sha-256` over
/// TCP) and the database `nimbus`. Killed when dropped.
///
/// Durability is off (`fsync`, `full_page_writes`): what was committed
/// survives [`Postgres::stop`] and [`Postgres::restart`] (the server is
/// killed, not the machine), not a power cut. `synchronous_commit` stays
/// on: off, a kill loses the last commits (still in the server's WAL
/// buffers), and with `fsync` off it costs only a `write`.
pub struct Postgres {
    process: Option<ServerProcess>,
    port: u16,
    password: String,
    install: &'static Installation,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Starts a fresh cluster on a free port. Panics with how to install
    /// PostgreSQL when it is not installed.
    pub fn start() -> Postgres {
        let install = Installation::get();
        let template = install.template();
        let dir = tempfile::Builder::new()
            .prefix("nimbus-postgres-")
            .tempdir_in(cluster_base())
            .expect("a temporary directory");
        install.give(dir.path());
        copy_tree(
            &template.join("data"),
            &dir.path().join("data"),
            install.owner,
        )
        .unwrap_or_else(|err| panic!("cannot copy the template cluster {template:?}: {err}"));
        let mut server = Postgres {
            process: None,
            port: 0,
            password: random_hex(),
            install,
            dir,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => break,
                Err(err) => last_error = err,
            }
        }
        if server.process.is_none() {
            panic!(
                "cannot start postgres: {last_error}{} (if its template {template:?} is \
                 broken, remove it)",
                log_hint()
            );
        }
        server.wait_ready();
        // The template's password is the same for every cluster: each gets
        // its own, set through the Unix socket (`trust`).
        let sql = format!("ALTER ROLE {USER} PASSWORD '{}'", server.password);
        let output = server
            .install
            .psql()
            .arg("-h")
            .arg(server.dir.path())
            .args(["-p", &server.port.to_string()])
            .args(["-U", USER, "-d", DATABASE, "-c", &sql])
            .output()
            .expect("psql runs");
        if !output.status.success() {
            panic!(
                "cannot set the password of {USER}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        server
    }

    fn spawn(&mut self) -> Result<(), String> {
        let data = self.data();
        // A stale lock file from a killed server would make `postgres`
        // refuse to start when its pid is taken by another process.
        match fs::remove_file(data.join("postmaster.pid")) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(format!("cannot remove postmaster.pid: {err}")),
        }
        let mut command = self.install.command("postgres", self.dir.path());
        command
            .arg("-D")
            .arg(&data)
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=100"])
            .args(["-c", "huge_pages=off"]);
        let process = ServerProcess::spawn(
            "postgres",
            INSTALL,
            command,
            self.port,
            Duration::from_secs(10),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// Waits until the server accepts queries: it listens before it is
    /// ready (and before crash recovery after a kill).
    fn wait_ready(&self) {
        let pid_file = self.data().join("postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The 8th line is the postmaster's status: starting, ready,
            // stopping.
            let status = fs::read_to_string(&pid_file).unwrap_or_default();
            if status.lines().nth(7).map(str::trim) == Some("ready") {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "postgres on port {} is not ready after 30 s{}",
                    self.port,
                    log_hint()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `postgres://nimbus:PASSWORD@127.0.0.1:PORT/nimbus`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{DATABASE}",
            self.password, self.port
        )
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The password of [`Postgres::user`] (hex digits, random per cluster).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `nimbus`, a superuser.
    pub fn user(&self) -> &str {
        USER
    }

    /// `nimbus`.
    pub fn database(&self) -> &str {
        DATABASE
    }

    /// The directory of the server's Unix socket (`trust`: no password).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server: an immediate shutdown (SIGQUIT: the server and
    /// its backends exit at once, without a checkpoint, and the next start
    /// recovers as after a crash), SIGKILL if it has not exited after 7 s.
    /// When it returns, the port refuses connections.
    pub fn stop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        let pid_file = self.data().join("postmaster.pid");
        let pid = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            // `kill` as the shell's builtin: not every system has the
            // program.
            let signalled = Command::new("sh")
                .args(["-c", "kill -QUIT \"$1\"", "sh", &pid.to_string()])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            // The postmaster removes its pid file when it exits, after its
            // children.
            let deadline = Instant::now() + Duration::from_secs(7);
            while signalled && pid_file.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        drop(process);
    }

    /// Starts the server again on the same port and data directory: what
    /// was committed before [`Postgres::stop`] is still there. Waits
    /// until it accepts queries (after crash recovery).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => break,
                // E.g. the port is still held by a process the kill left.
                Err(err) if Instant::now() > deadline => {
                    panic!(
                        "postgres does not restart on port {}: {err}{}",
                        self.port,
                        log_hint()
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        self.wait_ready();
    }

    /// A `psql` command connected to the server over TCP as
    /// [`Postgres::user`] (`PGPASSWORD` set) to [`Postgres::database`],
    /// with `-X -A -t -q -v ON_ERROR_STOP=1`: add `-c SQL` (or change
    /// `PGPASSWORD`) and run it.
    pub fn psql_command(&self) -> Command {
        let mut command = self.install.psql();
        command
            .env("PGPASSWORD", &self.password)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", USER, "-d", DATABASE]);
        command
    }

    /// Runs `sql` with `psql` (see [`Postgres::psql_command`]): its output
    /// (unaligned, tuples only, `|` between columns, no command tags),
    /// without the final newline, or its error.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        let output = self
            .psql_command()
            .args(["-c", sql])
            .output()
            .map_err(|err| format!("cannot run psql: {err}"))?;
        if output.status.success() {
            let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            if stdout.ends_with('\n') {
                stdout.pop();
            }
            Ok(stdout)
        } else {
            Err(format!(
                "psql exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            ))
        }
    }

    /// Like [`Postgres::try_psql`], and panics when `psql` fails.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql)
            .unwrap_or_else(|err| panic!("psql -c {sql:?}: {err}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        // The data directory belongs to the server's user: root removes it
        // anyway, and so does its owner.
        for _ in 0..10 {
            match fs::remove_dir_all(self.dir.path()) {
                Err(err) if err.kind() != ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => break,
            }
        }
    }
}

fn log_hint() -> &'static str {
    if std::env::var_os("RUST_LOG").is_some() {
        ""
    } else {
        " (set RUST_LOG=1 to see its log)"
    }
}

/// Where PostgreSQL's programs are and whom they run as.
struct Installation {
    /// The directory of `initdb`, `postgres` (and often `psql`).
    bin: PathBuf,
    /// The user and group `initdb` and `postgres` run as when the tests
    /// run as root.
    owner: Option<(u32, u32)>,
    template: OnceLock<PathBuf>,
}

impl Installation {
    fn get() -> &'static Installation {
        static INSTALLATION: OnceLock<Installation> = OnceLock::new();
        INSTALLATION.get_or_init(|| {
            let Some(bin) = find_bin() else {
                panic!(
                    "PostgreSQL (initdb) is not installed, and these tests need a real server: \
                     install it ({INSTALL}, or run scripts/setup.sh) and run the tests again"
                );
            };
            Installation {
                bin,
                owner: if euid() == 0 {
                    Some(server_user())
                } else {
                    None
                },
                template: OnceLock::new(),
            }
        })
    }

    /// `program` from the installation, as the server's user, in `cwd`
    /// (which that user can enter), without the caller's `PG*` variables.
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(cwd);
        clear_pg_env(&mut command);
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// `psql -X -A -t -q -v ON_ERROR_STOP=1`, as the caller.
    fn psql(&self) -> Command {
        let beside = self.bin.join("psql");
        let mut command = Command::new(if beside.is_file() {
            beside
        } else {
            PathBuf::from("psql")
        });
        clear_pg_env(&mut command);
        command
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
        command
    }

    /// Gives `path` to the server's user (as root).
    fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|err| panic!("cannot chown {path:?}: {err}"));
        }
    }

    /// The template cluster (`TEMPLATE/data`), built once per
    /// installation and kept between runs.
    fn template(&self) -> &Path {
        self.template.get_or_init(|| {
            let started = Instant::now();
            let cache = std::env::temp_dir().join(format!("nimbus-test-postgres-{}", euid()));
            match fs::DirBuilder::new().mode(0o711).create(&cache) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
                Err(err) => panic!("cannot create {cache:?}: {err}"),
            }
            let meta = fs::symlink_metadata(&cache).expect("the template cache's metadata");
            if !meta.is_dir() || meta.uid() != euid() {
                panic!("{cache:?} is not a directory of this user: remove it");
            }
            let template = cache.join(self.template_name());
            if template.join("data").join("PG_VERSION").is_file() {
                return template;
            }
            let build = tempfile::Builder::new()
                .prefix(".build-")
                .tempdir_in(&cache)
                .expect("a temporary directory for the template");
            self.give(build.path());
            self.build_template(build.path());
            match fs::rename(build.path(), &template) {
                Ok(()) => {
                    // Templates of other installations or versions.
                    for entry in fs::read_dir(&cache).into_iter().flatten().flatten() {
                        let name = entry.file_name();
                        let name = name.to_string_lossy();
                        if name.starts_with("pg-") && entry.path() != template {
                            let _ = fs::remove_dir_all(entry.path());
                        }
                    }
                }
                // Another process built it meanwhile: keep theirs.
                Err(_) if template.join("data").join("PG_VERSION").is_file() => {}
                Err(err) => panic!("cannot rename the template to {template:?}: {err}"),
            }
            if std::env::var_os("RUST_LOG").is_some() {
                eprintln!(
                    "nimbus-test-servers: built the PostgreSQL template {template:?} in {:?}",
                    started.elapsed()
                );
            }
            template
        })
    }

    /// `pg-<hash of the installation and the template's version>`.
    fn template_name(&self) -> String {
        let mut hasher = DefaultHasher::new();
        TEMPLATE_VERSION.hash(&mut hasher);
        self.bin.hash(&mut hasher);
        if let Ok(meta) = fs::metadata(self.bin.join("postgres")) {
            meta.len().hash(&mut hasher);
            meta.mtime().hash(&mut hasher);
            meta.mtime_nsec().hash(&mut hasher);
        }
        format!("pg-{:016x}", hasher.finish())
    }

    /// `initdb` in `dir/data`, then the `nimbus` database (single-user
    /// mode: no server, no port).
    fn build_template(&self, dir: &Path) {
        let pwfile = dir.join("password");
        fs::write(&pwfile, format!("{}\n", random_hex())).expect("the password file");
        self.give(&pwfile);
        let output = self
            .command("initdb", dir)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", USER])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .unwrap_or_else(|err| panic!("cannot run initdb: {err}"));
        if !output.status.success() {
            panic!(
                "initdb failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let _ = fs::remove_file(&pwfile);
        let mut single = self
            .command("postgres", dir)
            .args(["--single", "-D"])
            .arg(dir.join("data"))
            .args(["-c", "fsync=off", "postgres"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run postgres --single: {err}"));
        single
            .stdin
            .take()
            .expect("its stdin")
            .write_all(format!("CREATE DATABASE {DATABASE} OWNER {USER};\n").as_bytes())
            .expect("postgres --single reads its stdin");
        let output = single.wait_with_output().expect("postgres --single exits");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stdout.contains("ERROR") || stderr.contains("ERROR") {
            panic!(
                "cannot create the database {DATABASE} ({}): {stdout}{stderr}",
                output.status
            );
        }
    }
}

/// Where the clusters go: `/dev/shm` when it has 1 GiB free, else the
/// temporary directory. A cluster is about 1,300 files (40 MiB): on a
/// tmpfs copying them takes a tenth of a second, on a busy disk seconds.
fn cluster_base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let available_kib = Command::new("df")
            .args(["-P", "-k"])
            .arg(shm)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| {
                let text = String::from_utf8_lossy(&output.stdout).into_owned();
                text.lines()
                    .nth(1)?
                    .split_whitespace()
                    .nth(3)?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        let writable = || tempfile::tempdir_in(shm).is_ok();
        if available_kib >= 1024 * 1024 && writable() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
}

/// The directory of `initdb`: on `PATH` (through links: `postgres` is
/// beside the real one), else the newest `/usr/lib/postgresql/*/bin`
/// (Debian's packages do not put it on `PATH`).
fn find_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file());
    if let Some(initdb) = on_path {
        let initdb = fs::canonicalize(&initdb).unwrap_or(initdb);
        return initdb.parent().map(Path::to_path_buf);
    }
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter(|entry| entry.path().join("bin").join("initdb").is_file())
        .max_by_key(|entry| version_key(&entry.file_name().to_string_lossy()))
        .map(|entry| entry.path().join("bin"))
}

/// `"9.6"` → `[9, 6]`, `"15"` → `[15]`: numbers compare as numbers.
fn version_key(name: &str) -> Vec<u32> {
    name.split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// The effective user id: the owner of a file this process creates.
fn euid() -> u32 {
    static EUID: OnceLock<u32> = OnceLock::new();
    *EUID.get_or_init(|| {
        let probe = tempfile::tempfile().expect("a temporary file");
        probe.metadata().expect("its metadata").uid()
    })
}

/// The user and group of `postgres`, else `nobody`, from `/etc/passwd`.
fn server_user() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[0] == name {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return (uid, gid);
                }
            }
        }
    }
    panic!(
        "PostgreSQL refuses to run as root, and neither a `postgres` nor a `nobody` user \
         exists: create one, or run the tests as another user"
    );
}

fn clear_pg_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
}

/// Copies the directory `from` to `to` (a new directory) with the same
/// modes, given to `owner` if any.
fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    fs::create_dir(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    let chown = |path: &Path| match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
        None => Ok(()),
    };
    chown(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, owner)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
            chown(&target)?;
        } else {
            return Err(std::io::Error::other(format!(
                "{:?} is neither a file nor a directory",
                entry.path()
            )));
        }
    }
    Ok(())
}

/// 32 random hex digits.
fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    (0..2)
        .map(|i| {
            let random = RandomState::new().hash_one((nanos, std::process::id(), i));
            format!("{random:016x}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version_key("15") > version_key("9.6"));
        assert!(version_key("16") > version_key("15"));
        assert!(version_key("9.6") > version_key("9.5"));
    }

    #[test]
    fn passwords_are_random_hex() {
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn copies_a_tree_with_its_modes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir_all(from.join("empty")).unwrap();
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub").join("file"), "x").unwrap();
        fs::set_permissions(
            from.join("sub").join("file"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o700)).unwrap();
        let to = dir.path().join("to");
        copy_tree(&from, &to, None).unwrap();
        assert!(to.join("empty").is_dir());
        assert_eq!(
            fs::read_to_string(to.join("sub").join("file")).unwrap(),
            "x"
        );
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&to), 0o700);
        assert_eq!(mode(&to.join("sub").join("file")), 0o600);
    }
}
