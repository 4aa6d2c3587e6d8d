//! Pushing and pulling apps: the registry side, with `oci-client`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use sha2::{Digest as _, Sha256};

use crate::locked::LockedApp;
use crate::pack::PackedApp;
use crate::unpack::{unpack, AppFiles};
use crate::{
    sha256_digest, ARCHIVE_MEDIA_TYPE, LOCKED_APP_MEDIA_TYPE, WASM_MEDIA_TYPE, WASM_MEDIA_TYPE_WKG,
};

/// The most a pulled app may weigh, all layers together, by default.
pub const DEFAULT_MAX_APP_SIZE: u64 = 1 << 30;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`HOST[:PORT]`, or `*` for all) spoken to over plain
    /// HTTP; loopback ones (`localhost`, `127.0.0.0/8`, `[::1]`) always are.
    pub insecure_registries: Vec<String>,
    /// Credentials for every registry, overriding the Docker config
    /// (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, and its
    /// credential helpers).
    pub credentials: Option<(String, String)>,
    /// Where pulled layers are kept by digest, so that a layer is
    /// downloaded once.
    pub cache_dir: Option<PathBuf>,
    /// The most a pulled app may weigh.
    pub max_app_size: u64,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            credentials: None,
            cache_dir: None,
            max_app_size: DEFAULT_MAX_APP_SIZE,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference pushed to, in full (`registry/repository:tag`).
    pub reference: String,
    /// The manifest's digest: `REFERENCE@DIGEST` names exactly this app.
    pub digest: String,
    /// Layers uploaded.
    pub uploaded: usize,
    /// Layers the registry had already.
    pub present: usize,
}

/// An app pulled from a registry.
#[derive(Debug, Clone)]
pub struct PulledApp {
    /// The reference pulled, in full.
    pub reference: String,
    /// The manifest's digest.
    pub digest: String,
    /// The locked-app layer's digest (what a signature covers).
    pub locked_digest: String,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The locked app.
    pub locked: LockedApp,
    /// The app as files, ready to write out or to bundle.
    pub files: AppFiles,
}

/// A client for OCI registries.
#[derive(Debug, Clone)]
pub struct Registry {
    options: RegistryOptions,
}

impl Registry {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> Registry {
        Registry { options }
    }

    fn client(&self, reference: &Reference) -> oci_client::Client {
        let registry = reference.resolve_registry();
        let insecure = self
            .options
            .insecure_registries
            .iter()
            .any(|r| r == "*" || r == registry);
        let protocol = if insecure || is_local(registry) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        oci_client::Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("nimbus/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        })
    }

    fn auth(&self, reference: &Reference) -> RegistryAuth {
        if let Some((user, password)) = &self.options.credentials {
            return RegistryAuth::Basic(user.clone(), password.clone());
        }
        let server = reference.resolve_registry();
        let server = server.strip_suffix('/').unwrap_or(server);
        match docker_credential::get_credential(server) {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
                RegistryAuth::Basic(user, password)
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                RegistryAuth::Bearer(token)
            }
            Err(err) => {
                tracing::debug!("no Docker credentials for {server} ({err}): anonymous");
                RegistryAuth::Anonymous
            }
        }
    }

    /// Pushes a packed app to `reference`, with these manifest annotations.
    /// Layers the registry already holds are not uploaded again.
    pub async fn push(
        &self,
        reference: &str,
        app: &PackedApp,
        annotations: BTreeMap<String, String>,
    ) -> anyhow::Result<Pushed> {
        let reference = parse_reference(reference)?;
        let client = self.client(&reference);
        let auth = self.auth(&reference);
        let shown = reference.whole();
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        client
            .auth(&reference, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|err| explain(err, &reference))?;

        let layers: Vec<ImageLayer> = app
            .layers
            .iter()
            .map(|layer| ImageLayer::new(layer.data.clone(), layer.media_type.clone(), None))
            .collect();
        let config = Config::new(
            image_config(app.locked_digest()),
            oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE.to_owned(),
            None,
        );
        let (mut uploaded, mut present) = (0, 0);
        for layer in &app.layers {
            if client
                .blob_exists(&reference, &layer.digest)
                .await
                .unwrap_or(false)
            {
                present += 1;
                continue;
            }
            client
                .push_blob(&reference, layer.data.clone(), &layer.digest)
                .await
                .map_err(|err| explain(err, &reference))
                .with_context(|| format!("cannot upload layer {}", layer.digest))?;
            uploaded += 1;
        }
        let config_digest = config.sha256_digest();
        if !client
            .blob_exists(&reference, &config_digest)
            .await
            .unwrap_or(false)
        {
            client
                .push_blob(&reference, config.data.clone(), &config_digest)
                .await
                .map_err(|err| explain(err, &reference))
                .context("cannot upload the image config")?;
        }
        let mut manifest = OciImageManifest::build(
            &layers,
            &config,
            (!annotations.is_empty()).then_some(annotations),
        );
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_owned());
        let body = serde_json::to_vec(&manifest).context("cannot write the image manifest")?;
        let digest = sha256_digest(&body);
        client
            .push_manifest_raw(
                &reference,
                body,
                OCI_IMAGE_MEDIA_TYPE
                    .parse()
                    .expect("the OCI manifest media type is a header value"),
            )
            .await
            .map_err(|err| explain(err, &reference))
            .context("cannot upload the image manifest")?;
        Ok(Pushed {
            reference: shown,
            digest,
            uploaded,
            present,
        })
    }

    /// Pulls the app at `reference`: its manifest, its locked app and every
    /// layer, each checked against its digest and the size limit; then
    /// unpacks it into files.
    pub async fn pull(&self, reference: &str) -> anyhow::Result<PulledApp> {
        let reference = parse_reference(reference)?;
        let client = self.client(&reference);
        let auth = self.auth(&reference);
        let shown = reference.whole();
        let (body, digest) = client
            .pull_manifest_raw(
                &reference,
                &auth,
                &[
                    OCI_IMAGE_MEDIA_TYPE,
                    "application/vnd.docker.distribution.manifest.v2+json",
                ],
            )
            .await
            .map_err(|err| explain(err, &reference))?;
        let actual = sha256_digest(&body);
        if let Some(wanted) = reference.digest() {
            if wanted != actual {
                bail!("the registry sent a manifest with digest {actual} for {shown}, not the one asked for");
            }
        }
        let digest = if digest.is_empty() { actual } else { digest };
        let manifest: OciImageManifest = serde_json::from_slice(&body)
            .with_context(|| format!("{shown}: the image manifest is not valid JSON"))?;

        let mut budget = self.options.max_app_size;
        let locked_layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == LOCKED_APP_MEDIA_TYPE);
        let locked_descriptor = match locked_layer {
            Some(layer) => layer.clone(),
            // Older artifacts carry the locked app as the config itself.
            None if manifest.config.media_type == LOCKED_APP_MEDIA_TYPE => manifest.config.clone(),
            None => bail!(
                "{shown} is not an app in Spin's format: it has no {LOCKED_APP_MEDIA_TYPE} layer \
                 (a container image? run it with a container runtime; an app is pushed with \
                 `nimbus registry push` or `spin registry push`)"
            ),
        };
        let locked_bytes = self
            .blob(&client, &reference, &locked_descriptor, &mut budget)
            .await?;
        let locked = LockedApp::from_json(&locked_bytes)
            .with_context(|| format!("{shown}: the locked app is not valid"))?;

        let mut content = Content::default();
        for layer in &manifest.layers {
            if layer.media_type == LOCKED_APP_MEDIA_TYPE {
                continue;
            }
            let bytes = self.blob(&client, &reference, layer, &mut budget).await?;
            content
                .add(&layer.media_type, &layer.digest, bytes, &mut budget)
                .with_context(|| format!("{shown}: layer {}", layer.digest))?;
        }
        let files = unpack(&locked, &content.by_digest).with_context(|| shown.clone())?;
        Ok(PulledApp {
            reference: shown,
            digest,
            locked_digest: locked_descriptor.digest.clone(),
            annotations: manifest.annotations.clone().unwrap_or_default(),
            locked,
            files,
        })
    }

    /// One blob, from the cache or the registry, checked against its digest
    /// and size, and charged to `budget`.
    async fn blob(
        &self,
        client: &oci_client::Client,
        reference: &Reference,
        descriptor: &OciDescriptor,
        budget: &mut u64,
    ) -> anyhow::Result<Vec<u8>> {
        let digest = &descriptor.digest;
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .with_context(|| format!("layer digest {digest:?} is not a sha256 digest"))?;
        let declared = u64::try_from(descriptor.size).unwrap_or(0);
        if declared > *budget {
            bail!(
                "{}: layer {digest} ({declared} bytes) is over the limit on an app's size ({} bytes)",
                reference.whole(),
                self.options.max_app_size
            );
        }
        let cached = self
            .options
            .cache_dir
            .as_ref()
            .map(|dir| dir.join("blobs").join("sha256").join(hex));
        if let Some(path) = &cached {
            if let Ok(bytes) = std::fs::read(path) {
                if &sha256_digest(&bytes) == digest && bytes.len() as u64 == declared {
                    *budget -= declared;
                    return Ok(bytes);
                }
            }
        }
        let mut stream = client
            .pull_blob_stream(reference, descriptor)
            .await
            .map_err(|err| explain(err, reference))
            .with_context(|| format!("cannot download layer {digest}"))?;
        let mut bytes = Vec::with_capacity(declared.min(64 << 20) as usize);
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| {
                format!("{}: cannot download layer {digest}", reference.whole())
            })?;
            if (bytes.len() + chunk.len()) as u64 > declared {
                bail!(
                    "{}: layer {digest} is bigger than the {declared} bytes its manifest says",
                    reference.whole()
                );
            }
            hasher.update(&chunk);
            bytes.extend_from_slice(&chunk);
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if &actual != digest || bytes.len() as u64 != declared {
            bail!(
                "{}: layer {digest} is corrupt: the registry sent {} bytes with digest {actual}",
                reference.whole(),
                bytes.len()
            );
        }
        *budget -= declared;
        if let Some(path) = &cached {
            if let Err(err) = write_cached(path, &bytes) {
                tracing::debug!("cannot cache layer {digest}: {err}");
            }
        }
        Ok(bytes)
    }
}

fn write_cached(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(partial, path)
}

/// The content of an artifact's layers by digest: each layer, and each
/// file of an archive layer.
#[derive(Default)]
struct Content {
    by_digest: BTreeMap<String, Vec<u8>>,
}

impl Content {
    fn add(
        &mut self,
        media_type: &str,
        digest: &str,
        bytes: Vec<u8>,
        budget: &mut u64,
    ) -> anyhow::Result<()> {
        if media_type == ARCHIVE_MEDIA_TYPE {
            for file in unpack_archive(&bytes, budget).context("an archive layer")? {
                self.by_digest.insert(sha256_digest(&file), file);
            }
        } else {
            if media_type != WASM_MEDIA_TYPE
                && media_type != WASM_MEDIA_TYPE_WKG
                && !media_type.starts_with("application/vnd.wasm.content.layer")
            {
                tracing::debug!("layer {digest} has media type {media_type}");
            }
            self.by_digest.insert(digest.to_owned(), bytes);
        }
        Ok(())
    }
}

/// One layer an artifact's consumer already has in hand (e.g. the layers
/// containerd gives a shim): media type, digest and bytes.
#[derive(Debug, Clone)]
pub struct LayerContent {
    /// Its media type.
    pub media_type: String,
    /// `sha256:HEX`.
    pub digest: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Unpacks an app from layers already fetched (and the image config, for
/// older artifacts that carry the locked app there): every layer is checked
/// against its digest, then the locked app is unpacked as a pull does.
pub fn unpack_layers(
    layers: Vec<LayerContent>,
    config: Option<&LayerContent>,
) -> anyhow::Result<AppFiles> {
    let mut budget = DEFAULT_MAX_APP_SIZE;
    let mut locked = None;
    let mut content = Content::default();
    for layer in layers.iter().chain(config) {
        let actual = sha256_digest(&layer.data);
        if actual != layer.digest {
            bail!("layer {} is corrupt: its digest is {actual}", layer.digest);
        }
    }
    if let Some(config) = config.filter(|c| c.media_type == LOCKED_APP_MEDIA_TYPE) {
        locked = Some(config.data.clone());
    }
    for layer in layers {
        let size = layer.data.len() as u64;
        if size > budget {
            bail!("the app is over the limit on an app's size ({DEFAULT_MAX_APP_SIZE} bytes)");
        }
        budget -= size;
        if layer.media_type == LOCKED_APP_MEDIA_TYPE {
            locked = Some(layer.data);
            continue;
        }
        content.add(&layer.media_type, &layer.digest, layer.data, &mut budget)?;
    }
    let locked = locked.with_context(|| {
        format!("the image has no {LOCKED_APP_MEDIA_TYPE} layer: it is not an app in Spin's format")
    })?;
    let locked = LockedApp::from_json(&locked).context("the locked app is not valid")?;
    Ok(unpack(&locked, &content.by_digest)?)
}

/// The image config: an OCI config for architecture `wasm`, OS `wasip1`,
/// with the locked app's digest as a label (so that two apps never share an
/// image id), as Spin writes it.
fn image_config(locked_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm",
        "os": "wasip1",
        "config": { "Labels": { "com.fermyon.spin.lockedAppDigest": locked_digest } },
        "rootfs": { "type": "layers", "diff_ids": [] },
    }))
    .expect("the image config serializes")
}

/// The files of an archive layer (a gzipped tar), bounded by `budget`.
fn unpack_archive(bytes: &[u8], budget: &mut u64) -> anyhow::Result<Vec<Vec<u8>>> {
    use std::io::Read as _;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = Vec::new();
    for entry in archive.entries().context("not a gzipped tar archive")? {
        let entry = entry.context("a broken archive entry")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let size = entry.header().size().context("a broken archive entry")?;
        if size > *budget {
            bail!("its files are over the limit on an app's size");
        }
        *budget -= size;
        let mut data = Vec::with_capacity(size.min(64 << 20) as usize);
        entry
            .take(size)
            .read_to_end(&mut data)
            .context("a broken archive entry")?;
        files.push(data);
    }
    Ok(files)
}

/// Parses an image reference (`REGISTRY/REPOSITORY[:TAG][@DIGEST]`), with a
/// message a user can act on.
pub fn parse_reference(text: &str) -> anyhow::Result<Reference> {
    text.parse::<Reference>().map_err(|err| {
        anyhow::anyhow!(
            "{text:?} is not an image reference ({err}); write REGISTRY/REPOSITORY:TAG, e.g. 127.0.0.1:5000/hello:v1"
        )
    })
}

/// The last path segment of a reference's repository (`hello` for
/// `127.0.0.1:5000/team/hello:v1`): the default name of a pulled app.
pub fn repository_name(reference: &str) -> anyhow::Result<String> {
    let parsed = parse_reference(reference)?;
    Ok(parsed
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Loopback registries are spoken to over plain HTTP.
fn is_local(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Turns the client's errors into messages that say what happened.
fn explain(err: oci_client::errors::OciDistributionError, reference: &Reference) -> anyhow::Error {
    use oci_client::errors::OciDistributionError as E;
    let shown = reference.whole();
    let registry = reference.resolve_registry();
    match &err {
        E::ImageManifestNotFoundError(_) => {
            anyhow::anyhow!("{shown} was not found in the registry (no such repository or tag)")
        }
        E::RegistryError { envelope, .. }
            if envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, oci_client::errors::OciErrorCode::ManifestUnknown | oci_client::errors::OciErrorCode::NameUnknown)) =>
        {
            anyhow::anyhow!("{shown} was not found in the registry (no such repository or tag)")
        }
        E::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::Unauthorized
                        | oci_client::errors::OciErrorCode::Denied
                )
            }) =>
        {
            anyhow::anyhow!(
                "the registry {registry} refused the credentials for {shown}: log in (Docker config) or set NIMBUS_REGISTRY_USERNAME and NIMBUS_REGISTRY_PASSWORD"
            )
        }
        E::AuthenticationFailure(_)
        | E::UnauthorizedError { .. }
        | E::ServerError {
            code: 401 | 403, ..
        } => anyhow::anyhow!(
            "the registry {registry} refused the credentials for {shown}: log in (Docker config) or set NIMBUS_REGISTRY_USERNAME and NIMBUS_REGISTRY_PASSWORD"
        ),
        E::RequestError(inner) if inner.is_connect() || inner.is_timeout() => anyhow::anyhow!(
            "cannot reach the registry {registry}: {}",
            root_cause(inner)
        ),
        _ => anyhow::Error::new(err).context(format!("registry {registry}")),
    }
}

fn root_cause(err: &dyn std::error::Error) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
