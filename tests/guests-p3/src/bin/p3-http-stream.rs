//! A WASI 0.3 HTTP handler (`wasi:http/handler@0.3.0`) that streams its
//! response: it returns the response at once and writes the body afterwards,
//! in `?chunks=N` chunks (default 3) 20 ms apart, from a task that outlives
//! `handle`. The first chunk says what it was asked: method, path and the
//! request body (read as a stream).
//!
//! Hostile on request, to check that a 0.3 guest has the limits of a 0.2
//! one: `?do=memory` grows its memory by 64 MiB, `?do=resources` makes
//! 100,000 `fields` resources (answering 200 if the host let it),
//! `?do=trap` traps, `?do=spin` loops forever.
//!
//! `?do=tcp&to=HOST:PORT` connects with `wasi:sockets@0.3.0` (looking HOST
//! up with `ip-name-lookup` when it is a name), sends `ping` and answers
//! `tcp: reply "…"` or `tcp: <the step that failed>: <error>`.

use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_bindgen, wit_future, wit_stream};

wasip3::http::service::export!(Streamer);

struct Streamer;

impl wasip3::exports::http::handler::Guest for Streamer {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let method = format!("{:?}", request.get_method());
        let path = request.get_path_with_query().unwrap_or_default();
        if let Some((_, attack)) = path.split_once("do=") {
            match attack.split('&').next().unwrap_or_default() {
                "memory" => {
                    let hog = vec![1u8; 64 << 20];
                    std::hint::black_box(&hog);
                }
                "resources" => {
                    let mut held = Vec::new();
                    // The host traps (ending the request) when its resource
                    // table is full; a guest never sees an error here.
                    for _ in 0..100_000 {
                        held.push(Fields::new());
                    }
                    // Not reached under a host that caps resources.
                    let (response, _) = Response::new(
                        Fields::new(),
                        None,
                        wit_future::new(|| Ok(None)).1,
                    );
                    std::hint::black_box(held.len());
                    return Ok(response);
                }
                "trap" => core::arch::wasm32::unreachable(),
                "tcp" => {
                    let target = path.split_once("to=").map(|(_, t)| t).unwrap_or_default();
                    let text = format!("tcp: {}", tcp_ping(target).await);
                    let (mut body_tx, body_rx) = wit_stream::new();
                    let (response, _) =
                        Response::new(Fields::new(), Some(body_rx), wit_future::new(|| Ok(None)).1);
                    wit_bindgen::spawn(async move {
                        body_tx.write_all(text.into_bytes()).await;
                    });
                    return Ok(response);
                }
                "spin" => loop {
                    std::hint::black_box(&path);
                },
                _ => {}
            }
        }
        let chunks: usize = path
            .split_once("chunks=")
            .and_then(|(_, n)| n.split('&').next()?.parse().ok())
            .unwrap_or(3);
        let (_, request_result) = wit_future::new(|| Ok(()));
        let (body, trailers) = Request::consume_body(request, request_result);
        let body = body.collect().await;
        drop(trailers);

        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain".to_vec(),
        )])
        .map_err(|_| ErrorCode::InternalError(Some("bad header".into())))?;
        let (mut body_tx, body_rx) = wit_stream::new();
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
        drop(trailers_tx);
        let first = format!(
            "p3 {method} {path} body={:?}\n",
            String::from_utf8_lossy(&body)
        );
        wit_bindgen::spawn(async move {
            body_tx.write_all(first.into_bytes()).await;
            for i in 1..=chunks {
                wasip3::clocks::monotonic_clock::wait_for(20_000_000).await;
                body_tx.write_all(format!("chunk {i}\n").into_bytes()).await;
            }
        });
        Ok(response)
    }
}

async fn tcp_ping(target: &str) -> String {
    use wasip3::sockets::types::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket};
    let Some((host, port)) = target.rsplit_once(':') else {
        return "bad target".into();
    };
    let Ok(port) = port.parse::<u16>() else {
        return "bad target".into();
    };
    let ip = match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip,
        Err(_) => match wasip3::sockets::ip_name_lookup::resolve_addresses(host.to_string()).await {
            Ok(addresses) => match addresses.into_iter().find_map(|a| match a {
                wasip3::sockets::types::IpAddress::Ipv4((a, b, c, d)) => {
                    Some(std::net::Ipv4Addr::new(a, b, c, d))
                }
                _ => None,
            }) {
                Some(ip) => ip,
                None => return "lookup: no IPv4 address".into(),
            },
            Err(err) => return format!("lookup: {err:?}"),
        },
    };
    let socket = match TcpSocket::create(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(err) => return format!("create: {err:?}"),
    };
    let [a, b, c, d] = ip.octets();
    let address = IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: (a, b, c, d) });
    if let Err(err) = socket.connect(address).await {
        return format!("connect: {err:?}");
    }
    let (mut tx, rx) = wit_stream::new();
    let sent = socket.send(rx);
    tx.write_all(b"ping".to_vec()).await;
    drop(tx);
    if let Err(err) = sent.await {
        return format!("send: {err:?}");
    }
    let (mut reply, _done) = socket.receive();
    let mut got = Vec::new();
    while got.len() < 4 {
        match reply.next().await {
            Some(byte) => got.push(byte),
            None => break,
        }
    }
    format!("reply {:?}", String::from_utf8_lossy(&got))
}

fn main() {}
