//! A WAGI handler: a plain WASI preview 1 command, run once per request.
//!
//! WAGI (like CGI) passes the request in environment variables
//! (`REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`, ...) and the request body
//! on stdin. The program writes headers, a blank line and the body to stdout.
//! A `status:` header line sets the HTTP status (default 200).

use std::env;
use std::io::{self, Read, Write};

fn main() -> io::Result<()> {
    let method = env::var("REQUEST_METHOD").unwrap_or_default();
    let path = env::var("PATH_INFO").unwrap_or_default();
    let query = env::var("QUERY_STRING").unwrap_or_default();

    let mut body = Vec::new();
    if method.eq_ignore_ascii_case("POST") {
        io::stdin().read_to_end(&mut body)?;
    }

    let mut out = io::stdout().lock();
    // `?status=418` demonstrates the CGI `Status` header.
    if query.split('&').any(|pair| pair == "status=418") {
        writeln!(out, "status: 418")?;
    }
    writeln!(out, "content-type: text/plain")?;
    writeln!(out)?;
    writeln!(
        out,
        "Hello from WAGI! method={method} path={path} query={query}"
    )?;
    if method.eq_ignore_ascii_case("POST") {
        writeln!(out, "body={}", String::from_utf8_lossy(&body))?;
    }
    out.flush()
}
