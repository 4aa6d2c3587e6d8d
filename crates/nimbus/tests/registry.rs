//! Apps through a real OCI registry (`docker-registry`, started by the test
//! on 127.0.0.1): `nimbus registry push/pull`, `nimbus up --from`, `nimbus
//! deploy --from` (the node pulls), Spin's artifact format as another tool
//! writes it (an OCI layout copied in with `skopeo`), signatures, and what
//! goes wrong: a missing tag, a corrupted layer, a registry that is down.

mod common;
mod node_common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{nimbus_command, Server};
use nimbus_test_servers::OciRegistry;
use node_common::NodeServer;
use sha2::{Digest as _, Sha256};

/// More than the 128 bytes that travel inline: a layer of its own.
fn big_text(tag: &str) -> String {
    format!(
        "{tag}: {}\n",
        "the quick brown fox jumps over the lazy dog. ".repeat(8)
    )
}

/// The probe app with files: `static/` (a directory placed at `/static`)
/// and `small.txt` (a pattern; small enough to travel inline).
fn app(root: &Path, name: &str, tag: &str) -> PathBuf {
    let manifest = node_common::probe_app(
        root,
        name,
        name,
        tag,
        r#"files = [{ source = "static", destination = "/static" }, "small.txt"]
[component.probe.limits]
timeout = "5s""#,
    );
    let dir = manifest.parent().unwrap();
    std::fs::create_dir_all(dir.join("static/nested")).unwrap();
    std::fs::write(dir.join("static/big.txt"), big_text(tag)).unwrap();
    std::fs::write(dir.join("static/nested/deep.txt"), "deep\n").unwrap();
    std::fs::write(dir.join("small.txt"), format!("small {tag}\n")).unwrap();
    manifest
}

fn nimbus(args: &[&str], cache: &Path) -> Output {
    nimbus_command()
        .env("NIMBUS_CACHE_DIR", cache)
        .env_remove("NIMBUS_REGISTRY_USERNAME")
        .env_remove("NIMBUS_REGISTRY_PASSWORD")
        .args(args)
        .output()
        .expect("run nimbus")
}

/// `nimbus registry push REFERENCE -f MANIFEST EXTRA…`.
fn push(reference: &str, manifest: &Path, cache: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "registry",
        "push",
        reference,
        "-f",
        manifest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    nimbus(&args, cache)
}

/// `nimbus up --from REFERENCE` in `dir`, not started yet.
fn up_from(reference: &str, cache: &Path, dir: &Path) -> std::process::Command {
    let mut command = nimbus_command();
    command
        .env("NIMBUS_CACHE_DIR", cache)
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .args(["up", "--from", reference, "--listen", "127.0.0.1:0"]);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: Output) -> String {
    let all = text(&output);
    assert!(output.status.success(), "nimbus failed:\n{all}");
    all
}

fn failed(output: Output) -> String {
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "expected exit 1:\n{all}");
    assert!(all.contains("error: "), "{all}");
    all
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn push_pull_and_up_from_a_registry() {
    let registry = OciRegistry::start();
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let manifest = app(root.path(), "hello", "v1");
    let reference = format!("{}/hello:v1", registry.host());

    let pushed = ok(push(&reference, &manifest, &cache, &[]));
    assert!(
        pushed.contains(&format!("Pushed {reference}@sha256:")),
        "{pushed}"
    );
    // probe.wasm, big.txt, deep.txt? (5 bytes: inline), the locked app.
    assert!(
        pushed.contains("3 layers uploaded, 0 already in the registry"),
        "{pushed}"
    );
    // Content-addressed: a second push uploads nothing new.
    let again = ok(push(&reference, &manifest, &cache, &[]));
    assert!(
        again.contains("0 layers uploaded, 3 already in the registry"),
        "{again}"
    );

    // Pulled into a directory: the same Wasm, the files, a manifest nimbus runs.
    let out = root.path().join("pulled");
    ok(nimbus(
        &["registry", "pull", &reference, "-o", out.to_str().unwrap()],
        &cache,
    ));
    let wasm = std::fs::read(out.join("components/probe.wasm")).unwrap();
    let original = std::fs::read(manifest.parent().unwrap().join("probe.wasm")).unwrap();
    assert!(
        wasm == original,
        "the pulled Wasm differs from the pushed one"
    );
    let spin_toml = std::fs::read_to_string(out.join("spin.toml")).unwrap();
    assert!(
        spin_toml.contains("spin_manifest_version = 2"),
        "{spin_toml}"
    );
    assert!(
        spin_toml.contains("timeout = \"5s\""),
        "limits kept:\n{spin_toml}"
    );
    // Pulling into a directory that is not empty is refused, changing nothing.
    let refused = failed(nimbus(
        &["registry", "pull", &reference, "-o", out.to_str().unwrap()],
        &cache,
    ));
    assert!(refused.contains("not an empty directory"), "{refused}");

    let server = Server::start(&out.join("spin.toml"));
    assert_eq!(server.get("/").text().lines().next(), Some("component=v1"));
    assert_eq!(
        server.get("/?do=file&path=/static/big.txt").text(),
        big_text("v1")
    );
    assert_eq!(
        server.get("/?do=file&path=/static/nested/deep.txt").text(),
        "deep\n"
    );
    assert_eq!(server.get("/?do=file&path=/small.txt").text(), "small v1\n");
    drop(server);

    // Straight from the registry.
    let server = Server::spawn(up_from(&reference, &cache, root.path()));
    assert_eq!(server.get("/?do=file&path=/small.txt").text(), "small v1\n");
    assert!(
        server
            .logs()
            .contains(&format!("Pulled {reference}@sha256:")),
        "{}",
        server.logs()
    );
}

#[test]
fn registry_failures_are_explained() {
    let mut registry = OciRegistry::start();
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let manifest = app(root.path(), "broken", "corrupt-me");
    let reference = format!("{}/broken:v1", registry.host());
    ok(push(&reference, &manifest, &cache, &[]));

    // A tag that is not there.
    let missing = failed(nimbus(
        &[
            "registry",
            "pull",
            &format!("{}/broken:nope", registry.host()),
        ],
        &cache,
    ));
    assert!(
        missing.contains("was not found in the registry"),
        "{missing}"
    );

    // Not a reference at all.
    let bad = failed(nimbus(&["registry", "pull", "Not A Reference!"], &cache));
    assert!(bad.contains("is not an image reference"), "{bad}");

    // A layer whose bytes changed in the registry's storage: refused, and
    // nothing is written.
    let big = big_text("corrupt-me");
    let blob = registry.blob_path(&sha256(big.as_bytes()));
    let mut tampered = big.clone().into_bytes();
    tampered[0] ^= 0x20;
    std::fs::write(&blob, &tampered).unwrap();
    let out = root.path().join("out");
    let corrupt = failed(nimbus(
        &["registry", "pull", &reference, "-o", out.to_str().unwrap()],
        &cache,
    ));
    assert!(
        corrupt.contains("corrupt") || corrupt.contains("digest"),
        "{corrupt}"
    );
    assert!(!out.exists(), "a refused pull wrote {}", out.display());
    let (status, up_output) = common::up_refused(up_from(&reference, &cache, root.path()));
    assert_eq!(status.code(), Some(1), "{up_output}");

    // The registry is down.
    registry.stop();
    let down = failed(push(&reference, &manifest, &cache, &[]));
    assert!(down.contains("cannot reach the registry"), "{down}");
    let down = failed(nimbus(&["registry", "pull", &reference], &cache));
    assert!(down.contains("cannot reach the registry"), "{down}");
}

/// An artifact in Spin's layout that nimbus did not write: the OCI layout
/// is written here the way `spin registry push` lays an app out (locked app
/// as the last layer, Wasm and data layers, an inline file, `trigger`
/// metadata), and `skopeo` copies it into the registry.
#[test]
fn an_artifact_made_by_another_tool_runs() {
    let registry = OciRegistry::start();
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let layout = root.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
        (digest, bytes.len())
    };

    let wasm = std::fs::read(nimbus_test_guests::guest(
        "http-probe",
        nimbus_test_guests::Target::P2,
    ))
    .unwrap();
    let data = big_text("skopeo");
    let (wasm_digest, wasm_size) = put(&wasm);
    let (data_digest, data_size) = put(data.as_bytes());
    let tiny = b"tiny\n";
    let locked = serde_json::json!({
        "spin_lock_version": 1,
        "metadata": {
            "name": "spin-made",
            "version": "0.3.0",
            "authors": ["Someone <someone@example.com>"],
            "trigger": { "type": "http" },
            "triggers": { "http": {} }
        },
        "variables": { "greeting": { "default": "hi" } },
        "triggers": [{
            "id": "trigger-probe",
            "trigger_type": "http",
            "trigger_config": { "component": "probe", "route": "/...", "executor": null }
        }],
        "components": [{
            "id": "probe",
            "metadata": { "allowed_outbound_hosts": [], "key_value_stores": ["default"] },
            "source": { "content_type": "application/wasm", "digest": wasm_digest },
            "env": { "NAME": "made-by-skopeo" },
            "files": [
                { "digest": data_digest, "path": "data/big.txt" },
                { "inline": "dGlueQo=", "digest": sha256(tiny), "path": "tiny.txt" }
            ],
            "config": { "greeting": "{{ greeting }}" }
        }]
    });
    let locked = serde_json::to_vec(&locked).unwrap();
    let (locked_digest, locked_size) = put(&locked);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm", "os": "wasip1",
        "config": { "Labels": { "com.fermyon.spin.lockedAppDigest": locked_digest } },
        "rootfs": { "type": "layers", "diff_ids": [] }
    }))
    .unwrap();
    let (config_digest, config_size) = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": [
            { "mediaType": "application/vnd.wasm.content.layer.v1+wasm", "digest": wasm_digest, "size": wasm_size },
            { "mediaType": "application/vnd.wasm.content.layer.v1+data", "digest": data_digest, "size": data_size },
            { "mediaType": "application/vnd.fermyon.spin.application.v1+config", "digest": locked_digest, "size": locked_size }
        ],
        "annotations": { "org.opencontainers.image.title": "spin-made" }
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put(&manifest);
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest_size,
                "annotations": { "org.opencontainers.image.ref.name": "v1" }
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    registry.skopeo_copy(&format!("oci:{}:v1", layout.display()), "spin-made:v1");

    let reference = format!("{}/spin-made:v1", registry.host());
    let server = Server::spawn(up_from(&reference, &cache, root.path()));
    assert_eq!(
        server.get("/").text().lines().next(),
        Some("component=made-by-skopeo")
    );
    assert_eq!(server.get("/?do=file&path=/data/big.txt").text(), data);
    assert_eq!(server.get("/?do=file&path=/tiny.txt").text(), "tiny\n");
    assert!(
        server
            .logs()
            .contains(&format!("Pulled {reference}@{manifest_digest}")),
        "skopeo kept the manifest's digest:\n{}",
        server.logs()
    );
}

#[test]
fn a_node_pulls_from_the_registry_and_checks_signatures() {
    let registry = OciRegistry::start();
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let key = root.path().join("ci.key");
    let other = root.path().join("other.key");
    ok(nimbus(&["keygen", "-o", key.to_str().unwrap()], &cache));
    ok(nimbus(&["keygen", "-o", other.to_str().unwrap()], &cache));

    let signed_app = app(root.path(), "signed", "signed-1");
    let signed = format!("{}/team/signed:v1", registry.host());
    let pushed = ok(push(
        &signed,
        &signed_app,
        &cache,
        &["--key", key.to_str().unwrap()],
    ));
    assert!(pushed.contains("signed by "), "{pushed}");
    let unsigned_app = app(root.path(), "unsigned", "unsigned-1");
    let unsigned = format!("{}/team/unsigned:v1", registry.host());
    ok(push(&unsigned, &unsigned_app, &cache, &[]));

    // On pull, a trusted key makes a signature by it required.
    let wrong = failed(nimbus(
        &[
            "registry",
            "pull",
            &signed,
            "-o",
            root.path().join("x").to_str().unwrap(),
            "--trusted-key",
            &format!("{}.pub", other.display()),
        ],
        &cache,
    ));
    assert!(wrong.contains("not among"), "{wrong}");
    let not_signed = failed(nimbus(
        &[
            "registry",
            "pull",
            &unsigned,
            "-o",
            root.path().join("y").to_str().unwrap(),
            "--trusted-key",
            &format!("{}.pub", key.display()),
        ],
        &cache,
    ));
    assert!(not_signed.contains("not signed"), "{not_signed}");

    let data = root.path().join("node-data");
    let public_key = format!("{}.pub", key.display());
    let node = NodeServer::start(
        &data,
        &["--trusted-key", &public_key, "--require-signatures"],
    );
    let deployed = node.cli(&["deploy", "--from", &signed]);
    let out = text(&deployed);
    assert!(deployed.status.success(), "{out}\n{}", node.logs());
    assert!(out.contains("Deployed signed"), "{out}");
    assert!(out.contains("signed by "), "{out}");
    let response = node.get("signed.localhost", "/?do=file&path=/static/big.txt");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), big_text("signed-1"));
    let info = node.admin("GET", "/v1/apps/signed", b"").text();
    assert!(
        info.contains(&format!("{signed}@sha256:")),
        "the release records where it came from: {info}"
    );
    let shown = text(&node.cli(&["apps", "info", "signed"]));
    assert!(shown.contains(&format!("from {signed}@sha256:")), "{shown}");

    let refused = node.cli(&["deploy", "--from", &unsigned, "--name", "unsigned"]);
    let out = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(out.contains("not signed"), "{out}");
    assert_eq!(node.get("unsigned.localhost", "/").status, 404);

    let missing = node.cli(&[
        "deploy",
        "--from",
        &format!("{}/team/nothing:v9", registry.host()),
    ]);
    let out = text(&missing);
    assert_eq!(missing.status.code(), Some(1), "{out}");
    assert!(out.contains("was not found in the registry"), "{out}");
}

/// A registry that wants a login: refused without credentials, accepted with
/// them from the environment or from a Docker config file.
#[test]
fn credentials_come_from_the_environment_or_the_docker_config() {
    let registry = OciRegistry::start_with_user("ci-bot", "s3cret-pass");
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let manifest = app(root.path(), "private", "private-1");
    let reference = format!("{}/private:v1", registry.host());
    let push_as = |env: &[(&str, &str)]| {
        let mut command = nimbus_command();
        command
            .env("NIMBUS_CACHE_DIR", &cache)
            .env("DOCKER_CONFIG", root.path().join("no-docker-config"))
            .env_remove("NIMBUS_REGISTRY_USERNAME")
            .env_remove("NIMBUS_REGISTRY_PASSWORD")
            .args([
                "registry",
                "push",
                &reference,
                "-f",
                manifest.to_str().unwrap(),
            ]);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run nimbus")
    };

    let anonymous = failed(push_as(&[]));
    assert!(anonymous.contains("refused the credentials"), "{anonymous}");
    let wrong = failed(push_as(&[
        ("NIMBUS_REGISTRY_USERNAME", "ci-bot"),
        ("NIMBUS_REGISTRY_PASSWORD", "wrong"),
    ]));
    assert!(wrong.contains("refused the credentials"), "{wrong}");
    assert!(!wrong.contains("s3cret-pass"), "{wrong}");
    let from_env = ok(push_as(&[
        ("NIMBUS_REGISTRY_USERNAME", "ci-bot"),
        ("NIMBUS_REGISTRY_PASSWORD", "s3cret-pass"),
    ]));
    assert!(from_env.contains("Pushed "), "{from_env}");

    // ~/.docker/config.json's shape: "auths" → registry → base64(user:password).
    let docker = root.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64_encode(b"ci-bot:s3cret-pass");
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let out = root.path().join("pulled");
    let pulled = nimbus_command()
        .env("NIMBUS_CACHE_DIR", root.path().join("cache2"))
        .env("DOCKER_CONFIG", &docker)
        .env_remove("NIMBUS_REGISTRY_USERNAME")
        .env_remove("NIMBUS_REGISTRY_PASSWORD")
        .args(["registry", "pull", &reference, "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let text = ok(pulled);
    assert!(text.contains("Pulled "), "{text}");
    assert!(out.join("spin.toml").is_file());
    assert!(!text.contains("s3cret-pass"), "{text}");
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
