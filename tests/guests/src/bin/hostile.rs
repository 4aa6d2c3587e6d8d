//! A hostile `wasi:http/incoming-handler` component for the hostile-guest
//! suite (`crates/nimbus/tests/hostile_guests.rs`); wasip2 only, on wasip1 it
//! is an empty program. The `do` query parameter picks the attack:
//!
//! - `recurse[&native=1]`: unbounded recursion, overflowing the shadow stack
//!   in linear memory (or, with `native`, Wasmtime's wasm call stack)
//! - `fields&bytes=N`: creates `fields` holding N bytes each, keeping every
//!   one, until the host refuses; answers `fields refused after K` if a
//!   `fields` is refused (too big) rather than trapping
//! - `bodies`: creates outgoing requests and fills their bodies without ever
//!   sending them, keeping every one, until the host stops it
//! - `files&path=P`: opens file P again and again, keeping every handle
//! - `stream&mib=N`: streams an N MiB response body in 64 KiB writes;
//!   stops when the client goes away
//! - `noread`: answers `ignored` without reading the request body
//! - `links&dir=D`: tries hard links out of, into and within preopen D;
//!   one line per attempt, `BLOCKED <what>` or `ESCAPED <what>`
//! - `preopens`: one line per preopened directory the guest was given
//! - `sockets&port=P`: wasi:sockets TCP connect and UDP send to
//!   127.0.0.1:P, and a DNS lookup of `localhost`; one line each
//! - `file&path=P`: the contents of file P, or `error: ...`
//! - `env`: every environment variable, one per line
//! - `fetch&url=U[&follow=1]`: an outbound GET to U (following one redirect
//!   by hand when `follow` is set); answers `status N` or `error: E`, one
//!   line per request made

#[cfg(target_env = "p2")]
mod hostile {
    use wasip2::exports::http::incoming_handler::Guest;
    use wasip2::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
        Scheme,
    };

    struct Hostile;
    wasip2::http::proxy::export!(Hostile);

    fn query_param(query: &str, key: &str) -> Option<String> {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.to_string())
        })
    }

    impl Guest for Hostile {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let path_with_query = request.path_with_query().unwrap_or_default();
            let query = path_with_query
                .split_once('?')
                .map(|(_, q)| q.to_owned())
                .unwrap_or_default();
            let param = |key: &str| query_param(&query, key);
            let action = param("do").unwrap_or_default();
            let text = match action.as_str() {
                "recurse" if param("native").is_some() => format!("depth {}", recurse_native(0)),
                "recurse" => format!("depth {}", recurse(0)),
                "fields" => fields(
                    param("bytes")
                        .and_then(|b| b.parse().ok())
                        .unwrap_or(30_000),
                ),
                "bodies" => bodies(),
                "files" => files(&param("path").unwrap_or_default()),
                "stream" => {
                    let mib = param("mib").and_then(|m| m.parse().ok()).unwrap_or(1024u64);
                    return stream(out, mib);
                }
                "noread" => "ignored\n".to_owned(),
                "links" => links(&param("dir").unwrap_or_default()),
                "preopens" => wasip2::filesystem::preopens::get_directories()
                    .into_iter()
                    .map(|(_, name)| format!("{name}\n"))
                    .collect(),
                "sockets" => sockets(param("port").and_then(|p| p.parse().ok()).unwrap_or(1)),
                "file" => std::fs::read_to_string(param("path").unwrap_or_default())
                    .unwrap_or_else(|err| format!("error: {err}")),
                "env" => std::env::vars()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect(),
                "fetch" => fetch_all(&param("url").unwrap_or_default(), param("follow").is_some()),
                other => format!("unknown action {other:?}\n"),
            };
            drop(request);
            respond(out, 200, text.as_bytes());
        }
    }

    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        if depth == u64::MAX {
            return 0;
        }
        let pad = std::hint::black_box([depth; 64]);
        std::hint::black_box(recurse(depth + 1)) + pad[7]
    }

    /// No locals in linear memory: overflows Wasmtime's native wasm stack
    /// rather than the shadow stack.
    #[inline(never)]
    fn recurse_native(depth: u64) -> u64 {
        if depth == u64::MAX {
            return 0;
        }
        // Not a tail call, and nothing LLVM can turn into a loop.
        recurse_native(depth + 1).rotate_left(7) ^ depth
    }

    fn fields(bytes: usize) -> String {
        let value = vec![b'a'; bytes];
        let mut kept = Vec::new();
        loop {
            match Fields::from_list(&[("x-pad".to_string(), value.clone())]) {
                Ok(fields) => kept.push(fields),
                Err(err) => return format!("fields refused after {}: {err:?}\n", kept.len()),
            }
        }
    }

    fn bodies() -> String {
        let chunk = vec![b'b'; 64 << 10];
        let mut kept = Vec::new();
        loop {
            let request = OutgoingRequest::new(Fields::new());
            let body = request.body().expect("body");
            let stream = body.write().expect("stream");
            // Fill what the host buffers without a reader.
            for _ in 0..4 {
                match stream.check_write() {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let n = (n as usize).min(chunk.len());
                        if stream.write(&chunk[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            kept.push((request, body, stream));
        }
    }

    fn files(path: &str) -> String {
        let mut kept = Vec::new();
        loop {
            match std::fs::File::open(path) {
                Ok(file) => kept.push(file),
                Err(err) => return format!("open refused after {}: {err}\n", kept.len()),
            }
        }
    }

    fn stream(out: ResponseOutparam, mib: u64) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("stream");
        let chunk = vec![b'z'; 64 << 10];
        let mut left = mib << 20;
        while left > 0 {
            let budget = match stream.check_write() {
                Ok(0) => {
                    stream.subscribe().block();
                    continue;
                }
                Ok(n) => n,
                // The client went away.
                Err(_) => return,
            };
            let n = budget.min(chunk.len() as u64).min(left);
            if stream.write(&chunk[..n as usize]).is_err() {
                return;
            }
            left -= n;
        }
        if stream.blocking_flush().is_err() {
            return;
        }
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }

    fn links(dir: &str) -> String {
        let mut text = String::new();
        let mut attempt = |what: &str, from: &str, to: &str| match std::fs::hard_link(from, to) {
            Ok(()) => text.push_str(&format!("ESCAPED {what}\n")),
            Err(err) => text.push_str(&format!("BLOCKED {what}: {err}\n")),
        };
        let inside = format!("{dir}/hello.txt");
        attempt(
            "inside-to-dotdot",
            &inside,
            &format!("{dir}/../planted-link"),
        );
        attempt("inside-to-absolute", &inside, "/tmp/planted-link");
        attempt(
            "etc-passwd-into-preopen",
            "/etc/passwd",
            &format!("{dir}/passwd"),
        );
        attempt(
            "dotdot-into-preopen",
            &format!("{dir}/../../../../etc/passwd"),
            &format!("{dir}/passwd2"),
        );
        attempt("within-preopen", &inside, &format!("{dir}/copy.txt"));
        // The raw call, on the preopen's own descriptor.
        for (descriptor, name) in wasip2::filesystem::preopens::get_directories() {
            if name != dir {
                continue;
            }
            let flags = wasip2::filesystem::types::PathFlags::empty();
            for (what, old, new) in [
                ("link-at-dotdot-new", "hello.txt", "../planted-raw"),
                ("link-at-dotdot-old", "../../../../etc/passwd", "passwd-raw"),
                ("link-at-absolute-old", "/etc/passwd", "passwd-abs"),
            ] {
                match descriptor.link_at(flags, old, &descriptor, new) {
                    Ok(()) => text.push_str(&format!("ESCAPED {what}\n")),
                    Err(err) => text.push_str(&format!("BLOCKED {what}: {err:?}\n")),
                }
            }
        }
        text
    }

    fn sockets(port: u16) -> String {
        use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
        let network = wasip2::sockets::instance_network::instance_network();
        let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port,
            address: (127, 0, 0, 1),
        });
        let mut text = String::new();
        let tcp = match wasip2::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
        {
            Ok(socket) => match socket.start_connect(&network, remote) {
                Ok(()) => {
                    socket.subscribe().block();
                    match socket.finish_connect() {
                        Ok(_) => "ESCAPED tcp: connected".to_owned(),
                        Err(err) => format!("BLOCKED tcp: finish {err:?}"),
                    }
                }
                Err(err) => format!("BLOCKED tcp: {err:?}"),
            },
            Err(err) => format!("BLOCKED tcp: create {err:?}"),
        };
        text.push_str(&tcp);
        text.push('\n');
        let udp = match wasip2::sockets::udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4)
        {
            Ok(socket) => {
                let local = IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: 0,
                    address: (0, 0, 0, 0),
                });
                match socket.start_bind(&network, local) {
                    Ok(()) => {
                        socket.subscribe().block();
                        match socket.finish_bind() {
                            Ok(()) => match socket.stream(Some(remote)) {
                                Ok((_incoming, outgoing)) => {
                                    let datagram = wasip2::sockets::udp::OutgoingDatagram {
                                        data: b"hostile".to_vec(),
                                        remote_address: None,
                                    };
                                    let _ = outgoing.check_send();
                                    match outgoing.send(&[datagram]) {
                                        Ok(1) => "ESCAPED udp: sent".to_owned(),
                                        Ok(n) => format!("BLOCKED udp: sent {n}"),
                                        Err(err) => format!("BLOCKED udp: send {err:?}"),
                                    }
                                }
                                Err(err) => format!("BLOCKED udp: stream {err:?}"),
                            },
                            Err(err) => format!("BLOCKED udp: finish bind {err:?}"),
                        }
                    }
                    Err(err) => format!("BLOCKED udp: bind {err:?}"),
                }
            }
            Err(err) => format!("BLOCKED udp: create {err:?}"),
        };
        text.push_str(&udp);
        text.push('\n');
        let dns = match wasip2::sockets::ip_name_lookup::resolve_addresses(&network, "localhost") {
            Ok(stream) => {
                stream.subscribe().block();
                match stream.resolve_next_address() {
                    Ok(Some(addr)) => format!("ESCAPED dns: {addr:?}"),
                    Ok(None) => "BLOCKED dns: no address".to_owned(),
                    Err(err) => format!("BLOCKED dns: {err:?}"),
                }
            }
            Err(err) => format!("BLOCKED dns: {err:?}"),
        };
        text.push_str(&dns);
        text.push('\n');
        text
    }

    /// GETs `url`; with `follow`, GETs a redirect's `location` too.
    fn fetch_all(url: &str, follow: bool) -> String {
        let mut text = String::new();
        match fetch(url) {
            Ok((status, location)) => {
                text.push_str(&format!("status {status}\n"));
                if let (true, Some(location)) = (follow && (300..400).contains(&status), location) {
                    match fetch(&location) {
                        Ok((status, _)) => text.push_str(&format!("status {status}\n")),
                        Err(err) => text.push_str(&format!("error: {err}\n")),
                    }
                }
            }
            Err(err) => text.push_str(&format!("error: {err}\n")),
        }
        text
    }

    fn fetch(url: &str) -> Result<(u16, Option<String>), String> {
        let rest = url.strip_prefix("http://").ok_or("only http:// urls")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let request = OutgoingRequest::new(Fields::new());
        request
            .set_scheme(Some(&Scheme::Http))
            .map_err(|_| "scheme")?;
        request
            .set_authority(Some(authority))
            .map_err(|_| "authority")?;
        request
            .set_path_with_query(Some(path))
            .map_err(|_| "path")?;
        let future =
            wasip2::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or("no response")?
            .map_err(|_| "response taken twice")?
            .map_err(|e| format!("{e:?}"))?;
        let location = response
            .headers()
            .get("location")
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        Ok((response.status(), location))
    }

    fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
        let response = OutgoingResponse::new(Fields::new());
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
