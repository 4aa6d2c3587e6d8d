//! The node's data directory.
//!
//! ```text
//! DATA/
//!   lock                     held (flock) by the node using the directory; its pid
//!   admin-token              the admin API's bearer token (0600)
//!   apps/NAME/app.json       the app's record: its current and previous release
//!   apps/NAME/releases/ID/   an unpacked bundle (current and previous only)
//!   apps/NAME/data/          the app's key-value stores and SQLite databases
//!   tmp/                     bundles being unpacked; emptied at start
//! ```
//!
//! Every write that matters is made durable before it is acknowledged: files
//! are written and synced under `tmp/`, then renamed into place, and the
//! directory holding them is synced. `app.json` is replaced the same way, so
//! after a crash it is either the old or the new record, never a mix, and
//! every release it names is complete on disk. One file per app keeps a
//! deploy's cost independent of how many apps the node holds.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::settings::AppSettings;

/// One deployed version of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Short id: the first 16 hex digits of the bundle digest.
    pub id: String,
    /// The bundle's digest (SHA-256 of its index).
    pub digest: String,
    /// `[application] version`, if the manifest has one.
    #[serde(default)]
    pub app_version: Option<String>,
    /// The manifest's path inside the release directory.
    pub manifest: String,
    /// When it was deployed, in seconds since the Unix epoch.
    pub deployed_at: u64,
    /// The key id that signed it, if it was signed.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// How many files it holds.
    pub files: usize,
    /// Their total size in bytes.
    pub size: u64,
    /// Custom hostnames the app answers on, besides `NAME.DOMAIN`.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// The manifest's trigger types (`http`, `redis`, `cron`, `nats`): an
    /// app with any but `http` is loaded when the node starts and runs
    /// those triggers for as long as it is deployed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    /// Where it came from, when the node pulled it from a registry:
    /// `REGISTRY/REPOSITORY:TAG@DIGEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One app: what serves, and what `rollback` goes back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// The release that serves.
    pub current: Release,
    /// The release before it, kept for rollback.
    #[serde(default)]
    pub previous: Option<Release>,
    /// Variables, runtime config and migrations given at deploy; they apply
    /// to whichever release serves (secrets: the file is 0600).
    #[serde(default, skip_serializing_if = "AppSettings::is_empty")]
    pub settings: AppSettings,
}

/// Everything deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The state file's format.
    pub format: u32,
    /// Every app by name.
    pub apps: BTreeMap<String, AppRecord>,
}

/// The data directory, locked for this process while any clone of it lives.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    // The advisory lock on `DATA/lock`: released when the last clone drops
    // (or the process exits, however it exits).
    _lock: Arc<std::fs::File>,
}

/// The lock file that keeps a second node off a data directory.
const LOCK_FILE: &str = "lock";

/// Where nimbus 0.1 kept every record in one file; read once and split.
const LEGACY_STATE_FILE: &str = "state.json";
/// Each app's record, in its directory.
const RECORD_FILE: &str = "app.json";

/// The contents of `apps/NAME/app.json`.
#[derive(Serialize, Deserialize)]
struct RecordFile {
    format: u32,
    #[serde(flatten)]
    record: AppRecord,
}
const TOKEN_FILE: &str = "admin-token";

impl Store {
    /// Opens (creating it if needed) the data directory at `root`, locks it
    /// for this process (a second node on the same directory is refused,
    /// naming the pid holding it), and empties its `tmp/`.
    pub fn open(root: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(root.join("apps"))
            .with_context(|| format!("cannot create the data directory {}", root.display()))?;
        let lock = lock_data_dir(root)?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("cannot empty {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Store {
            root: root.to_path_buf(),
            _lock: Arc::new(lock),
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a release of `app` is unpacked.
    pub fn release_dir(&self, app: &str, release: &str) -> PathBuf {
        self.app_dir(app).join("releases").join(release)
    }

    /// Everything the node keeps for `app` (its releases under `releases/`;
    /// other entries are left alone for per-app data).
    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.root.join("apps").join(app)
    }

    /// A fresh, empty directory under `tmp/` to unpack into.
    pub fn staging_dir(&self) -> anyhow::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("bundle-")
            .tempdir_in(self.root.join("tmp"))
            .context("cannot create a staging directory in the data directory")
    }

    /// Moves a fully written staging directory to `release_dir(app,
    /// release)`, durably. When that release is already there (the same
    /// bundle deployed again), the staged copy is dropped.
    pub fn install(
        &self,
        staged: tempfile::TempDir,
        app: &str,
        release: &str,
    ) -> anyhow::Result<PathBuf> {
        let target = self.release_dir(app, release);
        if target.is_dir() {
            return Ok(target);
        }
        let parent = target.parent().expect("release dirs have a parent");
        std::fs::create_dir_all(parent)?;
        sync_dir(&self.root.join("apps"))?;
        sync_dir(&self.app_dir(app))?;
        let staged = staged.keep();
        std::fs::rename(&staged, &target)
            .with_context(|| format!("cannot move {} to {}", staged.display(), target.display()))?;
        sync_dir(parent)?;
        Ok(target)
    }

    /// Reads every app's record (`apps/NAME/app.json`). A `state.json` left
    /// by an older nimbus is first split into per-app records, then removed.
    pub fn load_state(&self) -> anyhow::Result<State> {
        self.migrate_state_file()?;
        let mut state = State {
            format: 1,
            apps: BTreeMap::new(),
        };
        let apps = self.root.join("apps");
        let entries =
            std::fs::read_dir(&apps).with_context(|| format!("cannot read {}", apps.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", apps.display()))?;
            let path = entry.path().join(RECORD_FILE);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                // Not deployed (a first deploy that never finished).
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot read {}", path.display()))
                }
            };
            let record: RecordFile = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a valid app record", path.display()))?;
            if record.format != 1 {
                bail!(
                    "{} has format {}, which this nimbus does not read",
                    path.display(),
                    record.format
                );
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            state.apps.insert(name, record.record);
        }
        Ok(state)
    }

    fn migrate_state_file(&self) -> anyhow::Result<()> {
        let path = self.root.join(LEGACY_STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let state: State = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid node state", path.display()))?;
        if state.format != 1 {
            bail!(
                "{} has format {}, which this nimbus does not read",
                path.display(),
                state.format
            );
        }
        for (name, record) in &state.apps {
            self.save_app(name, record)?;
        }
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        sync_dir(&self.root)
    }

    /// Records `app`'s releases atomically and durably
    /// (`apps/NAME/app.json`: temp file, fsync, rename, fsync).
    pub fn save_app(&self, app: &str, record: &AppRecord) -> anyhow::Result<()> {
        let dir = self.app_dir(app);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let bytes = serde_json::to_vec_pretty(&RecordFile {
            format: 1,
            record: record.clone(),
        })?;
        write_atomically(&dir.join(RECORD_FILE), &bytes)
    }

    /// Removes `app`: its record, releases and data. The directory is first
    /// moved out of `apps/` in one rename (durable), so a crash never leaves
    /// half an app behind.
    pub fn remove_app(&self, app: &str) -> anyhow::Result<()> {
        let dir = self.app_dir(app);
        let doomed = tempfile::Builder::new()
            .prefix("removed-")
            .tempdir_in(self.root.join("tmp"))
            .context("cannot create a directory in the data directory")?
            .keep();
        let target = doomed.join(app);
        std::fs::rename(&dir, &target)
            .with_context(|| format!("cannot move {} to {}", dir.display(), target.display()))?;
        sync_dir(&self.root.join("apps"))?;
        if let Err(err) = std::fs::remove_dir_all(&doomed) {
            tracing::warn!("cannot remove {}: {err}", doomed.display());
        }
        Ok(())
    }

    /// Removes the directories of apps `state` does not hold, and release
    /// directories it no longer names. Failures are logged.
    pub fn collect_garbage(&self, state: &State) {
        let apps = self.root.join("apps");
        let Ok(entries) = std::fs::read_dir(&apps) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match state.apps.get(&name) {
                Some(record) => self.collect_app_garbage(&name, record),
                None => {
                    let path = entry.path();
                    if let Err(err) = std::fs::remove_dir_all(&path) {
                        tracing::warn!("cannot remove {}: {err}", path.display());
                    }
                }
            }
        }
    }

    /// Removes `app`'s release directories other than `record`'s current
    /// and previous. Failures are logged.
    pub fn collect_app_garbage(&self, app: &str, record: &AppRecord) {
        let Ok(releases) = std::fs::read_dir(self.app_dir(app).join("releases")) else {
            return;
        };
        for release in releases.flatten() {
            let id = release.file_name().to_string_lossy().into_owned();
            let kept =
                record.current.id == id || record.previous.as_ref().is_some_and(|p| p.id == id);
            if !kept {
                if let Err(err) = std::fs::remove_dir_all(release.path()) {
                    tracing::warn!("cannot remove {}: {err}", release.path().display());
                }
            }
        }
    }

    /// The admin token: `DATA/admin-token`, generated (32 random bytes, hex)
    /// with 0600 permissions when it does not exist. Returns the token and
    /// whether it was just created.
    pub fn admin_token(&self) -> anyhow::Result<(String, bool)> {
        let path = self.root.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_owned(), false)),
            Ok(_) => bail!(
                "{} is empty; delete it to generate a new token",
                path.display()
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|err| anyhow::anyhow!("cannot get randomness for the admin token: {err}"))?;
        let token = hex::encode(bytes);
        write_private_file(&path, format!("{token}\n").as_bytes())?;
        sync_dir(&self.root)?;
        Ok((token, true))
    }
}

/// Takes the advisory lock on `root/lock` (without waiting) and writes this
/// process's id into it.
fn lock_data_dir(root: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read as _, Seek as _};
    let path = root.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("another nimbus node (pid {pid})"),
                Err(_) => "another nimbus node".to_owned(),
            };
            bail!(
                "the data directory {} is in use by {holder}; stop it, or give this node \
                 another --data-dir",
                root.display()
            );
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(file)
}

/// Writes a new file readable by its owner only (0600 on Unix); refuses to
/// overwrite.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()?;
    Ok(())
}

/// Writes `bytes` to `path` through a synced temporary file in the same
/// directory and a rename, then syncs the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // The parent of a bare file name (`rel.bundle`) is "", which is ".".
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(dir)
}

/// Makes a directory's entries (renames, new files) durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_gc_keeps_named_releases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.load_state().unwrap().apps.is_empty());
        let release = |id: &str| Release {
            id: id.into(),
            digest: id.repeat(4),
            app_version: None,
            manifest: "nimbus.toml".into(),
            deployed_at: 1,
            signed_by: None,
            files: 1,
            size: 1,
            hostnames: vec![],
            triggers: vec![],
            source: None,
        };
        for id in ["a", "b", "c"] {
            let staged = store.staging_dir().unwrap();
            std::fs::write(staged.path().join("f"), id).unwrap();
            store.install(staged, "app", id).unwrap();
        }
        let mut state = State {
            format: 1,
            apps: BTreeMap::new(),
        };
        state.apps.insert(
            "app".into(),
            AppRecord {
                current: release("c"),
                previous: Some(release("b")),
                settings: AppSettings {
                    variables: [("token".to_owned(), "t0k3n".to_owned())].into(),
                    ..Default::default()
                },
            },
        );
        store.save_app("app", &state.apps["app"]).unwrap();
        assert_eq!(store.load_state().unwrap(), state);
        // The record holds secrets: its owner only may read it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let path = store.app_dir("app").join(RECORD_FILE);
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.collect_garbage(&state);
        assert!(!store.release_dir("app", "a").exists());
        assert!(store.release_dir("app", "b").exists());
        assert!(store.release_dir("app", "c").exists());

        let (token, created) = store.admin_token().unwrap();
        assert!(created);
        assert_eq!(token.len(), 64);
        assert_eq!(store.admin_token().unwrap(), (token, false));
    }

    #[test]
    fn a_data_dir_is_locked_while_open_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("tmp").join("in-progress"), "x").unwrap();
        let err = format!("{:#}", Store::open(dir.path()).unwrap_err());
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        // The refused open left the running node's deploys in progress alone.
        assert!(dir.path().join("tmp").join("in-progress").exists());
        let clone = store.clone();
        drop(store);
        assert!(Store::open(dir.path()).is_err(), "a clone still holds it");
        drop(clone);
        Store::open(dir.path()).unwrap();
    }

    #[test]
    fn a_legacy_state_file_is_split_into_app_records() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = r#"{"format":1,"apps":{"hello":{"current":{"id":"abc","digest":"abcd",
            "manifest":"nimbus.toml","deployed_at":5,"files":2,"size":10}}}}"#;
        std::fs::write(dir.path().join(LEGACY_STATE_FILE), legacy).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = store.load_state().unwrap();
        assert_eq!(state.apps["hello"].current.id, "abc");
        assert!(!dir.path().join(LEGACY_STATE_FILE).exists());
        assert!(store.app_dir("hello").join(RECORD_FILE).is_file());
        assert_eq!(store.load_state().unwrap(), state);

        store.remove_app("hello").unwrap();
        assert!(!store.app_dir("hello").exists());
        assert!(store.load_state().unwrap().apps.is_empty());
    }
}
