//! The resource types of `wasi:messaging/types@0.2.0-draft` as the host
//! holds them, shared by the two crates that meet at a `message`:
//!
//! - the NATS trigger (`nimbus-trigger-nats`) makes a [`Message`] for each
//!   message it receives, pushes it into the instance's resource table and
//!   passes it to the guest's `incoming-handler.handle`;
//! - the messaging capability (`nimbus-cap-messaging`) implements the
//!   `types`, `producer` and `request-reply` imports on the same resources.
//!
//! A trigger knows no capability, and the `message` resource type must be
//! one Rust type for both (Wasmtime checks a resource's host type when a
//! handle crosses the boundary): so the type and the host bindings of
//! `types` live here, in a crate both depend on, and neither depends on the
//! other. A message received by the trigger keeps where to reply
//! ([`ReplyTo`]: the subject and the connection it came on), which the
//! capability's `request-reply.reply` uses without knowing the trigger.
//!
//! [`nats`] maps messages to and from NATS (headers, subjects), for both.

#![warn(missing_docs)]

pub mod nats;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Host bindings of `wasi:messaging/types@0.2.0-draft` (world
/// `nimbus:messaging/types` of `wit/`), with [`Client`] and [`Message`] as
/// its resources. Other bindings use these with `with:
/// { "wasi:messaging/types": nimbus_messaging_types::bindings::wasi::messaging::types }`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "nimbus:messaging/types",
        imports: { default: async | trappable },
        with: {
            "wasi:messaging/types.client": crate::Client,
            "wasi:messaging/types.message": crate::Message,
        },
    });
}

pub use bindings::wasi::messaging::types::{Error, MetadataError};

/// The most bytes of metadata (keys and values) one message may carry.
pub const MAX_METADATA_SIZE: usize = 64 << 10;

/// A guest's `client`: a connection of the capability's pool. Its content is
/// the capability's business (the trigger never makes one), hence opaque.
pub struct Client(Box<dyn std::any::Any + Send + Sync>);

impl Client {
    /// A client holding `connection`.
    pub fn new<T: Send + Sync + 'static>(connection: T) -> Client {
        Client(Box::new(connection))
    }

    /// The connection, if it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

/// A `message`: what a guest reads of a received message, or builds to
/// send.
#[derive(Clone, Default)]
pub struct Message {
    /// The subject it was received on (`None` for a message a guest made).
    pub topic: Option<String>,
    /// The payload.
    pub data: Vec<u8>,
    /// Its content type (the NATS header `Content-Type`), if any.
    pub content_type: Option<String>,
    /// Its metadata (NATS headers other than `Content-Type`), in order;
    /// `None` when it has none.
    pub metadata: Option<Vec<(String, String)>>,
    /// Where a reply goes, for a message that asked for one.
    pub reply_to: Option<ReplyTo>,
}

impl Message {
    /// A message of `data`, with nothing else.
    pub fn new(data: Vec<u8>) -> Message {
        Message {
            data,
            ..Message::default()
        }
    }

    /// Sets metadata `key` to `value` (replacing every value it had), after
    /// checking both can travel as a NATS header.
    pub fn add_metadata(&mut self, key: String, value: String) -> Result<(), MetadataError> {
        nats::check_header(&key, &value).map_err(|why| MetadataError::Invalid(Some(why)))?;
        let metadata = self.metadata.get_or_insert_with(Vec::new);
        metadata.retain(|(k, _)| *k != key);
        metadata.push((key, value));
        self.check_metadata_size()
    }

    /// Replaces the metadata with `meta`, after checking every entry.
    pub fn set_metadata(&mut self, meta: Vec<(String, String)>) -> Result<(), MetadataError> {
        for (key, value) in &meta {
            nats::check_header(key, value).map_err(|why| MetadataError::Invalid(Some(why)))?;
        }
        let old = self.metadata.replace(meta);
        self.check_metadata_size()
            .inspect_err(|_| self.metadata = old)
    }

    /// Removes metadata `key` (every value it had).
    pub fn remove_metadata(&mut self, key: &str) {
        if let Some(metadata) = &mut self.metadata {
            metadata.retain(|(k, _)| k != key);
        }
    }

    /// Sets the content type, after checking it can travel as a NATS header
    /// (`Err(())` is the WIT's `result` without an error value).
    #[allow(clippy::result_unit_err)]
    pub fn set_content_type(&mut self, content_type: String) -> Result<(), ()> {
        nats::check_header(nats::CONTENT_TYPE, &content_type).map_err(|_| ())?;
        self.content_type = Some(content_type);
        Ok(())
    }

    fn check_metadata_size(&mut self) -> Result<(), MetadataError> {
        let size: usize = self
            .metadata
            .iter()
            .flatten()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if size > MAX_METADATA_SIZE {
            return Err(MetadataError::Invalid(Some(format!(
                "the metadata would have {size} bytes, more than the {MAX_METADATA_SIZE} allowed"
            ))));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("data", &self.data.len())
            .field("content_type", &self.content_type)
            .field("reply_to", &self.reply_to.as_ref().map(|r| &r.subject))
            .finish()
    }
}

/// A boxed future, for [`Replier`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the reply to a received message goes: its reply subject, on the
/// connection it arrived on.
#[derive(Clone)]
pub struct ReplyTo {
    /// The reply subject (a NATS inbox).
    pub subject: String,
    /// The connection to publish the reply on.
    pub via: Arc<dyn Replier>,
}

/// A connection that can publish a reply.
pub trait Replier: Send + Sync + 'static {
    /// Publishes `message` to `subject`, and waits until the server has it.
    fn reply(&self, subject: String, message: Message) -> BoxFuture<'_, Result<(), Error>>;
}

/// The guest's `error` as one line of text (for logs and the access log).
pub fn describe(error: &Error) -> String {
    match error {
        Error::Timeout => "timeout".to_owned(),
        Error::Connection(why) => format!("connection: {why}"),
        Error::PermissionDenied(why) => format!("permission denied: {why}"),
        Error::Other(why) => why.clone(),
    }
}
