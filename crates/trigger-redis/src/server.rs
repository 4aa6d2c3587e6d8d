//! A Redis server address: the URL to connect with (it may hold a password)
//! and the form logs and messages show (`redis://host:port`, never the
//! password).

use std::fmt;

use redis::{ConnectionAddr, IntoConnectionInfo};

/// A Redis server the trigger subscribes to.
#[derive(Clone)]
pub(crate) struct Server {
    /// The address as configured (rendered): secret, never logged.
    url: String,
    /// `redis://host:port` or `redis+unix:///path`.
    display: String,
}

impl Server {
    /// Parses a `redis://` (or `redis+unix://`) URL; the error says what is
    /// wrong without repeating the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Server, String> {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if matches!(scheme, Some("rediss" | "valkeys")) {
            return Err(
                "TLS Redis addresses (rediss://) are not supported by the Redis trigger yet; use redis://HOST:PORT"
                    .to_owned(),
            );
        }
        let info = url.into_connection_info().map_err(|err| {
            format!(
                "invalid Redis address ({}); write it as redis://[:PASSWORD@]HOST[:PORT][/DB], e.g. \"redis://127.0.0.1:6379\"",
                err.detail().unwrap_or("not a Redis URL")
            )
        })?;
        let display = match &info.addr {
            ConnectionAddr::Tcp(host, port) => nimbus_capability::endpoint("redis", host, *port),
            ConnectionAddr::Unix(path) => format!("redis+unix://{}", path.display()),
            ConnectionAddr::TcpTls { .. } => {
                return Err("TLS Redis addresses are not supported by the Redis trigger yet".into())
            }
        };
        Ok(Server {
            url: url.to_owned(),
            display,
        })
    }

    /// The URL to connect with (secret: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_form_has_no_password() {
        let server = Server::parse("redis://:s3cret@127.0.0.1:6380/2").unwrap();
        assert_eq!(server.to_string(), "redis://127.0.0.1:6380");
        assert_eq!(
            format!("{server} {server:?}"),
            "redis://127.0.0.1:6380 redis://127.0.0.1:6380"
        );
        let server = Server::parse("redis://user:pw@localhost").unwrap();
        assert_eq!(server.to_string(), "redis://localhost:6379");
    }

    #[test]
    fn bad_addresses_are_refused_without_echoing_them() {
        for bad in ["http://x:1", "not a url", "rediss://:pw@host:6380"] {
            let err = Server::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(!err.contains("pw@"), "{err}");
            assert!(err.contains("redis://"), "{err}");
        }
    }
}
