//! The WASI capability: what a guest may see of the host through WASI.
//!
//! Nothing is granted by default: no arguments but the program name, no
//! environment variables, no directories, no network, stdin closed and stdout
//! and stderr discarded. Each grant in [`WasiGrants`] adds exactly one thing.
//! Clocks and random numbers are always available, as in every WASI host.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context as _;
use nimbus_runtime::wasmtime::component::ResourceTable;
use nimbus_runtime::Capability;
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};

/// One directory of the host made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

/// Why a `--dir` value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirGrantParseError {
    /// `HOST::` or `::GUEST`.
    #[error("expected HOST::GUEST (optionally HOST::GUEST:ro or HOST::GUEST:rw), got {0:?}")]
    Empty(String),
    /// `HOST:GUEST`: one colon where two are meant.
    #[error(
        "{given:?}: HOST::GUEST takes two colons between the host directory and the guest \
         path; did you mean {suggestion:?}?"
    )]
    OneColon {
        /// The value as given.
        given: String,
        /// The same with `::`.
        suggestion: String,
    },
}

impl FromStr for DirGrant {
    type Err = DirGrantParseError;

    /// Parses `HOST::GUEST`, `HOST::GUEST:ro`, `HOST::GUEST:rw` or `HOST`
    /// (same path in the guest; `HOST:ro` and `HOST:rw` too). A single colon
    /// between two paths (`data:/data`) is refused with a hint: the host
    /// path alone would name a directory called `data:/data`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (rest, read_only) = if let Some(rest) = value.strip_suffix(":ro") {
            (rest, true)
        } else if let Some(rest) = value.strip_suffix(":rw") {
            (rest, false)
        } else {
            (value, false)
        };
        let (host, guest) = match rest.split_once("::") {
            Some(pair) => pair,
            None if rest.contains(':') && !is_windows_drive(rest) => {
                let (host, guest) = rest.split_once(':').unwrap_or((rest, rest));
                let suffix = &value[rest.len()..];
                return Err(DirGrantParseError::OneColon {
                    given: value.to_owned(),
                    suggestion: format!("{host}::{guest}{suffix}"),
                });
            }
            None => (rest, rest),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(DirGrantParseError::Empty(value.to_owned()));
        }
        Ok(DirGrant {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
            read_only,
        })
    }
}

/// On Windows, `C:\dir` or `C:/dir`: the colon belongs to the path.
fn is_windows_drive(path: &str) -> bool {
    let bytes = path.as_bytes();
    cfg!(windows)
        && bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/')
        && !path[2..].contains(':')
}

/// Where the guest's standard streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// stdin closed, stdout and stderr discarded.
    #[default]
    Closed,
    /// The host process's own stdin, stdout and stderr.
    Inherit,
    /// stdin closed; stdout and stderr go to the host's (HTTP guests: their
    /// output shows up in nimbus's terminal or log, as with Spin).
    InheritOutput,
}

/// Everything the WASI capability may grant one program or component.
#[derive(Debug, Clone, Default)]
pub struct WasiGrants {
    /// `argv`, including `argv[0]` (the program name).
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Standard streams.
    pub stdio: Stdio,
}

/// Why grants were refused at configure time.
#[derive(Debug, thiserror::Error)]
pub enum WasiGrantError {
    /// A `--dir`/`files` host path that does not exist or is not a directory.
    #[error("directory {host} (granted as {guest}) {problem}")]
    BadDirectory {
        /// The host path as given.
        host: PathBuf,
        /// The guest path.
        guest: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An environment variable name that WASI cannot carry.
    #[error("invalid environment variable name {0:?}: names must be non-empty and contain no '=' or NUL")]
    BadEnvName(String),
}

/// Validated WASI grants, shared by every instance of one app.
///
/// Granted directories are opened once, at configure time; every instance
/// shares those open handles, so preparing an instance opens no files.
#[derive(Clone)]
pub struct WasiAppState {
    grants: WasiGrants,
    filesystem: WasiFilesystemCtx,
}

impl std::fmt::Debug for WasiAppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiAppState")
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

impl WasiAppState {
    /// The validated grants.
    pub fn grants(&self) -> &WasiGrants {
        &self.grants
    }

    /// A builder with the arguments, environment and stdio granted, for
    /// callers that add more (such as WAGI's CGI variables and pipes) before
    /// finishing it with [`WasiAppState::finish`] or
    /// [`WasiAppState::finish_p1`], which add the granted directories.
    pub fn builder(&self) -> WasiCtxBuilder {
        let grants = &self.grants;
        let mut builder = WasiCtxBuilder::new();
        builder.args(&grants.args).envs(&grants.env);
        match grants.stdio {
            Stdio::Closed => {}
            Stdio::Inherit => {
                builder.inherit_stdio();
            }
            Stdio::InheritOutput => {
                builder.inherit_stdout().inherit_stderr();
            }
        }
        builder
    }

    /// Builds a WASIp2 context with the granted directories.
    pub fn finish(&self, mut builder: WasiCtxBuilder) -> WasiCtx {
        let mut ctx = builder.build();
        *ctx.filesystem() = self.filesystem.clone();
        ctx
    }

    /// Builds a WASIp1 context with the granted directories.
    pub fn finish_p1(&self, mut builder: WasiCtxBuilder) -> WasiP1Ctx {
        let mut ctx = builder.build_p1();
        *ctx.ctx().ctx.filesystem() = self.filesystem.clone();
        // Each open file is a host file descriptor: without a cap, a guest
        // opening files in a loop exhausts the process's descriptors.
        ctx.ctx().table.set_max_capacity(MAX_P1_HANDLES);
        ctx
    }
}

/// The most handles (open files, directories, streams) a `wasm32-wasip1`
/// instance may hold at once; past it, opening another traps.
pub const MAX_P1_HANDLES: usize = 1024;

/// The most host resources (fields, bodies, streams, pollables, open files)
/// one component instance may hold at once; past it the host call traps.
/// Host memory and descriptors behind handles are not counted by the
/// `memory` limit (Wasmtime's default cap is 1,000,000).
pub const MAX_RESOURCES: usize = 4096;

/// The resource table of a component instance, capped at [`MAX_RESOURCES`].
/// Every executor takes its table from here.
pub fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    table
}

/// The WASI capability.
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiCapability;

impl Capability for WasiCapability {
    const NAME: &'static str = "wasi";
    type Grants = WasiGrants;
    type AppState = WasiAppState;
    type InstanceState = WasiCtx;

    fn configure(&self, grants: WasiGrants) -> anyhow::Result<WasiAppState> {
        for (name, _) in &grants.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(WasiGrantError::BadEnvName(name.clone()).into());
            }
        }
        for dir in &grants.dirs {
            let problem = match std::fs::metadata(&dir.host) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => "is not a directory".to_owned(),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    "does not exist".to_owned()
                }
                Err(err) => format!("cannot be opened: {err}"),
            };
            return Err(WasiGrantError::BadDirectory {
                host: dir.host.clone(),
                guest: dir.guest.clone(),
                problem,
            }
            .into());
        }
        // Open every granted directory once; instances share the handles.
        let mut builder = WasiCtxBuilder::new();
        for dir in &grants.dirs {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open directory {}", dir.host.display()))?;
        }
        let filesystem = builder.build().filesystem().clone();
        Ok(WasiAppState { grants, filesystem })
    }

    fn prepare(&self, app: &WasiAppState) -> anyhow::Result<WasiCtx> {
        Ok(app.finish(app.builder()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dir_grants() {
        let grant: DirGrant = "./data::/data".parse().unwrap();
        assert_eq!(grant.host, PathBuf::from("./data"));
        assert_eq!(grant.guest, "/data");
        assert!(!grant.read_only);

        let grant: DirGrant = "./data::/data:ro".parse().unwrap();
        assert_eq!(grant.guest, "/data");
        assert!(grant.read_only);

        let grant: DirGrant = "./data".parse().unwrap();
        assert_eq!(grant.host, PathBuf::from("./data"));
        assert_eq!(grant.guest, "./data");

        let grant: DirGrant = "/srv:ro".parse().unwrap();
        assert_eq!(grant.host, PathBuf::from("/srv"));
        assert!(grant.read_only);

        assert!("::/data".parse::<DirGrant>().is_err());
        assert!("./data::".parse::<DirGrant>().is_err());
    }

    #[test]
    fn rw_is_the_explicit_read_write_suffix() {
        let grant: DirGrant = "data::/data:rw".parse().unwrap();
        assert_eq!(grant.host, PathBuf::from("data"));
        assert_eq!(grant.guest, "/data");
        assert!(!grant.read_only);

        let grant: DirGrant = "/srv:rw".parse().unwrap();
        assert_eq!(grant.host, PathBuf::from("/srv"));
        assert_eq!(grant.guest, "/srv");
        assert!(!grant.read_only);
    }

    #[test]
    fn one_colon_between_paths_is_refused_with_a_hint() {
        for (given, suggestion) in [
            ("data:/data", "data::/data"),
            ("data:/data:ro", "data::/data:ro"),
            ("./in:/in:rw", "./in::/in:rw"),
            ("a:/b", "a::/b"),
        ] {
            let err = given.parse::<DirGrant>().unwrap_err();
            assert_eq!(
                err,
                DirGrantParseError::OneColon {
                    given: given.to_owned(),
                    suggestion: suggestion.to_owned()
                }
            );
            let message = err.to_string();
            assert!(message.contains("two colons"), "{message}");
            assert!(message.contains(&format!("{suggestion:?}")), "{message}");
        }
        // On Windows, a drive letter is not a separator.
        let grant: DirGrant = r"C:\data::/data".parse().unwrap();
        assert_eq!(grant.host, PathBuf::from(r"C:\data"));
        if cfg!(windows) {
            let grant: DirGrant = r"C:\data".parse().unwrap();
            assert_eq!(grant.guest, r"C:\data");
        }
    }

    #[test]
    fn missing_directory_is_refused_at_configure() {
        let grants = WasiGrants {
            dirs: vec!["/definitely/not/here::/data".parse().unwrap()],
            ..Default::default()
        };
        let err = WasiCapability.configure(grants).unwrap_err();
        assert_eq!(
            err.to_string(),
            "directory /definitely/not/here (granted as /data) does not exist"
        );
    }

    #[test]
    fn file_is_not_a_directory() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let grants = WasiGrants {
            dirs: vec![DirGrant {
                host: file.path().to_owned(),
                guest: "/x".into(),
                read_only: false,
            }],
            ..Default::default()
        };
        let err = WasiCapability.configure(grants).unwrap_err();
        assert!(err.to_string().ends_with("is not a directory"), "{err}");
    }
}
