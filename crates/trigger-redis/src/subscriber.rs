//! One pub/sub connection per Redis server: subscribe to every channel of
//! the server's triggers, hand each message to every trigger of its
//! channel, and reconnect (with backoff) when the server goes away.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use nimbus_trigger::{EventHandler, Readiness, Shutdown};

use crate::guest::Export;
use crate::server::Server;

/// The first wait before reconnecting; it doubles after each failed try.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long one connection attempt (connect and subscribe), or a PING, may
/// take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle subscription checks that the server still answers.
const PING_EVERY: Duration = Duration::from_secs(30);

/// One trigger's subscription: its channel, its component, its messages'
/// sequence numbers.
pub(crate) struct Subscription {
    channel: String,
    handler: EventHandler,
    export: Export,
    /// The last message's number (event ids are `channel#N`).
    sequence: AtomicU64,
}

impl Subscription {
    pub fn new(channel: String, handler: EventHandler, export: Export) -> Subscription {
        Subscription {
            channel,
            handler,
            export,
            sequence: AtomicU64::new(0),
        }
    }

    /// Runs the component for one message (in the background).
    fn deliver(&self, payload: &[u8]) {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let event_id = format!("{}#{n}", self.channel);
        self.handler
            .dispatch(event_id, self.export.call(payload.to_vec()));
    }
}

/// Every subscription to one server.
pub(crate) struct Subscriptions {
    server: Server,
    /// Distinct channels, in order of first use, each with its triggers.
    channels: Vec<(String, Vec<Arc<Subscription>>)>,
}

impl Subscriptions {
    pub fn new(server: Server) -> Subscriptions {
        Subscriptions {
            server,
            channels: Vec::new(),
        }
    }

    pub fn add(&mut self, subscription: Subscription) {
        let subscription = Arc::new(subscription);
        match self
            .channels
            .iter_mut()
            .find(|(channel, _)| *channel == subscription.channel)
        {
            Some((_, list)) => list.push(subscription),
            None => self
                .channels
                .push((subscription.channel.clone(), vec![subscription])),
        }
    }

    fn channel_list(&self) -> String {
        let names: Vec<String> = self
            .channels
            .iter()
            .map(|(channel, _)| format!("{channel:?}"))
            .collect();
        names.join(", ")
    }

    /// Reads messages until `shutdown` fires; never ends because the server
    /// is unreachable. Tells `readiness` when it first subscribed.
    pub async fn listen(self, shutdown: Shutdown, readiness: Readiness) {
        let mut first = true;
        let server = &self.server;
        let mut backoff = MIN_BACKOFF;
        // Whether the server is away (and that was logged).
        let mut away = false;
        loop {
            let connected = tokio::select! {
                connected = self.connect() => connected,
                () = shutdown.clone().wait() => return,
            };
            match connected {
                Ok(pubsub) => {
                    if first {
                        readiness.one_ready();
                        first = false;
                    }
                    if away {
                        tracing::info!(
                            trigger = crate::TRIGGER_TYPE,
                            "connection to {server} restored; subscribed again to {}",
                            self.channel_list()
                        );
                    } else {
                        tracing::info!(
                            trigger = crate::TRIGGER_TYPE,
                            "subscribed to {} on {server}",
                            self.channel_list()
                        );
                    }
                    backoff = MIN_BACKOFF;
                    let (mut sink, mut messages) = pubsub.split();
                    let mut ping = tokio::time::interval_at(
                        tokio::time::Instant::now() + PING_EVERY,
                        PING_EVERY,
                    );
                    loop {
                        let message = tokio::select! {
                            message = messages.next() => message,
                            _ = ping.tick() => {
                                // A connection that went silent (a peer gone
                                // without a FIN) ends no stream: ask.
                                match tokio::time::timeout(CONNECT_TIMEOUT, sink.ping::<redis::Value>()).await {
                                    Ok(Ok(_)) => continue,
                                    _ => None,
                                }
                            }
                            // Dropping the connection unsubscribes.
                            () = shutdown.clone().wait() => return,
                        };
                        match message {
                            Some(message) => self.deliver(&message),
                            None => break,
                        }
                    }
                    tracing::warn!(
                        trigger = crate::TRIGGER_TYPE,
                        "lost the connection to {server}; reconnecting (messages published until it is back are lost)"
                    );
                    away = true;
                }
                Err(err) if !away => {
                    tracing::warn!(
                        trigger = crate::TRIGGER_TYPE,
                        "cannot subscribe on {server}: {err}; retrying until it answers (messages published meanwhile are lost)"
                    );
                    away = true;
                }
                Err(err) => {
                    tracing::debug!(
                        trigger = crate::TRIGGER_TYPE,
                        "still cannot subscribe on {server}: {err}"
                    );
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.clone().wait() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Connects and subscribes to every channel.
    async fn connect(&self) -> anyhow::Result<redis::aio::PubSub> {
        let attempt = async {
            let client = redis::Client::open(self.server.url())?;
            let mut pubsub = client.get_async_pubsub().await?;
            for (channel, _) in &self.channels {
                pubsub.subscribe(channel).await?;
            }
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(result) => Ok(result?),
            Err(_) => anyhow::bail!("no answer within {CONNECT_TIMEOUT:?}"),
        }
    }

    /// Hands a message to every trigger of its channel.
    fn deliver(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let payload = message.get_payload_bytes();
        match self.channels.iter().find(|(name, _)| name == channel) {
            Some((_, subscriptions)) => {
                for subscription in subscriptions {
                    subscription.deliver(payload);
                }
            }
            None => tracing::debug!(
                trigger = crate::TRIGGER_TYPE,
                "a message on {channel:?}, which no trigger subscribes to, from {}",
                self.server
            ),
        }
    }
}
