//! `nimbus build`: run the build commands of an app's components.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use anyhow::{bail, Context as _};
use clap::Args;
use nimbus_manifest::{find_default, Build, Manifest, ManifestError};

use crate::exit;

/// Build an app: run each component's `[component.NAME.build] command`.
///
/// Each command runs with `sh -c` in the component's `workdir` (relative to
/// the manifest's directory; by default the manifest's directory), with
/// nimbus's own stdin, stdout and stderr. A `command` array runs in order.
/// The first command that fails stops the build. Components without a build
/// section are skipped; their `source` must already exist for `nimbus up`.
#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  0   every build command succeeded
  1   the manifest is invalid, or a build command failed

Examples:
  nimbus build
  nimbus build hello
  nimbus build -f apps/shop/spin.toml
  nimbus build --up -- --listen 127.0.0.1:8080   # then serve, as `spin build --up`")]
pub struct BuildArgs {
    /// The app manifest, or a directory holding one [default: nimbus.toml,
    /// else spin.toml, in the current directory]
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    file: Option<PathBuf>,

    /// Build only this component (as `spin build -c`); repeatable, and may be
    /// combined with COMPONENT arguments.
    #[arg(short = 'c', long = "component-id", value_name = "COMPONENT")]
    component_ids: Vec<String>,

    /// Build only these components [default: all of them]
    #[arg(value_name = "COMPONENT")]
    components: Vec<String>,

    /// Serve the app with `nimbus up` once the build succeeds (as `spin
    /// build --up`); arguments after `--` go to `nimbus up`.
    #[arg(short = 'u', long)]
    up: bool,

    /// Arguments for `nimbus up` (with --up).
    #[arg(last = true, value_name = "UP_ARGS", requires = "up")]
    up_args: Vec<String>,
}

/// `nimbus up`'s arguments on their own, for `nimbus build --up`.
#[derive(Debug, clap::Parser)]
#[command(name = "nimbus up")]
struct UpCommand {
    #[command(flatten)]
    up: crate::commands::up::UpArgs,
}

pub fn main(args: BuildArgs) -> i32 {
    let path = match manifest_path(args.file.as_deref()) {
        Ok(path) => path,
        Err(err) => return exit::report(&err),
    };
    let manifest = match nimbus_platform::triggers::read_manifest(&path) {
        Ok(manifest) => manifest,
        Err(err) => return report_manifest_error(&err),
    };
    let mut selected = args.components;
    selected.extend(args.component_ids);
    if let Err(err) = build(&manifest, &selected) {
        return exit::report(&err);
    }
    if !args.up {
        return 0;
    }
    // `up` serves the manifest just built.
    let mut argv = vec!["nimbus up".into(), "-f".into(), path.into_os_string()];
    argv.extend(args.up_args.into_iter().map(Into::into));
    match <UpCommand as clap::Parser>::try_parse_from(argv) {
        Ok(command) => crate::commands::up::main(command.up),
        Err(err) => err.exit(),
    }
}

/// The manifest to read: `--file` (a file, or a directory holding
/// `nimbus.toml` or `spin.toml`), else the default one in the current
/// directory.
pub fn manifest_path(file: Option<&Path>) -> anyhow::Result<PathBuf> {
    match file {
        Some(path) if path.is_dir() => find_default(path).with_context(|| {
            format!(
                "no nimbus.toml or spin.toml in {}; name the manifest file with -f",
                path.display()
            )
        }),
        Some(path) => Ok(path.to_path_buf()),
        // Relative to "", so that messages say `nimbus.toml:3:1`, not `./nimbus.toml:3:1`.
        None => find_default(Path::new("")).context(
            "no nimbus.toml or spin.toml in the current directory; \
             name one with -f, or create an app with `nimbus new`",
        ),
    }
}

/// Prints a manifest error, one `error: path:line:col: ...` line per problem
/// (notes keep their own `path:line:col: note: ...` form), and returns
/// [`exit::FAILURE`].
pub fn report_manifest_error(err: &ManifestError) -> i32 {
    for line in err.to_string().lines() {
        if line.contains(": note: ") {
            eprintln!("{line}");
        } else {
            eprintln!("error: {line}");
        }
    }
    exit::FAILURE
}

/// Runs the build commands of the `selected` components (all when empty).
pub fn build(manifest: &Manifest, selected: &[String]) -> anyhow::Result<()> {
    for id in selected {
        if manifest.component(id).is_none() {
            let known: Vec<&str> = manifest.components.keys().map(|id| id.as_str()).collect();
            bail!(
                "{} has no component `{id}`; its components are: {}",
                manifest.path().display(),
                known.join(", ")
            );
        }
    }
    let mut built = 0;
    for (id, component) in &manifest.components {
        if !selected.is_empty() && !selected.iter().any(|s| id == s.as_str()) {
            continue;
        }
        let Some(build) = &component.build else {
            println!("component {id} has no build command; skipping");
            continue;
        };
        build_component(manifest, id.as_str(), build)?;
        built += 1;
        let source = manifest.resolve(&component.source);
        if !source.exists() {
            let hint = if std::env::var_os("CARGO_TARGET_DIR").is_some() {
                " (CARGO_TARGET_DIR is set: Cargo writes elsewhere than target/)"
            } else {
                ""
            };
            tracing::warn!(
                "component {id} was built, but its source {} does not exist{hint}",
                source.display()
            );
        }
    }
    if built == 0 {
        println!("No component has a build command; nothing to build");
    } else {
        println!("Finished building all Nimbus components");
    }
    Ok(())
}

/// Runs one component's build commands in order, stopping at the first
/// failure.
fn build_component(manifest: &Manifest, id: &str, build: &Build) -> anyhow::Result<()> {
    let workdir = match &build.workdir {
        Some(workdir) if workdir.has_root() => bail!(
            "component {id}: build workdir {} must be relative to the manifest's directory",
            workdir.display()
        ),
        Some(workdir) => {
            let dir = manifest.resolve(workdir);
            if !dir.is_dir() {
                bail!(
                    "component {id}: build workdir {} is not a directory",
                    dir.display()
                );
            }
            println!("Working directory: {}", dir.display());
            dir
        }
        None => manifest.dir().to_path_buf(),
    };
    let count = build.command.len();
    for (index, command) in build.command.iter().enumerate() {
        if count > 1 {
            println!(
                "Building component {id} with `{command}` (step {} of {count})",
                index + 1
            );
        } else {
            println!("Building component {id} with `{command}`");
        }
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("component {id}: cannot run `sh -c {command}`"))?;
        if !status.success() {
            bail!("build command for component {id} {}", describe(status));
        }
    }
    Ok(())
}

/// How a command failed: `failed with exit status 3`, or `was killed by
/// signal 9`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("failed with exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("failed ({status})")
}
