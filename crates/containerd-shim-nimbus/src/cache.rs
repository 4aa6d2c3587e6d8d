//! The node's cache of compiled code, shared by every container this shim
//! runs.
//!
//! Code runs inside the container, whose root is the image's rootfs: the
//! node's filesystem is out of sight. So the shim opens the cache directory
//! at start ([`open`], from `main`), before the library forks the process
//! that creates containers; the container's process inherits the open
//! directory (libcontainer marks inherited descriptors close-on-exec, and a
//! Wasm container never `exec`s, so it stays open; a Linux container run by
//! the same shim `exec`s and loses it), and reaches it as
//! `/proc/self/fd/N`. Only Nimbus's own code uses it: no guest is granted
//! it. Entries are content-addressed (`nimbus_runtime::CompileCache`: the
//! Wasm's SHA-256 and the engine's fingerprint) and verified on read.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nimbus_runtime::CompileCache;

/// The environment variable (of containerd, which the shim inherits) naming
/// the cache directory; empty disables the cache.
pub const CACHE_DIR_ENV: &str = "NIMBUS_SHIM_CACHE_DIR";

/// The cache directory unless [`CACHE_DIR_ENV`] names another.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/nimbus/containerd-shim/cache";

/// The open directory, or why there is none (`None`: disabled).
static CACHE_DIR: OnceLock<Option<Result<File, String>>> = OnceLock::new();

/// Where the cache lives on the node, from [`CACHE_DIR_ENV`]; `None` when
/// disabled.
pub fn configured_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(PathBuf::from(DEFAULT_CACHE_DIR)),
    }
}

/// Creates (mode 0700) and opens the cache directory, once per process.
/// Failure only disables the cache (reported in the container's log when
/// it would be used): compiling without it is slower, not wrong.
pub fn open() {
    CACHE_DIR.get_or_init(|| {
        let dir = configured_dir()?;
        Some(open_dir(&dir).map_err(|err| format!("{}: {err}", dir.display())))
    });
}

fn open_dir(dir: &Path) -> std::io::Result<File> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    File::open(dir)
}

/// The compile cache, as seen from inside a container (through the
/// directory [`open`] opened), if there is one and this process may use it
/// (a container running as another user than root may not).
pub fn compile_cache() -> Option<CompileCache> {
    let file = match CACHE_DIR.get()?.as_ref()? {
        Ok(file) => file,
        Err(err) => {
            tracing::warn!("compile cache unavailable ({err}); compiling without it");
            return None;
        }
    };
    let root = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if let Err(err) = std::fs::read_dir(&root) {
        tracing::debug!("compile cache not usable here ({err}); compiling without it");
        return None;
    }
    Some(CompileCache::new(root))
}
