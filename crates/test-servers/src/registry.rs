//! `docker-registry` (the CNCF Distribution registry, Debian's package): an
//! OCI registry with filesystem storage in a temporary directory.

use std::process::Command;
use std::time::Duration;

use crate::{free_port, ServerProcess};

const INSTALL: &str = "Debian/Ubuntu: `apt-get install -y docker-registry`";

/// An OCI registry on 127.0.0.1 and a free port (plain HTTP; no
/// authentication, or HTTP Basic with one user), storing blobs under a
/// temporary directory; killed on drop.
pub struct OciRegistry {
    port: u16,
    dir: tempfile::TempDir,
    user: Option<(String, String)>,
    process: Option<ServerProcess>,
}

impl OciRegistry {
    /// Starts a registry anyone may use, on a free port.
    pub fn start() -> OciRegistry {
        OciRegistry::start_as(None)
    }

    /// Starts a registry that takes only `user` with `password` (HTTP Basic,
    /// an htpasswd file with a bcrypt hash).
    pub fn start_with_user(user: &str, password: &str) -> OciRegistry {
        OciRegistry::start_as(Some((user.to_owned(), password.to_owned())))
    }

    fn start_as(user: Option<(String, String)>) -> OciRegistry {
        let mut dir = tempfile::tempdir().expect("a temporary directory");
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut registry = OciRegistry {
                port: free_port(),
                dir,
                user: user.clone(),
                process: None,
            };
            match registry.spawn() {
                Ok(()) => return registry,
                Err(err) => {
                    last_error = err;
                    dir = registry.dir;
                }
            }
        }
        panic!("cannot start docker-registry: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let storage = self.dir.path().join("storage");
        let config = self.dir.path().join("config.yml");
        // Deletes allowed, so that a test can remove a blob or a tag.
        let mut text = format!(
            "version: 0.1\n\
             log:\n  level: warn\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{}\n",
            storage.display(),
            self.port
        );
        if let Some((user, password)) = &self.user {
            let hash = bcrypt::hash(password, 4).map_err(|err| format!("bcrypt: {err}"))?;
            let htpasswd = self.dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n"))
                .map_err(|err| format!("cannot write {htpasswd:?}: {err}"))?;
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: nimbus-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, text).map_err(|err| format!("cannot write {config:?}: {err}"))?;
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config);
        let process = ServerProcess::spawn(
            "docker-registry",
            INSTALL,
            command,
            self.port,
            Duration::from_secs(10),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// `127.0.0.1:PORT`: the host part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the registry keeps its blobs (`docker/registry/v2/blobs/…`), for
    /// tests that corrupt one.
    pub fn storage(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding blob `digest` (`sha256:HEX`) in the storage.
    pub fn blob_path(&self, digest: &str) -> std::path::PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Kills the registry: clients get "connection refused".
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Copies an image with `skopeo` from `source` (e.g. `oci:DIR:TAG` or
    /// `oci-archive:FILE`) to `REPOSITORY:TAG` in this registry, keeping its
    /// manifest and digests as they are. Panics when skopeo fails.
    pub fn skopeo_copy(&self, source: &str, repository_tag: &str) {
        let destination = format!("docker://{}/{repository_tag}", self.host());
        let mut command = Command::new("skopeo");
        command.args(["copy", "--dest-tls-verify=false", "--preserve-digests"]);
        if let Some((user, password)) = &self.user {
            command.arg(format!("--dest-creds={user}:{password}"));
        }
        let output = command
            .arg(source)
            .arg(&destination)
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run skopeo ({err}); Debian/Ubuntu: `apt-get install -y skopeo`")
            });
        assert!(
            output.status.success(),
            "skopeo copy {source} {destination} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl std::fmt::Debug for OciRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciRegistry")
            .field("port", &self.port)
            .finish()
    }
}
