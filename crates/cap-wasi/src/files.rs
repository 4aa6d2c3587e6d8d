//! A component's `files`: directory placements granted in place; glob
//! patterns and single files copied into a staging directory granted at `/`,
//! as Spin does.

use std::path::Path;

use anyhow::{bail, Context as _};
use nimbus_manifest::{Component, ComponentId, FileMount, Manifest};

use crate::DirGrant;

/// Turns `files` into read-only directory grants. Directory placements are
/// granted in place; glob patterns and single files are copied into a staging
/// directory granted at `/`.
pub(crate) fn file_grants(
    manifest: &Manifest,
    id: &ComponentId,
    component: &Component,
) -> anyhow::Result<(Vec<DirGrant>, Option<tempfile::TempDir>)> {
    let excludes = component
        .exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern).with_context(|| {
                format!("component `{id}`: invalid exclude_files pattern {pattern:?}")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let excluded = |relative: &Path| excludes.iter().any(|p| p.matches_path(relative));

    let mut dirs = Vec::new();
    let mut staging: Option<tempfile::TempDir> = None;
    let mut stage = |relative_dest: &Path, host: &Path| -> anyhow::Result<()> {
        if staging.is_none() {
            staging = Some(
                tempfile::Builder::new()
                    .prefix(&format!("nimbus-files-{id}-"))
                    .tempdir()
                    .context("cannot create a staging directory for component files")?,
            );
        }
        let root = staging
            .as_ref()
            .map(|s| s.path().to_owned())
            .unwrap_or_default();
        copy_into(host, &root.join(relative_dest))
    };

    for mount in &component.files {
        match mount {
            FileMount::Placement {
                source,
                destination,
            } => {
                let host = manifest.resolve(source);
                if host.is_dir() {
                    dirs.push(DirGrant {
                        host,
                        guest: destination.clone(),
                        read_only: true,
                    });
                } else {
                    stage(Path::new(destination.trim_start_matches('/')), &host)?;
                }
            }
            FileMount::Pattern(pattern) => {
                let full = manifest.dir().join(pattern);
                let full = full.to_string_lossy();
                let matches = glob::glob(&full).with_context(|| {
                    format!("component `{id}`: invalid files pattern {pattern:?}")
                })?;
                for entry in matches {
                    let host =
                        entry.with_context(|| format!("component `{id}`: files {pattern:?}"))?;
                    let relative = host
                        .strip_prefix(manifest.dir())
                        .unwrap_or(&host)
                        .to_owned();
                    if excluded(&relative) {
                        continue;
                    }
                    stage(&relative, &host)?;
                }
            }
        }
    }
    if let Some(staging) = &staging {
        dirs.insert(
            0,
            DirGrant {
                host: staging.path().to_owned(),
                guest: "/".into(),
                read_only: true,
            },
        );
    }
    Ok((dirs, staging))
}

/// Copies a file, or a directory recursively, to `dest`.
fn copy_into(host: &Path, dest: &Path) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(host).with_context(|| format!("cannot read {}", host.display()))?;
    if meta.is_dir() {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(host)? {
            let entry = entry?;
            copy_into(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(host, dest)
            .with_context(|| format!("cannot copy {} to the files staging area", host.display()))?;
    } else {
        bail!("{} is neither a file nor a directory", host.display());
    }
    Ok(())
}
