//! Signatures: ed25519 over a bundle's index (every file's path, size and
//! SHA-256), so that changing any file, adding or removing one, or changing
//! the index breaks the signature; and over an OCI artifact's locked-app
//! digest (which pins every layer), carried in a manifest annotation.
//!
//! Key files are text: `nimbus-ed25519-secret-key <base64 seed>` (written
//! with 0600 permissions) and `nimbus-ed25519-public-key <base64 key>`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::bundle::{Bundle, SignatureEntry};

const SECRET_TAG: &str = "nimbus-ed25519-secret-key";
const PUBLIC_TAG: &str = "nimbus-ed25519-public-key";
const CONTEXT: &[u8] = b"nimbus-bundle-signature-v1\n";
const ARTIFACT_CONTEXT: &[u8] = b"nimbus-oci-signature-v1\n";

/// What a signature covers: a fixed context string, then the index bytes.
pub fn signed_message(bundle: &Bundle) -> Vec<u8> {
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(&bundle.index_bytes);
    message
}

/// A short, stable name for a public key: the first 16 hex digits of the
/// SHA-256 of its bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    crate::bundle::sha256_hex(key.as_bytes())[..16].to_owned()
}

/// Generates a key pair from the operating system's randomness.
pub fn generate() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|err| anyhow::anyhow!("cannot get randomness from the operating system: {err}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `KEY` (0600) and `KEY.pub`; refuses to overwrite either.
pub fn write_key_pair(key: &SigningKey, path: &Path) -> anyhow::Result<PathBuf> {
    let public = public_path(path);
    for p in [path, public.as_path()] {
        if p.exists() {
            bail!("{} already exists; not overwriting it", p.display());
        }
    }
    let secret = format!("{SECRET_TAG} {}\n", BASE64.encode(key.to_bytes()));
    crate::store::write_private_file(path, secret.as_bytes())?;
    let public_text = format!(
        "{PUBLIC_TAG} {}\n",
        BASE64.encode(key.verifying_key().as_bytes())
    );
    std::fs::write(&public, public_text)
        .with_context(|| format!("cannot write {}", public.display()))?;
    Ok(public)
}

/// `KEY.pub` for `KEY`.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn decode_tagged(text: &str, tag: &str, path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = text.trim();
    let value = text.strip_prefix(tag).map(str::trim).with_context(|| {
        format!(
            "{} is not a nimbus key file (it should start with `{tag}`)",
            path.display()
        )
    })?;
    let bytes = BASE64
        .decode(value)
        .with_context(|| format!("{}: the key is not valid base64", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: the key is not 32 bytes", path.display()))
}

/// Reads a secret key written by [`write_key_pair`].
pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if text.trim_start().starts_with(PUBLIC_TAG) {
        bail!(
            "{} is a public key; signing needs the secret key (the file without .pub)",
            path.display()
        );
    }
    Ok(SigningKey::from_bytes(&decode_tagged(
        &text, SECRET_TAG, path,
    )?))
}

/// Reads a public key written by [`write_key_pair`].
pub fn read_verifying_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = decode_tagged(&text, PUBLIC_TAG, path)?;
    VerifyingKey::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid ed25519 public key", path.display()))
}

/// Signs `bundle` (replacing any signature it had).
pub fn sign(bundle: &mut Bundle, key: &SigningKey) {
    let signature = key.sign(&signed_message(bundle));
    bundle.signature = Some(SignatureEntry {
        algorithm: "ed25519".into(),
        public_key: BASE64.encode(key.verifying_key().as_bytes()),
        signature: BASE64.encode(signature.to_bytes()),
    });
}

/// Who signed a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// [`key_id`] of the signing key.
    pub key_id: String,
}

/// Checks a bundle's signature against `trusted` keys.
///
/// - no signature: `Ok(None)`, unless `required`;
/// - a signature that does not verify under the key it names: refused
///   (tampered), whatever the policy;
/// - a valid signature by a key not in `trusted`: refused when `trusted` is
///   not empty (with no trusted keys configured, the signer is reported but
///   not judged).
pub fn verify(
    bundle: &Bundle,
    trusted: &[VerifyingKey],
    required: bool,
) -> Result<Option<Signer>, String> {
    check_signature(
        bundle.signature.as_ref(),
        &signed_message(bundle),
        trusted,
        required,
        Signed::Bundle,
    )
}

/// What a signature covers in an OCI artifact: a fixed context string, then
/// the digest of its locked-app layer (which names every Wasm and file layer
/// by digest, so it pins the whole app).
pub fn artifact_message(locked_digest: &str) -> Vec<u8> {
    let mut message = ARTIFACT_CONTEXT.to_vec();
    message.extend_from_slice(locked_digest.as_bytes());
    message
}

/// Signs an OCI artifact: the value of its manifest annotation
/// `nimbus_oci::SIGNATURE_ANNOTATION` (a JSON [`SignatureEntry`]).
pub fn sign_artifact(key: &SigningKey, locked_digest: &str) -> String {
    let signature = key.sign(&artifact_message(locked_digest));
    let entry = SignatureEntry {
        algorithm: "ed25519".into(),
        public_key: BASE64.encode(key.verifying_key().as_bytes()),
        signature: BASE64.encode(signature.to_bytes()),
    };
    serde_json::to_string(&entry).expect("a signature entry serializes")
}

/// Checks an OCI artifact's signature annotation (if any) against `trusted`
/// keys, with the same policy as [`verify`].
pub fn verify_artifact(
    annotation: Option<&str>,
    locked_digest: &str,
    trusted: &[VerifyingKey],
    required: bool,
) -> Result<Option<Signer>, String> {
    let entry = annotation
        .map(|text| {
            serde_json::from_str::<SignatureEntry>(text)
                .map_err(|err| format!("the image's signature annotation is malformed: {err}"))
        })
        .transpose()?;
    check_signature(
        entry.as_ref(),
        &artifact_message(locked_digest),
        trusted,
        required,
        Signed::Image,
    )
}

#[derive(Clone, Copy)]
enum Signed {
    Bundle,
    Image,
}

impl Signed {
    fn noun(self) -> &'static str {
        match self {
            Signed::Bundle => "bundle",
            Signed::Image => "image",
        }
    }

    fn how_to_sign(self) -> &'static str {
        match self {
            Signed::Bundle => "sign it with `nimbus sign` or `nimbus deploy --key`",
            Signed::Image => "push it with `nimbus registry push --key`",
        }
    }
}

fn check_signature(
    entry: Option<&SignatureEntry>,
    message: &[u8],
    trusted: &[VerifyingKey],
    required: bool,
    what: Signed,
) -> Result<Option<Signer>, String> {
    let noun = what.noun();
    let Some(entry) = entry else {
        if required {
            return Err(format!(
                "the {noun} is not signed, and this node requires signatures ({})",
                what.how_to_sign()
            ));
        }
        return Ok(None);
    };
    if entry.algorithm != "ed25519" {
        return Err(format!(
            "signature algorithm {:?} is not supported (only ed25519)",
            entry.algorithm
        ));
    }
    let key_bytes: [u8; 32] = BASE64
        .decode(&entry.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature's public key is malformed")?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| "the signature's public key is not a valid ed25519 key")?;
    let signature_bytes: [u8; 64] = BASE64
        .decode(&entry.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is malformed")?;
    let signature = Signature::from_bytes(&signature_bytes);
    let id = key_id(&key);
    if key.verify(message, &signature).is_err() {
        return Err(format!(
            "the signature by key {id} does not match the {noun}'s contents (tampered after signing)"
        ));
    }
    if !trusted.is_empty() && !trusted.iter().any(|t| t.as_bytes() == key.as_bytes()) {
        return Err(format!(
            "the {noun} is signed by key {id}, which is not among this node's trusted keys"
        ));
    }
    Ok(Some(Signer { key_id: id }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn bundle() -> Bundle {
        let mut files = BTreeMap::new();
        files.insert("nimbus.toml".to_owned(), b"m".to_vec());
        files.insert("a.wasm".to_owned(), b"w".to_vec());
        Bundle::from_files("nimbus.toml", files).unwrap()
    }

    #[test]
    fn sign_and_verify() {
        let key = generate().unwrap();
        let other = generate().unwrap();
        let mut b = bundle();
        assert!(verify(&b, &[], false).unwrap().is_none());
        assert!(verify(&b, &[], true).unwrap_err().contains("not signed"));
        sign(&mut b, &key);
        let trusted = [key.verifying_key()];
        let signer = verify(&b, &trusted, true).unwrap().unwrap();
        assert_eq!(signer.key_id, key_id(&key.verifying_key()));
        assert!(verify(&b, &[other.verifying_key()], true)
            .unwrap_err()
            .contains("not among"));

        // Survives serialization; tampering with the index breaks it.
        let read = Bundle::from_bytes(&b.to_bytes(), 1 << 20).unwrap();
        assert!(verify(&read, &trusted, true).is_ok());
        let mut tampered = read.clone();
        tampered.index_bytes.push(b' ');
        assert!(verify(&tampered, &trusted, true)
            .unwrap_err()
            .contains("tampered"));
    }

    #[test]
    fn key_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = generate().unwrap();
        let public = write_key_pair(&key, &path).unwrap();
        assert_eq!(read_signing_key(&path).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
        assert!(read_signing_key(&public).is_err());
        assert!(write_key_pair(&key, &path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
