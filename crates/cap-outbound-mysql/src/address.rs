//! A guest's MySQL address (`mysql://user:password@host:port/db`), parsed
//! by the host so that only what it understands reaches the driver.
//!
//! The address is the guest's secret: nothing here puts it (or its
//! password) into an error message or a `Debug` output.

use std::fmt;

use crate::MysqlError;

/// MySQL's port when the address names none.
pub const DEFAULT_PORT: u16 = 3306;

/// A parsed `mysql://` address.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// The host as written (a name, or an IP literal without brackets).
    pub host: String,
    /// The port ([`DEFAULT_PORT`] when absent).
    pub port: u16,
    /// The user name, percent-decoded.
    pub user: Option<String>,
    /// The password, percent-decoded.
    pub password: Option<String>,
    /// The database, percent-decoded.
    pub database: Option<String>,
    /// Whether the connection must use TLS (`ssl-mode` other than
    /// `disabled`, as Spin reads it).
    pub tls: bool,
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Address")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("tls", &self.tls)
            .finish()
    }
}

fn invalid(why: impl fmt::Display) -> MysqlError {
    MysqlError::ConnectionFailed(format!("invalid MySQL address: {why}"))
}

/// `part` of the URL, percent-decoded.
fn decode(part: &str, what: &str) -> Result<String, MysqlError> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| invalid(format_args!("its {what} is not UTF-8 once percent-decoded")))
}

impl Address {
    /// Parses `address`. Errors say what is wrong without repeating the
    /// address (it holds the password).
    pub fn parse(address: &str) -> Result<Address, MysqlError> {
        let url = url::Url::parse(address).map_err(|err| {
            invalid(format_args!(
                "{err} (expected mysql://user:password@host:port/database)"
            ))
        })?;
        if url.scheme() != "mysql" {
            return Err(invalid(format_args!(
                "the scheme is `{}`, expected mysql://user:password@host:port/database",
                url.scheme()
            )));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => {
                if name.contains('%') {
                    return Err(invalid("the host name holds a percent-encoded character"));
                }
                name.to_owned()
            }
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(invalid("it names no host")),
        };
        let port = url.port().unwrap_or(DEFAULT_PORT);
        let user = match url.username() {
            "" => None,
            user => Some(decode(user, "user name")?),
        };
        let password = match url.password() {
            None => None,
            Some(password) => Some(decode(password, "password")?),
        };
        let path = url.path().trim_start_matches('/');
        if path.contains('/') {
            return Err(invalid("the path must be one database name"));
        }
        let database = match path {
            "" => None,
            db => Some(decode(db, "database name")?),
        };
        let mut tls = false;
        for (key, value) in url.query_pairs() {
            match key.to_ascii_lowercase().as_str() {
                "ssl-mode" | "sslmode" => tls = !value.eq_ignore_ascii_case("disabled"),
                _ => {
                    return Err(invalid(format_args!(
                        "unsupported parameter `{key}` (only `ssl-mode` is accepted)"
                    )))
                }
            }
        }
        if url.fragment().is_some() {
            return Err(invalid("it has a fragment (`#…`)"));
        }
        Ok(Address {
            host,
            port,
            user,
            password,
            database,
            tls,
        })
    }

    /// `message` with every occurrence of the password replaced, for text
    /// that came from the driver or the server.
    pub fn scrub(&self, message: &str) -> String {
        match self.password.as_deref() {
            Some(password) if !password.is_empty() => message.replace(password, "<redacted>"),
            _ => message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_address() {
        let a = Address::parse("mysql://app:s3cr%40t@db.example.com:3307/shop?ssl-mode=REQUIRED")
            .unwrap();
        assert_eq!(a.host, "db.example.com");
        assert_eq!(a.port, 3307);
        assert_eq!(a.user.as_deref(), Some("app"));
        assert_eq!(a.password.as_deref(), Some("s3cr@t"));
        assert_eq!(a.database.as_deref(), Some("shop"));
        assert!(a.tls);
        assert!(!format!("{a:?}").contains("s3cr"));
    }

    #[test]
    fn defaults_and_literals() {
        let a = Address::parse("mysql://127.0.0.1").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", DEFAULT_PORT));
        assert_eq!((a.user, a.password, a.database), (None, None, None));
        assert!(!a.tls);
        let a = Address::parse("mysql://u@[::1]:3310/db?sslmode=disabled").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 3310));
        assert!(!a.tls);
        let a = Address::parse("mysql://u:a+b@h/db").unwrap();
        assert_eq!(a.password.as_deref(), Some("a+b"));
    }

    #[test]
    fn errors_never_repeat_the_address() {
        for bad in [
            "postgres://u:hunter2@h/db",
            "mysql://u:hunter2@/db",
            "mysql://u:hunter2@h/a/b",
            "mysql://u:hunter2@h/db?socket=/tmp/x.sock",
            "mysql://u:hunter2@h/db?prefer_socket=true",
            "mysql://u:hunter2@h:99999/db",
            "mysql://u:hunter2@h/db#frag",
            "hunter2",
        ] {
            let err = Address::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
            assert!(err.contains("invalid MySQL address"), "{bad}: {err}");
        }
    }

    #[test]
    fn scrub_removes_the_password() {
        let a = Address::parse("mysql://u:hunter2@h/db").unwrap();
        assert_eq!(a.scrub("x hunter2 y"), "x <redacted> y");
        let a = Address::parse("mysql://u@h/db").unwrap();
        assert_eq!(a.scrub("x y"), "x y");
    }
}
