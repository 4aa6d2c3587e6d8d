//! A `wasi:http/incoming-handler` component for the `nimbus up` tests
//! (wasip2 only; on wasip1 it is an empty program). What it does is chosen by
//! the `do` query parameter:
//!
//! - (none): 200 with one `key=value` line per fact the test checks: the
//!   component's `NAME`, method, path, every `spin-*` header, a per-instance
//!   request counter, and the length of the request body it read
//! - `spin`: loops forever in guest code
//! - `sleep&ms=N`: sleeps N ms in a host call, then answers `slept`
//! - `hog`: allocates until memory runs out
//! - `trap`: executes `unreachable`
//! - `file&path=P`: answers with the contents of file P, or `error: ...`
//! - `env`: answers with every environment variable, one per line
//! - `big&kib=N`: answers with N KiB of `x`
//! - `fetch&url=U`: makes an outbound GET to U, answers the upstream status or
//!   `denied: <error>`

#[cfg(target_env = "p2")]
mod probe {
    use std::sync::atomic::{AtomicU32, Ordering};

    use wasip2::exports::http::incoming_handler::Guest;
    use wasip2::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse,
        ResponseOutparam, Scheme,
    };
    use wasip2::io::streams::StreamError;

    static REQUESTS: AtomicU32 = AtomicU32::new(0);

    struct Probe;
    wasip2::http::proxy::export!(Probe);

    fn query_param(query: &str, key: &str) -> Option<String> {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.to_string())
        })
    }

    impl Guest for Probe {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let count = REQUESTS.fetch_add(1, Ordering::SeqCst) + 1;
            let path_with_query = request.path_with_query().unwrap_or_default();
            let (path, query) = path_with_query
                .split_once('?')
                .unwrap_or((&path_with_query, ""));
            let action = query_param(query, "do").unwrap_or_default();
            match action.as_str() {
                "spin" => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                "sleep" => {
                    let ms = query_param(query, "ms").and_then(|m| m.parse().ok()).unwrap_or(100);
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    respond(out, 200, b"slept\n".to_vec());
                }
                "hog" => {
                    let mut blocks = Vec::new();
                    loop {
                        blocks.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&blocks);
                    }
                }
                "trap" => {
                    #[cfg(target_arch = "wasm32")]
                    core::arch::wasm32::unreachable();
                }
                "file" => {
                    let path = query_param(query, "path").unwrap_or_default();
                    let text = std::fs::read_to_string(&path)
                        .unwrap_or_else(|err| format!("error: {err}"));
                    respond(out, 200, text.into_bytes());
                }
                "env" => {
                    let text: String = std::env::vars().map(|(k, v)| format!("{k}={v}\n")).collect();
                    respond(out, 200, text.into_bytes());
                }
                "big" => {
                    let kib = query_param(query, "kib").and_then(|m| m.parse().ok()).unwrap_or(64usize);
                    respond(out, 200, vec![b'x'; kib * 1024]);
                }
                "fetch" => {
                    let url = query_param(query, "url").unwrap_or_default();
                    let text = match fetch(&url) {
                        Ok(status) => format!("upstream status: {status}\n"),
                        Err(err) => format!("denied: {err}\n"),
                    };
                    respond(out, 200, text.into_bytes());
                }
                _ => {
                    let mut text = String::new();
                    let name = std::env::var("NAME").unwrap_or_default();
                    text.push_str(&format!("component={name}\n"));
                    text.push_str(&format!("method={:?}\n", request.method()));
                    text.push_str(&format!("path={path}\n"));
                    for (key, value) in request.headers().entries() {
                        if key.starts_with("spin-") {
                            text.push_str(&format!("{key}={}\n", String::from_utf8_lossy(&value)));
                        }
                    }
                    text.push_str(&format!("count={count}\n"));
                    match read_body(request) {
                        Ok(len) => text.push_str(&format!("body={len}\n")),
                        Err(err) => text.push_str(&format!("body-error={err}\n")),
                    }
                    respond(out, 200, text.into_bytes());
                }
            }
        }
    }

    fn read_body(request: IncomingRequest) -> Result<usize, String> {
        let body = request.consume().map_err(|_| "consumed".to_string())?;
        let mut len = 0;
        {
            let stream = body.stream().map_err(|_| "no stream".to_string())?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => len += chunk.len(),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
                }
            }
        }
        Ok(len)
    }

    fn fetch(url: &str) -> Result<u16, String> {
        let rest = url.strip_prefix("http://").ok_or("only http:// urls")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let request = OutgoingRequest::new(Fields::new());
        request.set_scheme(Some(&Scheme::Http)).map_err(|_| "scheme")?;
        request.set_authority(Some(authority)).map_err(|_| "authority")?;
        request.set_path_with_query(Some(path)).map_err(|_| "path")?;
        let future = wasip2::http::outgoing_handler::handle(request, None)
            .map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or("no response")?
            .map_err(|_| "response taken twice")?
            .map_err(|e| format!("{e:?}"))?;
        Ok(response.status())
    }

    fn respond(out: ResponseOutparam, status: u16, body: Vec<u8>) {
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain".to_vec(),
        )])
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
}

fn main() {}
