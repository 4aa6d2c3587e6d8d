//! `{{project-name}}`: an HTTP handler, a `wasi:http/incoming-handler`
//! component (the `wasi:http/proxy` world) served by `nimbus up`.
//!
//! Every request gets `200 text/plain` with `Hello from {{project-name}}!`.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Handler;

wasip2::http::proxy::export!(Handler);

impl Guest for Handler {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        // The request: `_request.method()`, `_request.path_with_query()`,
        // `_request.headers()`, and the body from `_request.consume()`.
        respond(
            response_out,
            200,
            "text/plain",
            b"Hello from {{project-name}}!\n",
        );
    }
}

/// Sends a complete response: `status`, a `content-type` header and `body`.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::from_list(&[(
        "content-type".to_string(),
        content_type.as_bytes().to_vec(),
    )])
    .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing_body = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));

    {
        let stream = outgoing_body.write().expect("the stream is taken once");
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
