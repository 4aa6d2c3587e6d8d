//! One app's pool of broker connections, and the task that drives each.
//!
//! A [`Broker`] is one connected `rumqttc` client. Its event loop runs in a
//! task of its own, which also matches acknowledgements to the publishes
//! waiting for them: publishes enter the client's request channel in the
//! order their waiters are queued (both under one lock), the event loop
//! takes them in that order and reports each as `Outgoing::Publish(pkid)`
//! (collisions included: it reads no new request until a collided publish
//! is sent), so the waiter at the front of the queue is the one that
//! packet id belongs to. The task never reconnects: when the connection
//! breaks it fails every waiter and ends, and the next `open` connects
//! again.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use nimbus_outbound_networking::{AllowedHosts, OutboundError, CONNECT_TIMEOUT};
use rumqttc::{
    AsyncClient, ClientError, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions,
    Outgoing, Packet, QoS, Request,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::address::{self, BrokerAddress};
use crate::{MqttError, MAX_PAYLOAD_SIZE, MAX_POOLED_CONNECTIONS};

/// Requests (publishes) a connection's channel holds before `publish`
/// waits for room.
const REQUEST_CAPACITY: usize = 256;

/// How long a connection the pool drops may take to say goodbye
/// (DISCONNECT) before its task ends anyway.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The most bytes a topic may have (its length is a 16-bit number).
const MAX_TOPIC_SIZE: usize = u16::MAX as usize;

/// Locks `mutex`, also when a panic poisoned it (the data is still
/// consistent: no code here panics while holding a lock half-way).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One app's broker connections: one per (address, user name, password,
/// keep-alive), shared by all its instances, never by two apps. Cheap to
/// clone; dropping the last clone (and every instance's connection) closes
/// them.
#[derive(Clone)]
pub struct MqttAppState(Arc<AppPool>);

struct AppPool {
    app_id: String,
    publish_timeout: Duration,
    slots: Mutex<HashMap<PoolKey, PoolEntry>>,
}

/// What identifies a pooled connection. Holds the password: never logged,
/// no `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    address: String,
    username: String,
    password: String,
    keep_alive: u64,
}

struct PoolEntry {
    slot: Arc<Slot>,
    last_opened: Instant,
}

/// The connection of one key, if connected; locked while connecting, so
/// that opens of one key wait for one connection instead of making several.
type Slot = tokio::sync::Mutex<Option<Arc<Broker>>>;

impl std::fmt::Debug for MqttAppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttAppState")
            .field("app_id", &self.0.app_id)
            .field("connections", &lock(&self.0.slots).len())
            .finish()
    }
}

impl MqttAppState {
    /// The empty pool of app `app_id`, whose publishes wait up to
    /// `publish_timeout` for the broker.
    pub fn new(app_id: impl Into<String>, publish_timeout: Duration) -> MqttAppState {
        MqttAppState(Arc::new(AppPool {
            app_id: app_id.into(),
            publish_timeout,
            slots: Mutex::new(HashMap::new()),
        }))
    }

    /// The app this pool belongs to.
    pub fn app_id(&self) -> &str {
        &self.0.app_id
    }

    /// How many connections of the pool stand (connected, not broken as
    /// far as their tasks know); one being made is not counted.
    pub fn connected(&self) -> usize {
        lock(&self.0.slots)
            .values()
            .filter(|entry| {
                entry
                    .slot
                    .try_lock()
                    .is_ok_and(|slot| slot.as_ref().is_some_and(|broker| broker.is_alive()))
            })
            .count()
    }

    /// How long `publish` waits for the broker.
    pub(crate) fn publish_timeout(&self) -> Duration {
        self.0.publish_timeout
    }

    /// What `open` does for a guest of `component` under `allowed`: parses
    /// `address`, checks the grant and resolves it, then hands out the
    /// pooled connection for these arguments, connecting it first if there
    /// is none (or it broke). Fails within [`CONNECT_TIMEOUT`].
    pub(crate) async fn open(
        &self,
        allowed: &AllowedHosts,
        address: String,
        username: String,
        password: String,
        keep_alive: u64,
    ) -> Result<Arc<Broker>, MqttError> {
        let parsed = address::parse(&address)?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let endpoint = parsed.endpoint();
        let addrs = match tokio::time::timeout_at(
            deadline,
            allowed.authorize("mqtt", &parsed.host, parsed.port),
        )
        .await
        {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(OutboundError::NotAllowed { .. })) => {
                return Err(MqttError::ConnectionFailed(format!(
                    "address {endpoint} is not allowed: it is not in the component's allowed_outbound_hosts"
                )))
            }
            Ok(Err(err)) => return Err(MqttError::ConnectionFailed(err.to_string())),
            Err(_) => {
                return Err(MqttError::ConnectionFailed(format!(
                    "cannot resolve {} within {CONNECT_TIMEOUT:?}",
                    parsed.host
                )))
            }
        };
        let key = PoolKey {
            address,
            username,
            password,
            keep_alive,
        };
        let slot = self.slot(&key);
        let Ok(mut connected) = tokio::time::timeout_at(deadline, slot.lock()).await else {
            return Err(MqttError::ConnectionFailed(format!(
                "cannot connect to {endpoint} within {CONNECT_TIMEOUT:?}"
            )));
        };
        if let Some(broker) = connected.as_ref().filter(|broker| broker.is_alive()) {
            return Ok(broker.clone());
        }
        *connected = None;
        let result = Broker::connect(&parsed, &addrs, &key, deadline).await;
        match result {
            Ok(broker) => {
                tracing::debug!(
                    app = %self.0.app_id,
                    component = %allowed.component(),
                    "connected to MQTT broker {endpoint} as client id {:?}",
                    broker.client_id
                );
                *connected = Some(broker.clone());
                Ok(broker)
            }
            Err(err) => {
                drop(connected);
                self.forget(&key, &slot);
                Err(err)
            }
        }
    }

    /// The slot of `key`, made if new; evicts the least recently opened
    /// slot when the pool is full.
    fn slot(&self, key: &PoolKey) -> Arc<Slot> {
        let mut slots = lock(&self.0.slots);
        let now = Instant::now();
        if let Some(entry) = slots.get_mut(key) {
            entry.last_opened = now;
            return entry.slot.clone();
        }
        if slots.len() >= MAX_POOLED_CONNECTIONS {
            let oldest = slots
                .iter()
                .min_by_key(|(_, entry)| entry.last_opened)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                slots.remove(&oldest);
            }
        }
        let slot = Arc::new(Slot::new(None));
        slots.insert(
            key.clone(),
            PoolEntry {
                slot: slot.clone(),
                last_opened: now,
            },
        );
        slot
    }

    /// Removes `key`'s slot if it is still `slot` (a failed connect leaves
    /// nothing behind).
    fn forget(&self, key: &PoolKey, slot: &Arc<Slot>) {
        let mut slots = lock(&self.0.slots);
        if slots
            .get(key)
            .is_some_and(|entry| Arc::ptr_eq(&entry.slot, slot))
        {
            slots.remove(key);
        }
    }
}

/// A client id no other connection has: `prefix` (the address's
/// `client_id`, else `nimbus`), `-`, and 16 hex digits from a counter mixed
/// with a per-process random key (so two processes do not collide either).
/// `nimbus-` and 16 digits are 23 characters, the most every MQTT 3.1.1
/// broker must accept.
fn unique_client_id(prefix: Option<&str>) -> String {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = SEED.get_or_init(RandomState::new).hash_one(n);
    format!("{}-{suffix:016x}", prefix.unwrap_or("nimbus"))
}

/// The host `rumqttc` is given for `ip`: it formats `HOST:PORT` itself, so
/// IPv6 goes in brackets.
fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// What a broker's refusal means, in words.
fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::BadUserNamePassword => "bad user name or password",
        ConnectReturnCode::NotAuthorized => "not authorized",
        ConnectReturnCode::BadClientId => "client id rejected",
        ConnectReturnCode::RefusedProtocolVersion => "MQTT 3.1.1 not supported",
        ConnectReturnCode::ServiceUnavailable => "service unavailable",
        ConnectReturnCode::Success => "no reason given",
    }
}

/// One connected client of the pool; its event loop runs in its own task,
/// which ends when the last `Arc` of this is dropped (the pool's and the
/// instances' that hold it as a resource) or the connection breaks.
pub struct Broker {
    client: AsyncClient,
    shared: Arc<Shared>,
    endpoint: String,
    client_id: String,
    /// Dropped with this: tells the task to disconnect and end.
    _shutdown: oneshot::Sender<()>,
}

/// What the task and the publishers share.
struct Shared {
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    /// Publishes handed to the event loop and not sent yet, in order.
    unsent: VecDeque<Waiter>,
    /// QoS 1 and 2 publishes sent, by packet id, until acknowledged.
    unacked: HashMap<u16, Waiter>,
    /// Why the connection is gone, once it is.
    broken: Option<String>,
}

struct Waiter {
    qos: QoS,
    done: oneshot::Sender<Result<(), MqttError>>,
}

impl Shared {
    /// Publish `pkid` was written to the broker.
    fn sent(&self, pkid: u16) {
        let mut waiters = lock(&self.waiters);
        let Some(waiter) = waiters.unsent.pop_front() else {
            tracing::debug!("MQTT: a publish was sent that nobody waits for");
            return;
        };
        match waiter.qos {
            QoS::AtMostOnce => {
                let _ = waiter.done.send(Ok(()));
            }
            QoS::AtLeastOnce | QoS::ExactlyOnce => {
                waiters.unacked.insert(pkid, waiter);
            }
        }
    }

    /// Publish `pkid` was acknowledged (PUBACK for QoS 1, PUBCOMP for 2).
    fn acknowledged(&self, pkid: u16) {
        if let Some(waiter) = lock(&self.waiters).unacked.remove(&pkid) {
            let _ = waiter.done.send(Ok(()));
        }
    }

    /// The connection is gone: fails every waiter with `why` (the first
    /// reason given wins).
    fn fail(&self, why: &str) {
        let mut waiters = lock(&self.waiters);
        let why = waiters.broken.get_or_insert_with(|| why.to_owned()).clone();
        let unsent = std::mem::take(&mut waiters.unsent);
        let unacked = std::mem::take(&mut waiters.unacked);
        drop(waiters);
        for waiter in unsent.into_iter().chain(unacked.into_values()) {
            let _ = waiter
                .done
                .send(Err(MqttError::ConnectionFailed(why.clone())));
        }
    }
}

/// Fails the waiters when the task ends however it ends (returned,
/// panicked, or dropped with its runtime).
struct FailOnExit(Arc<Shared>);

impl Drop for FailOnExit {
    fn drop(&mut self) {
        self.0.fail("the connection to the MQTT broker was closed");
    }
}

impl Broker {
    /// Connects to the first of `addrs` that answers (the addresses of
    /// `address`, resolved and authorized) before `deadline`, and starts
    /// the task that drives the connection.
    async fn connect(
        address: &BrokerAddress,
        addrs: &[SocketAddr],
        key: &PoolKey,
        deadline: Instant,
    ) -> Result<Arc<Broker>, MqttError> {
        let endpoint = address.endpoint();
        let mut last_error = format!("{} resolves to no address", address.host);
        for addr in addrs {
            let client_id = unique_client_id(address.client_id.as_deref());
            let mut options = MqttOptions::new(client_id.clone(), host_of(addr.ip()), addr.port());
            // MQTT's keep-alive is 16 bits; 0 means none.
            options.set_keep_alive(Duration::from_secs(key.keep_alive.min(u16::MAX.into())));
            options.set_clean_session(true);
            // Room for the largest payload and topic, so that no publish the
            // guest may make is refused by the event loop (which would break
            // the connection).
            options.set_max_packet_size(10 * 1024, MAX_PAYLOAD_SIZE + MAX_TOPIC_SIZE + 64);
            if !key.username.is_empty() {
                options.set_credentials(key.username.clone(), key.password.clone());
            }
            let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    return Ok(Broker::start(client, eventloop, endpoint, client_id));
                }
                Ok(Ok(event)) => {
                    last_error = format!("{endpoint} answered {event:?} instead of CONNACK");
                }
                Ok(Err(ConnectionError::ConnectionRefused(code))) => {
                    // The broker answered: another address would say the same.
                    return Err(MqttError::ConnectionFailed(format!(
                        "{endpoint} refused the connection: {}",
                        refusal(code)
                    )));
                }
                Ok(Err(err)) => {
                    last_error = format!("cannot connect to {endpoint} ({addr}): {err}");
                }
                Err(_) => {
                    return Err(MqttError::ConnectionFailed(format!(
                        "cannot connect to {endpoint} ({addr}): no answer within {CONNECT_TIMEOUT:?}"
                    )));
                }
            }
        }
        Err(MqttError::ConnectionFailed(last_error))
    }

    /// Starts the task that polls `eventloop` (just connected).
    fn start(
        client: AsyncClient,
        eventloop: EventLoop,
        endpoint: String,
        client_id: String,
    ) -> Arc<Broker> {
        let shared = Arc::new(Shared {
            waiters: Mutex::new(Waiters::default()),
        });
        let (shutdown, stop) = oneshot::channel();
        tokio::spawn(drive(
            eventloop,
            client.clone(),
            shared.clone(),
            stop,
            endpoint.clone(),
        ));
        Arc::new(Broker {
            client,
            shared,
            endpoint,
            client_id,
            _shutdown: shutdown,
        })
    }

    /// Whether the connection still stands (as far as its task knows).
    pub(crate) fn is_alive(&self) -> bool {
        lock(&self.shared.waiters).broken.is_none()
    }

    /// `mqtt://host:port` of the broker.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Publishes `payload` to `topic` with `qos`, and waits until it is
    /// written (QoS 0) or acknowledged (QoS 1 and 2), for up to `timeout`.
    pub(crate) async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        timeout: Duration,
    ) -> Result<(), MqttError> {
        check_topic(&topic)?;
        if payload.len() > MAX_PAYLOAD_SIZE {
            return Err(MqttError::Other(format!(
                "the payload has {} bytes, more than the {MAX_PAYLOAD_SIZE} allowed",
                payload.len()
            )));
        }
        let deadline = Instant::now() + timeout;
        let (done, result) = oneshot::channel();
        let mut waiter = Some(Waiter { qos, done });
        let (mut topic, mut payload) = (topic, payload);
        loop {
            {
                // The request enters the channel and its waiter the queue
                // together, so that both stay in the same order.
                let mut waiters = lock(&self.shared.waiters);
                if let Some(why) = &waiters.broken {
                    return Err(MqttError::ConnectionFailed(why.clone()));
                }
                match self.client.try_publish(topic, qos, false, payload) {
                    Ok(()) => {
                        if let Some(waiter) = waiter.take() {
                            waiters.unsent.push_back(waiter);
                        }
                        break;
                    }
                    // The channel is full (or the task is ending, which
                    // `broken` says next time): try again shortly.
                    Err(ClientError::TryRequest(Request::Publish(publish)))
                    | Err(ClientError::Request(Request::Publish(publish))) => {
                        topic = publish.topic;
                        payload = publish.payload.into();
                    }
                    Err(_) => {
                        return Err(MqttError::Other(
                            "the message could not be handed to the connection".into(),
                        ))
                    }
                }
            }
            if Instant::now() + Duration::from_millis(5) >= deadline {
                return Err(MqttError::Other(format!(
                    "the connection to {} is too busy: the message could not be sent within {timeout:?}",
                    self.endpoint
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match tokio::time::timeout_at(deadline, result).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(MqttError::ConnectionFailed(
                "the connection to the MQTT broker was closed".into(),
            )),
            Err(_) => Err(MqttError::Other(format!(
                "{} did not acknowledge the message within {timeout:?}",
                self.endpoint
            ))),
        }
    }
}

/// A topic a guest may publish to: 1 to 65535 bytes, no wildcards (`+`,
/// `#`), no NUL.
fn check_topic(topic: &str) -> Result<(), MqttError> {
    let why = if topic.is_empty() {
        "it is empty"
    } else if topic.len() > MAX_TOPIC_SIZE {
        "it is longer than 65535 bytes"
    } else if topic.contains(['+', '#']) {
        "it has a wildcard (`+` or `#`)"
    } else if topic.contains('\0') {
        "it has a NUL character"
    } else {
        return Ok(());
    };
    Err(MqttError::Other(format!("invalid topic: {why}")))
}

/// The task of one connection: polls its event loop, settling waiters as
/// their publishes are sent and acknowledged, until the connection breaks
/// or the [`Broker`] is dropped (then it says DISCONNECT first).
async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
    endpoint: String,
) {
    let _fail = FailOnExit(shared.clone());
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => {
                shared.fail("the connection to the MQTT broker was closed");
                let _ = client.try_disconnect();
                let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, async {
                    loop {
                        match eventloop.poll().await {
                            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                })
                .await;
                tracing::debug!("MQTT connection to {endpoint} closed");
                return;
            }
            event = eventloop.poll() => match event {
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => shared.sent(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) => shared.acknowledged(ack.pkid),
                Ok(Event::Incoming(Packet::PubComp(comp))) => shared.acknowledged(comp.pkid),
                Ok(Event::Incoming(Packet::Disconnect)) => {
                    tracing::debug!("MQTT broker {endpoint} disconnected");
                    shared.fail(&format!("{endpoint} closed the connection"));
                    return;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!("MQTT connection to {endpoint} broke: {err}");
                    shared.fail(&format!("the connection to {endpoint} broke: {err}"));
                    return;
                }
            }
        }
    }
}
