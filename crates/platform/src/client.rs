//! A small client for a node's admin API (`nimbus deploy`, `nimbus apps`).
//! Plain `http://` only: the admin listener is meant for localhost or a
//! private network (put a TLS proxy in front of it otherwise).

use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long a request waits for `100 Continue` before it sends its body
/// anyway.
const CONTINUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the admin API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct AdminClient {
    authority: String,
    base: String,
    token: Option<String>,
}

/// A response from the admin API.
#[derive(Debug, Clone)]
pub struct AdminResponse {
    /// The status.
    pub status: StatusCode,
    /// The body (JSON, or Prometheus text for `/metrics`).
    pub body: Bytes,
}

impl AdminResponse {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the node's answer is not JSON")
    }

    /// `Ok(self)` for a 2xx status; otherwise an error with the node's reason.
    pub fn ok(self) -> anyhow::Result<AdminResponse> {
        if self.status.is_success() {
            return Ok(self);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            bail!("the node refused the admin token (401); pass the token with --token or NIMBUS_ADMIN_TOKEN (it is in the node's DATA/admin-token)");
        }
        let reason = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_owned());
        bail!("{} ({})", reason, self.status)
    }
}

impl AdminClient {
    /// A client for the node at `url` (`http://HOST:PORT`, optionally with a
    /// path prefix).
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<AdminClient> {
        let Some(rest) = url.strip_prefix("http://") else {
            if url.starts_with("https://") {
                bail!("{url}: https is not supported by this client; reach the admin API over http (e.g. through an SSH tunnel)");
            }
            bail!("{url}: the node's admin URL must start with http://");
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("{url}: no host in the URL");
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(AdminClient {
            authority,
            base: base.to_owned(),
            token,
        })
    }

    /// Sends one request and reads the whole response.
    ///
    /// A request with a body asks `Expect: 100-continue` and sends the body
    /// only once the node says to go on: a node that refuses it at once (a
    /// bundle over its `max_bundle_size`: `413`) is heard, instead of the
    /// upload failing with a broken pipe.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<AdminResponse> {
        let mut stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("cannot connect to the node at {}", self.authority))?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.base,
            self.authority,
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !body.is_empty() {
            head.push_str("Expect: 100-continue\r\n");
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .context("cannot send the request to the node")?;

        let mut received = Vec::new();
        let mut write_error = None;
        if !body.is_empty() {
            // RFC 9110: a client that waited long enough sends the body anyway.
            let go_on =
                tokio::time::timeout(CONTINUE_TIMEOUT, read_head(&mut stream, &mut received)).await;
            let send_body = match go_on {
                Ok(Ok(Some(head))) if head.status == StatusCode::CONTINUE => {
                    received.drain(..head.len);
                    true
                }
                // A final answer: the body is not wanted.
                Ok(Ok(Some(_))) => false,
                Ok(Ok(None)) => bail!("the node closed the connection without an answer"),
                Ok(Err(err)) => return Err(err),
                Err(_elapsed) => true,
            };
            if send_body {
                if let Err(err) = stream.write_all(&body).await {
                    // The node may have answered before it stopped reading.
                    write_error = Some(err);
                }
            }
        }
        if let Err(err) = stream.read_to_end(&mut received).await {
            if received.is_empty() {
                return Err(err).context("the node did not answer");
            }
        }
        loop {
            let Some(head) = parse_head(&received)? else {
                return Err(match write_error {
                    Some(err) => anyhow::Error::new(err).context("cannot send the request body"),
                    None => anyhow::anyhow!("the node closed the connection without an answer"),
                });
            };
            received.drain(..head.len);
            if head.status.is_informational() {
                continue;
            }
            let body = match (head.chunked, head.content_length) {
                (true, _) => decode_chunked(&received)?,
                (false, Some(len)) => {
                    if received.len() < len {
                        bail!("the node's answer was cut short");
                    }
                    received.truncate(len);
                    received
                }
                (false, None) => received,
            };
            return Ok(AdminResponse {
                status: head.status,
                body: Bytes::from(body),
            });
        }
    }

    /// [`AdminClient::send`] on a fresh single-threaded runtime, for the CLI.
    pub fn send_blocking(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<AdminResponse> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(self.send(method, path, body))
    }
}

/// A response's status line and headers, parsed.
struct Head {
    status: StatusCode,
    /// Its length in bytes, up to and including the blank line.
    len: usize,
    content_length: Option<usize>,
    chunked: bool,
}

/// Parses the response head at the start of `buf`; `None` if incomplete.
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => bail!("the node's answer is not HTTP: {err}"),
    };
    let status = StatusCode::from_u16(response.code.unwrap_or(0))
        .context("the node's answer has no valid status")?;
    let mut content_length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .trim()
                    .parse()
                    .context("the node's answer has an invalid Content-Length")?,
            );
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok(Some(Head {
        status,
        len,
        content_length,
        chunked,
    }))
}

/// Reads from `stream` into `buf` until a whole response head is there;
/// `None` if the node closed the connection first.
async fn read_head(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> anyhow::Result<Option<Head>> {
    loop {
        if let Some(head) = parse_head(buf)? {
            return Ok(Some(head));
        }
        let mut chunk = [0u8; 4096];
        let read = stream
            .read(&mut chunk)
            .await
            .context("cannot read the node's answer")?;
        if read == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn decode_chunked(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("the node's answer was cut short")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .context("the node's answer has an invalid chunk")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if data.len() < size + 2 {
            bail!("the node's answer was cut short");
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_with_either_framing() {
        let raw = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 5\r\n\r\nhello";
        let head = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(head.content_length, Some(5));
        assert_eq!(&raw[head.len..], b"hello");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert_eq!(
            decode_chunked(b"5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n").unwrap(),
            b"hello!"
        );
        assert!(decode_chunked(b"5\r\nhel").is_err());
    }
}
