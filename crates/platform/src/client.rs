//! A small client for a node's admin API (`nimbus deploy`, `nimbus apps`).
//! Plain `http://` only: the admin listener is meant for localhost or a
//! private network (put a TLS proxy in front of it otherwise).

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

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
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<AdminResponse> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("cannot connect to the node at {}", self.authority))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("cannot talk HTTP to the node")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(http::header::HOST, &self.authority)
            .header(http::header::CONTENT_LENGTH, body.len());
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let response = sender
            .send_request(request)
            .await
            .context("the node did not answer")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("cannot read the node's answer")?
            .to_bytes();
        Ok(AdminResponse { status, body })
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
