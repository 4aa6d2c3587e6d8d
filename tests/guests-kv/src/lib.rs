//! Shared by the wasi:keyvalue guests: a tiny HTTP layer over `wasip2`'s
//! `wasi:http` bindings. Each guest exports `wasi:http/incoming-handler`
//! (the proxy world) and answers `200` with a text body, or `500` with
//! `error: <the guest-visible error>`.

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

/// The parts of a request the guests look at.
pub struct Req {
    /// The path, without the query.
    pub path: String,
    /// The query string (no `?`).
    pub query: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Req {
    /// Reads `request` (its body included).
    pub fn read(request: IncomingRequest) -> Req {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let (path, query) = path_with_query
            .split_once('?')
            .map(|(p, q)| (p.to_string(), q.to_string()))
            .unwrap_or((path_with_query.clone(), String::new()));
        let mut body = Vec::new();
        if let Ok(incoming) = request.consume() {
            if let Ok(stream) = incoming.stream() {
                loop {
                    match stream.blocking_read(64 * 1024) {
                        Ok(chunk) => body.extend_from_slice(&chunk),
                        Err(StreamError::Closed) => break,
                        Err(StreamError::LastOperationFailed(_)) => break,
                    }
                }
            }
        }
        Req { path, query, body }
    }

    /// The value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.to_string())
        })
    }

    /// The path split into its segments: `/incr/x` → `["incr", "x"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.trim_start_matches('/').splitn(2, '/').collect()
    }
}

/// Sends a response with `status` and `body`.
pub fn respond(out: ResponseOutparam, status: u16, body: impl Into<Vec<u8>>) {
    let body = body.into();
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
        .expect("valid header");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = outgoing.write().expect("stream");
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

/// `200 body` or `500 error: {err:?}`.
pub fn answer<E: std::fmt::Debug>(out: ResponseOutparam, result: Result<String, E>) {
    match result {
        Ok(body) => respond(out, 200, body),
        Err(err) => respond(out, 500, format!("error: {err:?}")),
    }
}
