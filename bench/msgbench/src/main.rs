//! msgbench: the driver and native baseline of `bench/messages.py`.
//!
//! ```text
//! msgbench relay redis|nats URL IN OUT [--concurrency C]
//! msgbench drive redis|nats URL IN OUT --count N [--rate R] [--window W]
//!                [--size S] [--timeout SECS] [--ready-timeout SECS] [--warmup W]
//! ```
//!
//! `relay` subscribes to the Redis channel or NATS subject IN and publishes
//! every payload unchanged to OUT: what the Wasm relay guests in
//! `bench/relay-guests` do, natively (Redis: up to C publishes in flight,
//! default 64, like a component's `max_concurrency`).
//!
//! `drive` subscribes to OUT, waits until a probe sent on IN comes back (the
//! relay is listening), sends W warm-up messages (default 200) and waits for
//! them, then publishes N messages on IN, as fast as it can or at R per
//! second, with at most W of them sent and not back yet when W is given
//! (a closed loop: a relay that drops what it cannot queue, as a trigger
//! may, then shows its throughput instead of its losses). Each payload is `m SEQ SEND_NS ` padded with `x` to S bytes
//! (default 64), SEND_NS being nanoseconds since the driver started, taken
//! just before the publish. It collects what comes back on OUT until all N
//! did or none did for TIMEOUT seconds (default 10), and prints one JSON
//! line: sent, received, seconds (first send to last receive),
//! throughput (received per second over that span), the publish rate, and
//! the latency percentiles in ms (publish → relayed message received, that
//! is publish → handler done plus one publish through the broker).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use redis::AsyncCommands;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone, Copy, PartialEq)]
enum Broker {
    Redis,
    Nats,
}

struct Args {
    broker: Broker,
    url: String,
    input: String,
    output: String,
    count: usize,
    rate: Option<f64>,
    size: usize,
    timeout: f64,
    ready_timeout: f64,
    warmup: usize,
    window: usize,
    concurrency: usize,
}

const USAGE: &str = "usage: msgbench relay redis|nats URL IN OUT [--concurrency C]\n       \
msgbench drive redis|nats URL IN OUT --count N [--rate R] [--size S] [--window W] [--timeout SECS] [--ready-timeout SECS] [--warmup W]";

fn parse(mut argv: Vec<String>) -> Result<(String, Args)> {
    if argv.len() < 5 {
        return Err(USAGE.into());
    }
    let rest = argv.split_off(5);
    let broker = match argv[1].as_str() {
        "redis" => Broker::Redis,
        "nats" => Broker::Nats,
        other => return Err(format!("unknown broker {other:?} (redis or nats)\n{USAGE}").into()),
    };
    let mut args = Args {
        broker,
        url: argv[2].clone(),
        input: argv[3].clone(),
        output: argv[4].clone(),
        count: 0,
        rate: None,
        size: 64,
        timeout: 10.0,
        ready_timeout: 60.0,
        warmup: 200,
        window: 0,
        concurrency: 64,
    };
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--count" => args.count = value.parse().map_err(|_| bad(&flag, &value))?,
            "--rate" => args.rate = Some(value.parse().map_err(|_| bad(&flag, &value))?),
            "--size" => args.size = value.parse().map_err(|_| bad(&flag, &value))?,
            "--timeout" => args.timeout = value.parse().map_err(|_| bad(&flag, &value))?,
            "--ready-timeout" => args.ready_timeout = value.parse().map_err(|_| bad(&flag, &value))?,
            "--window" => args.window = value.parse().map_err(|_| bad(&flag, &value))?,
            "--warmup" => args.warmup = value.parse().map_err(|_| bad(&flag, &value))?,
            "--concurrency" => args.concurrency = value.parse().map_err(|_| bad(&flag, &value))?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    Ok((argv[0].clone(), args))
}

fn bad(flag: &str, value: &str) -> String {
    format!("bad value for {flag}: {value:?}")
}

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(argv) {
        Ok((cmd, args)) if cmd == "relay" => relay(args).await,
        Ok((cmd, args)) if cmd == "drive" && args.count > 0 => drive(args).await,
        Ok(_) => Err(USAGE.into()),
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        eprintln!("msgbench: {err}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------ relay

async fn relay(args: Args) -> Result<()> {
    match args.broker {
        Broker::Redis => {
            let client = redis::Client::open(args.url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&args.input).await?;
            let con = client.get_multiplexed_async_connection().await?;
            eprintln!("msgbench relay: {} -> {} (redis)", args.input, args.output);
            let out = args.output.as_str();
            pubsub
                .into_on_message()
                .for_each_concurrent(args.concurrency, |msg| {
                    let mut con = con.clone();
                    async move {
                        let payload = msg.get_payload_bytes();
                        if let Err(err) = con.publish::<_, _, i64>(out, payload).await {
                            eprintln!("msgbench relay: publish: {err}");
                        }
                    }
                })
                .await;
            Err("the subscription ended".into())
        }
        Broker::Nats => {
            let client = async_nats::connect(args.url.as_str()).await?;
            let mut sub = client.subscribe(args.input.clone()).await?;
            client.flush().await?;
            eprintln!("msgbench relay: {} -> {} (nats)", args.input, args.output);
            let out = async_nats::Subject::from(args.output.as_str());
            while let Some(msg) = sub.next().await {
                client.publish(out.clone(), msg.payload).await?;
            }
            Err("the subscription ended".into())
        }
    }
}

// ------------------------------------------------------------------ drive

/// What the driver's subscriber saw.
enum Seen {
    /// A probe or warm-up message.
    Warm,
    /// A measured message: its send and receive times (ns since start).
    Measured { send_ns: u64, recv_ns: u64 },
}

/// Publishes to one channel or subject; cheap to clone.
#[derive(Clone)]
enum Publisher {
    Redis(redis::aio::MultiplexedConnection),
    Nats(async_nats::Client),
}

impl Publisher {
    async fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<()> {
        match self {
            Publisher::Redis(con) => {
                con.publish::<_, _, i64>(topic, payload).await?;
            }
            Publisher::Nats(client) => {
                client.publish(topic.to_owned(), Bytes::from(payload)).await?;
            }
        }
        Ok(())
    }

    async fn flush(&self) -> Result<()> {
        if let Publisher::Nats(client) = self {
            client.flush().await?;
        }
        Ok(())
    }
}

fn classify(payload: &[u8], start: Instant) -> Option<Seen> {
    let recv_ns = start.elapsed().as_nanos() as u64;
    let text = std::str::from_utf8(payload).ok()?;
    let mut fields = text.split(' ');
    match fields.next()? {
        "w" => Some(Seen::Warm),
        "m" => {
            let _seq = fields.next()?;
            let send_ns = fields.next()?.parse().ok()?;
            Some(Seen::Measured { send_ns, recv_ns })
        }
        _ => None,
    }
}

/// Subscribes to `topic` and forwards what arrives, classified, to the
/// returned channel; returns once the subscription is in place.
async fn subscribe(args: &Args, start: Instant) -> Result<(Publisher, mpsc::UnboundedReceiver<Seen>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    match args.broker {
        Broker::Redis => {
            let client = redis::Client::open(args.url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&args.output).await?;
            tokio::spawn(async move {
                let mut stream = pubsub.into_on_message();
                while let Some(msg) = stream.next().await {
                    if let Some(seen) = classify(msg.get_payload_bytes(), start) {
                        if tx.send(seen).is_err() {
                            break;
                        }
                    }
                }
            });
            let con = client.get_multiplexed_async_connection().await?;
            Ok((Publisher::Redis(con), rx))
        }
        Broker::Nats => {
            let client = async_nats::ConnectOptions::new()
                .subscription_capacity(1 << 20)
                .connect(args.url.as_str())
                .await?;
            let mut sub = client.subscribe(args.output.clone()).await?;
            client.flush().await?;
            tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    if let Some(seen) = classify(&msg.payload, start) {
                        if tx.send(seen).is_err() {
                            break;
                        }
                    }
                }
            });
            Ok((Publisher::Nats(client), rx))
        }
    }
}

fn payload(kind: char, seq: usize, send_ns: u64, size: usize) -> Vec<u8> {
    let mut p = format!("{kind} {seq} {send_ns} ").into_bytes();
    if p.len() < size {
        p.resize(size, b'x');
    }
    p
}

async fn drive(args: Args) -> Result<()> {
    let start = Instant::now();
    let ns = move || start.elapsed().as_nanos() as u64;
    let (mut publisher, mut rx) = subscribe(&args, start).await?;

    // Ready: a probe every 100 ms until one comes back.
    let ready_deadline = Instant::now() + Duration::from_secs_f64(args.ready_timeout);
    let mut warm_seen = 0usize;
    let mut probes = 0usize;
    'ready: loop {
        if Instant::now() > ready_deadline {
            return Err(format!("no probe came back on {} within {} s", args.output, args.ready_timeout).into());
        }
        publisher.publish(&args.input, payload('w', probes, ns(), args.size)).await?;
        publisher.flush().await?;
        probes += 1;
        let tick = tokio::time::sleep(Duration::from_millis(100));
        tokio::pin!(tick);
        loop {
            tokio::select! {
                seen = rx.recv() => match seen {
                    Some(Seen::Warm) => { warm_seen += 1; break 'ready; }
                    Some(_) => {}
                    None => return Err("the subscription ended".into()),
                },
                _ = &mut tick => break,
            }
        }
    }

    // Warm-up: W messages, flat out, then wait (up to 10 s) for them and any
    // late probes.
    for i in 0..args.warmup {
        publisher.publish(&args.input, payload('w', probes + i, ns(), args.size)).await?;
    }
    publisher.flush().await?;
    let expected = probes + args.warmup;
    let warm_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while warm_seen < expected {
        match tokio::time::timeout_at(warm_deadline, rx.recv()).await {
            Ok(Some(Seen::Warm)) => warm_seen += 1,
            Ok(Some(_)) => {}
            Ok(None) => return Err("the subscription ended".into()),
            Err(_) => break,
        }
    }
    // Probes lost before the relay subscribed never come back; a moment for
    // stragglers, then measure.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(Seen::Warm) = rx.try_recv() {}

    // The measured run: the sender runs on its own task while the
    // subscriber task timestamps what comes back.
    let count = args.count;
    let size = args.size;
    let input = args.input.clone();
    let rate = args.rate;
    // At most `window` messages sent and not back yet (0: no limit).
    let window = if args.window == 0 { Semaphore::MAX_PERMITS } else { args.window };
    let permits = Arc::new(Semaphore::new(window));
    let sent = Arc::new(AtomicUsize::new(0));
    let last_send = Arc::new(AtomicU64::new(0));
    let first_send = ns();
    let sender = {
        let publisher = publisher.clone();
        let (permits, sent, last_send) = (permits.clone(), sent.clone(), last_send.clone());
        tokio::spawn(async move {
            let t0 = tokio::time::Instant::now();
            // Up to 64 publishes in flight (Redis answers each PUBLISH; NATS
            // publishes are queued by the client).
            let mut publishes = futures::stream::iter(0..count)
                .map(|i| {
                    let mut publisher = publisher.clone();
                    let input = input.clone();
                    let permits = permits.clone();
                    async move {
                        permits.acquire().await.expect("never closed").forget();
                        if let Some(rate) = rate {
                            tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
                        }
                        publisher.publish(&input, payload('m', i, ns(), size)).await
                    }
                })
                .buffered(64);
            while let Some(result) = publishes.next().await {
                result?;
                sent.fetch_add(1, Ordering::Relaxed);
                last_send.store(ns(), Ordering::Relaxed);
            }
            publisher.flush().await?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
    };

    // Collect until every message came back, or none did for `timeout`.
    let mut latencies: Vec<u64> = Vec::with_capacity(count);
    let mut last_recv = first_send;
    let idle = Duration::from_secs_f64(args.timeout);
    while latencies.len() < count {
        match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(Seen::Measured { send_ns, recv_ns })) => {
                latencies.push(recv_ns.saturating_sub(send_ns));
                last_recv = last_recv.max(recv_ns);
                permits.add_permits(1);
            }
            Ok(Some(Seen::Warm)) => {}
            Ok(None) => return Err("the subscription ended".into()),
            Err(_) => break,
        }
    }
    if sender.is_finished() {
        sender.await??;
    } else {
        // Stalled on the window (messages lost) or still publishing.
        sender.abort();
    }
    let sent = sent.load(Ordering::Relaxed);
    let last_send = last_send.load(Ordering::Relaxed);

    let received = latencies.len();
    let seconds = (last_recv.saturating_sub(first_send)) as f64 / 1e9;
    let send_seconds = (last_send.saturating_sub(first_send)) as f64 / 1e9;
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1] as f64 / 1e6
    };
    let num = |x: f64| if x.is_finite() { format!("{x:.3}") } else { "null".to_owned() };
    println!(
        "{{\"broker\":\"{}\",\"count\":{},\"rate\":{},\"window\":{},\"size\":{},\"sent\":{},\"received\":{},\"seconds\":{},\"send_seconds\":{},\"publish_rate\":{},\"throughput\":{},\"p50_ms\":{},\"p90_ms\":{},\"p99_ms\":{},\"max_ms\":{}}}",
        if args.broker == Broker::Redis { "redis" } else { "nats" },
        count,
        args.rate.map(num).unwrap_or_else(|| "null".to_owned()),
        args.window,
        size,
        sent,
        received,
        num(seconds),
        num(send_seconds),
        num(if send_seconds > 0.0 { sent as f64 / send_seconds } else { f64::NAN }),
        num(if seconds > 0.0 { received as f64 / seconds } else { f64::NAN }),
        num(pct(50.0)),
        num(pct(90.0)),
        num(pct(99.0)),
        num(pct(100.0)),
    );
    Ok(())
}
