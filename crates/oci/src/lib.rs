//! Apps as OCI artifacts in Spin's format, so that an app pushed by
//! `spin registry push` runs on nimbus and one pushed by nimbus runs on Spin.
//!
//! An artifact is an OCI image manifest whose layers are
//!
//! - each component's Wasm (`application/vnd.wasm.content.layer.v1+wasm`),
//! - each file a component mounts (`application/vnd.wasm.content.layer.v1+data`;
//!   files of at most [`pack::INLINE_MAX`] bytes travel inline instead), or an
//!   archive of them (`application/vnd.wasm.content.bundle.v1.tar+gzip`),
//! - last, the locked app (`application/vnd.fermyon.spin.application.v1+config`):
//!   the manifest resolved, naming every other layer by digest;
//!
//! and whose config is an OCI image config for `wasm`/`wasip1`. Older
//! artifacts carry the locked app as the config itself; both are read.
//!
//! [`pack`] turns a parsed manifest into layers, [`Registry`] pushes and
//! pulls them (every layer checked against its digest, the whole bounded in
//! size), and [`unpack`](unpack::unpack) turns a locked app back into an app
//! directory with a generated `spin.toml`.

pub mod locked;
pub mod pack;
pub mod registry;
pub mod unpack;

pub use pack::{pack, PackedApp};
pub use registry::{
    parse_reference, repository_name, unpack_layers, LayerContent, PulledApp, Pushed, Registry,
    RegistryOptions,
};
pub use unpack::{AppFiles, UnpackError, MANIFEST_NAME};

/// The locked app's layer.
pub const LOCKED_APP_MEDIA_TYPE: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A component's Wasm.
pub const WASM_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Wasm pushed by `wkg`.
pub const WASM_MEDIA_TYPE_WKG: &str = "application/wasm";
/// A file a component mounts.
pub const DATA_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+data";
/// A gzipped tar of files a component mounts.
pub const ARCHIVE_MEDIA_TYPE: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// The manifest annotation holding a nimbus signature (see
/// `nimbus_platform::signing`).
pub const SIGNATURE_ANNOTATION: &str = "dev.nimbus.signature.v1";

/// One layer: its media type, bytes and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Its media type.
    pub media_type: String,
    /// `sha256:HEX` of `data`.
    pub digest: String,
    /// The bytes.
    pub data: bytes::Bytes,
}

/// `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
