//! HTTP trigger routes.

use std::fmt;
use std::str::FromStr;

/// The route of an HTTP trigger.
///
/// Parsed routes are normalised: they start with `/` and have no trailing `/`
/// (except the root, `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// `route = "/foo"`: matches exactly `/foo` (and `/foo/`).
    Exact(String),
    /// `route = "/foo/..."` (or Spin's `"/foo/*"`): matches `/foo` and every
    /// path under it. The payload is the prefix without the wildcard, `"/"`
    /// for `"/..."` (which matches every path).
    Wildcard(String),
    /// `route = { private = true }`: not reachable from outside the app, only
    /// by other components of the app (Spin's service chaining).
    Private,
}

/// How specific a route is; a larger value is more specific.
///
/// Exact routes beat wildcards, and a wildcard with a longer prefix beats one
/// with a shorter prefix. Private routes are the least specific (they never
/// match anyway). Among routes that [match](Route::matches) a path, pick the
/// one with the greatest specificity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    rank: u8,
    prefix_len: usize,
}

/// A route string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RouteError {
    message: String,
}

impl Route {
    /// Parses a route string (`"/foo"`, `"/foo/..."`, `"/..."`).
    ///
    /// A missing leading `/` is added and trailing `/`s are removed, as Spin
    /// does. Route parameters (`/users/:id`) and wildcards other than a trailing
    /// `/...` or `/*` are rejected: Nimbus does not support them yet.
    pub fn parse(route: &str) -> Result<Route, RouteError> {
        let err = |message: String| Err(RouteError { message });
        if route.is_empty() {
            return err(
                "empty route: use \"/\" for the root only, or \"/...\" for every path".to_string(),
            );
        }
        if let Some(c) = route
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '?' || *c == '#')
        {
            return err(format!(
                "route {route:?} contains {c:?}; a route is a URL path without spaces, query or fragment, e.g. \"/hello\""
            ));
        }
        let absolute = if route.starts_with('/') {
            route.to_string()
        } else {
            format!("/{route}")
        };
        let (path, wildcard) = if absolute == "/..." || absolute == "/*" {
            ("/", true)
        } else if let Some(p) = absolute
            .strip_suffix("/...")
            .or_else(|| absolute.strip_suffix("/*"))
        {
            (p, true)
        } else {
            (absolute.as_str(), false)
        };
        for segment in path.split('/') {
            if segment.starts_with(':') || segment.contains('*') || segment.contains("...") {
                let hint = if wildcard {
                    String::new()
                } else {
                    let prefix = path.split(segment).next().unwrap_or("/");
                    let prefix = prefix.trim_end_matches('/');
                    format!("; use a wildcard route such as \"{prefix}/...\" and read the rest of the path in the component")
                };
                return err(format!(
                    "route {route:?}: {segment:?} is a route parameter or inner wildcard, which Nimbus does not support yet; only a trailing \"/...\" is allowed{hint}"
                ));
            }
        }
        let trimmed = path.trim_end_matches('/');
        let normalized = if trimmed.is_empty() { "/" } else { trimmed };
        Ok(if wildcard {
            Route::Wildcard(normalized.to_string())
        } else {
            Route::Exact(normalized.to_string())
        })
    }

    /// True if a request for `path` (the URL path, without query string) is
    /// routed here.
    ///
    /// `Exact("/foo")` matches `/foo` and `/foo/`; `Wildcard("/foo")` matches
    /// `/foo`, `/foo/` and `/foo/anything`, but not `/foobar`; `Wildcard("/")`
    /// matches every path; `Private` matches nothing.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Route::Exact(route) => {
                path == route || (route != "/" && path.strip_suffix('/') == Some(route))
            }
            Route::Wildcard(prefix) => {
                if prefix == "/" {
                    return true;
                }
                match path.strip_prefix(prefix.as_str()) {
                    Some(rest) => rest.is_empty() || rest.starts_with('/'),
                    None => false,
                }
            }
            Route::Private => false,
        }
    }

    /// How specific this route is, see [`Specificity`].
    pub fn specificity(&self) -> Specificity {
        match self {
            Route::Private => Specificity {
                rank: 0,
                prefix_len: 0,
            },
            Route::Wildcard(prefix) => Specificity {
                rank: 1,
                prefix_len: prefix.trim_end_matches('/').len(),
            },
            Route::Exact(path) => Specificity {
                rank: 2,
                prefix_len: path.len(),
            },
        }
    }

    /// True for [`Route::Private`].
    pub fn is_private(&self) -> bool {
        matches!(self, Route::Private)
    }

    /// Prefixes the route with an HTTP base (`[application.trigger.http] base`).
    pub fn with_base(self, base: &str) -> Route {
        let base = base.trim_end_matches('/');
        if base.is_empty() {
            return self;
        }
        let join = |p: &str| {
            if p == "/" {
                base.to_string()
            } else {
                format!("{base}{p}")
            }
        };
        match self {
            Route::Exact(p) => Route::Exact(join(&p)),
            Route::Wildcard(p) => Route::Wildcard(join(&p)),
            Route::Private => Route::Private,
        }
    }
}

impl FromStr for Route {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Route::parse(s)
    }
}

/// Prints the route as it would be written in a manifest: `/foo`, `/foo/...`,
/// `/...` or `{ private = true }`.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Exact(p) => f.write_str(p),
            Route::Wildcard(p) if p == "/" => f.write_str("/..."),
            Route::Wildcard(p) => write!(f, "{p}/..."),
            Route::Private => f.write_str("{ private = true }"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Route {
        Route::Exact(s.to_string())
    }

    fn wild(s: &str) -> Route {
        Route::Wildcard(s.to_string())
    }

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(Route::parse("/").unwrap(), exact("/"));
        assert_eq!(Route::parse("/foo").unwrap(), exact("/foo"));
        assert_eq!(Route::parse("/foo/").unwrap(), exact("/foo"));
        assert_eq!(Route::parse("foo/bar").unwrap(), exact("/foo/bar"));
        assert_eq!(Route::parse("/...").unwrap(), wild("/"));
        assert_eq!(Route::parse("/*").unwrap(), wild("/"));
        assert_eq!(Route::parse("/foo/...").unwrap(), wild("/foo"));
        assert_eq!(Route::parse("/foo/*").unwrap(), wild("/foo"));
        assert_eq!(Route::parse("//...").unwrap(), wild("/"));
    }

    #[test]
    fn rejects_bad_routes() {
        for bad in [
            "",
            "/a b",
            "/a?x=1",
            "/users/:id",
            "/a/*/b",
            "/a...",
            "/a/.../b",
        ] {
            assert!(Route::parse(bad).is_err(), "{bad}");
        }
        let e = Route::parse("/users/:id").unwrap_err().to_string();
        assert!(e.contains("\"/users/...\""), "{e}");
    }

    #[test]
    fn displays_round_trip() {
        for s in ["/", "/foo", "/...", "/foo/..."] {
            assert_eq!(Route::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn matching() {
        let r = exact("/foo");
        assert!(r.matches("/foo"));
        assert!(r.matches("/foo/"));
        assert!(!r.matches("/foo/bar"));
        assert!(!r.matches("/foobar"));
        assert!(exact("/").matches("/"));
        assert!(!exact("/").matches("/x"));

        let w = wild("/foo");
        assert!(w.matches("/foo"));
        assert!(w.matches("/foo/"));
        assert!(w.matches("/foo/bar/baz"));
        assert!(!w.matches("/foobar"));
        assert!(!w.matches("/"));

        let root = wild("/");
        assert!(root.matches("/"));
        assert!(root.matches("/anything/at/all"));
        assert!(!Route::Private.matches("/"));
    }

    #[test]
    fn specificity_orders_routes() {
        assert!(exact("/a").specificity() > wild("/a/b/c").specificity());
        assert!(wild("/a/b").specificity() > wild("/a").specificity());
        assert!(wild("/a").specificity() > wild("/").specificity());
        assert!(wild("/").specificity() > Route::Private.specificity());

        let routes = [wild("/"), wild("/one"), wild("/one/two"), exact("/one/two")];
        let best = |path: &str| {
            routes
                .iter()
                .filter(|r| r.matches(path))
                .max_by_key(|r| r.specificity())
                .cloned()
        };
        assert_eq!(best("/one/two"), Some(exact("/one/two")));
        assert_eq!(best("/one/two/x"), Some(wild("/one/two")));
        assert_eq!(best("/one/x"), Some(wild("/one")));
        assert_eq!(best("/x"), Some(wild("/")));
    }

    #[test]
    fn base_is_prefixed() {
        assert_eq!(exact("/a").with_base("/api/"), exact("/api/a"));
        assert_eq!(wild("/").with_base("/api"), wild("/api"));
        assert_eq!(exact("/").with_base("/api"), exact("/api"));
        assert_eq!(exact("/a").with_base("/"), exact("/a"));
    }
}
