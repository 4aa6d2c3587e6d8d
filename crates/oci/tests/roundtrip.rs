//! Pack an app into layers and unpack it again, as a shim does with the
//! layers containerd hands it: the manifest that comes out means what the
//! one that went in meant, and every file is where the guest expects it.

use nimbus_manifest::Manifest;
use nimbus_oci::{pack, unpack_layers, LayerContent};

const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "round"
version = "2.0.0"
[application.trigger.redis]
address = "redis://127.0.0.1:6379"
[variables]
token = { required = true, secret = true }
[[trigger.http]]
route = "/api/..."
component = "web"
[[trigger.redis]]
channel = "orders"
component = "worker"
[component.web]
source = "web.wasm"
files = [{ source = "assets", destination = "/www" }, "notes/*.txt"]
exclude_files = ["assets/secret.key"]
environment = { MODE = "prod" }
allowed_outbound_hosts = ["https://api.example.com", "redis://{{ token }}.example.com"]
key_value_stores = ["default"]
sqlite_databases = ["default"]
variables = { auth = "Bearer {{ token }}" }
[component.web.limits]
memory = "32MiB"
timeout = "2s"
[component.worker]
source = "web.wasm"
"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("web.wasm"), WASM).unwrap();
    std::fs::create_dir_all(dir.path().join("assets/css")).unwrap();
    std::fs::write(dir.path().join("assets/index.html"), "x".repeat(500)).unwrap();
    std::fs::write(dir.path().join("assets/css/site.css"), "body{}").unwrap();
    std::fs::write(dir.path().join("assets/secret.key"), "never").unwrap();
    std::fs::create_dir_all(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/a.txt"), "a").unwrap();
    std::fs::write(dir.path().join("notes/b.md"), "b").unwrap();
    dir
}

#[test]
fn an_app_survives_pack_and_unpack() {
    let dir = app();
    let manifest = Manifest::from_file(dir.path().join("spin.toml")).unwrap();
    let packed = pack(&manifest).unwrap();
    // One Wasm layer for two components, one data layer (the rest is
    // inline), the locked app.
    assert_eq!(packed.layers.len(), 3, "{:?}", packed.layers);
    let layers: Vec<LayerContent> = packed
        .layers
        .iter()
        .map(|l| LayerContent {
            media_type: l.media_type.clone(),
            digest: l.digest.clone(),
            data: l.data.to_vec(),
        })
        .collect();
    let files = unpack_layers(layers.clone(), None).unwrap();

    let out = tempfile::tempdir().unwrap();
    files.write_to(out.path()).unwrap();
    let back = Manifest::from_file(out.path().join("spin.toml")).unwrap();
    assert_eq!(back.name(), "round");
    assert_eq!(back.version(), Some("2.0.0"));
    assert_eq!(back.triggers.len(), 2);
    assert!(back.application.trigger_settings.contains_key("redis"));
    let web = back.component("web").unwrap();
    assert_eq!(web.environment["MODE"], "prod");
    assert_eq!(web.limits.memory, Some(32 << 20));
    assert_eq!(web.limits.timeout, Some(std::time::Duration::from_secs(2)));
    let hosts: Vec<String> = web
        .allowed_outbound_hosts
        .iter()
        .map(|h| h.to_string())
        .collect();
    assert_eq!(
        hosts,
        ["https://api.example.com", "redis://{{ token }}.example.com"]
    );
    assert_eq!(web.variables.len(), 1);
    assert!(back.variables.values().any(|v| v.secret && v.required));
    assert_eq!(std::fs::read(out.path().join(&web.source)).unwrap(), WASM);

    let root = out.path().join("files/web");
    assert_eq!(
        std::fs::read_to_string(root.join("www/index.html")).unwrap(),
        "x".repeat(500)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("www/css/site.css")).unwrap(),
        "body{}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("notes/a.txt")).unwrap(),
        "a"
    );
    assert!(
        !root.join("notes/b.md").exists(),
        "the pattern took only *.txt"
    );
    assert!(
        !root.join("www/secret.key").exists(),
        "exclude_files is honoured"
    );
    assert!(!out.path().join("files/worker").exists());

    // A layer whose bytes do not match its digest is refused.
    let mut broken = layers;
    broken[0].data.push(0);
    let err = unpack_layers(broken, None).unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");
}
