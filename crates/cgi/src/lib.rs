//! Parsing a WAGI (CGI) response: header lines, a blank line, the body.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// A CGI response that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgiError {
    /// No blank line ends the headers.
    #[error("the output has no blank line after the headers (print `content-type: text/plain` and an empty line first)")]
    NoHeaderEnd,
    /// A header line without a colon, or with an invalid name or value.
    #[error("invalid header line {0:?}")]
    BadHeader(String),
    /// A `Status` header that is not a 3-digit code.
    #[error("invalid Status header {0:?}")]
    BadStatus(String),
}

/// A parsed CGI response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiResponse {
    /// From `Status`, else 302 when there is a `Location`, else 200.
    pub status: StatusCode,
    /// Every header but `Status`.
    pub headers: HeaderMap,
    /// Everything after the blank line.
    pub body: Bytes,
}

/// Parses the stdout of a WAGI guest.
pub fn parse(output: Bytes) -> Result<CgiResponse, CgiError> {
    let (head_len, body_start) = find_header_end(&output).ok_or(CgiError::NoHeaderEnd)?;
    let head = String::from_utf8_lossy(&output[..head_len]).into_owned();
    let mut status = None;
    let mut headers = HeaderMap::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| CgiError::BadHeader(line.to_owned()))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("");
            let code = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| CgiError::BadStatus(value.to_owned()))?;
            status = Some(code);
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CgiError::BadHeader(line.to_owned()))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| CgiError::BadHeader(line.to_owned()))?;
        headers.append(name, value);
    }
    let status = status.unwrap_or(if headers.contains_key(http::header::LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    Ok(CgiResponse {
        status,
        headers,
        body: output.slice(body_start..),
    })
}

/// The length of the header block and where the body starts: after the first
/// `\n\n` or `\r\n\r\n` (or a mix such as `\r\n\n`).
fn find_header_end(output: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(offset) = output[i..].iter().position(|&b| b == b'\n') {
        let nl = i + offset;
        let rest = &output[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some((nl, nl + 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((nl, nl + 3));
        }
        i = nl + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_response() {
        let r = parse(Bytes::from_static(b"content-type: text/plain\n\nhello\n")).unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "text/plain");
        assert_eq!(r.body, "hello\n");
    }

    #[test]
    fn status_and_crlf() {
        let r = parse(Bytes::from_static(
            b"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n<h1>no</h1>",
        ))
        .unwrap();
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(!r.headers.contains_key("status"));
        assert_eq!(r.body, "<h1>no</h1>");
    }

    #[test]
    fn location_means_redirect() {
        let r = parse(Bytes::from_static(b"Location: /elsewhere\n\n")).unwrap();
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.headers["location"], "/elsewhere");
        assert!(r.body.is_empty());
    }

    #[test]
    fn malformed() {
        assert_eq!(
            parse(Bytes::from_static(b"hello")),
            Err(CgiError::NoHeaderEnd)
        );
        assert!(matches!(
            parse(Bytes::from_static(b"no colon here\n\n")),
            Err(CgiError::BadHeader(_))
        ));
        assert!(matches!(
            parse(Bytes::from_static(b"Status: abc\n\n")),
            Err(CgiError::BadStatus(_))
        ));
        assert!(matches!(
            parse(Bytes::from_static(b"Status: 99\n\n")),
            Err(CgiError::BadStatus(_))
        ));
    }

    #[test]
    fn body_may_contain_blank_lines() {
        let r = parse(Bytes::from_static(b"a: b\n\nline1\n\nline2")).unwrap();
        assert_eq!(r.body, "line1\n\nline2");
    }
}
