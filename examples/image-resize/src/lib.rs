//! `POST /resize?w=W&h=H` with a PNG or JPEG body -> `200 image/png` with the
//! image resized to `W`x`H`.
//!
//! Either `w` or `h` may be omitted to keep the aspect ratio; at least one is
//! required, and each must be in `1..=4096`.
//!
//! Errors (all `text/plain`): bad or missing query -> 400, method other than
//! POST -> 405, body over 10 MiB or image too large to decode -> 413,
//! body that is not a decodable PNG/JPEG -> 415.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{ImageError, ImageFormat, ImageReader, Limits};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

/// Largest accepted width or height, for the request and for the result.
const MAX_DIM: u32 = 4096;
/// Largest accepted request body (matches `max_body_size` in nimbus.toml).
const MAX_BODY: usize = 10 * 1024 * 1024;
/// Largest allocation the decoder may make, so that an oversized image is a
/// clean 413 rather than a trap at the component's 64 MiB memory limit.
const MAX_DECODE_ALLOC: u64 = 32 * 1024 * 1024;

struct Resize;

wasip2::http::proxy::export!(Resize);

impl Guest for Resize {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        match handle(request) {
            Ok(png) => respond(response_out, 200, "image/png", &png),
            Err((status, message)) => {
                let mut body = message.into_bytes();
                body.push(b'\n');
                respond(response_out, status, "text/plain", &body)
            }
        }
    }
}

type HttpError = (u16, String);

fn handle(request: IncomingRequest) -> Result<Vec<u8>, HttpError> {
    if !matches!(request.method(), Method::Post) {
        return Err((
            405,
            "method not allowed: POST an image to /resize?w=W&h=H".into(),
        ));
    }
    let query = request
        .path_with_query()
        .and_then(|p| p.split_once('?').map(|(_, q)| q.to_string()))
        .unwrap_or_default();
    let (w, h) = parse_query(&query).map_err(|m| (400, m))?;

    let body = read_body(request)?;
    let img = decode(&body)?;
    drop(body);

    let (new_w, new_h) = target_size(img.width(), img.height(), w, h).map_err(|m| (400, m))?;
    let resized = img.resize_exact(new_w, new_h, FilterType::Triangle);
    drop(img);

    let mut png = Vec::new();
    resized
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| (500, format!("cannot encode PNG: {e}")))?;
    Ok(png)
}

/// Parses `w` and `h` from the query string. Other parameters are ignored.
fn parse_query(query: &str) -> Result<(Option<u32>, Option<u32>), String> {
    let (mut w, mut h) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "w" => &mut w,
            "h" => &mut h,
            _ => continue,
        };
        let n: u32 = value
            .parse()
            .map_err(|_| format!("bad query: {key} must be an integer in 1..={MAX_DIM}"))?;
        if !(1..=MAX_DIM).contains(&n) {
            return Err(format!("bad query: {key} must be in 1..={MAX_DIM}"));
        }
        *slot = Some(n);
    }
    if w.is_none() && h.is_none() {
        return Err("bad query: give w and/or h, e.g. /resize?w=64".into());
    }
    Ok((w, h))
}

/// The output size: both given -> exactly that; one given -> the other
/// follows the source aspect ratio (rounded, at least 1).
fn target_size(
    src_w: u32,
    src_h: u32,
    w: Option<u32>,
    h: Option<u32>,
) -> Result<(u32, u32), String> {
    let scaled = |num: u32, of: u32, by: u32| -> u32 {
        let v = (u64::from(num) * u64::from(of) + u64::from(by) / 2) / u64::from(by);
        v.max(1).min(u64::from(u32::MAX)) as u32
    };
    let (nw, nh) = match (w, h) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, scaled(w, src_h, src_w)),
        (None, Some(h)) => (scaled(h, src_w, src_h), h),
        (None, None) => unreachable!("checked by parse_query"),
    };
    if nw > MAX_DIM || nh > MAX_DIM {
        return Err(format!(
            "bad query: keeping the aspect ratio of {src_w}x{src_h} gives {nw}x{nh}, over {MAX_DIM}"
        ));
    }
    Ok((nw, nh))
}

/// Reads the whole request body, up to `MAX_BODY` bytes.
fn read_body(request: IncomingRequest) -> Result<Vec<u8>, HttpError> {
    let incoming = request
        .consume()
        .map_err(|_| (500, "request body already consumed".to_string()))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|_| (500, "request body stream unavailable".to_string()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err((413, format!("body too large: at most {MAX_BODY} bytes")));
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err((400, format!("cannot read body: {}", e.to_debug_string())))
                }
            }
        }
        // The stream must be dropped before the body can be finished.
    }
    drop(incoming);
    Ok(body)
}

fn decode(bytes: &[u8]) -> Result<image::DynamicImage, HttpError> {
    if bytes.is_empty() {
        return Err((415, "empty body: POST a PNG or JPEG image".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| (500, format!("cannot read body: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        _ => {
            return Err((
                415,
                "unsupported media type: body must be a PNG or JPEG image".into(),
            ))
        }
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(16 * 1024);
    limits.max_image_height = Some(16 * 1024);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        ImageError::Limits(e) => (413, format!("image too large: {e}")),
        e => (415, format!("cannot decode image: {e}")),
    })
}

/// Sends a complete response with a `content-type` and `content-length`.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), content_type.as_bytes().to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .expect("valid headers");
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
    fn query_parsing() {
        assert_eq!(parse_query("w=10"), Ok((Some(10), None)));
        assert_eq!(parse_query("h=7&x=1"), Ok((None, Some(7))));
        assert_eq!(parse_query("w=3&h=4"), Ok((Some(3), Some(4))));
        assert!(parse_query("").is_err());
        assert!(parse_query("w=0").is_err());
        assert!(parse_query("w=4097").is_err());
        assert!(parse_query("w=abc").is_err());
        assert!(parse_query("w=-1").is_err());
    }

    #[test]
    fn aspect_ratio() {
        assert_eq!(target_size(100, 50, Some(10), None), Ok((10, 5)));
        assert_eq!(target_size(100, 50, None, Some(10)), Ok((20, 10)));
        assert_eq!(target_size(100, 1, Some(10), None), Ok((10, 1)));
        assert_eq!(target_size(3, 5, Some(7), Some(9)), Ok((7, 9)));
        assert!(target_size(1, 100, Some(100), None).is_err());
    }
}
