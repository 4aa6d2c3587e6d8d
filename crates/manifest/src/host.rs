//! `allowed_outbound_hosts` patterns, see [`HostPattern`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::template::Template;

/// The well-known port Spin assumes for a scheme when a pattern has none:
/// http 80, https 443, postgres 5432, mysql 3306, redis 6379, mqtt 1883.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// The scheme part of a [`HostPattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemePattern {
    /// `*`: any scheme.
    Any,
    /// One scheme, lowercase (`https`).
    Exact(String),
}

/// The host part of a [`HostPattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostMatch {
    /// `*`: any host.
    Any,
    /// `*.example.com`: any subdomain of `example.com` (not `example.com`
    /// itself). The payload is the suffix without `*.`, lowercase.
    Subdomains(String),
    /// `self` (or Spin's `self.alt`): requests from a component to its own app.
    App,
    /// A host name, lowercase.
    Name(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// An address range in CIDR notation (`10.0.0.0/8`); the address has its
    /// host bits cleared.
    Cidr(IpAddr, u8),
}

/// The port part of a [`HostPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortPattern {
    /// `*`: any port.
    Any,
    /// One port (given, or the scheme's default).
    Port(u16),
    /// `start..end`: ports from `start` up to but excluding `end` (Spin's
    /// semantics).
    Range(u16, u16),
}

/// One `allowed_outbound_hosts` entry, e.g. `"https://*.example.com:443"`.
///
/// The syntax and matching follow Spin's `AllowedHostConfig`
/// (`spin-outbound-networking-config`): `<scheme>://<host>[:<port>]`, with
/// `*` wildcards. Differences from Spin, all deliberate:
///
/// - Host names are validated (letters, digits, `-`, `_`, dot-separated
///   labels); Spin accepts any text, e.g. `"https://exa mple.com"`, which can
///   then never match.
/// - Host names and schemes are compared case-insensitively, a trailing `.` on
///   a requested host is ignored, and IP literals are compared as addresses
///   (`[::1]` and `::1` are the same host).
/// - Schemes may contain digits, `+`, `-` and `.` after the first letter (RFC
///   3986); Spin allows letters only.
/// - IPv6 literals must be bracketed (`http://[::1]:8080`) except in CIDR
///   ranges, which use Spin's form (`*://ff00::/8:80`).
/// - A bare `"self"` is accepted as a short form of `"http://self"`.
///
/// Variable templates (`"https://{{ host }}"`) are not patterns: the manifest
/// keeps such an entry as an [`AllowedHostEntry::Template`], and it is
/// rendered from the app's variables and then parsed here when the app is
/// loaded (as Spin does).
///
/// As in Spin, a port range `a..b` excludes `b`, and a missing port means the
/// scheme's well-known port (see [`default_port`]); other schemes need a port.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    scheme: SchemePattern,
    host: HostMatch,
    port: PortPattern,
}

/// An `allowed_outbound_hosts` entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostPatternError {
    message: String,
    reason: String,
}

impl HostPatternError {
    fn new(input: &str, reason: impl fmt::Display) -> HostPatternError {
        let reason = reason.to_string();
        HostPatternError {
            message: format!("invalid allowed_outbound_hosts entry {input:?}: {reason}"),
            reason,
        }
    }

    /// What is wrong and how to fix it, without the leading "invalid
    /// allowed_outbound_hosts entry ...".
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

const FORM: &str = "write it as <scheme>://<host>[:<port>]";

impl HostPattern {
    /// Parses a pattern; see [`HostPattern`] for the syntax.
    pub fn parse(input: &str) -> Result<HostPattern, HostPatternError> {
        parse(input).map_err(|reason| HostPatternError::new(input, reason))
    }

    /// The scheme part.
    pub fn scheme(&self) -> &SchemePattern {
        &self.scheme
    }

    /// The host part.
    pub fn host(&self) -> &HostMatch {
        &self.host
    }

    /// The port part (a missing port has been replaced by the scheme's default).
    pub fn port(&self) -> PortPattern {
        self.port
    }

    /// True if a connection to `host:port` with `scheme` is allowed.
    ///
    /// `port` is the actual port: callers apply the scheme's default port
    /// themselves (see [`default_port`]). `host` may be a name or an IP
    /// literal, with or without IPv6 brackets. A [`HostMatch::App`] pattern
    /// matches no host here: requests to the app itself are checked with
    /// [`HostPattern::allows_self`].
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme_allows(scheme) && self.host_allows(host) && self.port_allows(port)
    }

    /// True if this pattern lets a component send HTTP requests to its own app
    /// (Spin's `http://self` and relative URLs): the host is `self` or `*` and
    /// the scheme is `http`, `https` or `*`.
    pub fn allows_self(&self) -> bool {
        matches!(self.host, HostMatch::Any | HostMatch::App)
            && (self.scheme_allows("http") || self.scheme_allows("https"))
    }

    /// True if the host part matches `host` (a name or an IP literal, with or
    /// without IPv6 brackets), whatever the scheme and port: e.g. whether a
    /// name may be looked up for the sockets this pattern grants. `self`
    /// matches no host.
    pub fn allows_host(&self, host: &str) -> bool {
        self.host_allows(host)
    }

    fn scheme_allows(&self, scheme: &str) -> bool {
        match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exact(s) => s.eq_ignore_ascii_case(scheme),
        }
    }

    fn port_allows(&self, port: u16) -> bool {
        match self.port {
            PortPattern::Any => true,
            PortPattern::Port(p) => p == port,
            PortPattern::Range(start, end) => (start..end).contains(&port),
        }
    }

    fn host_allows(&self, host: &str) -> bool {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host);
        match &self.host {
            HostMatch::Any => true,
            HostMatch::App => false,
            HostMatch::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            HostMatch::Name(name) => host == *name,
            HostMatch::Ip(ip) => unbracketed.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            HostMatch::Cidr(net, prefix) => unbracketed
                .parse::<IpAddr>()
                .is_ok_and(|h| mask(h, *prefix) == Some(*net)),
        }
    }
}

/// Clears the host bits of `ip` for a `prefix`-bit network; `None` if the
/// prefix is too long for the address family.
fn mask(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) if prefix <= 32 => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            Some(IpAddr::V4(Ipv4Addr::from(bits & m)))
        }
        IpAddr::V6(v6) if prefix <= 128 => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            Some(IpAddr::V6(Ipv6Addr::from(bits & m)))
        }
        _ => None,
    }
}

fn validate_name(name: &str, whole: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err(format!(
            "missing host; {FORM}, e.g. \"https://example.com\""
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.'))
    {
        return Err(format!(
            "invalid character {c:?} in host {whole:?}; host names use letters, digits, '-' and '.'"
        ));
    }
    if name.split('.').any(str::is_empty) {
        return Err(format!(
            "empty label in host {whole:?}; remove the extra '.'"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn parse(input: &str) -> Result<HostPattern, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("empty entry; {FORM}, e.g. \"https://example.com\""));
    }
    if s == "insecure:allow-all" {
        return Err(
            "\"insecure:allow-all\" is not supported; use \"*://*:*\" if you really want to allow all outbound traffic"
                .to_string(),
        );
    }
    if s.contains("{{") {
        return Err(
            "\"{{\" is only allowed in the manifest, around a variable name \
             (\"https://{{ api_host }}\"); a variable's value cannot hold a template"
                .to_string(),
        );
    }
    if s == "self" || s == "self.alt" {
        return Ok(HostPattern {
            scheme: SchemePattern::Exact("http".to_string()),
            host: HostMatch::App,
            port: PortPattern::Port(80),
        });
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        if s == "*" {
            return Err(format!(
                "a scheme and a port are required; {FORM}, or use \"*://*:*\" to allow all outbound traffic"
            ));
        }
        if let Some((scheme, after)) = s.split_once(':') {
            if after.starts_with('/') {
                let fixed = format!("{scheme}://{}", after.trim_start_matches('/'));
                return Err(format!(
                    "malformed scheme separator; expected \"://\" after the scheme, e.g. {fixed:?}"
                ));
            }
        }
        return Err(format!(
            "missing scheme; {FORM}, e.g. \"https://{s}\" (use \"*://\" for any scheme)"
        ));
    };

    // Scheme.
    let scheme = if scheme == "*" {
        SchemePattern::Any
    } else {
        let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid {
            return Err(format!(
                "invalid scheme {scheme:?}; use a scheme such as \"https\", \"redis\" or \"*\" for any"
            ));
        }
        SchemePattern::Exact(scheme.to_ascii_lowercase())
    };
    if rest.is_empty() || rest == "/" {
        return Err(format!(
            "missing host; {FORM}, e.g. \"https://example.com\""
        ));
    }

    // Host token: a bracketed IPv6 literal, an unbracketed IPv6 CIDR (Spin's
    // form, "ff00::/8"), or everything up to ':' or '/'.
    let (host_token, ip, mut after) = if let Some(r) = rest.strip_prefix('[') {
        let Some(end) = r.find(']') else {
            return Err(
                "unclosed '[' in IPv6 address; write it as e.g. \"http://[::1]:8080\"".to_string(),
            );
        };
        let ip: Ipv6Addr = r[..end]
            .parse()
            .map_err(|_| format!("invalid IPv6 address {:?}", &r[..end]))?;
        (&r[..end], Some(IpAddr::V6(ip)), &r[end + 1..])
    } else if let Some(ip6) = rest
        .split_once('/')
        .and_then(|(a, _)| a.parse::<Ipv6Addr>().ok().map(|ip| (a, ip)))
    {
        (ip6.0, Some(IpAddr::V6(ip6.1)), &rest[ip6.0.len()..])
    } else {
        let end = rest.find([':', '/']).unwrap_or(rest.len());
        let token = &rest[..end];
        (
            token,
            token.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            &rest[end..],
        )
    };

    // Optional CIDR prefix (IP hosts only), then an optional trailing '/'.
    let mut prefix = None;
    if let Some(r) = after.strip_prefix('/') {
        let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if ip.is_some() && digits > 0 {
            let p: u8 = r[..digits]
                .parse()
                .map_err(|_| format!("invalid CIDR prefix length {:?}", &r[..digits]))?;
            prefix = Some(p);
            after = &r[digits..];
        } else if r.is_empty() {
            after = "";
        } else {
            return Err(format!(
                "paths are not allowed, only <scheme>://<host>[:<port>]; remove \"/{r}\""
            ));
        }
    }
    let port_token = if let Some(p) = after.strip_prefix(':') {
        let p = p.strip_suffix('/').unwrap_or(p);
        if let Some((_, path)) = p.split_once('/') {
            return Err(format!(
                "paths are not allowed, only <scheme>://<host>[:<port>]; remove \"/{path}\""
            ));
        }
        if p.contains(':') {
            return Err(
                "IPv6 addresses must be written in brackets, e.g. \"http://[::1]:8080\""
                    .to_string(),
            );
        }
        Some(p)
    } else if after.is_empty() || after == "/" {
        None
    } else {
        return Err(format!("unexpected {after:?} after the host; {FORM}"));
    };

    // Host.
    let host = match (ip, prefix) {
        (Some(ip), Some(p)) => {
            let net = mask(ip, p).ok_or_else(|| {
                format!("CIDR prefix length /{p} is too long for address {host_token}")
            })?;
            HostMatch::Cidr(net, p)
        }
        (Some(ip), None) => HostMatch::Ip(ip),
        (None, _) => match host_token {
            "*" => HostMatch::Any,
            "self" | "self.alt" => HostMatch::App,
            t => {
                if let Some(suffix) = t.strip_prefix("*.") {
                    if suffix.contains('*') {
                        return Err(format!(
                            "invalid host {t:?}: a wildcard is only allowed as the whole host (\"*\") or a leading \"*.\""
                        ));
                    }
                    HostMatch::Subdomains(validate_name(suffix, t)?)
                } else if t.contains('*') {
                    return Err(format!(
                        "invalid host {t:?}: a wildcard is only allowed as the whole host (\"*\") or a leading \"*.\", e.g. \"*.example.com\""
                    ));
                } else {
                    HostMatch::Name(validate_name(t, t)?)
                }
            }
        },
    };

    // Port.
    let port = match port_token {
        None => {
            let default = match &scheme {
                SchemePattern::Exact(s) => default_port(s),
                SchemePattern::Any => None,
            };
            match (default, &scheme) {
                (Some(p), _) => PortPattern::Port(p),
                (None, SchemePattern::Any) => {
                    return Err(format!(
                        "a port is required with scheme \"*\"; add one, e.g. \"{s}:8080\", or \":*\" for any port"
                    ))
                }
                (None, SchemePattern::Exact(sc)) => {
                    return Err(format!(
                        "no port given and scheme {sc:?} has no default port; add one, e.g. \"{s}:8080\", or \":*\" for any port"
                    ))
                }
            }
        }
        Some("*") => PortPattern::Any,
        Some(p) => {
            let bad = || {
                format!(
                    "invalid port {p:?}; use a number (0-65535), \"*\" for any port, or a range such as \"8000..8080\""
                )
            };
            if let Some((a, b)) = p.split_once("..") {
                let a: u16 = a.parse().map_err(|_| bad())?;
                let b: u16 = b.parse().map_err(|_| bad())?;
                if a >= b {
                    return Err(format!(
                        "empty port range {p:?}; a range start..end includes start and excludes end, so start must be less than end"
                    ));
                }
                PortPattern::Range(a, b)
            } else {
                PortPattern::Port(p.parse().map_err(|_| bad())?)
            }
        }
    };

    Ok(HostPattern { scheme, host, port })
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostPattern::parse(s)
    }
}

/// Prints the canonical pattern: lowercase, the port left out when it is the
/// scheme's default, IPv6 addresses in brackets (CIDR ranges in Spin's
/// unbracketed form). The output parses back to an equal pattern.
impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            SchemePattern::Any => f.write_str("*://")?,
            SchemePattern::Exact(s) => write!(f, "{s}://")?,
        }
        match &self.host {
            HostMatch::Any => f.write_str("*")?,
            HostMatch::Subdomains(s) => write!(f, "*.{s}")?,
            HostMatch::App => f.write_str("self")?,
            HostMatch::Name(n) => f.write_str(n)?,
            HostMatch::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostMatch::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostMatch::Cidr(ip, p) => write!(f, "{ip}/{p}")?,
        }
        let default = match &self.scheme {
            SchemePattern::Exact(s) => default_port(s),
            SchemePattern::Any => None,
        };
        match self.port {
            PortPattern::Any => f.write_str(":*"),
            PortPattern::Port(p) if Some(p) == default => Ok(()),
            PortPattern::Port(p) => write!(f, ":{p}"),
            PortPattern::Range(a, b) => write!(f, ":{a}..{b}"),
        }
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostPattern({:?})", self.to_string())
    }
}

/// One `allowed_outbound_hosts` entry as the manifest writes it.
///
/// An entry without `{{` is parsed when the manifest is read. An entry with
/// `{{ name }}` references to application variables
/// (`"redis://{{ host }}:6379"`, `"*://{{ prefix }}/24:5000"`) is a template:
/// the manifest checks its syntax and that every name is declared in
/// `[variables]`, and the app's loader renders it from the variables' values
/// and parses the result as a [`HostPattern`] (see
/// `nimbus_outbound_networking::resolve_allowed_hosts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHostEntry {
    /// A literal entry, already parsed.
    Pattern(HostPattern),
    /// An entry with variable references, resolved when the app is loaded.
    Template(Template),
}

impl AllowedHostEntry {
    /// The parsed pattern of a literal entry; `None` for a template.
    pub fn pattern(&self) -> Option<&HostPattern> {
        match self {
            AllowedHostEntry::Pattern(p) => Some(p),
            AllowedHostEntry::Template(_) => None,
        }
    }
}

/// Prints the entry: a pattern in its canonical form, a template as written
/// (references as `{{ name }}`).
impl fmt::Display for AllowedHostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHostEntry::Pattern(p) => fmt::Display::fmt(p, f),
            AllowedHostEntry::Template(t) => fmt::Display::fmt(t, f),
        }
    }
}

impl From<HostPattern> for AllowedHostEntry {
    fn from(pattern: HostPattern) -> Self {
        AllowedHostEntry::Pattern(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_documented_examples() {
        let cases = [
            ("https://example.com", "https://example.com"),
            ("https://*.example.com:443", "https://*.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("*://localhost:*", "*://localhost:*"),
            (
                "redis://redis.example.com:6379",
                "redis://redis.example.com",
            ),
            (
                "redis://redis.example.com:6380",
                "redis://redis.example.com:6380",
            ),
            ("HTTPS://Example.COM/", "https://example.com"),
            ("http://[::1]:8001", "http://[::1]:8001"),
            ("*://127.0.0.1/24:80", "*://127.0.0.0/24:80"),
            ("*://ff00::/8:80", "*://ff00::/8:80"),
            ("http://10.0.0.0/8", "http://10.0.0.0/8"),
            (
                "http://spin.fermyon.dev:4444..5555",
                "http://spin.fermyon.dev:4444..5555",
            ),
            ("*://*:*", "*://*:*"),
            ("self", "http://self"),
            ("http://self", "http://self"),
            ("mqtt://broker", "mqtt://broker"),
        ];
        for (input, canonical) in cases {
            let pattern = p(input);
            assert_eq!(pattern.to_string(), canonical, "{input}");
            assert_eq!(p(canonical), pattern, "round trip of {input}");
        }
    }

    #[test]
    fn rejects_malformed_patterns() {
        let cases = [
            ("https://exa mple.com", "invalid character ' '"),
            ("example.com", "missing scheme"),
            ("example.com:80", "missing scheme"),
            ("ftp:/x", "expected \"://\""),
            ("*", "a scheme and a port are required"),
            ("", "empty entry"),
            ("https://", "missing host"),
            ("h ttp://example.com", "invalid scheme"),
            ("ftp://example.com", "no port given and scheme \"ftp\""),
            ("*://example.com", "a port is required with scheme \"*\""),
            ("https://example.com:http", "invalid port"),
            ("https://example.com:70000", "invalid port"),
            ("https://example.com:9..1", "empty port range"),
            ("https://example.com/path", "paths are not allowed"),
            ("https://example.com:8080/a/b", "paths are not allowed"),
            ("https://foo.*.com", "wildcard"),
            ("https://*.*.com", "wildcard"),
            ("https://a..b", "empty label"),
            ("http://::1", "IPv6 addresses must be written in brackets"),
            ("http://[::1", "unclosed"),
            ("http://10.0.0.0/33", "too long"),
            ("insecure:allow-all", "*://*:*"),
            ("https://{{ host }}", "only allowed in the manifest"),
        ];
        for (input, expected) in cases {
            let err = HostPattern::parse(input)
                .map(|p| format!("parsed as {p}"))
                .unwrap_or_else(|e| e.to_string());
            assert!(
                err.contains(expected),
                "{input:?}: expected {expected:?} in {err:?}"
            );
        }
        assert_eq!(
            HostPattern::parse("example.com").unwrap_err().to_string(),
            "invalid allowed_outbound_hosts entry \"example.com\": missing scheme; write it as \
             <scheme>://<host>[:<port>], e.g. \"https://example.com\" (use \"*://\" for any scheme)"
        );
    }

    #[test]
    fn allows_follows_spin() {
        let h = p("https://example.com");
        assert!(h.allows("https", "example.com", 443));
        assert!(h.allows("HTTPS", "Example.com.", 443));
        assert!(!h.allows("http", "example.com", 443));
        assert!(!h.allows("https", "example.com", 8443));
        assert!(!h.allows("https", "www.example.com", 443));

        let sub = p("http://*.example.com");
        assert!(sub.allows("http", "a.example.com", 80));
        assert!(sub.allows("http", "a.b.example.com", 80));
        assert!(!sub.allows("http", "example.com", 80));
        assert!(!sub.allows("http", "myexample.com", 80));

        let any = p("*://localhost:*");
        assert!(any.allows("redis", "localhost", 6379));
        assert!(any.allows("http", "localhost", 1));
        assert!(!any.allows("http", "127.0.0.1", 1));

        let range = p("http://h:8000..8080");
        assert!(range.allows("http", "h", 8000));
        assert!(range.allows("http", "h", 8079));
        assert!(!range.allows("http", "h", 8080));

        let v6 = p("http://[::1]:8001");
        assert!(v6.allows("http", "[::1]", 8001));
        assert!(v6.allows("http", "::1", 8001));
        assert!(v6.allows("http", "0:0::1", 8001));

        let cidr = p("*://127.0.0.1/24:63551");
        assert!(cidr.allows("tcp", "127.0.0.200", 63551));
        assert!(!cidr.allows("tcp", "127.0.1.1", 63551));
        assert!(!cidr.allows("tcp", "localhost", 63551));

        let all = p("*://*:*");
        assert!(all.allows("anything", "anywhere", 1));
        assert!(all.allows_self());
    }

    #[test]
    fn self_is_special() {
        let s = p("http://self");
        assert_eq!(s.host(), &HostMatch::App);
        assert!(s.allows_self());
        assert!(!s.allows("http", "self", 80));
        assert!(!p("https://example.com").allows_self());
    }
}
