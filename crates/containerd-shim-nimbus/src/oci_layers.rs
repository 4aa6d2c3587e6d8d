//! Images whose layers are Wasm rather than a rootfs tar: containerd 1.7.7
//! and later pull them (1.6 refuses), and the library hands their layers of
//! the [`SUPPORTED_LAYER_TYPES`] to the sandbox.
//!
//! - Spin's OCI artifact format (`spin registry push`): an app's locked
//!   manifest as the image config, a layer per component and per static
//!   file. Turned into a manifest plus files by [`materialize_spin_app`]
//!   (`nimbus_oci`, as `nimbus registry pull` does), then served like an app
//!   image.
//! - One raw Wasm layer (`wkg oci push`, runwasi's images): run like a plain
//!   image's `.wasm` entrypoint.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, WasmLayer};

use nimbus_oci::{
    ARCHIVE_MEDIA_TYPE as ARCHIVE_LAYER_MEDIA_TYPE, DATA_MEDIA_TYPE as DATA_LAYER_MEDIA_TYPE,
    LOCKED_APP_MEDIA_TYPE as SPIN_APPLICATION_MEDIA_TYPE, WASM_MEDIA_TYPE as WASM_LAYER_MEDIA_TYPE,
    WASM_MEDIA_TYPE_WKG as WKG_WASM_MEDIA_TYPE,
};
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

/// Spin's OCI artifact format: writes the app of `layers` (the locked
/// app, component and static-file layers, in the image's order) under
/// `dir` as a manifest Nimbus reads plus the files it names (as `nimbus
/// registry pull` does, every layer checked against its digest), and
/// returns the manifest's path; [`run`] then serves it exactly like a
/// tar-rootfs app image.
pub fn materialize_spin_app(layers: &[WasmLayer], dir: &Path) -> anyhow::Result<PathBuf> {
    let contents = layers
        .iter()
        .map(|layer| nimbus_oci::LayerContent {
            media_type: media_type(layer),
            digest: layer.config.digest().to_string(),
            data: layer.layer.clone(),
        })
        .collect();
    let app = nimbus_oci::unpack_layers(contents, None)
        .context("the image is in Spin's OCI artifact format, but its app cannot be unpacked")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    app.write_to(dir)?;
    Ok(dir.join(nimbus_oci::MANIFEST_NAME))
}
