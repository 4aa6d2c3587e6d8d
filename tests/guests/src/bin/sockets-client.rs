//! A `wasi:http/incoming-handler` component that uses `wasi:sockets` through
//! Rust's `std::net`, for the sockets tests of `nimbus-cap-wasi` (wasip2
//! only; on wasip1 it is an empty program). The `do` query parameter picks
//! what it does; it answers one line:
//!
//! - `tcp&addr=A&msg=M`: connects to `A` (`ip:port` or `name:port`), sends
//!   `M`, closes its side and reads to the end: `tcp ok: <reply>` or
//!   `tcp error: <kind>: <error>`
//! - `udp&addr=A&msg=M`: binds `0.0.0.0:0`, sends `M` to `A` and waits for
//!   one datagram: `udp ok: <reply>` or `udp error: <kind>: <error>`
//! - `lookup&name=N`: resolves `N`: `lookup ok: <addresses>` or
//!   `lookup error: <kind>: <error>`
//! - `listen&port=P`: listens on `0.0.0.0:P`: `listen ok` or
//!   `listen error: <kind>: <error>`

#[cfg(target_env = "p2")]
mod client {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

    use wasip2::exports::http::incoming_handler::Guest;
    use wasip2::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };

    struct Client;
    wasip2::http::proxy::export!(Client);

    fn query_param(query: &str, key: &str) -> Option<String> {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.to_string())
        })
    }

    fn error(what: &str, err: std::io::Error) -> String {
        format!("{what} error: {:?}: {err}\n", err.kind())
    }

    fn tcp(addr: &str, msg: &str) -> String {
        let mut stream = match TcpStream::connect(addr) {
            Ok(stream) => stream,
            Err(err) => return error("tcp", err),
        };
        if let Err(err) = stream.write_all(msg.as_bytes()) {
            return error("tcp", err);
        }
        let _ = stream.shutdown(Shutdown::Write);
        let mut reply = String::new();
        match stream.read_to_string(&mut reply) {
            Ok(_) => format!("tcp ok: {reply}\n"),
            Err(err) => error("tcp", err),
        }
    }

    fn udp(addr: &str, msg: &str) -> String {
        let socket = match UdpSocket::bind("0.0.0.0:0") {
            Ok(socket) => socket,
            Err(err) => return error("udp", err),
        };
        if let Err(err) = socket.send_to(msg.as_bytes(), addr) {
            return error("udp", err);
        }
        let mut buf = [0u8; 1024];
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => format!("udp ok: {}\n", String::from_utf8_lossy(&buf[..n])),
            Err(err) => error("udp", err),
        }
    }

    fn lookup(name: &str) -> String {
        match (name, 0).to_socket_addrs() {
            Ok(addrs) => {
                let ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                format!("lookup ok: {}\n", ips.join(" "))
            }
            Err(err) => error("lookup", err),
        }
    }

    fn listen(port: &str) -> String {
        match TcpListener::bind(format!("0.0.0.0:{port}")) {
            Ok(_) => "listen ok\n".to_owned(),
            Err(err) => error("listen", err),
        }
    }

    impl Guest for Client {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let path_with_query = request.path_with_query().unwrap_or_default();
            let query = path_with_query
                .split_once('?')
                .map(|(_, q)| q.to_owned())
                .unwrap_or_default();
            let param = |key: &str| query_param(&query, key).unwrap_or_default();
            let text = match param("do").as_str() {
                "tcp" => tcp(&param("addr"), &param("msg")),
                "udp" => udp(&param("addr"), &param("msg")),
                "lookup" => lookup(&param("name")),
                "listen" => listen(&param("port")),
                other => format!("unknown action {other:?}\n"),
            };
            drop(request);
            let response = OutgoingResponse::new(Fields::new());
            let _ = response.set_status_code(200);
            let Ok(body) = response.body() else { return };
            ResponseOutparam::set(out, Ok(response));
            if let Ok(stream) = body.write() {
                let _ = stream.blocking_write_and_flush(text.as_bytes());
            }
            let _ = OutgoingBody::finish(body, None);
        }
    }
}

fn main() {}
