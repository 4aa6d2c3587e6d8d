//! A plain image: its entrypoint (`args[0]`) is a `.wasm` module or
//! component, run like `nimbus run`.
//!
//! The program gets the container's arguments and environment (from the
//! OCI spec), the container's stdio, and the container's rootfs as `/`
//! (read-write, as the rootfs is to a Linux container); no network. Its
//! exit status is the container's: its own, or 134 for a trap (as `nimbus
//! run`; [`nimbus_trigger_command::exit`]).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use containerd_shim_wasm::sandbox::context::RuntimeContext;
use nimbus_cap_wasi::{DirGrant, Stdio, WasiAppState, WasiGrants};
use nimbus_capability::InstanceBuilder;
use nimbus_runtime::{Compiled, EngineConfig, Loader, ResourceLimits};
use nimbus_trigger_command::Outcome;

use crate::env_pairs;

/// The program's path inside the container: `args[0]` without a `#func`
/// suffix (runwasi's syntax for calling another export, which Nimbus does
/// not do), found as a path (absolute, or relative to the working
/// directory) or on the container's `PATH`.
pub fn program(ctx: &impl RuntimeContext) -> anyhow::Result<PathBuf> {
    let entrypoint = ctx.entrypoint();
    let arg0 = entrypoint
        .arg0
        .context("the container has no process arguments: set the image's entrypoint (or the pod's command) to the .wasm file to run")?;
    if entrypoint.func != "_start" {
        anyhow::bail!(
            "{}: calling the export `{}` is not supported: Nimbus runs a program's `_start` (wasip1) or `wasi:cli/run` (wasip2)",
            arg0.display(),
            entrypoint.func
        );
    }
    let written = arg0.to_string_lossy();
    let path = Path::new(written.split_once('#').map_or(&*written, |(path, _)| path));
    if path.as_os_str().is_empty() {
        anyhow::bail!("the container's args[0] names no file");
    }
    if path.components().count() > 1 || path.is_absolute() {
        return Ok(path.to_owned());
    }
    let search_path = env_pairs(ctx)
        .into_iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value)
        .unwrap_or_default();
    Ok(std::env::split_paths(&search_path)
        .map(|dir| dir.join(path))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| path.to_owned()))
}

/// Checks, before the container starts, that its entrypoint is a Wasm
/// binary (or WAT text): anything else is not for this runtime.
pub fn check(ctx: &impl RuntimeContext) -> anyhow::Result<()> {
    let path = program(ctx)?;
    let mut magic = [0u8; 4];
    std::fs::File::open(&path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .with_context(|| {
            format!(
                "cannot read {} (the container's entrypoint; an app image needs spin.toml or nimbus.toml at its root)",
                path.display()
            )
        })?;
    let is_wat = path.extension().is_some_and(|ext| ext == "wat");
    if &magic != b"\0asm" && !is_wat {
        anyhow::bail!(
            "{} is not WebAssembly: the nimbus runtime runs a .wasm entrypoint, or serves an app image with spin.toml or nimbus.toml at its root",
            path.display()
        );
    }
    Ok(())
}

/// Runs the entrypoint to completion; returns the container's exit status.
pub async fn run(ctx: &impl RuntimeContext) -> anyhow::Result<i32> {
    let path = program(ctx)?;
    run_program(ctx, &path).await
}

/// Runs the Wasm at `path` with the container's arguments (`args[0]` being
/// `path`), environment and stdio; returns the container's exit status.
pub async fn run_program(ctx: &impl RuntimeContext, path: &Path) -> anyhow::Result<i32> {
    let mut args: Vec<String> = ctx.args().to_vec();
    match args.first_mut() {
        Some(arg0) => *arg0 = path.to_string_lossy().into_owned(),
        None => args.push(path.to_string_lossy().into_owned()),
    }
    let wasi = WasiAppState::new(WasiGrants {
        args,
        env: env_pairs(ctx),
        dirs: vec![DirGrant {
            host: PathBuf::from("/"),
            guest: "/".to_owned(),
            read_only: false,
        }],
        stdio: Stdio::Inherit,
    })?;
    let loader = Loader::new(
        EngineConfig::default().build()?,
        crate::cache::compile_cache(),
    );
    let compiled = loader.load_file(path)?;
    if let Compiled::Component(component) = &*compiled {
        let http = component
            .component_type()
            .exports(component.engine())
            .any(|(name, _)| name.starts_with("wasi:http/incoming-handler@"));
        if http {
            anyhow::bail!(
                "{}: this is a wasi:http component: put it in an app image (a spin.toml or nimbus.toml at the root of the image with an [[trigger.http]] route to it) to serve it",
                path.display()
            );
        }
    }
    let mut instance = InstanceBuilder::new(None);
    wasi.prepare(&mut instance);
    let outcome = nimbus_trigger_command::run(&compiled, instance, ResourceLimits::default())
        .await
        .with_context(|| format!("cannot start {}", path.display()))?;
    if let Outcome::Trapped { reason, backtrace } = &outcome {
        eprintln!("error: {} trapped: {reason}", path.display());
        if let Some(backtrace) = backtrace {
            eprintln!("{backtrace}");
        }
    }
    Ok(outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use containerd_shim_wasm::sandbox::context::{Entrypoint, Source};

    use super::*;

    /// A container with these args and env (no Wasm layers).
    struct Ctx {
        args: Vec<String>,
        envs: Vec<String>,
    }

    impl RuntimeContext for Ctx {
        fn args(&self) -> &[String] {
            &self.args
        }

        fn envs(&self) -> &[String] {
            &self.envs
        }

        fn entrypoint(&self) -> Entrypoint<'_> {
            let arg0 = self.args.first().map(String::as_str).unwrap_or("");
            let (path, func) = arg0.split_once('#').unwrap_or((arg0, "_start"));
            Entrypoint {
                func: func.to_owned(),
                name: None,
                arg0: self.args.first().map(Path::new),
                source: Source::File(PathBuf::from(path)),
            }
        }
    }

    fn ctx(args: &[&str], envs: &[&str]) -> Ctx {
        Ctx {
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: envs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn program_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool.wasm"), b"\0asm\x01\0\0\0").unwrap();
        let path_env = format!("PATH=/nonexistent:{}", dir.path().display());

        assert_eq!(
            program(&ctx(&["/app/main.wasm", "x"], &[])).unwrap(),
            PathBuf::from("/app/main.wasm")
        );
        assert_eq!(
            program(&ctx(&["tool.wasm"], &[&path_env])).unwrap(),
            dir.path().join("tool.wasm"),
            "found on the container's PATH"
        );
        assert_eq!(
            program(&ctx(&["other.wasm"], &[&path_env])).unwrap(),
            PathBuf::from("other.wasm"),
            "not on PATH: relative to the working directory"
        );
        let err = program(&ctx(&["/app.wasm#init"], &[])).unwrap_err();
        assert!(err.to_string().contains("`init`"), "{err}");
        let err = program(&ctx(&[], &[])).unwrap_err();
        assert!(err.to_string().contains("entrypoint"), "{err}");
    }

    #[test]
    fn check_refuses_what_is_not_wasm() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("ok.wasm");
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"hello").unwrap();
        check(&ctx(&[&wasm.to_string_lossy()], &[])).unwrap();
        let err = check(&ctx(&[&text.to_string_lossy()], &[])).unwrap_err();
        assert!(err.to_string().contains("is not WebAssembly"), "{err}");
        let err = check(&ctx(&["/does/not/exist.wasm"], &[])).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
