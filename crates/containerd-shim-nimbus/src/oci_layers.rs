//! Images whose layers are Wasm rather than a rootfs tar: containerd 1.7.7
//! and later pull them (1.6 refuses), and the library hands their layers of
//! the [`SUPPORTED_LAYER_TYPES`] to the sandbox.
//!
//! - Spin's OCI artifact format (`spin registry push`): an app's locked
//!   manifest as the image config, a layer per component and per static
//!   file. Turned into a manifest plus files by [`materialize_spin_app`] —
//!   **the hook where the Spin OCI format conversion plugs in** (not wired
//!   yet: it lives in the OCI registry crate), then served like an app
//!   image.
//! - One raw Wasm layer (`wkg oci push`, runwasi's images): run like a plain
//!   image's `.wasm` entrypoint.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, WasmLayer};

/// Spin's app config (the locked app, as the image's config blob).
pub const SPIN_APPLICATION_MEDIA_TYPE: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A Wasm layer of Spin's format (a component).
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// A static file of Spin's format.
pub const DATA_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+data";
/// A directory of static files of Spin's format (gzipped tar).
pub const ARCHIVE_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// A Wasm binary pushed by `wkg`.
pub const WKG_WASM_MEDIA_TYPE: &str = "application/wasm";
/// runwasi's Wasm layer (a module or component).
pub const RUNWASI_WASM_MEDIA_TYPE: &str =
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";

/// The layer types the shim asks containerd for (the rest of an image's
/// layers are ignored).
pub const SUPPORTED_LAYER_TYPES: &[&str] = &[
    SPIN_APPLICATION_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE,
    DATA_LAYER_MEDIA_TYPE,
    ARCHIVE_LAYER_MEDIA_TYPE,
    WKG_WASM_MEDIA_TYPE,
    RUNWASI_WASM_MEDIA_TYPE,
];

/// Where layers are written inside the container (its rootfs is the
/// image's, nearly empty for a Wasm-layer image, and writable).
const WORK_DIR: &str = "/.nimbus/oci";

fn media_type(layer: &WasmLayer) -> String {
    layer.config.media_type().to_string()
}

/// Runs an image made of Wasm layers: a Spin app (served), or a single
/// Wasm layer (run as a program).
pub async fn run(ctx: &impl RuntimeContext, layers: &[WasmLayer]) -> anyhow::Result<i32> {
    let is_spin_app = layers
        .iter()
        .any(|layer| media_type(layer) == SPIN_APPLICATION_MEDIA_TYPE);
    if is_spin_app {
        let manifest = materialize_spin_app(layers, Path::new(WORK_DIR))?;
        return crate::app::serve(ctx, &manifest).await;
    }
    let [layer] = layers else {
        anyhow::bail!(
            "the image has {} Wasm layers and no Spin app config: a program image has exactly one",
            layers.len()
        );
    };
    if layer.precompiled {
        // The shim has no `Compiler` (the library's precompile hook): the
        // node-wide compile cache serves that purpose for every format.
        anyhow::bail!("precompiled layers are not supported");
    }
    let path = write_layer(layer, Path::new(WORK_DIR))?;
    crate::command::run_program(ctx, &path).await
}

/// Writes a Wasm layer to `dir/DIGEST.wasm`.
fn write_layer(layer: &WasmLayer, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let digest = layer.config.digest().to_string();
    let name = digest.rsplit(':').next().unwrap_or(&digest);
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, &layer.layer)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// **Hook: Spin's OCI artifact format.** Writes the app of `layers` (the
/// locked app config, component and static-file layers, in the image's
/// order) under `dir` as a manifest Nimbus reads plus the files it names,
/// and returns the manifest's path; [`run`] then serves it exactly like a
/// tar-rootfs app image.
///
/// Not wired yet: the conversion from Spin's locked app belongs with the OCI
/// registry support (`nimbus registry pull` reads the same format).
pub fn materialize_spin_app(layers: &[WasmLayer], dir: &Path) -> anyhow::Result<PathBuf> {
    let _ = (layers, dir);
    anyhow::bail!(
        "this image is in Spin's OCI artifact format (Wasm layers), which this shim does not run yet; \
         build the app as an image whose rootfs holds spin.toml and its files (see docs/kubernetes.md)"
    )
}
