//! `GET /hello` -> `200 text/plain` with `Hello from WASM!\n`.
//!
//! A minimal `wasi:http/incoming-handler` component (the `wasi:http/proxy`
//! world), as served by `nimbus up`, `spin up` or `wasmtime serve`.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

wasip2::http::proxy::export!(Hello);

impl Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        match request.method() {
            Method::Get | Method::Head => {
                respond(response_out, 200, "text/plain", b"Hello from WASM!\n")
            }
            _ => respond(response_out, 405, "text/plain", b"method not allowed\n"),
        }
    }
}

/// Sends a complete response: status, one `content-type` header and `body`.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers =
        Fields::from_list(&[("content-type".to_string(), content_type.as_bytes().to_vec())])
            .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing_body = response.body().expect("body is taken once");
    ResponseOutparam::set(out, Ok(response));

    {
        let stream = outgoing_body.write().expect("stream is taken once");
        // `blocking-write-and-flush` accepts at most 4096 bytes per call.
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away; nothing more to do.
                return;
            }
        }
        // The stream must be dropped before the body is finished.
    }
    let _ = OutgoingBody::finish(outgoing_body, None);
}
