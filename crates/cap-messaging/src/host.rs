//! The host side of `wasi:messaging/{types,producer,request-reply}@0.2.0-draft`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use nimbus_messaging_types::bindings::wasi::messaging::types;
use nimbus_messaging_types::nats::{self, NatsReplier};
use nimbus_messaging_types::{Client, Error, Message, MetadataError};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::wasi::messaging::{producer, request_reply};
use crate::pool::Connection;
use crate::{MessagingInstance, MAX_REPLIES, PUBLISH_TIMEOUT, REQUEST_TIMEOUT};

/// What the messaging host functions need from a store's state: this
/// capability's slot and the store's resource table.
pub struct MessagingView<'a> {
    /// This capability's per-instance state.
    pub instance: &'a mut MessagingInstance,
    /// The store's resource table, where clients and messages live.
    pub table: &'a mut ResourceTable,
}

struct HasMessaging;

impl HasData for HasMessaging {
    type Data<'a> = MessagingView<'a>;
}

/// A guest's `request-options`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestOptions {
    timeout: Option<Duration>,
    expected_replies: Option<u32>,
}

/// Adds `wasi:messaging/{types,producer,request-reply}@0.2.0-draft` to
/// `linker` (synchronous in WIT, so to every engine's linker); `get` picks
/// this capability's parts out of the store's state. Stores must be driven
/// by a Tokio runtime.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> MessagingView<'_>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasMessaging>(linker, get)?;
    producer::add_to_linker::<T, HasMessaging>(linker, get)?;
    request_reply::add_to_linker::<T, HasMessaging>(linker, get)?;
    Ok(())
}

impl MessagingView<'_> {
    /// The connection of `client`, unless it was disconnected.
    fn connection(&self, client: &Resource<Client>) -> wasmtime::Result<Result<ConnRef, Error>> {
        let Some(connection) = self.table.get(client)?.get::<Connection>() else {
            wasmtime::bail!("a messaging client of another kind");
        };
        if connection.disconnected.load(Ordering::Relaxed) {
            return Ok(Err(Error::Connection("the client was disconnected".into())));
        }
        Ok(Ok(ConnRef {
            client: connection.client.clone(),
            endpoint: connection.endpoint.clone(),
        }))
    }

    fn component_id(&self) -> &str {
        self.instance.component.allowed_hosts().component()
    }
}

struct ConnRef {
    client: async_nats::Client,
    endpoint: String,
}

// --- types -----------------------------------------------------------------

impl types::Host for MessagingView<'_> {}

impl types::HostClient for MessagingView<'_> {
    async fn connect(&mut self, name: String) -> wasmtime::Result<Result<Resource<Client>, Error>> {
        if !self.instance.clients.try_take() {
            return Ok(Err(Error::Other(format!(
                "too many messaging clients open in this instance (at most {})",
                crate::MAX_CONNECTIONS_PER_INSTANCE
            ))));
        }
        let component = self.instance.component.clone();
        let connected = component
            .app()
            .connect(component.allowed_hosts(), &name)
            .await;
        match connected {
            Ok(connection) => match self.table.push(Client::new(connection)) {
                Ok(client) => Ok(Ok(client)),
                Err(table_full) => {
                    self.instance.clients.give_back();
                    Err(table_full.into())
                }
            },
            Err(err) => {
                self.instance.clients.give_back();
                tracing::debug!(component = %self.component_id(), "messaging connect failed: {}", nimbus_messaging_types::describe(&err));
                Ok(Err(err))
            }
        }
    }

    async fn disconnect(
        &mut self,
        client: Resource<Client>,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Some(connection) = self.table.get(&client)?.get::<Connection>() {
            connection.disconnected.store(true, Ordering::Relaxed);
        }
        Ok(Ok(()))
    }

    async fn drop(&mut self, client: Resource<Client>) -> wasmtime::Result<()> {
        self.table.delete(client)?;
        self.instance.clients.give_back();
        Ok(())
    }
}

impl types::HostMessage for MessagingView<'_> {
    async fn new(&mut self, data: Vec<u8>) -> wasmtime::Result<Resource<Message>> {
        Ok(self.table.push(Message::new(data))?)
    }

    async fn topic(&mut self, message: Resource<Message>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&message)?.topic.clone())
    }

    async fn content_type(
        &mut self,
        message: Resource<Message>,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&message)?.content_type.clone())
    }

    async fn set_content_type(
        &mut self,
        message: Resource<Message>,
        content_type: String,
    ) -> wasmtime::Result<Result<(), ()>> {
        Ok(self.table.get_mut(&message)?.set_content_type(content_type))
    }

    async fn data(&mut self, message: Resource<Message>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&message)?.data.clone())
    }

    async fn set_data(
        &mut self,
        message: Resource<Message>,
        data: Vec<u8>,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&message)?.data = data;
        Ok(())
    }

    async fn metadata(
        &mut self,
        message: Resource<Message>,
    ) -> wasmtime::Result<Option<Vec<(String, String)>>> {
        Ok(self.table.get(&message)?.metadata.clone())
    }

    async fn add_metadata(
        &mut self,
        message: Resource<Message>,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), MetadataError>> {
        Ok(self.table.get_mut(&message)?.add_metadata(key, value))
    }

    async fn set_metadata(
        &mut self,
        message: Resource<Message>,
        meta: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<(), MetadataError>> {
        Ok(self.table.get_mut(&message)?.set_metadata(meta))
    }

    async fn remove_metadata(
        &mut self,
        message: Resource<Message>,
        key: String,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&message)?.remove_metadata(&key);
        Ok(())
    }

    async fn drop(&mut self, message: Resource<Message>) -> wasmtime::Result<()> {
        self.table.delete(message)?;
        Ok(())
    }
}

// --- producer --------------------------------------------------------------

impl producer::Host for MessagingView<'_> {
    async fn send(
        &mut self,
        client: Resource<Client>,
        topic: String,
        message: Resource<Message>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let message = self.table.delete(message)?;
        let connection = match self.connection(&client)? {
            Ok(connection) => connection,
            Err(err) => return Ok(Err(err)),
        };
        let subject = match (topic.is_empty(), &message.topic) {
            (false, _) => topic,
            (true, Some(own)) => own.clone(),
            (true, None) => return Ok(Err(Error::Other("no topic to send the message to".into()))),
        };
        let result =
            nats::publish(&connection.client, subject, None, &message, PUBLISH_TIMEOUT).await;
        if let Err(err) = &result {
            tracing::debug!(
                component = %self.component_id(),
                "messaging send to {} failed: {}",
                connection.endpoint,
                nimbus_messaging_types::describe(err)
            );
        }
        Ok(result)
    }
}

// --- request-reply ---------------------------------------------------------

impl request_reply::Host for MessagingView<'_> {
    async fn request(
        &mut self,
        client: Resource<Client>,
        topic: String,
        message: Resource<Message>,
        options: Option<Resource<RequestOptions>>,
    ) -> wasmtime::Result<Result<Vec<Resource<Message>>, Error>> {
        let options = match options {
            Some(options) => self.table.delete(options)?,
            None => RequestOptions::default(),
        };
        let message = self.table.get(&message)?.clone();
        let connection = match self.connection(&client)? {
            Ok(connection) => connection,
            Err(err) => return Ok(Err(err)),
        };
        let replies = match request(&connection.client, topic, &message, options).await {
            Ok(replies) => replies,
            Err(err) => {
                tracing::debug!(
                    component = %self.component_id(),
                    "messaging request to {} failed: {}",
                    connection.endpoint,
                    nimbus_messaging_types::describe(&err)
                );
                return Ok(Err(err));
            }
        };
        let mut handles = Vec::with_capacity(replies.len());
        for reply in replies {
            handles.push(self.table.push(reply)?);
        }
        Ok(Ok(handles))
    }

    async fn reply(
        &mut self,
        reply_to: Resource<Message>,
        message: Resource<Message>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let message = self.table.delete(message)?;
        let Some(to) = self.table.get(&reply_to)?.reply_to.clone() else {
            return Ok(Err(Error::Other(
                "the message has no reply subject: it was not sent as a request".into(),
            )));
        };
        let result = to.via.reply(to.subject, message).await;
        if let Err(err) = &result {
            tracing::debug!(
                component = %self.component_id(),
                "messaging reply failed: {}",
                nimbus_messaging_types::describe(err)
            );
        }
        Ok(result)
    }
}

/// Publishes `message` to `topic` with a fresh inbox as its reply subject and
/// collects the replies (see the crate docs).
async fn request(
    client: &async_nats::Client,
    topic: String,
    message: &Message,
    options: RequestOptions,
) -> Result<Vec<Message>, Error> {
    nats::check_subject(&topic, false).map_err(Error::Other)?;
    let timeout = options.timeout.unwrap_or(REQUEST_TIMEOUT);
    let expected = options.expected_replies.unwrap_or(1).clamp(1, MAX_REPLIES) as usize;
    let deadline = tokio::time::Instant::now() + timeout;
    let inbox = client.new_inbox();
    let mut replies_sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|err| Error::Connection(format!("cannot subscribe to the reply inbox: {err}")))?;
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    nats::publish(client, topic.clone(), Some(inbox), message, remaining).await?;
    let replier = NatsReplier::new(client.clone());
    let mut replies = Vec::new();
    while replies.len() < expected {
        match tokio::time::timeout_at(deadline, replies_sub.next()).await {
            Ok(Some(reply)) if reply.status == Some(async_nats::StatusCode::NO_RESPONDERS) => {
                if replies.is_empty() {
                    return Err(Error::Other(format!("no responders on subject {topic:?}")));
                }
                break;
            }
            Ok(Some(reply)) => replies.push(nats::from_nats(reply, Some(replier.clone()))),
            Ok(None) => {
                if replies.is_empty() {
                    return Err(Error::Connection("the connection was closed".into()));
                }
                break;
            }
            Err(_) => break,
        }
    }
    if replies.is_empty() {
        return Err(Error::Timeout);
    }
    Ok(replies)
}

impl request_reply::HostRequestOptions for MessagingView<'_> {
    async fn new(&mut self) -> wasmtime::Result<Resource<RequestOptions>> {
        Ok(self.table.push(RequestOptions::default())?)
    }

    async fn set_timeout_ms(
        &mut self,
        options: Resource<RequestOptions>,
        timeout_ms: u32,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&options)?.timeout = Some(Duration::from_millis(timeout_ms.into()));
        Ok(())
    }

    async fn set_expected_replies(
        &mut self,
        options: Resource<RequestOptions>,
        expected_replies: u32,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&options)?.expected_replies = Some(expected_replies);
        Ok(())
    }

    async fn drop(&mut self, options: Resource<RequestOptions>) -> wasmtime::Result<()> {
        self.table.delete(options)?;
        Ok(())
    }
}
