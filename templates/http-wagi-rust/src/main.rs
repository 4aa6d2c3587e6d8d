//! `{{project-name}}`: an HTTP handler run CGI-style by the WAGI executor of
//! `nimbus up`, a plain WASI program (`wasm32-wasip1`) started once per request.
//!
//! The request arrives as in CGI: its method, path and query in environment
//! variables (`REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`, `CONTENT_LENGTH`,
//! and `HTTP_*` for the headers) and its body on stdin. The response goes to
//! stdout: header lines, a blank line, then the body. A `status: 404` header
//! line sets the HTTP status (default 200). Stderr goes to the server's log.

use std::env;
use std::io::{self, Read, Write};

fn main() -> io::Result<()> {
    let method = env::var("REQUEST_METHOD").unwrap_or_default();
    let path = env::var("PATH_INFO").unwrap_or_default();
    let query = env::var("QUERY_STRING").unwrap_or_default();
    let content_length = env::var("CONTENT_LENGTH")
        .ok()
        .and_then(|length| length.parse::<u64>().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    io::stdin().take(content_length).read_to_end(&mut body)?;
    eprintln!("{method} {path} query={query:?} body={} bytes", body.len());

    let mut out = io::stdout().lock();
    writeln!(out, "content-type: text/plain")?;
    writeln!(out)?;
    writeln!(out, "Hello from {{project-name}}!")?;
    out.flush()
}
