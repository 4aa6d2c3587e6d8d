//! The generic HTTP server: accepting connections (one listener, or one
//! thread per core), the header timeout, and graceful shutdown. It knows
//! nothing of guests: the HTTP trigger and the node's admin API both serve
//! through it with their own handler.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::ResponseBody;

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves connections from `listener` with `handler` until `shutdown`
/// completes, then lets requests in flight finish (up to
/// [`SHUTDOWN_GRACE`]).
pub async fn serve<H, F>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let local = listener.local_addr()?;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // Tells connections still waiting for their first bytes to give up.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                started = wait_for_request_start(&stream) => if !started {
                    tracing::debug!(%client, "no request within {HEADER_READ_TIMEOUT:?}: closed");
                    return;
                },
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req, client, local).await) }
            });
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%client, "connection ended: {err}");
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    tracing::info!("shutting down: waiting for requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all requests finished"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
    }
    Ok(())
}

/// Binds `workers` listening sockets to `addr` with `SO_REUSEPORT`, for
/// [`serve_per_core`]; the kernel spreads new connections over them. Port 0
/// picks one free port for all of them.
///
/// `SO_REUSEPORT` would also let another process (another `nimbus up` or
/// `nimbus node` of the same user) join the group and silently share the
/// port, so the address is first claimed by a plain socket without it: a port
/// that another process listens on fails here with
/// [`std::io::ErrorKind::AddrInUse`], naming the address.
pub fn bind_per_core(
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let socket = |reuse_port: bool| -> std::io::Result<socket2::Socket> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(reuse_port)?;
        #[cfg(not(unix))]
        let _ = reuse_port;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    let in_use = |addr: SocketAddr| {
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("address in use: another process is listening on {addr}"),
        )
    };
    // The claim: fails if any socket, SO_REUSEPORT or not, listens there.
    let claim = socket(false)?;
    match claim.bind(&addr.into()) {
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => return Err(in_use(addr)),
        other => other?,
    }
    let mut addr = claim
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("the bound address is not an IP address"))?;
    // It must go before the group binds: a socket without SO_REUSEPORT keeps
    // every other one off the port, ours included.
    drop(claim);
    let mut listeners: Vec<std::net::TcpListener> = Vec::new();
    for _ in 0..workers.max(1) {
        let socket = socket(true)?;
        match socket.bind(&addr.into()) {
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => return Err(in_use(addr)),
            other => other?,
        }
        socket.listen(1024)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// [`serve`] on one thread per listener (from [`bind_per_core`]), each with
/// its own single-threaded runtime: a connection, its requests, their guests
/// and responses stay on one core, with no wake-ups across threads. Stops
/// every thread when `shutdown` completes, each after its requests in flight.
pub async fn serve_per_core<H, F>(
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()>,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut done = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let handler = handler.clone();
        let mut stop = stop.clone();
        let (finished, finished_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("nimbus-http-{index}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a serving thread's runtime")
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = TcpListener::from_std(listener)?;
                            let stopped = async move {
                                let _ = stop.wait_for(|stopping| *stopping).await;
                            };
                            serve(listener, stopped, handler).await
                        })
                    });
                let _ = finished.send(result);
            })
            .context("cannot start a serving thread")?;
        done.push(finished_rx);
    }
    shutdown.await;
    let _ = stopping.send(true);
    for finished in done {
        if let Ok(result) = finished.await {
            result?;
        }
    }
    Ok(())
}

/// Waits until `stream` has sent enough to tell HTTP/1 from HTTP/2 (a byte
/// that is not the start of the HTTP/2 preface, or the whole preface), for at
/// most [`HEADER_READ_TIMEOUT`]; `false` when the client sent nothing in time
/// or closed.
///
/// hyper's `header_read_timeout` starts only once the HTTP/1 parser runs, and
/// the version detection before it has no timeout: without this a client
/// that connects and sends nothing (or a part of the preface) would hold its
/// connection, and a file descriptor, forever.
async fn wait_for_request_start(stream: &tokio::net::TcpStream) -> bool {
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let deadline = tokio::time::Instant::now() + HEADER_READ_TIMEOUT;
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                if n == H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
                    return true;
                }
                // Part of the preface: `peek` would return at once, so poll.
                let next = tokio::time::Instant::now() + Duration::from_millis(20);
                if next >= deadline {
                    return false;
                }
                tokio::time::sleep_until(next).await;
            }
            // Closed, failed, or timed out.
            _ => return false,
        }
    }
}
