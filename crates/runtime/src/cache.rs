use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

/// The default cache root: `$XDG_CACHE_HOME/nimbus`, else `~/.cache/nimbus`.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("nimbus"))
}

/// An on-disk cache of compiled code (`.cwasm`), keyed by the Wasm's content
/// hash and the engine fingerprint.
///
/// Each entry is `KEY.cwasm` plus `KEY.sha256`, the digest of the `.cwasm`.
/// An entry whose digest does not match (truncated, corrupted, half-written) is
/// discarded and rebuilt, never handed to Wasmtime. Entries are written to a
/// temporary file and renamed into place, so readers never see a partial file.
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    write_failed: AtomicBool,
}

impl CompileCache {
    /// A cache under `root`. Entries live in a subdirectory per Wasmtime
    /// version; the directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CompileCache {
            dir: root.into().join(format!("wasmtime-{}", wasmtime_version())),
            write_failed: AtomicBool::new(false),
        }
    }

    /// The directory holding this cache's entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache key for `wasm` (binary form) under an engine fingerprint.
    pub fn key(wasm: &[u8], engine_fingerprint: &str) -> String {
        CompileCache::key_of_digest(&CompileCache::digest(wasm), engine_fingerprint)
    }

    /// The hex SHA-256 of `wasm`, for [`CompileCache::key_of_digest`]: one
    /// hash of the bytes serves the keys of every engine.
    pub fn digest(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// [`CompileCache::key`] from an already computed [`CompileCache::digest`].
    pub fn key_of_digest(digest: &str, engine_fingerprint: &str) -> String {
        format!("{digest}-{engine_fingerprint}")
    }

    pub(crate) fn paths(&self, key: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{key}.cwasm")),
            self.dir.join(format!("{key}.sha256")),
        )
    }

    /// The path of a verified entry for `key`, or `None` when there is no entry
    /// or it failed verification (in which case it is removed).
    pub fn lookup(&self, key: &str) -> Option<PathBuf> {
        let (cwasm, digest_path) = self.paths(key);
        let bytes = match std::fs::read(&cwasm) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!("compile cache: cannot read {}: {err}", cwasm.display());
                return None;
            }
        };
        let expected = std::fs::read_to_string(&digest_path).unwrap_or_default();
        if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
            tracing::warn!(
                "compile cache: entry {} is corrupt or incomplete; discarding it",
                cwasm.display()
            );
            self.remove(key);
            return None;
        }
        Some(cwasm)
    }

    /// Removes the entry for `key`, if any.
    pub fn remove(&self, key: &str) {
        let (cwasm, digest) = self.paths(key);
        let _ = std::fs::remove_file(cwasm);
        let _ = std::fs::remove_file(digest);
    }

    /// Stores `cwasm` under `key`. A failure (read-only or full disk) is logged
    /// once per cache and otherwise ignored: the cache is an optimisation.
    pub fn store(&self, key: &str, cwasm: &[u8]) {
        if let Err(err) = self.try_store(key, cwasm) {
            if !self.write_failed.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "compile cache: cannot write to {}: {err:#}; continuing without caching",
                    self.dir.display()
                );
            }
        }
    }

    fn try_store(&self, key: &str, cwasm: &[u8]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let (cwasm_path, digest_path) = self.paths(key);
        // Digest first: a .cwasm without its matching digest is discarded on read.
        write_atomically(
            &self.dir,
            &digest_path,
            hex::encode(Sha256::digest(cwasm)).as_bytes(),
        )?;
        if let Err(err) = write_atomically(&self.dir, &cwasm_path, cwasm) {
            // Leave nothing behind (a full disk fails here): a digest without
            // its .cwasm is never trusted, but it is litter.
            let _ = std::fs::remove_file(&digest_path);
            return Err(err);
        }
        Ok(())
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_data()?;
    file.persist(path)?;
    Ok(())
}

fn wasmtime_version() -> &'static str {
    // Cargo gives each crate its own version only; the Wasmtime version is
    // pinned in the workspace, so name it here once.
    "48.0.8"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_lookup_and_corruption_is_discarded() {
        let root = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(root.path());
        let key = CompileCache::key(b"\0asm", "f00");
        assert!(cache.lookup(&key).is_none());
        cache.store(&key, b"compiled bytes");
        let path = cache.lookup(&key).expect("entry after store");
        assert_eq!(std::fs::read(&path).unwrap(), b"compiled bytes");

        // Truncate the entry: it must be detected and removed.
        std::fs::write(&path, b"compiled").unwrap();
        assert!(cache.lookup(&key).is_none());
        assert!(!path.exists());
    }

    #[test]
    fn keys_differ_by_content_and_fingerprint() {
        assert_ne!(CompileCache::key(b"a", "x"), CompileCache::key(b"b", "x"));
        assert_ne!(CompileCache::key(b"a", "x"), CompileCache::key(b"a", "y"));
    }
}
