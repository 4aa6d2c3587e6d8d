//! The `address` a guest gives `open`: `mqtt://HOST[:PORT][?client_id=ID]`.

use crate::{MqttError, DEFAULT_PORT};

/// The longest `client_id` taken from an address (a suffix unique to the
/// connection is added to it).
const MAX_CLIENT_ID_PREFIX: usize = 64;

/// A parsed broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerAddress {
    /// The host as `allowed_outbound_hosts` matches it: a name, or an IP
    /// literal without brackets.
    pub host: String,
    /// The port ([`DEFAULT_PORT`] when the address names none).
    pub port: u16,
    /// The address's `client_id`, if it has one.
    pub client_id: Option<String>,
}

impl BrokerAddress {
    /// `mqtt://host:port`, for messages (IPv6 literals in brackets). Holds
    /// nothing but the host and port.
    pub fn endpoint(&self) -> String {
        nimbus_outbound_networking::endpoint("mqtt", &self.host, self.port)
    }
}

/// Parses `address`. The reason for a refusal is logged at debug level;
/// the address itself never is (it may hold credentials).
pub(crate) fn parse(address: &str) -> Result<BrokerAddress, MqttError> {
    parse_inner(address).map_err(|why| {
        tracing::debug!("invalid MQTT address: {why}");
        MqttError::InvalidAddress
    })
}

fn parse_inner(address: &str) -> Result<BrokerAddress, String> {
    let url = url::Url::parse(address).map_err(|err| format!("not a URL ({err})"))?;
    if url.scheme() != "mqtt" {
        return Err(format!(
            "scheme `{}`: only `mqtt://` is supported",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a user name or password in the URL: pass them as `open`'s arguments".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("no host".into()),
    };
    if !matches!(url.path(), "" | "/") {
        return Err("a path: an MQTT address has none".into());
    }
    if url.fragment().is_some() {
        return Err("a fragment (`#…`)".into());
    }
    let mut client_id = None;
    for (key, value) in url.query_pairs() {
        if key == "client_id" {
            if value.is_empty()
                || value.len() > MAX_CLIENT_ID_PREFIX
                || value.chars().any(char::is_control)
            {
                return Err(format!(
                    "client_id must have 1 to {MAX_CLIENT_ID_PREFIX} bytes and no control characters"
                ));
            }
            client_id = Some(value.into_owned());
        } else {
            tracing::debug!("MQTT address: query parameter `{key}` ignored");
        }
    }
    Ok(BrokerAddress {
        host,
        port: url.port().unwrap_or(DEFAULT_PORT),
        client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(address: &str) -> BrokerAddress {
        parse(address).unwrap_or_else(|err| panic!("{address}: {err}"))
    }

    #[test]
    fn addresses_spin_apps_use_parse() {
        assert_eq!(
            ok("mqtt://localhost:1883?client_id=client001"),
            BrokerAddress {
                host: "localhost".into(),
                port: 1883,
                client_id: Some("client001".into()),
            }
        );
        let plain = ok("mqtt://broker.example.com");
        assert_eq!(
            (plain.host.as_str(), plain.port),
            ("broker.example.com", 1883)
        );
        assert_eq!(plain.client_id, None);
        assert_eq!(ok("MQTT://127.0.0.1:8883/").port, 8883);
        let v6 = ok("mqtt://[::1]:1884?keep_alive_secs=5");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 1884));
        assert_eq!(v6.endpoint(), "mqtt://[::1]:1884");
        assert_eq!(ok("mqtt://h:1").endpoint(), "mqtt://h:1");
    }

    #[test]
    fn anything_else_is_an_invalid_address() {
        for bad in [
            "",
            "localhost:1883",
            "not a url",
            "mqtts://localhost:8883",
            "tcp://localhost:1883",
            "http://localhost:1883",
            "mqtt://",
            "mqtt://user:secret@localhost:1883",
            "mqtt://localhost:1883/topic",
            "mqtt://localhost:99999",
            "mqtt://localhost?client_id=",
            "mqtt://localhost#x",
        ] {
            assert_eq!(parse(bad), Err(MqttError::InvalidAddress), "{bad:?}");
        }
        let long = format!("mqtt://h?client_id={}", "x".repeat(65));
        assert_eq!(parse(&long), Err(MqttError::InvalidAddress));
    }
}
