//! A WASI 0.3 HTTP handler (`wasi:http/handler@0.3.0`) that streams its
//! response: it returns the response at once and writes the body afterwards,
//! in `?chunks=N` chunks (default 3) 20 ms apart, from a task that outlives
//! `handle`. The first chunk says what it was asked: method, path and the
//! request body (read as a stream).

use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_bindgen, wit_future, wit_stream};

wasip3::http::service::export!(Streamer);

struct Streamer;

impl wasip3::exports::http::handler::Guest for Streamer {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let method = format!("{:?}", request.get_method());
        let path = request.get_path_with_query().unwrap_or_default();
        let chunks: usize = path
            .split_once("chunks=")
            .and_then(|(_, n)| n.split('&').next()?.parse().ok())
            .unwrap_or(3);
        let (_, request_result) = wit_future::new(|| Ok(()));
        let (body, trailers) = Request::consume_body(request, request_result);
        let body = body.collect().await;
        drop(trailers);

        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain".to_vec(),
        )])
        .map_err(|_| ErrorCode::InternalError(Some("bad header".into())))?;
        let (mut body_tx, body_rx) = wit_stream::new();
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
        drop(trailers_tx);
        let first = format!(
            "p3 {method} {path} body={:?}\n",
            String::from_utf8_lossy(&body)
        );
        wit_bindgen::spawn(async move {
            body_tx.write_all(first.into_bytes()).await;
            for i in 1..=chunks {
                wasip3::clocks::monotonic_clock::wait_for(20_000_000).await;
                body_tx.write_all(format!("chunk {i}\n").into_bytes()).await;
            }
        });
        Ok(response)
    }
}

fn main() {}
