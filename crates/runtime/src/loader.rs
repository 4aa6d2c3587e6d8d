use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use wasmtime::component::Component;
use wasmtime::{Engine, Module, Precompiled};

use crate::cache::CompileCache;
use crate::engine::{engine_fingerprint, Engines};

/// Whether a Wasm binary is a core module or a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module (`wasm32-wasip1` programs, WAGI handlers).
    Module,
    /// A component (`wasm32-wasip2` programs, `wasi:http` handlers).
    Component,
}

impl std::fmt::Display for WasmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WasmKind::Module => "module",
            WasmKind::Component => "component",
        })
    }
}

/// Compiled code, ready to link and instantiate.
#[derive(Clone)]
pub enum Compiled {
    /// A compiled core module.
    Module(Module),
    /// A compiled component.
    Component(Component),
}

impl Compiled {
    /// The engine this code was compiled for: stores and linkers that run it
    /// must be of the same engine ([`Engines::sync`] for core modules and
    /// WASI 0.2 components, [`Engines::concurrent`] for components that use
    /// the component-model async ABI).
    pub fn engine(&self) -> &Engine {
        match self {
            Compiled::Module(module) => module.engine(),
            Compiled::Component(component) => component.engine(),
        }
    }

    /// Which kind of Wasm this is.
    pub fn kind(&self) -> WasmKind {
        match self {
            Compiled::Module(_) => WasmKind::Module,
            Compiled::Component(_) => WasmKind::Component,
        }
    }

    /// The least linear memory an instance needs to start, in bytes: the
    /// largest minimum size among the memories it defines (64 KiB pages).
    /// `None` when it defines none, or cannot tell (a component that
    /// instantiates imported modules).
    pub fn min_memory_bytes(&self) -> Option<u64> {
        let pages = match self {
            Compiled::Module(module) => module.resources_required().max_initial_memory_size,
            Compiled::Component(component) => {
                component.resources_required()?.max_initial_memory_size
            }
        }?;
        Some(pages.saturating_mul(64 << 10))
    }

    /// Refuses a per-instance memory `limit` of `component` below
    /// [`Compiled::min_memory_bytes`]: every instantiation would fail.
    pub fn check_memory_limit(&self, component: &str, limit: Option<u64>) -> anyhow::Result<()> {
        let (Some(limit), Some(min)) = (limit, self.min_memory_bytes()) else {
            return Ok(());
        };
        if limit < min {
            anyhow::bail!(
                "component `{component}`: its memory limit ({}) is below the minimum memory its \
                 Wasm declares ({}), so no instance could start; set `memory` in \
                 [component.{component}.limits] (or the node's memory quota) to at least {}",
                show_bytes(limit),
                show_bytes(min),
                show_bytes(min)
            );
        }
        Ok(())
    }
}

/// `1.1 MiB`, `64 KiB`, `100 B`.
fn show_bytes(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= MIB => format!("{:.1} MiB ({b} bytes)", b as f64 / MIB as f64),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// Compiled code as the [`Loader`] hands it out: everything loaded from the
/// same bytes while one copy is alive shares that copy (code pages, memory
/// images, type information), so a thousand apps of one module cost one
/// module's memory. Dereferences to [`Compiled`].
#[derive(Clone)]
pub struct SharedCode {
    compiled: Compiled,
    // Counts the holders; the loader keeps only a `Weak` to it.
    _holders: Arc<()>,
}

impl std::ops::Deref for SharedCode {
    type Target = Compiled;

    fn deref(&self) -> &Compiled {
        &self.compiled
    }
}

/// Why a Wasm file could not be loaded. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither Wasm binary, WAT text nor precompiled code.
    #[error("{path} is not a WebAssembly file (expected a .wasm binary, WAT text or a .cwasm from `nimbus compile`)")]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// WAT text that does not parse.
    #[error("{path}: invalid WebAssembly text: {message}")]
    Wat {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A Wasm binary with a version/layer this engine does not know.
    #[error("{path} is WebAssembly with an unsupported version header {header:02x?}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Bytes 4..8 of the file.
        header: [u8; 4],
    },
    /// A Wasm binary that fails to validate or compile (truncated, malformed).
    #[error("{path} is not a valid WebAssembly {kind}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Module or component.
        kind: WasmKind,
        /// What the validator said.
        message: String,
    },
    /// A `.cwasm` produced by another engine version or configuration.
    #[error("{path} was precompiled by an incompatible engine ({message}); precompile it again with `nimbus compile` from its .wasm")]
    IncompatiblePrecompiled {
        /// The file.
        path: PathBuf,
        /// What Wasmtime said.
        message: String,
    },
}

/// Loads Wasm from disk into [`Compiled`] code, through a [`CompileCache`].
///
/// Core modules and components that compile without the component-model
/// async ABI go to [`Engines::sync`]; a component that needs it (it fails
/// to compile there and compiles on the other, whose only difference is
/// that ABI) goes to [`Engines::concurrent`].
pub struct Loader {
    engines: Engines,
    cache: Option<CompileCache>,
    /// Fingerprints of the sync and the concurrent engine (cache keys).
    fingerprint: String,
    concurrent_fingerprint: String,
    live: Mutex<LiveCode>,
}

/// The code currently held by someone, by content key.
#[derive(Default)]
struct LiveCode {
    by_key: HashMap<String, (Compiled, Weak<()>)>,
    // Dead entries are dropped when the map grows past this.
    prune_at: usize,
}

impl LiveCode {
    fn get(&self, key: &str) -> Option<SharedCode> {
        let (compiled, holders) = self.by_key.get(key)?;
        Some(SharedCode {
            compiled: compiled.clone(),
            _holders: holders.upgrade()?,
        })
    }

    fn insert(&mut self, key: String, compiled: Compiled) -> SharedCode {
        if self.by_key.len() >= self.prune_at {
            self.by_key
                .retain(|_, (_, holders)| holders.strong_count() > 0);
            self.prune_at = (self.by_key.len() * 2).max(64);
        }
        let holders = Arc::new(());
        self.by_key
            .insert(key, (compiled.clone(), Arc::downgrade(&holders)));
        SharedCode {
            compiled,
            _holders: holders,
        }
    }
}

/// What the file on disk turned out to be.
enum Input<'a> {
    Wasm {
        kind: WasmKind,
        bytes: Cow<'a, [u8]>,
    },
    Precompiled(WasmKind),
}

impl Loader {
    /// A loader for `engines`; `cache` is `None` to always compile.
    pub fn new(engines: Engines, cache: Option<CompileCache>) -> Self {
        let fingerprint = engine_fingerprint(engines.sync());
        let concurrent_fingerprint = engine_fingerprint(engines.concurrent());
        Loader {
            engines,
            cache,
            fingerprint,
            concurrent_fingerprint,
            live: Mutex::new(LiveCode::default()),
        }
    }

    /// The engines code is compiled for.
    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// Reads and compiles `path` (Wasm binary, WAT text or `.cwasm`), using the
    /// compile cache when there is one. Files with the same contents as code
    /// that is still held share it.
    pub fn load_file(&self, path: &Path) -> Result<SharedCode, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let input = classify(path, &bytes)?;
        let key = match &input {
            Input::Precompiled(_) => CompileCache::key(&bytes, "precompiled"),
            Input::Wasm { bytes, .. } => CompileCache::key(bytes, &self.fingerprint),
        };
        if let Some(shared) = self.live_code().get(&key) {
            tracing::debug!(file = %path.display(), "sharing code already loaded");
            return Ok(shared);
        }
        let compiled = match input {
            Input::Precompiled(kind) => self.load_precompiled(path, kind),
            Input::Wasm { kind, bytes } => self.load_wasm(path, kind, &bytes),
        }?;
        Ok(self.live_code().insert(key, compiled))
    }

    fn live_code(&self) -> std::sync::MutexGuard<'_, LiveCode> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles `path` to `.cwasm` bytes for this engine (`nimbus compile`).
    pub fn precompile_file(&self, path: &Path) -> Result<(WasmKind, Vec<u8>), LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        match classify(path, &bytes)? {
            Input::Precompiled(_) => Err(LoadError::Invalid {
                path: path.to_owned(),
                kind: WasmKind::Module,
                message: "it is already precompiled".into(),
            }),
            Input::Wasm { kind, bytes } => {
                let renamed = self.normalize(path, kind, &bytes)?;
                let bytes = renamed.as_deref().unwrap_or(&bytes);
                self.precompile(path, kind, bytes)
                    .map(|(cwasm, _)| (kind, cwasm))
            }
        }
    }

    /// A WASI 0.3 release-candidate component is the same as a 0.3.0 one
    /// under another version: renamed before compiling (and caching).
    fn normalize(
        &self,
        path: &Path,
        kind: WasmKind,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>, LoadError> {
        match kind {
            WasmKind::Component => {
                crate::wasi_versions::normalize(bytes).map_err(|err| LoadError::Invalid {
                    path: path.to_owned(),
                    kind,
                    message: one_line(&err),
                })
            }
            WasmKind::Module => Ok(None),
        }
    }

    /// Compiles with the sync engine and, for a component that fails there,
    /// the concurrent one: the engines differ only in the component-model
    /// async ABI, so a component that compiles on the second and not on the
    /// first is one that uses it. Validation fails before any code is
    /// generated, so the first try costs little. When both fail, the
    /// concurrent engine's error is the one reported (it validated with every
    /// feature, so it names the real problem).
    fn with_engine<T>(
        &self,
        path: &Path,
        kind: WasmKind,
        compile: impl Fn(&Engine) -> wasmtime::Result<T>,
    ) -> Result<(T, &Engine), LoadError> {
        let sync = self.engines.sync();
        match compile(sync) {
            Ok(done) => Ok((done, sync)),
            Err(err) if kind == WasmKind::Module => Err(invalid(path, kind, err)),
            Err(_) => {
                let concurrent = self.engines.concurrent();
                compile(concurrent)
                    .map(|done| (done, concurrent))
                    .map_err(|err| invalid(path, kind, err))
            }
        }
    }

    fn precompile<'e>(
        &'e self,
        path: &Path,
        kind: WasmKind,
        bytes: &[u8],
    ) -> Result<(Vec<u8>, &'e Engine), LoadError> {
        self.with_engine(path, kind, |engine| match kind {
            WasmKind::Module => engine.precompile_module(bytes),
            WasmKind::Component => engine.precompile_component(bytes),
        })
    }

    /// The cache key of the bytes whose [`CompileCache::digest`] is `digest`
    /// compiled by `engine`.
    fn cache_key(&self, digest: &str, engine: &Engine) -> String {
        let fingerprint = if self.engines.is_concurrent(engine) {
            &self.concurrent_fingerprint
        } else {
            &self.fingerprint
        };
        CompileCache::key_of_digest(digest, fingerprint)
    }

    fn load_wasm(&self, path: &Path, kind: WasmKind, bytes: &[u8]) -> Result<Compiled, LoadError> {
        let renamed = self.normalize(path, kind, bytes)?;
        let bytes = renamed.as_deref().unwrap_or(bytes);
        let Some(cache) = &self.cache else {
            return self.compile(path, kind, bytes);
        };
        // The entry of whichever engine compiled these bytes before (a
        // component is only ever in one: the sync one is tried first).
        let engines = match kind {
            WasmKind::Module => &[self.engines.sync()][..],
            WasmKind::Component => &[self.engines.sync(), self.engines.concurrent()][..],
        };
        // One hash of the bytes for every engine's key.
        let digest = CompileCache::digest(bytes);
        for engine in engines {
            let key = self.cache_key(&digest, engine);
            let Some(entry) = cache.lookup(&key) else {
                continue;
            };
            match deserialize(engine, &entry, kind) {
                Ok(compiled) => {
                    tracing::debug!(file = %path.display(), entry = %entry.display(), "compile cache hit");
                    return Ok(compiled);
                }
                Err(err) => {
                    tracing::warn!(
                        "compile cache: entry {} is unusable ({err:#}); recompiling",
                        entry.display()
                    );
                    cache.remove(&key);
                }
            }
        }
        tracing::debug!(file = %path.display(), "compile cache miss; compiling");
        let (cwasm, engine) = self.precompile(path, kind, bytes)?;
        let key = self.cache_key(&digest, engine);
        cache.store(&key, &cwasm);
        // Prefer the cache file (mmapped, shared between processes); fall back
        // to the bytes in memory when the cache could not be written.
        if let Some(entry) = cache.lookup(&key) {
            if let Ok(compiled) = deserialize(engine, &entry, kind) {
                return Ok(compiled);
            }
        }
        // SAFETY: `cwasm` was produced by this engine just above.
        #[allow(unsafe_code)]
        let compiled = unsafe {
            match kind {
                WasmKind::Module => Module::deserialize(engine, &cwasm).map(Compiled::Module),
                WasmKind::Component => {
                    Component::deserialize(engine, &cwasm).map(Compiled::Component)
                }
            }
        };
        compiled.map_err(|err| invalid(path, kind, err))
    }

    fn compile(&self, path: &Path, kind: WasmKind, bytes: &[u8]) -> Result<Compiled, LoadError> {
        self.with_engine(path, kind, |engine| match kind {
            WasmKind::Module => Module::new(engine, bytes).map(Compiled::Module),
            WasmKind::Component => Component::new(engine, bytes).map(Compiled::Component),
        })
        .map(|(compiled, _)| compiled)
    }

    /// A `.cwasm` names the engine settings it was compiled with: the sync
    /// engine's are tried first, then the concurrent one's.
    fn load_precompiled(&self, path: &Path, kind: WasmKind) -> Result<Compiled, LoadError> {
        deserialize(self.engines.sync(), path, kind)
            .or_else(|err| match kind {
                WasmKind::Component => {
                    deserialize(self.engines.concurrent(), path, kind).map_err(|_| err)
                }
                WasmKind::Module => Err(err),
            })
            .map_err(|err| LoadError::IncompatiblePrecompiled {
                path: path.to_owned(),
                message: one_line(&anyhow::Error::from(err)),
            })
    }
}

#[allow(unsafe_code)] // Loading native code: see SAFETY below.
fn deserialize(engine: &Engine, path: &Path, kind: WasmKind) -> wasmtime::Result<Compiled> {
    // SAFETY: the file is either a cache entry this engine wrote and whose
    // digest was just verified, or a `.cwasm` the user named explicitly;
    // Wasmtime checks the engine version and settings before using it.
    unsafe {
        match kind {
            WasmKind::Module => Module::deserialize_file(engine, path).map(Compiled::Module),
            WasmKind::Component => {
                Component::deserialize_file(engine, path).map(Compiled::Component)
            }
        }
    }
}

fn invalid(path: &Path, kind: WasmKind, err: wasmtime::Error) -> LoadError {
    LoadError::Invalid {
        path: path.to_owned(),
        kind,
        message: one_line(&anyhow::Error::from(err)),
    }
}

/// An error and its causes on one line (`outer: inner: …`), without
/// repeating a cause that the previous message already contains, and without
/// Wasmtime's backtrace block (logged separately where wanted). The one
/// error flattener of every log line and CLI message.
pub fn one_line(err: &impl ErrorChain) -> String {
    let mut out = String::new();
    for text in err.messages() {
        if out.contains(&text) || text.starts_with("error while executing at wasm backtrace") {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.replace('\n', " ")
}

/// An error with a chain of causes: `anyhow::Error` and Wasmtime's own
/// error type (distinct in Wasmtime 48), so [`one_line`] takes either.
pub trait ErrorChain {
    /// The message of the error and of each of its causes, outermost first.
    fn messages(&self) -> Vec<String>;
}

impl ErrorChain for anyhow::Error {
    fn messages(&self) -> Vec<String> {
        self.chain().map(|cause| cause.to_string()).collect()
    }
}

impl ErrorChain for wasmtime::Error {
    fn messages(&self) -> Vec<String> {
        self.chain().map(|cause| cause.to_string()).collect()
    }
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

fn classify<'a>(path: &Path, bytes: &'a [u8]) -> Result<Input<'a>, LoadError> {
    if let Some(precompiled) = Engine::detect_precompiled(bytes) {
        let kind = match precompiled {
            Precompiled::Module => WasmKind::Module,
            Precompiled::Component => WasmKind::Component,
        };
        return Ok(Input::Precompiled(kind));
    }
    if bytes.starts_with(WASM_MAGIC) {
        let Some(header) = bytes.get(4..8) else {
            return Err(LoadError::Invalid {
                path: path.to_owned(),
                kind: WasmKind::Module,
                message: "unexpected end of file in the header".into(),
            });
        };
        let header: [u8; 4] = header.try_into().unwrap_or_default();
        let kind = match header {
            CORE_VERSION => WasmKind::Module,
            COMPONENT_VERSION => WasmKind::Component,
            _ => {
                return Err(LoadError::UnsupportedVersion {
                    path: path.to_owned(),
                    header,
                })
            }
        };
        return Ok(Input::Wasm {
            kind,
            bytes: Cow::Borrowed(bytes),
        });
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(LoadError::NotWasm {
            path: path.to_owned(),
        });
    };
    if !looks_like_wat(text) {
        return Err(LoadError::NotWasm {
            path: path.to_owned(),
        });
    }
    let binary = wat::parse_str(text).map_err(|mut err| {
        err.set_path(path);
        LoadError::Wat {
            path: path.to_owned(),
            message: err.to_string().replace('\n', " "),
        }
    })?;
    let kind = if binary.get(4..8) == Some(&COMPONENT_VERSION[..]) {
        WasmKind::Component
    } else {
        WasmKind::Module
    };
    Ok(Input::Wasm {
        kind,
        bytes: Cow::Owned(binary),
    })
}

/// WAT starts with `(module`, `(component` or a bare field, after whitespace
/// and comments.
fn looks_like_wat(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(";;") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("(;") {
            rest = after.split_once(";)").map_or("", |(_, tail)| tail);
        } else {
            break;
        }
    }
    rest.starts_with('(')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_kind(bytes: &[u8]) -> Result<WasmKind, LoadError> {
        match classify(Path::new("x.wasm"), bytes)? {
            Input::Wasm { kind, .. } => Ok(kind),
            Input::Precompiled(kind) => Ok(kind),
        }
    }

    #[test]
    fn detects_kind_from_bytes() {
        assert_eq!(classify_kind(b"\0asm\x01\0\0\0").unwrap(), WasmKind::Module);
        assert_eq!(
            classify_kind(b"\0asm\x0d\0\x01\0").unwrap(),
            WasmKind::Component
        );
        assert_eq!(classify_kind(b";; hi\n(module)").unwrap(), WasmKind::Module);
        assert_eq!(classify_kind(b"(component)").unwrap(), WasmKind::Component);
        assert!(matches!(
            classify_kind(b"\x7fELF garbage"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            classify_kind(b"hello world"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            classify_kind(b"\0asm\x02\0\0\0"),
            Err(LoadError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            classify_kind(b"\0as"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            classify_kind(b"(module (func (oops)))"),
            Err(LoadError::Wat { .. })
        ));
    }
}

#[cfg(test)]
mod engine_choice_tests {
    use super::*;
    use crate::EngineConfig;

    fn loader(cache: Option<CompileCache>) -> Loader {
        let engines = EngineConfig {
            pool: None,
            consume_fuel: false,
        }
        .build()
        .unwrap();
        Loader::new(engines, cache)
    }

    fn write(dir: &Path, name: &str, wat: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, wat).unwrap();
        path
    }

    /// A WASI 0.2-style component: no component-model async ABI.
    const SYNC: &str = r#"(component
        (core module $m (func (export "f") (result i32) i32.const 1))
        (core instance $i (instantiate $m))
        (func (export "f") (result u32) (canon lift (core func $i "f"))))"#;

    /// A component that uses the component-model async ABI (a `context.get`
    /// built-in, as every WASI 0.3 guest's runtime does).
    const ASYNC: &str = r#"(component
        (core func $get (canon context.get i32 0))
        (core module $m
            (import "" "get" (func (result i32)))
            (func (export "f") (result i32) i32.const 1))
        (core instance $i (instantiate $m
            (with "" (instance (export "get" (func $get))))))
        (func (export "f") (result u32) (canon lift (core func $i "f"))))"#;

    #[test]
    fn components_compile_on_the_engine_they_need() {
        let dir = tempfile::tempdir().unwrap();
        for cache in [None, Some(CompileCache::new(dir.path().join("cache")))] {
            let cached = cache.is_some();
            let loader = loader(cache);
            let engines = loader.engines().clone();
            let sync = loader
                .load_file(&write(dir.path(), "sync.wat", SYNC))
                .unwrap();
            assert!(
                Engine::same(sync.engine(), engines.sync()),
                "cache {cached}"
            );
            let module = loader
                .load_file(&write(dir.path(), "m.wat", "(module)"))
                .unwrap();
            assert!(Engine::same(module.engine(), engines.sync()));
            let concurrent = loader
                .load_file(&write(dir.path(), "async.wat", ASYNC))
                .unwrap();
            assert!(
                Engine::same(concurrent.engine(), engines.concurrent()),
                "cache {cached}"
            );
            // Precompiled: each `.cwasm` loads on the engine it was made for.
            for (name, wat, concurrent) in [("s", SYNC, false), ("a", ASYNC, true)] {
                let wasm = write(dir.path(), &format!("{name}.wat"), wat);
                let (kind, cwasm) = loader.precompile_file(&wasm).unwrap();
                assert_eq!(kind, WasmKind::Component);
                let cwasm_path = dir.path().join(format!("{name}.cwasm"));
                std::fs::write(&cwasm_path, cwasm).unwrap();
                let loaded = loader.load_file(&cwasm_path).unwrap();
                assert_eq!(engines.is_concurrent(loaded.engine()), concurrent);
            }
        }
        // A fresh loader finds the cache entry of the concurrent engine.
        let loader = loader(Some(CompileCache::new(dir.path().join("cache"))));
        let concurrent = loader.load_file(&dir.path().join("async.wat")).unwrap();
        assert!(loader.engines().is_concurrent(concurrent.engine()));
    }

    #[test]
    fn invalid_components_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let loader = loader(None);
        let bad = r#"(component (core module $m (func (export "f") (result i32) i64.const 1)))"#;
        let err = loader
            .load_file(&write(dir.path(), "bad.wat", bad))
            .err()
            .unwrap();
        assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
    }
}
