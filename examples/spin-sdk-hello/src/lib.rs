use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

/// A simple Spin HTTP component: it echoes the `spin-path-info` header, which
/// a Spin-compatible host sets to the part of the path after the matched
/// route (here `/...`, so the whole path).
#[http_component]
fn handle_spin_sdk_hello(req: Request) -> anyhow::Result<impl IntoResponse> {
    println!("Handling request to {:?}", req.header("spin-full-url"));
    let path_info = req
        .header("spin-path-info")
        .and_then(|value| value.as_str())
        .unwrap_or("");
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("Hello from a Spin SDK component! path={path_info}"))
        .build())
}
