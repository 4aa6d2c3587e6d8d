//! `GET /fetch?url=<url>` -> performs `GET <url>` with
//! `wasi:http/outgoing-handler` and answers `200 text/plain`:
//!
//! ```text
//! upstream status: <status>
//! <upstream body>
//! ```
//!
//! If the outgoing request fails (the host denies it because the URL is not in
//! `allowed_outbound_hosts`, the connection is refused, ...) the answer is
//! `502` with `outbound request failed: <ErrorCode as Debug>`.
//! A missing or unusable `url` parameter gives `400`.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};
use wasip2::io::streams::StreamError;

/// Upstream bodies larger than this are cut off (this is a demo, not a proxy).
const MAX_UPSTREAM_BODY: usize = 8 * 1024 * 1024;

struct Outbound;

wasip2::http::proxy::export!(Outbound);

impl Guest for Outbound {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (status, body) = match handle(&request) {
            Ok(body) => (200, body),
            Err(Failure::BadRequest(message)) => (400, format!("{message}\n").into_bytes()),
            Err(Failure::Upstream(code)) => (
                502,
                format!("outbound request failed: {code:?}\n").into_bytes(),
            ),
        };
        respond(response_out, status, &body);
    }
}

enum Failure {
    BadRequest(String),
    Upstream(ErrorCode),
}

fn handle(request: &IncomingRequest) -> Result<Vec<u8>, Failure> {
    if !matches!(request.method(), Method::Get) {
        return Err(Failure::BadRequest(
            "method not allowed: use GET /fetch?url=<url>".into(),
        ));
    }
    let path_with_query = request.path_with_query().unwrap_or_default();
    let query = path_with_query
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("");
    let url = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "url")
        .map(|(_, value)| percent_decode(value))
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Failure::BadRequest("missing query parameter: url".into()))?;
    let url =
        String::from_utf8(url).map_err(|_| Failure::BadRequest("bad url: not UTF-8".into()))?;
    let target = Url::parse(&url).map_err(Failure::BadRequest)?;

    let upstream = get(&target).map_err(Failure::Upstream)?;
    let status = upstream.status();
    let upstream_body = read_body(upstream).map_err(Failure::Upstream)?;

    let mut body = format!("upstream status: {status}\n").into_bytes();
    body.extend_from_slice(&upstream_body);
    Ok(body)
}

/// The parts of an `http://` or `https://` URL that `wasi:http` needs.
struct Url {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!(
                "bad url: {url:?} is not an http:// or https:// URL"
            ));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() {
            return Err(format!("bad url: {url:?} has no host"));
        }
        let path_with_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Url {
            scheme,
            authority: authority.to_string(),
            path_with_query,
        })
    }
}

/// Sends `GET target` and waits for the response head.
fn get(target: &Url) -> Result<IncomingResponse, ErrorCode> {
    let request = OutgoingRequest::new(Fields::new());
    let invalid = |what: &str| ErrorCode::InternalError(Some(format!("invalid {what}")));
    request
        .set_method(&Method::Get)
        .map_err(|_| invalid("method"))?;
    request
        .set_scheme(Some(&target.scheme))
        .map_err(|_| invalid("scheme"))?;
    request
        .set_authority(Some(&target.authority))
        .map_err(|_| invalid("authority"))?;
    request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|_| invalid("path"))?;

    // A request whose body is never taken is sent with an empty body.
    let future = outgoing_handler::handle(request, None)?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(result)) => result,
        Some(Err(())) => Err(ErrorCode::InternalError(Some(
            "response already taken".into(),
        ))),
        None => Err(ErrorCode::InternalError(Some("response not ready".into()))),
    }
}

/// Reads the whole upstream body (up to `MAX_UPSTREAM_BODY` bytes).
fn read_body(response: IncomingResponse) -> Result<Vec<u8>, ErrorCode> {
    let internal = |what: &str| ErrorCode::InternalError(Some(what.to_string()));
    let incoming = response
        .consume()
        .map_err(|_| internal("body already taken"))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|_| internal("body stream unavailable"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() >= MAX_UPSTREAM_BODY {
                        body.truncate(MAX_UPSTREAM_BODY);
                        break;
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(wasip2::http::types::http_error_code(&e)
                        .unwrap_or_else(|| ErrorCode::InternalError(Some(e.to_debug_string()))));
                }
            }
        }
    }
    drop(incoming);
    drop(response);
    Ok(body)
}

/// Decodes `%XX` escapes (not `+`); malformed escapes are kept as they are.
fn percent_decode(input: &str) -> Vec<u8> {
    let input = input.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(hi), Some(lo)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Sends a complete `text/plain` response.
fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
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
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing_body, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?c=d#frag").unwrap();
        assert!(matches!(u.scheme, Scheme::Http));
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.path_with_query, "/a/b?c=d");
        let u = Url::parse("https://example.com").unwrap();
        assert!(matches!(u.scheme, Scheme::Https));
        assert_eq!(u.path_with_query, "/");
        assert_eq!(Url::parse("http://h?x=1").unwrap().path_with_query, "/?x=1");
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("http:///x").is_err());
    }

    #[test]
    fn decoding() {
        assert_eq!(
            percent_decode("http%3A%2F%2F127.0.0.1%3A80%2F"),
            b"http://127.0.0.1:80/"
        );
        assert_eq!(percent_decode("a+b%"), b"a+b%");
    }
}
