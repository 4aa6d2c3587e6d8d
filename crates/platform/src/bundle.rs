//! App bundles: what `nimbus deploy` uploads.
//!
//! A bundle is a gzipped tar archive holding
//!
//! - `nimbus-bundle.json`, the index: the manifest's path and, for every file,
//!   its path, size and SHA-256;
//! - `nimbus-bundle.sig` (optional): an ed25519 signature over the index
//!   (see [`crate::signing`]);
//! - `files/<path>` for every file in the index: the manifest, each
//!   component's Wasm and its `files`, at their paths relative to the
//!   manifest's directory;
//! - `nimbus-deploy.json` (optional, not signed): the app's per-node
//!   settings given at deploy (see [`crate::settings`]).
//!
//! Reading a bundle checks everything before a byte is written to disk: only
//! regular files, no absolute paths, no `..`, no duplicates, every file listed
//! in the index with a matching digest and nothing unlisted.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};

use std::path::{Component as PathComponent, Path, PathBuf};

use anyhow::{bail, Context as _};
use nimbus_manifest::FileMount;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::settings::{AppSettings, SETTINGS_NAME};

/// The index entry's name in the archive.
pub const INDEX_NAME: &str = "nimbus-bundle.json";
/// The signature entry's name in the archive.
pub const SIGNATURE_NAME: &str = "nimbus-bundle.sig";
/// The prefix of every app file in the archive.
pub const FILES_PREFIX: &str = "files/";
/// The bundle format this build writes and reads.
pub const FORMAT: u32 = 1;

/// One file of the app, as listed in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Relative to the manifest's directory, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// The bundle's index: what is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// [`FORMAT`].
    pub format: u32,
    /// The manifest's path among the files.
    pub manifest: String,
    /// Every file, sorted by path.
    pub files: Vec<FileDigest>,
}

/// The signature entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signer's public key, base64.
    pub public_key: String,
    /// The signature over [`crate::signing::signed_message`], base64.
    pub signature: String,
}

/// Why a bundle was refused. The message is the reason given to the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BundleError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError(message.into()))
}

/// A bundle in memory, checked.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The index, as parsed.
    pub index: Index,
    /// The index's exact bytes (what a signature covers).
    pub index_bytes: Vec<u8>,
    /// The signature, if the bundle has one.
    pub signature: Option<SignatureEntry>,
    /// Every file's contents, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Per-app settings given at deploy (variables, runtime config, SQLite
    /// migrations): not part of the release, and not signed.
    pub settings: Option<AppSettings>,
}

impl Bundle {
    /// Builds a bundle from files (path relative to the manifest's directory
    /// → contents); `manifest` names the manifest among them.
    pub fn from_files(
        manifest: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Bundle, BundleError> {
        for path in files.keys() {
            check_relative_path(path)?;
        }
        if !files.contains_key(manifest) {
            return refuse(format!("the manifest {manifest} is not among the files"));
        }
        let index = Index {
            format: FORMAT,
            manifest: manifest.to_owned(),
            files: files
                .iter()
                .map(|(path, bytes)| FileDigest {
                    path: path.clone(),
                    size: bytes.len() as u64,
                    sha256: sha256_hex(bytes),
                })
                .collect(),
        };
        let index_bytes = serde_json::to_vec_pretty(&index).expect("the index serializes");
        Ok(Bundle {
            index,
            index_bytes,
            signature: None,
            files,
            settings: None,
        })
    }

    /// The SHA-256 of the index, lowercase hex: the bundle's identity (two
    /// bundles with the same files have the same digest).
    pub fn digest(&self) -> String {
        sha256_hex(&self.index_bytes)
    }

    /// The total size of the files, in bytes.
    pub fn files_size(&self) -> u64 {
        self.files.values().map(|f| f.len() as u64).sum()
    }

    /// Serializes the bundle (tar, gzipped), deterministically.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries: Vec<RawEntry> = Vec::new();
        entries.push(RawEntry::file(INDEX_NAME, self.index_bytes.clone()));
        if let Some(signature) = &self.signature {
            let bytes = serde_json::to_vec_pretty(signature).expect("the signature serializes");
            entries.push(RawEntry::file(SIGNATURE_NAME, bytes));
        }
        if let Some(settings) = &self.settings {
            entries.push(RawEntry::file(SETTINGS_NAME, settings.to_json()));
        }
        for (path, bytes) in &self.files {
            entries.push(RawEntry::file(
                &format!("{FILES_PREFIX}{path}"),
                bytes.clone(),
            ));
        }
        write_raw(&entries)
    }

    /// Reads and checks a bundle. `max_unpacked` caps the total size of the
    /// decompressed archive.
    pub fn from_bytes(bytes: &[u8], max_unpacked: u64) -> Result<Bundle, BundleError> {
        let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
        let too_large = || {
            refuse(format!(
                "the bundle unpacks to more than {}",
                bytesize::ByteSize::b(max_unpacked).display().iec()
            ))
        };
        let limited = LimitedReader {
            inner: flate2::read::GzDecoder::new(bytes),
            left: max_unpacked,
            exceeded: exceeded.clone(),
        };
        let mut archive = tar::Archive::new(limited);
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(err) => return refuse(format!("not a bundle (a gzipped tar archive): {err}")),
        };
        let mut index_bytes = None;
        let mut signature_bytes = None;
        let mut settings = None;
        let mut files = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut total: u64 = 0;
        for entry in entries {
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(_) if exceeded.get() => return too_large(),
                Err(err) => return refuse(format!("not a bundle (a gzipped tar archive): {err}")),
            };
            let path = match entry.path() {
                Ok(path) => path.into_owned(),
                Err(err) => return refuse(format!("an entry has an unreadable path: {err}")),
            };
            let shown = path.display().to_string();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                // Directories are implied by the files in them; still refuse
                // escaping names.
                check_archive_path(&path)?;
                continue;
            }
            if kind.is_symlink() || kind.is_hard_link() {
                return refuse(format!(
                    "entry {shown} is a link; bundles may hold only regular files"
                ));
            }
            if !kind.is_file() {
                return refuse(format!(
                    "entry {shown} is not a regular file ({kind:?}); bundles may hold only regular files"
                ));
            }
            let name = check_archive_path(&path)?;
            if !seen.insert(name.clone()) {
                return refuse(format!("entry {name} appears twice"));
            }
            let size = entry.header().size().unwrap_or(0);
            total = total.saturating_add(size);
            if total > max_unpacked {
                return too_large();
            }
            let mut contents = Vec::with_capacity(size.min(64 << 20) as usize);
            if let Err(err) = entry.read_to_end(&mut contents) {
                if exceeded.get() {
                    return too_large();
                }
                return refuse(format!("cannot read entry {name}: {err}"));
            }
            if name == INDEX_NAME {
                index_bytes = Some(contents);
            } else if name == SIGNATURE_NAME {
                signature_bytes = Some(contents);
            } else if name == SETTINGS_NAME {
                settings = Some(AppSettings::from_json(&contents).map_err(BundleError)?);
            } else if let Some(file) = name.strip_prefix(FILES_PREFIX) {
                check_relative_path(file)?;
                files.insert(file.to_owned(), contents);
            } else {
                return refuse(format!(
                    "unexpected entry {name}; app files belong under {FILES_PREFIX}"
                ));
            }
        }
        let Some(index_bytes) = index_bytes else {
            return refuse(format!("no {INDEX_NAME} in the bundle"));
        };
        let index: Index = match serde_json::from_slice(&index_bytes) {
            Ok(index) => index,
            Err(err) => return refuse(format!("{INDEX_NAME} is invalid: {err}")),
        };
        if index.format != FORMAT {
            return refuse(format!(
                "bundle format {} is not supported (this node reads format {FORMAT})",
                index.format
            ));
        }
        let signature = match signature_bytes {
            None => None,
            Some(bytes) => match serde_json::from_slice(&bytes) {
                Ok(signature) => Some(signature),
                Err(err) => return refuse(format!("{SIGNATURE_NAME} is invalid: {err}")),
            },
        };
        // Every listed file present with its digest; nothing unlisted.
        let mut listed = BTreeSet::new();
        for file in &index.files {
            check_relative_path(&file.path)?;
            if !listed.insert(file.path.as_str()) {
                return refuse(format!("{INDEX_NAME} lists {} twice", file.path));
            }
            let Some(contents) = files.get(&file.path) else {
                return refuse(format!(
                    "{INDEX_NAME} lists {} but the bundle does not hold it",
                    file.path
                ));
            };
            let digest = sha256_hex(contents);
            if digest != file.sha256 || contents.len() as u64 != file.size {
                return refuse(format!(
                    "{} does not match its digest in {INDEX_NAME} (tampered or corrupted)",
                    file.path
                ));
            }
        }
        if let Some(extra) = files.keys().find(|p| !listed.contains(p.as_str())) {
            return refuse(format!("{extra} is in the bundle but not in {INDEX_NAME}"));
        }
        if !files.contains_key(&index.manifest) {
            return refuse(format!(
                "the manifest {} is not in the bundle",
                index.manifest
            ));
        }
        Ok(Bundle {
            index,
            index_bytes,
            signature,
            files,
            settings,
        })
    }

    /// Writes the files below `dir` (which must exist and be empty), each
    /// file synced to disk, and the directories too.
    pub fn unpack_into(&self, dir: &Path) -> anyhow::Result<()> {
        let mut dirs = BTreeSet::new();
        dirs.insert(dir.to_path_buf());
        for (path, contents) in &self.files {
            // Checked at read time; checked again: this is what keeps writes
            // inside `dir`.
            check_relative_path(path)?;
            let target = dir.join(path);
            let parent = target.parent().unwrap_or(dir).to_path_buf();
            std::fs::create_dir_all(&parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            let mut ancestor = parent.as_path();
            while ancestor.starts_with(dir) && dirs.insert(ancestor.to_path_buf()) {
                match ancestor.parent() {
                    Some(up) => ancestor = up,
                    None => break,
                }
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            file.write_all(contents)
                .with_context(|| format!("cannot write {}", target.display()))?;
            file.sync_all()?;
        }
        for dir in dirs {
            crate::store::sync_dir(&dir)?;
        }
        Ok(())
    }
}

/// Reads at most `left` bytes from `inner`; reading past that fails and
/// sets `exceeded`.
struct LimitedReader<R> {
    inner: R,
    left: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: std::io::Read> std::io::Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the limit: fine if the stream ends here too.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(std::io::Error::other("the bundle is too large"))
                }
            };
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Packs the app of `manifest_path`: the manifest, every component's source
/// and every `files` entry. Every path must lie below the manifest's
/// directory.
pub fn pack(manifest_path: &Path) -> anyhow::Result<Bundle> {
    let manifest = crate::triggers::read_manifest(manifest_path)?;
    manifest.check_sources()?;
    let dir = manifest.dir().to_path_buf();
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let mut files = BTreeMap::new();
    let manifest_name = manifest_path
        .file_name()
        .context("the manifest path has no file name")?
        .to_string_lossy()
        .into_owned();
    add_file(&root, &dir, Path::new(&manifest_name), &mut files)?;
    for (id, component) in &manifest.components {
        let relative = in_app(&component.source).with_context(|| {
            format!(
                "component `{id}`: source {} is outside the app's directory; a bundle holds only files below {}",
                component.source.display(),
                shown_dir(&dir)
            )
        })?;
        add_file(&root, &dir, &relative, &mut files)
            .with_context(|| format!("component `{id}`"))?;
        for mount in &component.files {
            match mount {
                FileMount::Placement { source, .. } => {
                    let relative = in_app(source).with_context(|| {
                        format!(
                            "component `{id}`: files source {} is outside the app's directory",
                            source.display()
                        )
                    })?;
                    add_tree(&root, &dir, &relative, &mut files)
                        .with_context(|| format!("component `{id}`"))?;
                }
                FileMount::Pattern(pattern) => {
                    in_app(Path::new(pattern)).with_context(|| {
                        format!("component `{id}`: files pattern {pattern:?} reaches outside the app's directory")
                    })?;
                    let full = dir.join(pattern);
                    let matches = glob::glob(&full.to_string_lossy()).with_context(|| {
                        format!("component `{id}`: invalid files pattern {pattern:?}")
                    })?;
                    for entry in matches {
                        let host = entry?;
                        let relative = host.strip_prefix(&dir).unwrap_or(&host).to_path_buf();
                        add_tree(&root, &dir, &relative, &mut files)
                            .with_context(|| format!("component `{id}`"))?;
                    }
                }
            }
        }
    }
    Ok(Bundle::from_files(&manifest_name, files)?)
}

fn shown_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        "the current directory".into()
    } else {
        dir.display().to_string()
    }
}

/// `path` as a relative path below the app directory, if it is one.
pub fn in_app(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            PathComponent::Normal(name) => out.push(name),
            PathComponent::CurDir => {}
            PathComponent::ParentDir | PathComponent::RootDir | PathComponent::Prefix(_) => {
                return None
            }
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn add_tree(
    root: &Path,
    dir: &Path,
    relative: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> anyhow::Result<()> {
    let host = dir.join(relative);
    if host.is_dir() {
        let mut children: Vec<_> = std::fs::read_dir(&host)
            .with_context(|| format!("cannot read {}", host.display()))?
            .collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            add_tree(root, dir, &relative.join(child.file_name()), files)?;
        }
        Ok(())
    } else {
        add_file(root, dir, relative, files)
    }
}

fn add_file(
    root: &Path,
    dir: &Path,
    relative: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> anyhow::Result<()> {
    let host = dir.join(relative);
    let real = host
        .canonicalize()
        .with_context(|| format!("cannot read {}", host.display()))?;
    if !real.starts_with(root) {
        bail!(
            "{} leads outside the app's directory (through a symlink); a bundle holds only files below it",
            host.display()
        );
    }
    let key = relative
        .components()
        .filter_map(|c| match c {
            PathComponent::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/");
    if files.contains_key(&key) {
        return Ok(());
    }
    let bytes = std::fs::read(&real).with_context(|| format!("cannot read {}", host.display()))?;
    files.insert(key, bytes);
    Ok(())
}

/// Refuses absolute paths, `..`, empty and odd components.
fn check_relative_path(path: &str) -> Result<(), BundleError> {
    if path.is_empty() {
        return refuse("a file has an empty path");
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return refuse(format!(
            "{path}: absolute paths are not allowed in a bundle"
        ));
    }
    for part in path.split('/') {
        match part {
            "" | "." => {
                return refuse(format!(
                    "{path}: empty or `.` path components are not allowed"
                ))
            }
            ".." => return refuse(format!("{path}: `..` is not allowed in a bundle path")),
            _ if part.contains('\\') || part.contains('\0') => {
                return refuse(format!(
                    "{path}: backslashes and NUL are not allowed in a bundle path"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// An archive entry's path as a `/`-separated string, refusing escapes.
fn check_archive_path(path: &Path) -> Result<String, BundleError> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            PathComponent::Normal(name) => match name.to_str() {
                Some(name) => parts.push(name.to_owned()),
                None => return refuse(format!("{}: the path is not UTF-8", path.display())),
            },
            PathComponent::CurDir => {}
            PathComponent::ParentDir => {
                return refuse(format!(
                    "{}: `..` is not allowed in a bundle path",
                    path.display()
                ))
            }
            PathComponent::RootDir | PathComponent::Prefix(_) => {
                return refuse(format!(
                    "{}: absolute paths are not allowed in a bundle",
                    path.display()
                ))
            }
        }
    }
    if parts.is_empty() {
        return refuse("an entry has an empty path");
    }
    Ok(parts.join("/"))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a raw archive entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to the given target (in `contents`).
    Symlink,
}

/// One entry of [`write_raw`]: written as given, without any check.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// The path in the archive, verbatim (it may be absolute or contain `..`).
    pub path: String,
    /// What the entry is.
    pub kind: RawKind,
    /// A file's contents, or a symlink's target.
    pub contents: Vec<u8>,
}

impl RawEntry {
    /// A regular file.
    pub fn file(path: &str, contents: Vec<u8>) -> RawEntry {
        RawEntry {
            path: path.to_owned(),
            kind: RawKind::File,
            contents,
        }
    }
}

/// Writes a gzipped tar of `entries` exactly as given, for tools and tests
/// (e.g. to check that a node refuses a hostile archive).
pub fn write_raw(entries: &[RawEntry]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    builder.mode(tar::HeaderMode::Deterministic);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        // Written as raw bytes: `set_path` would refuse `..`.
        let name = entry.path.as_bytes();
        match entry.kind {
            RawKind::File => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(entry.contents.len() as u64);
            }
            RawKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
            }
            RawKind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                let _ = header.set_link_name_literal(&entry.contents);
            }
        }
        if name.len() <= 100 {
            let gnu = header.as_old_mut();
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name);
            header.set_cksum();
            let data: &[u8] = if entry.kind == RawKind::File {
                &entry.contents
            } else {
                &[]
            };
            builder.append(&header, data).expect("writing to memory");
        } else {
            let data: &[u8] = if entry.kind == RawKind::File {
                &entry.contents
            } else {
                &[]
            };
            builder
                .append_data(&mut header, &entry.path, data)
                .expect("writing to memory");
        }
    }
    let gz = builder.into_inner().expect("writing to memory");
    gz.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bundle {
        let mut files = BTreeMap::new();
        files.insert("nimbus.toml".to_owned(), b"manifest".to_vec());
        files.insert("app.wasm".to_owned(), b"\0asm".to_vec());
        files.insert("static/a.txt".to_owned(), b"a".to_vec());
        Bundle::from_files("nimbus.toml", files).unwrap()
    }

    #[test]
    fn round_trips() {
        let bundle = sample();
        let bytes = bundle.to_bytes();
        assert_eq!(bytes, sample().to_bytes(), "deterministic");
        let read = Bundle::from_bytes(&bytes, 1 << 20).unwrap();
        assert_eq!(read.index, bundle.index);
        assert_eq!(read.files, bundle.files);
        assert_eq!(read.digest(), bundle.digest());
        let dir = tempfile::tempdir().unwrap();
        read.unpack_into(dir.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("static/a.txt")).unwrap(),
            b"a"
        );
    }

    fn refused(entries: &[RawEntry]) -> String {
        Bundle::from_bytes(&write_raw(entries), 1 << 20)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn refuses_escapes_links_and_tampering() {
        let bundle = sample();
        let index = RawEntry::file(INDEX_NAME, bundle.index_bytes.clone());
        let mut good: Vec<RawEntry> = vec![index.clone()];
        for (path, bytes) in &bundle.files {
            good.push(RawEntry::file(&format!("files/{path}"), bytes.clone()));
        }
        assert!(Bundle::from_bytes(&write_raw(&good), 1 << 20).is_ok());

        let mut escape = good.clone();
        escape.push(RawEntry::file("files/../../etc/x", b"x".to_vec()));
        assert!(refused(&escape).contains("`..`"), "{}", refused(&escape));

        let mut absolute = good.clone();
        absolute.push(RawEntry::file("/etc/x", b"x".to_vec()));
        assert!(
            refused(&absolute).contains("absolute"),
            "{}",
            refused(&absolute)
        );

        let mut link = good.clone();
        link.push(RawEntry {
            path: "files/link".into(),
            kind: RawKind::Symlink,
            contents: b"/etc/passwd".to_vec(),
        });
        assert!(refused(&link).contains("link"), "{}", refused(&link));

        let mut tampered = good.clone();
        tampered[1].contents = b"changed".to_vec();
        assert!(refused(&tampered).contains("tampered"));

        let mut extra = good.clone();
        extra.push(RawEntry::file("files/extra", b"x".to_vec()));
        assert!(refused(&extra).contains("not in"));

        let mut missing = good.clone();
        missing.pop();
        assert!(refused(&missing).contains("does not hold"));

        assert!(Bundle::from_bytes(b"not gzip", 1 << 20).is_err());
        let big = Bundle::from_bytes(&bundle.to_bytes(), 8).unwrap_err();
        assert!(big.to_string().contains("unpacks to more"), "{big}");
    }

    #[test]
    fn in_app_refuses_outside_paths() {
        assert_eq!(
            in_app(Path::new("./a/b.wasm")),
            Some(PathBuf::from("a/b.wasm"))
        );
        assert_eq!(in_app(Path::new("../a.wasm")), None);
        assert_eq!(in_app(Path::new("/a.wasm")), None);
        assert_eq!(in_app(Path::new("a/../../b")), None);
    }
}
