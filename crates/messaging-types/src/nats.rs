//! A [`Message`] on NATS: addresses, subjects, headers, and replying on a
//! connection.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, HeaderName, HeaderValue};

use crate::{BoxFuture, Error, Message, Replier, ReplyTo};

/// The port of a `nats://` address that names none.
pub const DEFAULT_PORT: u16 = 4222;

/// The header that carries a message's content type.
pub const CONTENT_TYPE: &str = "Content-Type";

/// How long publishing a reply waits for the server to have it.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A NATS server address: `nats://[USER:PASSWORD@]HOST[:PORT]`.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsAddress {
    /// The host as `allowed_outbound_hosts` matches it: a name, or an IP
    /// literal without brackets.
    pub host: String,
    /// The port ([`DEFAULT_PORT`] when the address names none).
    pub port: u16,
    /// The user name and password, if the address has them.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for NatsAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.endpoint())
    }
}

impl NatsAddress {
    /// Parses `address`; the error says why (it never repeats a password).
    pub fn parse(address: &str) -> Result<NatsAddress, String> {
        let url = url::Url::parse(address).map_err(|err| format!("not a URL ({err})"))?;
        if url.scheme() != "nats" {
            return Err(format!(
                "scheme `{}`: only `nats://` is supported (no TLS)",
                url.scheme()
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("no host".into()),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("a path, query or fragment: write nats://HOST[:PORT]".into());
        }
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => {
                let decode = |s: &str| {
                    percent_decode(s).ok_or_else(|| "user name or password is not UTF-8".to_owned())
                };
                Some((decode(user)?, decode(password.unwrap_or(""))?))
            }
        };
        Ok(NatsAddress {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            credentials,
        })
    }

    /// `nats://host:port`, for messages (IPv6 literals in brackets). Holds
    /// nothing but the host and port.
    pub fn endpoint(&self) -> String {
        nimbus_outbound_networking::endpoint("nats", &self.host, self.port)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Checks a subject: tokens separated by `.`, none empty, no whitespace.
/// With `wildcards`, `*` may be a whole token and `>` the whole last one
/// (a subscription); without, neither may appear as a token (a publish).
pub fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() {
        return Err("the subject is empty".into());
    }
    if subject.len() > 4096 {
        return Err("the subject is longer than 4096 bytes".into());
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("subject {subject:?} has whitespace"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!(
                "subject {subject:?} has an empty token (`..`, or a `.` at an end)"
            ));
        }
        let wildcard = *token == "*" || *token == ">";
        if wildcard && !wildcards {
            return Err(format!(
                "subject {subject:?} has a wildcard (`*` or `>`): messages are published to one subject"
            ));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err(format!(
                "subject {subject:?}: `>` may only be the last token"
            ));
        }
    }
    Ok(())
}

/// Checks that `key: value` can be a NATS header (printable ASCII name
/// without `:`, a value without line breaks).
pub fn check_header(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(format!(
            "metadata key {key:?} cannot be a NATS header name (printable ASCII, no `:` or spaces)"
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!(
            "the value of metadata key {key:?} has a line break"
        ));
    }
    Ok(())
}

/// The message as the guest sees it: its subject, payload, the
/// `Content-Type` header as its content type and the other headers as its
/// metadata; its reply subject, if any, goes by `via`.
pub fn from_nats(message: async_nats::Message, via: Option<Arc<dyn Replier>>) -> Message {
    let mut content_type = None;
    let mut metadata = Vec::new();
    if let Some(headers) = &message.headers {
        for (name, values) in headers.iter() {
            for value in values {
                if name.to_string().eq_ignore_ascii_case(CONTENT_TYPE) {
                    content_type.get_or_insert_with(|| value.as_str().to_owned());
                } else {
                    metadata.push((name.to_string(), value.as_str().to_owned()));
                }
            }
        }
    }
    let reply_to = match (message.reply, via) {
        (Some(subject), Some(via)) => Some(ReplyTo {
            subject: subject.to_string(),
            via,
        }),
        _ => None,
    };
    Message {
        topic: Some(message.subject.to_string()),
        data: message.payload.to_vec(),
        content_type,
        metadata: (!metadata.is_empty()).then_some(metadata),
        reply_to,
    }
}

/// The headers that carry `message`'s content type and metadata (`None`
/// when it has neither). Entries were checked when the guest set them; one
/// that is not a header name anyway is left out.
pub fn headers(message: &Message) -> Option<HeaderMap> {
    let entries = message
        .content_type
        .iter()
        .map(|ct| (CONTENT_TYPE, ct.as_str()))
        .chain(
            message
                .metadata
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
    let mut headers = HeaderMap::new();
    for (key, value) in entries {
        if let Ok(name) = key.parse::<HeaderName>() {
            headers.append(name, HeaderValue::from(value));
        }
    }
    (!headers.is_empty()).then_some(headers)
}

/// Publishes `message` to `subject` on `client` (with its headers, and
/// `reply` as its reply subject if given), then waits up to `timeout` for
/// the server to have it.
pub async fn publish(
    client: &async_nats::Client,
    subject: String,
    reply: Option<String>,
    message: &Message,
    timeout: Duration,
) -> Result<(), Error> {
    check_subject(&subject, false).map_err(Error::Other)?;
    if client.connection_state() != async_nats::connection::State::Connected {
        return Err(Error::Connection(
            "not connected to the NATS server (reconnecting)".into(),
        ));
    }
    let payload = bytes::Bytes::from(message.data.clone());
    let headers = headers(message).unwrap_or_default();
    let published = match reply {
        Some(reply) => {
            client
                .publish_with_reply_and_headers(subject, reply, headers, payload)
                .await
        }
        None => client.publish_with_headers(subject, headers, payload).await,
    };
    published.map_err(|err| Error::Other(format!("cannot publish: {err}")))?;
    match tokio::time::timeout(timeout, client.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(Error::Connection(format!("cannot publish: {err}"))),
        Err(_) => Err(Error::Timeout),
    }
}

/// Replies on a NATS connection (the one a message arrived on).
pub struct NatsReplier {
    client: async_nats::Client,
}

impl NatsReplier {
    /// Replies on `client`.
    pub fn new(client: async_nats::Client) -> Arc<NatsReplier> {
        Arc::new(NatsReplier { client })
    }
}

impl Replier for NatsReplier {
    fn reply(&self, subject: String, message: Message) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { publish(&self.client, subject, None, &message, REPLY_TIMEOUT).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        let a = NatsAddress::parse("nats://127.0.0.1:4222").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.credentials),
            ("127.0.0.1", 4222, None)
        );
        let b = NatsAddress::parse("nats://user:p%40ss@nats.example.com").unwrap();
        assert_eq!(b.port, DEFAULT_PORT);
        assert_eq!(b.credentials, Some(("user".into(), "p@ss".into())));
        assert_eq!(format!("{b:?}"), "nats://nats.example.com:4222");
        assert_eq!(
            NatsAddress::parse("nats://[::1]:1").unwrap().endpoint(),
            "nats://[::1]:1"
        );
        for bad in [
            "",
            "127.0.0.1:4222",
            "tls://h:1",
            "nats://",
            "nats://h:1/x",
            "nats://h?a=b",
        ] {
            assert!(NatsAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subjects_are_checked() {
        for ok in ["jobs", "jobs.a.b", "a-b_c.D"] {
            check_subject(ok, false).unwrap();
        }
        for ok in ["jobs.>", "jobs.*.x", "*", ">"] {
            check_subject(ok, true).unwrap();
            assert!(check_subject(ok, false).is_err(), "{ok:?}");
        }
        for bad in ["", "a..b", ".a", "a.", "a b", "a.>.b", "a\tb"] {
            assert!(check_subject(bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_carry_content_type_and_metadata() {
        let mut message = Message::new(b"x".to_vec());
        message.set_content_type("text/plain".into()).unwrap();
        message.add_metadata("k".into(), "1".into()).unwrap();
        message.add_metadata("k".into(), "2".into()).unwrap();
        assert!(message.add_metadata("a b".into(), "1".into()).is_err());
        assert!(message.add_metadata("k".into(), "a\r\nb".into()).is_err());
        assert!(message.set_content_type("a\nb".into()).is_err());
        let headers = headers(&message).unwrap();
        assert_eq!(headers.get(CONTENT_TYPE).unwrap().as_str(), "text/plain");
        assert_eq!(
            headers.get_all("k").map(|v| v.as_str()).collect::<Vec<_>>(),
            ["2"]
        );
        message.remove_metadata("k");
        assert_eq!(message.metadata, Some(vec![]));
    }
}
