//! The HTTP trigger in-process, without sockets (as axum's
//! `examples/testing` does with `oneshot`): an app loaded through the real
//! capability list, and `HttpTrigger::handle` called with an
//! `http::Request<Full<Bytes>>`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use nimbus_app::AppHost;
use nimbus_runtime::{EngineConfig, EpochTicker, Loader, PoolSize};
use nimbus_trigger_http::HttpTrigger;

/// The client address every in-process request comes from.
pub const CLIENT: &str = "192.0.2.7:40000";
/// The address every in-process request arrives on.
pub const LOCAL: &str = "127.0.0.1:3000";

/// One host (its two engines, with the epoch ticker timeouts need) for the
/// process.
pub fn host() -> &'static AppHost {
    static HOST: OnceLock<(AppHost, EpochTicker)> = OnceLock::new();
    &HOST
        .get_or_init(|| {
            let engine = EngineConfig {
                pool: Some(PoolSize::COMMAND),
                consume_fuel: false,
            }
            .build()
            .unwrap();
            let ticker = EpochTicker::start(&engine);
            let loader = Loader::new(
                engine,
                Some(nimbus_runtime::CompileCache::new(super::shared_cache())),
            );
            (AppHost::new(Arc::new(loader)).unwrap(), ticker)
        })
        .0
}

/// Loads `manifest` (`PROBE` stands for the http-probe guest) and builds
/// its HTTP trigger; the directory holds the manifest.
pub fn trigger(manifest: &str) -> (HttpTrigger, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = super::write_manifest(dir.path(), &manifest.replace("PROBE", &super::probe()));
    let manifest = nimbus_platform::triggers::read_manifest(&path).unwrap();
    let app = Arc::new(host().load(manifest).unwrap());
    (HttpTrigger::new(app).unwrap(), dir)
}

/// Sends `req` through `trigger`; the status, headers and whole body.
pub async fn send(
    trigger: &HttpTrigger,
    req: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, String) {
    let client: SocketAddr = CLIENT.parse().unwrap();
    let local: SocketAddr = LOCAL.parse().unwrap();
    let response = trigger.handle(req, client, local).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A GET of `uri` with a Host header.
pub fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri)
        .header("host", "app.example")
        .body(Full::new(Bytes::new()))
        .unwrap()
}
