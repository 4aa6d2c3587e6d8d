//! The WASI capability: what a guest may see of the host through WASI.
//!
//! Nothing is granted by default: no arguments but the program name, no
//! environment variables, no directories, no network, stdin closed and stdout
//! and stderr discarded. Each grant in [`WasiGrants`] adds exactly one thing.
//! Clocks and random numbers are always available, as in every WASI host.
//!
//! A component of an app also gets `wasi:sockets` to what its
//! `allowed_outbound_hosts` grants, and nothing else: see [`sockets`]. (A
//! lone program, `nimbus run`, gets no sockets.)

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context as _;
use nimbus_capability::{AppContext, Capability, ComponentContext, InstanceBuilder, InstanceState};
use nimbus_runtime::wasmtime::component::Linker;
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

mod files;
pub mod sockets;

pub use sockets::{InstanceSockets, SocketGrants, WasiInstance};

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

    /// Validates `grants` and opens every granted directory once; instances
    /// share those open handles.
    pub fn new(grants: WasiGrants) -> anyhow::Result<WasiAppState> {
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

    /// Adds the grants to an instance being prepared: arguments,
    /// environment, stdio and the (already open) directories. Callers may add
    /// more to `builder.wasi` afterwards (WAGI's CGI variables and pipes).
    pub fn prepare(&self, builder: &mut InstanceBuilder) {
        let grants = &self.grants;
        builder.wasi.args(&grants.args).envs(&grants.env);
        match grants.stdio {
            Stdio::Closed => {}
            Stdio::Inherit => {
                builder.wasi.inherit_stdio();
            }
            Stdio::InheritOutput => {
                builder.wasi.inherit_stdout().inherit_stderr();
            }
        }
        builder.set_filesystem(self.filesystem.clone());
    }
}

/// One component's WASI grants: environment, `files` and sockets, with the
/// staging directory that holds copied files (removed when the last instance
/// of the app is gone).
#[derive(Debug)]
pub struct WasiComponent {
    state: WasiAppState,
    sockets: SocketGrants,
    _staging: Option<tempfile::TempDir>,
}

impl WasiComponent {
    /// The validated grants.
    pub fn grants(&self) -> &WasiGrants {
        self.state.grants()
    }

    /// The socket grants (from `allowed_outbound_hosts`).
    pub fn sockets(&self) -> &SocketGrants {
        &self.sockets
    }
}

/// The WASI capability: `wasi:cli`, `wasi:clocks`, `wasi:random`,
/// `wasi:filesystem` (the component's `files`, read-only), `wasi:io`, and
/// `wasi:sockets` (TCP and UDP to what `allowed_outbound_hosts` grants, name
/// lookups of the names it grants; see [`sockets`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiCapability;

impl Capability for WasiCapability {
    const NAME: &'static str = "wasi";
    type RuntimeConfig = ();
    type AppState = ();
    type ComponentState = WasiComponent;
    type InstanceState = WasiInstance;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        // Rust's std on wasip2 imports the CLI interfaces even in an HTTP
        // component; they get only what the manifest grants.
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
        // WASI 0.3: the same context (args, env, preopens, clocks, sockets
        // check) behind the 0.3 interfaces (concurrent engine only).
        if nimbus_capability::links_concurrent(linker) {
            wasmtime_wasi::p3::add_to_linker(linker)?;
        }
        // Then the shadows: name lookups checked per name (0.2, and 0.3 on
        // the concurrent engine), socket refusals logged.
        sockets::add_to_linker(linker)?;
        Ok(())
    }

    fn configure_app(&self, _app: &AppContext<'_>, _config: Option<()>) -> anyhow::Result<()> {
        Ok(())
    }

    fn configure_component(
        &self,
        _app: &(),
        ctx: &ComponentContext<'_>,
    ) -> anyhow::Result<WasiComponent> {
        let id = ctx.id;
        let (dirs, staging) = files::file_grants(ctx.manifest, id, ctx.component)?;
        let state = WasiAppState::new(WasiGrants {
            // Executors add argv (WAGI builds it per request).
            args: Vec::new(),
            env: ctx
                .component
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            dirs,
            stdio: Stdio::InheritOutput,
        })
        .with_context(|| format!("component `{id}`"))?;
        Ok(WasiComponent {
            state,
            sockets: SocketGrants::new(ctx.allowed_hosts.clone()),
            _staging: staging,
        })
    }

    fn prepare(
        &self,
        component: &WasiComponent,
        builder: &mut InstanceBuilder,
    ) -> anyhow::Result<WasiInstance> {
        component.state.prepare(builder);
        let sockets = InstanceSockets::prepare(&component.sockets, &mut builder.wasi);
        Ok(WasiInstance::new(sockets))
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
        let err = WasiAppState::new(grants).unwrap_err();
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
        let err = WasiAppState::new(grants).unwrap_err();
        assert!(err.to_string().ends_with("is not a directory"), "{err}");
    }
}
