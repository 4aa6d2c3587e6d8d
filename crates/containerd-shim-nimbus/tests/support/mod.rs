//! The harness of the containerd tests: a real `containerd` (Debian's
//! package) with its root, state, socket and config in a temporary
//! directory and the shim on its PATH; OCI images written as an OCI layout
//! and copied into a local registry; `ctr` commands with timeouts. Every
//! process started here is stopped on drop, also when a test panics.

#![allow(dead_code)] // Each test binary uses its own part of it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Why these tests cannot run here, if they cannot: not root, or a
/// program missing.
pub fn skip_reason() -> Option<String> {
    // SAFETY-free check: /proc/self/status's Uid line (no libc dependency).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next().map(str::to_owned));
    if uid.as_deref() != Some("0") {
        return Some(
            "not root: containerd and the shim need root (namespaces, mounts, cgroups)".to_owned(),
        );
    }
    for program in ["containerd", "ctr", "runc", "skopeo", "docker-registry"] {
        let found = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "`{program}` is not installed (Debian: apt-get install -y containerd runc skopeo docker-registry; scripts/setup.sh does)"
            ));
        }
    }
    None
}

/// Waits for `child` at most `timeout`; kills it when the time is up.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// A child process killed on drop.
pub struct ChildGuard {
    pub child: Child,
    pub what: String,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A containerd for one test, in a temporary directory.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    process: ChildGuard,
    /// Containers this test ran (killed and deleted on drop).
    containers: std::sync::Mutex<Vec<String>>,
    /// The containerd namespace: one per instance, as the shim keeps its
    /// containers' state under /run/containerd/nimbus/NAMESPACE, shared by
    /// every containerd on the machine.
    namespace: String,
}

impl Containerd {
    /// Starts containerd with the directory of `shim` first on its PATH and
    /// `env` added to its environment (the shim inherits it).
    pub fn start(shim: &Path, env: &[(&str, &str)]) -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("nimbus-containerd")
            .tempdir()
            .expect("a temporary directory");
        let root = dir.path().join("root");
        let state = dir.path().join("state");
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\n\
                 root = \"{}\"\n\
                 state = \"{}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{}\"\n\
                 [ttrpc]\n  address = \"{}\"\n\
                 [debug]\n  level = \"debug\"\n  address = \"\"\n\
                 [metrics]\n  address = \"\"\n",
                root.display(),
                state.display(),
                socket.display(),
                dir.path().join("containerd.ttrpc.sock").display(),
            ),
        )
        .expect("write containerd's config");
        let shim_dir = shim.parent().expect("the shim's directory");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(shim_dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .expect("a PATH");
        let log = std::fs::File::create(dir.path().join("containerd.log")).expect("a log file");
        let mut command = Command::new("containerd");
        command
            .arg("--config")
            .arg(&config)
            .env("PATH", path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        let child = command.spawn().expect("start containerd");
        let containerd = Containerd {
            dir,
            process: ChildGuard {
                child,
                what: "containerd".to_owned(),
            },
            containers: Default::default(),
            namespace: unique_namespace(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if containerd
                .try_ctr(&["version"], Duration::from_secs(10))
                .is_ok_and(|out| out.status.success())
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer within 30s:\n{}",
                containerd.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    /// Its socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The last 100 lines of containerd's log (the shim's log is in it).
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(100)..].join("\n")
    }

    /// A `ctr` command against this containerd, in the test namespace.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs `ctr ARGS` to completion (at most `timeout`).
    pub fn try_ctr(&self, args: &[&str], timeout: Duration) -> Result<CtrOutput, String> {
        let out_dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let stdout = out_dir.path().join("stdout");
        let stderr = out_dir.path().join("stderr");
        let mut child = self
            .ctr_command(args)
            .stdout(std::fs::File::create(&stdout).map_err(|err| err.to_string())?)
            .stderr(std::fs::File::create(&stderr).map_err(|err| err.to_string())?)
            .spawn()
            .map_err(|err| format!("cannot run ctr: {err}"))?;
        let status = wait_with_timeout(&mut child, timeout)
            .ok_or_else(|| format!("ctr {args:?} did not finish within {timeout:?}"))?;
        Ok(CtrOutput {
            status,
            stdout: std::fs::read_to_string(&stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&stderr).unwrap_or_default(),
        })
    }

    /// Runs `ctr ARGS`; panics (with containerd's log) unless it succeeds.
    pub fn ctr(&self, args: &[&str], timeout: Duration) -> CtrOutput {
        let out = self
            .try_ctr(args, timeout)
            .unwrap_or_else(|err| panic!("{err}\n{}", self.log_tail()));
        assert!(
            out.status.success(),
            "ctr {args:?} failed ({}):\n{}{}\n--- containerd log:\n{}",
            out.status,
            out.stdout,
            out.stderr,
            self.log_tail()
        );
        out
    }

    /// Pulls `reference` from a plain-HTTP registry.
    pub fn pull(&self, reference: &str) {
        self.ctr(
            &[
                "images",
                "pull",
                "--plain-http",
                "--snapshotter",
                SNAPSHOTTER,
                reference,
            ],
            Duration::from_secs(120),
        );
    }

    /// Starts `ctr run --rm --runtime io.containerd.nimbus.v1 --net-host`
    /// for `image` as container `id`, with `extra` flags before the image
    /// and `args` after the id; its stdout and stderr (the task's) go to
    /// files. The container is killed and deleted on drop of `self`.
    pub fn run(&self, image: &str, id: &str, extra: &[&str], args: &[&str]) -> RunningTask {
        self.containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.to_owned());
        let stdout = self.dir.path().join(format!("{id}.stdout"));
        let stderr = self.dir.path().join(format!("{id}.stderr"));
        let mut all: Vec<&str> = vec![
            "run",
            "--rm",
            "--runtime",
            "io.containerd.nimbus.v1",
            "--snapshotter",
            SNAPSHOTTER,
            "--net-host",
        ];
        all.extend_from_slice(extra);
        all.push(image);
        all.push(id);
        all.extend_from_slice(args);
        let child = self
            .ctr_command(&all)
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start ctr run");
        RunningTask {
            guard: ChildGuard {
                child,
                what: format!("ctr run {id}"),
            },
            stdout,
            stderr,
        }
    }

    /// Kills a container's task with `signal`.
    pub fn kill(&self, id: &str, signal: &str) {
        self.ctr(
            &["tasks", "kill", "--signal", signal, id],
            Duration::from_secs(30),
        );
    }

    fn cleanup(&self) {
        let containers =
            std::mem::take(&mut *self.containers.lock().unwrap_or_else(|e| e.into_inner()));
        for id in containers {
            let short = Duration::from_secs(10);
            let _ = self.try_ctr(
                &["tasks", "kill", "--signal", "SIGKILL", id.as_str()],
                short,
            );
            let _ = self.try_ctr(&["tasks", "delete", "--force", id.as_str()], short);
            let _ = self.try_ctr(&["containers", "delete", id.as_str()], short);
        }
    }
}

/// Small images: the native snapshotter (plain copies) works on any
/// filesystem, overlay on overlay included.
pub const SNAPSHOTTER: &str = "native";

impl Drop for Containerd {
    fn drop(&mut self) {
        self.cleanup();
        // Stop containerd (SIGTERM via kill(1), then SIGKILL after 10 s).
        let pid = self.process.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        if wait_with_timeout(&mut self.process.child, Duration::from_secs(10)).is_none() {
            eprintln!("containerd did not stop on SIGTERM: killed");
        }
        // Shims outlive containerd: kill the ones serving this containerd
        // (their command line names its socket), by pid.
        let socket = self.socket().to_string_lossy().into_owned();
        for pid in processes_mentioning(&socket) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        // Mounts left under the directory would make its removal fail.
        unmount_under(self.dir.path());
        // The shim's state of this namespace's containers (gone with them;
        // the directory stays).
        let _ = std::fs::remove_dir_all(Path::new("/run/containerd/nimbus").join(&self.namespace));
    }
}

/// `nimbus-test-PID-N`: unique on this machine while the process lives.
fn unique_namespace() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("nimbus-test-{}-{n}", std::process::id())
}

/// Pids of the processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (pid != std::process::id() && cmdline.contains(needle)).then_some(pid)
        })
        .collect()
}

fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    // Deepest first.
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        let _ = Command::new("umount").args(["-l", point]).status();
    }
}

/// The output of a `ctr` command.
pub struct CtrOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A `ctr run` in the background.
pub struct RunningTask {
    pub guard: ChildGuard,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl RunningTask {
    /// Waits for `ctr run` to end (it ends with the task, with its exit
    /// status); `None` after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_with_timeout(&mut self.guard.child, timeout)
    }

    /// Whether `ctr run` is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.guard.child.try_wait(), Ok(None))
    }

    /// What the task wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What the task wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// An OCI image under construction: one layer, a tar.gz of `files`.
pub struct Image {
    pub files: Vec<(String, Vec<u8>)>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl Image {
    /// Writes the image as an OCI layout in `dir` (tag `latest`): the
    /// layer, the config (platform of this machine, `Cmd`, `Env`), the
    /// manifest, `index.json`, `oci-layout`.
    pub fn write_layout(&self, dir: &Path) {
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).expect("blobs directory");
        let put = |bytes: &[u8]| -> (String, usize) {
            let digest = sha256(bytes);
            let name = digest.trim_start_matches("sha256:");
            std::fs::write(blobs.join(name), bytes).expect("write blob");
            (digest, bytes.len())
        };

        let mut tar = tar::Builder::new(Vec::new());
        let mut dirs_done = std::collections::BTreeSet::new();
        for (path, bytes) in &self.files {
            // Parent directories first, as image layers have them.
            let mut parent = String::new();
            let parts: Vec<&str> = path.split('/').collect();
            for part in &parts[..parts.len() - 1] {
                parent.push_str(part);
                parent.push('/');
                if dirs_done.insert(parent.clone()) {
                    let mut header = tar::Header::new_ustar();
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    header.set_mtime(0);
                    tar.append_data(&mut header, &parent, std::io::empty())
                        .expect("tar directory");
                }
            }
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            header.set_size(bytes.len() as u64);
            header.set_mtime(0);
            tar.append_data(&mut header, path, bytes.as_slice())
                .expect("tar file");
        }
        let tar = tar.into_inner().expect("tar");
        let diff_id = sha256(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let layer = gz.finish().expect("gzip");
        let (layer_digest, layer_size) = put(&layer);

        let config = serde_json::json!({
            "architecture": oci_arch(),
            "os": "linux",
            "config": { "Cmd": self.cmd, "Env": self.env },
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        });
        let (config_digest, config_size) = put(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": layer_size,
            }],
        });
        let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": { "org.opencontainers.image.ref.name": "latest" },
            }],
        });
        std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
    }
}

/// Writes an image whose layers are not a rootfs (Wasm layers) as an OCI
/// layout in `dir` (tag `latest`): `layers` as (media type, bytes), the
/// config blob with its media type.
pub fn write_wasm_layout(
    dir: &Path,
    config_media_type: &str,
    config: &[u8],
    layers: &[(&str, Vec<u8>)],
) {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).expect("blobs directory");
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes)
            .expect("write blob");
        (digest, bytes.len())
    };
    let (config_digest, config_size) = put(config);
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(media_type, bytes)| {
            let (digest, size) = put(bytes);
            serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": config_media_type, "digest": config_digest, "size": config_size },
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": "latest" },
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
}

/// The platform of this machine in an image config.
pub fn image_config(cmd: &[&str]) -> Vec<u8> {
    serde_json::json!({
        "architecture": oci_arch(),
        "os": "linux",
        "config": { "Cmd": cmd },
        "rootfs": { "type": "layers", "diff_ids": [] },
    })
    .to_string()
    .into_bytes()
}

/// Why the installed containerd cannot pull images whose layers are raw
/// Wasm (before 1.7.7), if it cannot.
pub fn wasm_layers_unsupported() -> Option<String> {
    let output = Command::new("containerd").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    // "containerd github.com/containerd/containerd 1.6.20~ds1 …"
    let version = text.split_whitespace().nth(2).unwrap_or("");
    let numbers: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|part| part.parse().unwrap_or(0))
        .collect();
    let at_least = numbers.as_slice() >= [1, 7, 7].as_slice();
    (!at_least).then(|| {
        format!("containerd {version} cannot pull images whose layers are raw Wasm (1.7.7 and later can)")
    })
}

/// Polls `127.0.0.1:port` with `GET path` until it answers (at most
/// `timeout`); the raw response.
pub fn http_get_when_up(port: u16, path: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(response) = http_get(port, path, Duration::from_secs(10)) {
            return Some(response);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// One HTTP/1.0 GET (so that the body is neither chunked nor kept alive);
/// the whole response as text.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.is_empty() {
        return Err(std::io::Error::other("empty response"));
    }
    Ok(response)
}
