//! The SQLite guest served through the capability seam (`nimbus-test-host`):
//! WASI, outbound HTTP and this capability, one instance per request (like
//! `nimbus up`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_sqlite::{SqliteAppState, SqliteCapability};
use nimbus_cap_wasi::WasiCapability;
use nimbus_capability::Capabilities;
use nimbus_test_host::{toml_path, TestApp, TestAppBuilder};

/// The path of guest `sqlite-exec` (built on first use).
pub fn guest_path() -> PathBuf {
    nimbus_test_guests::package_guest("guests-spin", "sqlite-exec", nimbus_test_guests::Target::P2)
}

/// A manifest whose components (`(id, sqlite_databases)`) all run `guest`.
pub fn manifest(guest: &Path, components: &[(&str, &[&str])]) -> String {
    let mut text =
        String::from("spin_manifest_version = 2\n[application]\nname = \"sqlite-test\"\n");
    for (id, _) in components {
        text.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{id}/...\"\ncomponent = \"{id}\"\n"
        ));
    }
    for (id, labels) in components {
        let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        text.push_str(&format!(
            "[component.{id}]\nsource = {}\nsqlite_databases = [{}]\n",
            toml_path(guest),
            labels.join(", ")
        ));
    }
    text
}

/// The setup of an app of `components` running `guest`, as `app_id` with
/// its data in `dir`.
pub fn builder(
    guest: &Path,
    dir: &Path,
    app_id: &str,
    components: &[(&str, &[&str])],
) -> TestAppBuilder {
    let capabilities = Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability)
        .with(SqliteCapability);
    TestApp::builder(capabilities, manifest(guest, components))
        .app_id(app_id)
        .data_dir(dir)
}

/// An app `app_id` with its data in `dir` and one component, `db`, granted
/// the `default` database, running `guest`.
pub fn app_from(guest: &Path, dir: &Path, app_id: &str) -> Host {
    Host(
        builder(guest, dir, app_id, &[("db", &["default"])])
            .build()
            .expect("the app loads"),
    )
}

/// [`app_from`] with the `sqlite-exec` guest.
pub fn app(dir: &Path, app_id: &str) -> Host {
    app_from(&guest_path(), dir, app_id)
}

/// An app serving the SQLite guest.
pub struct Host(pub TestApp);

impl Host {
    /// The app state of the SQLite capability (migrations, paths).
    pub fn sqlite(&self) -> &SqliteAppState {
        self.0
            .services()
            .get::<SqliteCapability>()
            .expect("the app has the SQLite capability")
    }

    /// Sends `POST /exec` with `body` to a fresh instance of `component`;
    /// returns the status and the body.
    pub async fn post(&self, component: &str, body: &serde_json::Value) -> (u16, String) {
        let request = http::Request::builder()
            .method("POST")
            .uri("http://localhost/exec")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
            .unwrap();
        self.0.send(component, request).await.unwrap()
    }

    /// Runs `statements` (`(sql, params)`) on `database` in one request on
    /// one connection of `component`; returns the status and the parsed
    /// answer.
    pub async fn exec(
        &self,
        component: &str,
        database: &str,
        statements: &[(&str, serde_json::Value)],
    ) -> (u16, serde_json::Value) {
        let statements: Vec<serde_json::Value> = statements
            .iter()
            .map(|(sql, params)| serde_json::json!({"sql": sql, "params": params}))
            .collect();
        let body = serde_json::json!({"database": database, "statements": statements});
        let (status, text) = self.post(component, &body).await;
        let answer = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("answer {text:?} is not JSON: {err}"));
        (status, answer)
    }

    /// Like [`Host::exec`] on the `default` database, but panics unless it
    /// succeeded; returns the rows of the last statement.
    pub async fn query(
        &self,
        component: &str,
        statements: &[(&str, serde_json::Value)],
    ) -> serde_json::Value {
        let (status, answer) = self.exec(component, "default", statements).await;
        assert_eq!(status, 200, "{answer}");
        answer["results"].as_array().unwrap().last().unwrap()["rows"].clone()
    }
}
