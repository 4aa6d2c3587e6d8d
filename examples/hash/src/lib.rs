//! `GET /hash/<input>` -> `200 text/plain` with the lowercase hex SHA-256 of
//! `<input>` (percent-decoded) and a newline.
//!
//! The input is the part of the path after the matched route `/hash/...`.
//! Spin-compatible hosts pass it in the `spin-path-info` request header; when
//! that header is absent (e.g. `wasmtime serve`), the `/hash/` prefix is
//! stripped from the request path instead.

use sha2::{Digest, Sha256};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const PREFIX: &str = "/hash/";

struct Hash;

wasip2::http::proxy::export!(Hash);

impl Guest for Hash {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        if !matches!(request.method(), Method::Get | Method::Head) {
            return respond(response_out, 405, b"method not allowed\n");
        }

        let raw = match raw_input(&request) {
            Some(raw) if !raw.is_empty() => raw,
            _ => return respond(response_out, 400, b"missing input: use GET /hash/<input>\n"),
        };

        let input = percent_decode(raw.as_bytes());
        let digest = Sha256::digest(&input);
        let mut body = to_hex(&digest);
        body.push('\n');
        respond(response_out, 200, body.as_bytes());
    }
}

/// The still percent-encoded input: the `spin-path-info` header when the host
/// sets it, else the request path minus the `/hash/` prefix (query dropped).
fn raw_input(request: &IncomingRequest) -> Option<String> {
    let headers = request.headers();
    if let Some(value) = headers.get("spin-path-info").into_iter().next() {
        let info = String::from_utf8(value).ok()?;
        // Spin's path info starts with `/` (route `/hash/...` gives `/<input>`).
        return Some(info.strip_prefix('/').unwrap_or(&info).to_string());
    }
    drop(headers);

    let path_with_query = request.path_with_query()?;
    let path = path_with_query.split('?').next().unwrap_or("");
    path.strip_prefix(PREFIX).map(str::to_string)
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(hi), Some(lo)) = (hex_val(input[i + 1]), hex_val(input[i + 2])) {
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

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
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
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode(b"a%20b"), b"a b");
        assert_eq!(percent_decode(b"%e2%9C%93"), "✓".as_bytes());
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
    }
}
