//! `native-hello ADDR`: `/hello` → "Hello from WASM!\n", `/hash/<x>` → sha256
//! hex of x, anything with `kib=N` in the query → N KiB of `x`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let body = if let Some(input) = path.strip_prefix("/hash/") {
        format!("{}\n", hex::encode(Sha256::digest(input.as_bytes()))).into_bytes()
    } else if let Some(kib) = query.split('&').find_map(|p| p.strip_prefix("kib=")) {
        vec![b'x'; kib.parse::<usize>().unwrap_or(64) * 1024]
    } else {
        b"Hello from WASM!\n".to_vec()
    };
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("Serving http://{}", listener.local_addr().unwrap());
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                .await;
        });
    }
}
