//! Parsers for flag values shared by several commands, with messages that
//! say what a valid value looks like.

use std::net::{SocketAddr, ToSocketAddrs as _};

/// A listen address as Spin accepts it: `HOST:PORT` where HOST is an IP
/// address (`[::1]:3000` for IPv6) or a host name (resolved; its first IPv4
/// address is preferred), or a bare `PORT` on 127.0.0.1. Port 0 picks a free
/// port.
pub fn listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u16>()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .map_err(|_| format!("port {text} is out of range (0 to 65535)"));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let usage = "expected HOST:PORT (e.g. 127.0.0.1:3000, localhost:3000, [::1]:3000, \
                 0.0.0.0:8080) or a port number";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} has no port: {usage}"));
    };
    if host.is_empty() {
        return Err(format!("{text:?} has no host: {usage}"));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "{port:?} is not a port number (0 to 65535): {usage}"
        ));
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {host:?}: {err}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} resolves to no address"))
}

/// A host name an app answers on (`--hostname`): dot-separated labels of
/// letters, digits and hyphens; normalized to lowercase without a trailing
/// dot, as the node stores it.
pub fn hostname(text: &str) -> Result<String, String> {
    let normalized = nimbus_platform::config::normalize_domain(text).ok();
    normalized.filter(|host| host.len() <= 253).ok_or_else(|| {
        "not a valid host name: use letters, digits and hyphens, in labels of at most 63 \
         characters separated by dots (e.g. shop.example.com); no spaces, scheme, port or path"
            .to_owned()
    })
}

/// `KEY=VALUE` (`--env`, `--variable`): the key must not be empty.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err("the name before `=` is empty: expected NAME=VALUE".to_owned()),
        None => Err(format!("expected NAME=VALUE (e.g. {text}=...)")),
    }
}

/// The statements of `--sqlite` flags: each is SQL, or `@FILE` to read it
/// from a file (as Spin's `--sqlite`).
pub fn sqlite_statements(args: &[String]) -> anyhow::Result<Vec<String>> {
    use anyhow::Context as _;
    args.iter()
        .map(|arg| match arg.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .with_context(|| format!("--sqlite @{file}: cannot read {file}")),
            None => Ok(arg.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_addresses_host_names_and_bare_ports() {
        assert_eq!(
            listen_address("127.0.0.1:3000").unwrap(),
            "127.0.0.1:3000".parse().unwrap()
        );
        assert_eq!(
            listen_address("[::1]:8080").unwrap(),
            "[::1]:8080".parse().unwrap()
        );
        assert_eq!(
            listen_address("3000").unwrap(),
            "127.0.0.1:3000".parse().unwrap()
        );
        assert_eq!(listen_address("0").unwrap(), "127.0.0.1:0".parse().unwrap());
        let local = listen_address("localhost:3000").unwrap();
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 3000);
    }

    #[test]
    fn listen_says_what_is_wrong() {
        let err = listen_address("70000").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        let err = listen_address("localhost").unwrap_err();
        assert!(
            err.contains("no port") && err.contains("HOST:PORT"),
            "{err}"
        );
        let err = listen_address("localhost:http").unwrap_err();
        assert!(err.contains("not a port number"), "{err}");
        let err = listen_address(":3000").unwrap_err();
        assert!(err.contains("no host"), "{err}");
    }

    #[test]
    fn hostnames_are_dns_names() {
        assert_eq!(hostname("Shop.Example.com.").unwrap(), "shop.example.com");
        for bad in [
            "bad host",
            "http://shop.example.com",
            "shop.example.com:80",
            "a..b",
            "",
        ] {
            let err = hostname(bad).unwrap_err();
            assert!(err.contains("not a valid host name"), "{bad}: {err}");
            assert!(err.contains("letters, digits and hyphens"), "{bad}: {err}");
        }
        assert!(hostname(&"a".repeat(64)).is_err());
    }

    #[test]
    fn key_values_need_a_name_and_an_equals_sign() {
        assert_eq!(key_value("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(key_value("A=").unwrap(), ("A".into(), String::new()));
        assert!(key_value("=b").unwrap_err().contains("empty"));
        assert!(key_value("A").unwrap_err().contains("NAME=VALUE"));
    }
}
