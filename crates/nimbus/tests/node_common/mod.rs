//! Helpers for the end-to-end tests of `nimbus node`: start the real node on
//! 127.0.0.1 port 0 (public and admin listeners), read both addresses from
//! its output, talk HTTP/1.1 to it with a chosen Host header, and stop it
//! (printing its logs if the test failed).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::{nimbus_command, send_raw, HttpResponse, Spawned};

/// A running `nimbus node`.
pub struct NodeServer {
    /// The process.
    pub process: Spawned,
    /// The public listener (apps).
    pub public: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The admin token.
    pub token: String,
}

impl NodeServer {
    /// Starts a node whose config file (`node.toml` beside `data_dir`) is
    /// `config`, with extra arguments.
    pub fn start_with_config(data_dir: &Path, config: &str, args: &[&str]) -> NodeServer {
        let path = data_dir
            .parent()
            .expect("the data dir has a parent")
            .join("node.toml");
        std::fs::write(&path, config).unwrap();
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(args);
        NodeServer::start(data_dir, &all)
    }

    /// Starts `nimbus node --data-dir DATA` with extra arguments, on free
    /// ports, and waits until both listeners are up.
    pub fn start(data_dir: &Path, args: &[&str]) -> NodeServer {
        NodeServer::start_with_env(data_dir, args, &[])
    }

    /// As [`NodeServer::start`], with extra environment variables.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> NodeServer {
        let mut command = nimbus_command();
        command
            .env("RUST_LOG", "info")
            .env_remove("NIMBUS_ADMIN_TOKEN")
            .arg("node")
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut process = Spawned::spawn("nimbus node", command);
        let public = process.wait_for_addr("Serving ");
        let admin = process.wait_for_addr("Admin API on ");
        let token = env
            .iter()
            .find(|(k, _)| *k == "NIMBUS_ADMIN_TOKEN")
            .map(|(_, v)| v.to_string())
            .or_else(|| {
                args.iter()
                    .position(|a| *a == "--admin-token")
                    .map(|i| args[i + 1].to_owned())
            })
            .unwrap_or_else(|| {
                std::fs::read_to_string(data_dir.join("admin-token"))
                    .expect("the node writes its admin token")
                    .trim()
                    .to_owned()
            });
        NodeServer {
            process,
            public,
            admin,
            data_dir: data_dir.to_owned(),
            token,
        }
    }

    /// Everything the node wrote to stderr so far (its log).
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Everything the node wrote to stdout so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.process.wait_for_log(needle)
    }

    /// GET `path` on the public listener for host `host`.
    pub fn get(&self, host: &str, path: &str) -> HttpResponse {
        http(self.public, "GET", host, path, &[], b"")
    }

    /// An admin request with the node's token.
    pub fn admin(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        http(
            self.admin,
            method,
            "admin",
            path,
            &[("Authorization", &auth)],
            body,
        )
    }

    /// PUTs a bundle as app `name`.
    pub fn deploy(&self, name: &str, bundle: &[u8]) -> HttpResponse {
        self.admin("PUT", &format!("/v1/apps/{name}"), bundle)
    }

    /// The admin API's `/metrics` text.
    pub fn metrics(&self) -> String {
        let response = self.admin("GET", "/metrics", b"");
        assert_eq!(response.status, 200, "{}", response.text());
        response.text()
    }

    /// Runs the `nimbus` CLI against this node (`--to` and the token in the
    /// environment).
    pub fn cli(&self, args: &[&str]) -> Output {
        nimbus_command()
            .env("NIMBUS_NODE", format!("http://{}", self.admin))
            .env("NIMBUS_ADMIN_TOKEN", &self.token)
            .args(args)
            .output()
            .expect("run nimbus")
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        self.process.kill();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }
}

/// One HTTP/1.1 request with a chosen Host header.
pub fn http(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw)
}

/// Writes an app using the http-probe guest into `root/dir`: the guest is
/// copied in (bundles hold only files below the manifest), it answers
/// `component=VERSION`, and `extra` is appended to the manifest.
pub fn probe_app(root: &Path, dir: &str, name: &str, version: &str, extra: &str) -> PathBuf {
    let app = root.join(dir);
    std::fs::create_dir_all(&app).unwrap();
    let wasm = nimbus_test_guests::guest("http-probe", nimbus_test_guests::Target::P2);
    std::fs::copy(wasm, app.join("probe.wasm")).unwrap();
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "{name}"
version = "{version}"

[[trigger.http]]
route = "/..."
component = "probe"

[component.probe]
source = "probe.wasm"
environment = {{ NAME = "{version}" }}
{extra}
"#
    );
    let path = app.join("nimbus.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

/// Packs the app of `manifest` into bundle bytes.
pub fn bundle(manifest: &Path) -> Vec<u8> {
    nimbus_platform::bundle::pack(manifest)
        .expect("pack the app")
        .to_bytes()
}

/// The first line of a response body.
pub fn first_line(response: &HttpResponse) -> String {
    response
        .text()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Polls `/metrics` until it contains every one of `needles`.
pub fn wait_for_metrics(node: &NodeServer, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = node.metrics();
        if needles.iter().all(|n| text.contains(n)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never contained {needles:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
