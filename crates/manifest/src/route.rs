//! HTTP trigger routes: parsing, matching and precedence, as Spin does them.
//!
//! A route is a path pattern. Each `/`-separated segment is either literal
//! (`users`, matched exactly) or a parameter (`:id`, matching exactly one
//! non-empty path segment); a route may end with a trailing wildcard (`/...`,
//! or Spin's `/*`) that matches the rest of the path, zero or more segments.
//!
//! When several routes match a path, the most specific wins (see
//! [`Specificity`]): the routes are compared segment by segment from the left,
//! and at the first segment where they differ a literal beats a parameter,
//! which beats the wildcard. So exact routes beat parameterised ones, those
//! beat wildcards, and among wildcards the longest prefix wins. This is the
//! order of Spin 3's router (`routefinder`).

use std::fmt;
use std::str::FromStr;

/// The route of an HTTP trigger.
///
/// Parsed routes are normalised: they start with `/` and have no trailing `/`
/// (except the root, `/`). Their text is the matcher: a request is matched by
/// walking its path and the route segment by segment, without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// A route without a trailing wildcard: `"/foo"` matches exactly `/foo`
    /// (and `/foo/`); `"/users/:id"` matches `/users/1` and `/users/alice`
    /// but not `/users`, `/users/` or `/users/1/edit`.
    Exact(String),
    /// `route = "/foo/..."` (or Spin's `"/foo/*"`): matches what the pattern
    /// before the wildcard matches, and every path under it. The payload is
    /// the pattern without the wildcard, `"/"` for `"/..."` (which matches
    /// every path). It may hold parameters: `"/users/:id"` for
    /// `"/users/:id/..."`.
    Wildcard(String),
    /// `route = { private = true }`: not reachable from outside the app, only
    /// by other components of the app (Spin's service chaining).
    Private,
}

/// One `/`-separated segment of a route's pattern (see [`Route::segments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteSegment<'a> {
    /// A literal segment, matched exactly: `users` in `/users/:id`.
    Literal(&'a str),
    /// A parameter, `:id` in `/users/:id` (the payload is `id`): matches
    /// exactly one non-empty path segment.
    Param(&'a str),
}

/// How specific a route is; a larger value is more specific.
///
/// Among routes that [match](Route::matches) a path, pick the one with the
/// greatest specificity. Routes compare segment by segment from the left; at
/// the first difference a literal segment beats a parameter, a parameter
/// beats the trailing wildcard, and a route that ends there beats anything
/// that goes on (so `/a` beats `/a/...`). Private routes are the least
/// specific (they never match anyway).
///
/// Two routes that [match the same paths](Route::same_paths) have equal
/// specificity; no two routes of an app may (they are duplicates). Other
/// routes of equal specificity never match a common path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    // One rank per segment, then a terminator; compared lexicographically.
    // Every sequence ends in `WILDCARD` or `END` and holds them nowhere else,
    // so no sequence is a prefix of another.
    ranks: Vec<u8>,
}

impl Specificity {
    const WILDCARD: u8 = 1;
    const PARAM: u8 = 2;
    const LITERAL: u8 = 3;
    const END: u8 = 4;
}

/// A route string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RouteError {
    message: String,
}

/// What a path matched: the part under a trailing wildcard and the values of
/// the route's parameters, as slices of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathMatch<'r, 'p> {
    pattern: &'r str,
    path: &'p str,
    path_info: &'p str,
}

impl<'r, 'p> PathMatch<'r, 'p> {
    /// The part of the path the trailing wildcard matched, from its `/`:
    /// `"/items/3"` for `/users/1/items/3` on `/users/:id/...`, `"/"` for
    /// `/users/1/`, `""` for `/users/1` and for routes without a wildcard.
    pub fn path_info(&self) -> &'p str {
        self.path_info
    }

    /// Every parameter's name and the path segment it matched, in route
    /// order: `("id", "1")` for `/users/1` on `/users/:id`. The value is the
    /// segment as sent (not percent-decoded), as Spin passes it.
    pub fn params(self) -> impl Iterator<Item = (&'r str, &'p str)> {
        pattern_segments(self.pattern)
            .zip(path_segments(self.path))
            .filter_map(|(segment, value)| match segment {
                RouteSegment::Param(name) => Some((name, value)),
                RouteSegment::Literal(_) => None,
            })
    }
}

fn parse_segment(segment: &str) -> RouteSegment<'_> {
    match segment.strip_prefix(':') {
        Some(name) => RouteSegment::Param(name),
        None => RouteSegment::Literal(segment),
    }
}

/// The segments of a normalised pattern (`"/"` has none).
fn pattern_segments(pattern: &str) -> impl Iterator<Item = RouteSegment<'_>> {
    let inner = if pattern == "/" {
        None
    } else {
        pattern.strip_prefix('/')
    };
    inner
        .into_iter()
        .flat_map(|rest| rest.split('/'))
        .map(parse_segment)
}

/// The segments of a request path, in the order a pattern's segments meet
/// them (a trailing empty segment, from a trailing `/`, never meets one).
fn path_segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/')
        .into_iter()
        .flat_map(|p| p.split('/'))
}

/// A valid parameter name: letters, digits, `_` and `-` (it becomes part of
/// a header name, `spin-path-match-NAME`, and of a WAGI variable,
/// `X_PATH_MATCH_NAME`).
fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The name a parameter is passed under, whatever its spelling: Spin's
/// header `spin-path-match-NAME` lowercases it and turns `_` into `-`.
fn param_key(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

impl Route {
    /// Parses a route string (`"/foo"`, `"/users/:id"`, `"/foo/..."`,
    /// `"/..."`).
    ///
    /// A missing leading `/` is added and trailing `/`s are removed, as Spin
    /// does. A wildcard is allowed only at the end (`/...` or `/*`);
    /// parameters must be whole segments with a name of letters, digits, `_`
    /// and `-`, each name used once per route.
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
        let trimmed = path.trim_end_matches('/');
        let normalized = if trimmed.is_empty() { "/" } else { trimmed };
        // Parameter names so far, by the name they are passed under.
        let mut params: Vec<(String, &str)> = Vec::new();
        for segment in pattern_segments(normalized) {
            match segment {
                RouteSegment::Literal(text) if text.contains('*') || text.contains("...") => {
                    return err(format!(
                        "route {route:?}: {text:?} is a wildcard inside the route; a wildcard may only end it (\"/...\"), and \":name\" matches one segment, e.g. \"/users/:id/edit\""
                    ));
                }
                RouteSegment::Literal(_) => {}
                RouteSegment::Param("") => {
                    return err(format!(
                        "route {route:?}: a route parameter needs a name, e.g. \"/users/:id\""
                    ));
                }
                RouteSegment::Param(name) if !valid_param_name(name) => {
                    return err(format!(
                        "route {route:?}: invalid parameter name {name:?}: a parameter is a whole path segment, named with letters, digits, '_' and '-', e.g. \":user_id\""
                    ));
                }
                RouteSegment::Param(name) => {
                    let key = param_key(name);
                    if let Some((_, first)) = params.iter().find(|(k, _)| *k == key) {
                        let what = if *first == name {
                            format!("parameter {name:?} appears twice")
                        } else {
                            format!(
                                "parameters {first:?} and {name:?} would both be passed as spin-path-match-{key}"
                            )
                        };
                        return err(format!(
                            "route {route:?}: {what}; give each parameter its own name"
                        ));
                    }
                    params.push((key, name));
                }
            }
        }
        Ok(if wildcard {
            Route::Wildcard(normalized.to_string())
        } else {
            Route::Exact(normalized.to_string())
        })
    }

    /// The route's pattern without its wildcard: `"/users/:id"` for
    /// `/users/:id/...`, `"/"` for `/...`; `None` for a private route.
    pub fn pattern(&self) -> Option<&str> {
        match self {
            Route::Exact(p) | Route::Wildcard(p) => Some(p),
            Route::Private => None,
        }
    }

    /// The segments of the pattern, without the wildcard (none for `/`,
    /// `/...` and private routes).
    pub fn segments(&self) -> impl Iterator<Item = RouteSegment<'_>> {
        self.pattern().into_iter().flat_map(pattern_segments)
    }

    /// The names of the route's parameters, in order: `["id"]` for
    /// `/users/:id/...`.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments().filter_map(|segment| match segment {
            RouteSegment::Param(name) => Some(name),
            RouteSegment::Literal(_) => None,
        })
    }

    /// True for a route ending in a wildcard (`/...`).
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Route::Wildcard(_))
    }

    /// Matches a request `path` (the URL path as sent, without query string)
    /// against the route, segment by segment: `None` if it does not match.
    ///
    /// Literal segments must be equal, parameters match one non-empty
    /// segment, a trailing wildcard matches whatever is left (nothing, `/`, or
    /// `/more/segments`). Without a wildcard one trailing `/` is allowed.
    /// Private routes match nothing.
    pub fn match_path<'r, 'p>(&'r self, path: &'p str) -> Option<PathMatch<'r, 'p>> {
        let (pattern, wildcard) = match self {
            Route::Exact(p) => (p.as_str(), false),
            Route::Wildcard(p) => (p.as_str(), true),
            Route::Private => return None,
        };
        let mut rest = path;
        for segment in pattern_segments(pattern) {
            let after = rest.strip_prefix('/')?;
            let (value, tail) = after.split_at(after.find('/').unwrap_or(after.len()));
            let fits = match segment {
                RouteSegment::Literal(literal) => value == literal,
                RouteSegment::Param(_) => !value.is_empty(),
            };
            if !fits {
                return None;
            }
            rest = tail;
        }
        let path_info = if wildcard {
            rest
        } else if rest.is_empty() || rest == "/" {
            ""
        } else {
            return None;
        };
        Some(PathMatch {
            pattern,
            path,
            path_info,
        })
    }

    /// True if a request for `path` (the URL path, without query string) is
    /// routed here (see [`Route::match_path`]).
    ///
    /// `Exact("/foo")` matches `/foo` and `/foo/`; `Wildcard("/foo")` matches
    /// `/foo`, `/foo/` and `/foo/anything`, but not `/foobar`; `Wildcard("/")`
    /// matches every path; `Private` matches nothing.
    pub fn matches(&self, path: &str) -> bool {
        self.match_path(path).is_some()
    }

    /// How specific this route is, see [`Specificity`].
    pub fn specificity(&self) -> Specificity {
        let Some(pattern) = self.pattern() else {
            return Specificity { ranks: Vec::new() };
        };
        let mut ranks: Vec<u8> = pattern_segments(pattern)
            .map(|segment| match segment {
                RouteSegment::Literal(_) => Specificity::LITERAL,
                RouteSegment::Param(_) => Specificity::PARAM,
            })
            .collect();
        ranks.push(if self.is_wildcard() {
            Specificity::WILDCARD
        } else {
            Specificity::END
        });
        Specificity { ranks }
    }

    /// True if the two routes match exactly the same paths: the same
    /// pattern, but for the names of the parameters (`/a/:x` and `/a/:y`).
    /// Such routes are duplicates: neither is more specific.
    pub fn same_paths(&self, other: &Route) -> bool {
        match (self, other) {
            (Route::Exact(a), Route::Exact(b)) | (Route::Wildcard(a), Route::Wildcard(b)) => {
                let (mut a, mut b) = (pattern_segments(a), pattern_segments(b));
                loop {
                    match (a.next(), b.next()) {
                        (None, None) => return true,
                        (Some(RouteSegment::Param(_)), Some(RouteSegment::Param(_))) => {}
                        (Some(RouteSegment::Literal(x)), Some(RouteSegment::Literal(y)))
                            if x == y => {}
                        _ => return false,
                    }
                }
            }
            _ => false,
        }
    }

    /// True for [`Route::Private`].
    pub fn is_private(&self) -> bool {
        matches!(self, Route::Private)
    }

    /// Prefixes the route with an HTTP base (`[application.trigger.http] base`,
    /// a literal path prefix).
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

/// Prints the route as it would be written in a manifest: `/foo`,
/// `/users/:id`, `/foo/...`, `/...` or `{ private = true }`.
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

    fn route(s: &str) -> Route {
        Route::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn error(s: &str) -> String {
        match Route::parse(s) {
            Ok(r) => panic!("{s}: expected an error, got {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(route("/"), exact("/"));
        assert_eq!(route("/foo"), exact("/foo"));
        assert_eq!(route("/foo/"), exact("/foo"));
        assert_eq!(route("foo/bar"), exact("/foo/bar"));
        assert_eq!(route("/..."), wild("/"));
        assert_eq!(route("/*"), wild("/"));
        assert_eq!(route("/foo/..."), wild("/foo"));
        assert_eq!(route("/foo/*"), wild("/foo"));
        assert_eq!(route("//..."), wild("/"));
        assert_eq!(route("/users/:id"), exact("/users/:id"));
        assert_eq!(route("/users/:id/"), exact("/users/:id"));
        assert_eq!(
            route("/base/:path_segment/:path_end/..."),
            wild("/base/:path_segment/:path_end")
        );
        assert_eq!(route("/:a/*"), wild("/:a"));
        // A colon inside a segment is literal, as in Spin.
        assert_eq!(route("/a:b"), exact("/a:b"));
    }

    #[test]
    fn segments_and_params() {
        let r = route("/users/:id/posts/:post-id/...");
        assert_eq!(
            r.segments().collect::<Vec<_>>(),
            [
                RouteSegment::Literal("users"),
                RouteSegment::Param("id"),
                RouteSegment::Literal("posts"),
                RouteSegment::Param("post-id"),
            ]
        );
        assert_eq!(r.params().collect::<Vec<_>>(), ["id", "post-id"]);
        assert_eq!(route("/...").segments().count(), 0);
        assert_eq!(route("/").segments().count(), 0);
        assert_eq!(Route::Private.segments().count(), 0);
        assert_eq!(Route::Private.pattern(), None);
    }

    #[test]
    fn rejects_bad_routes() {
        for bad in [
            "",
            "/a b",
            "/a?x=1",
            "/a/*/b",
            "/a...",
            "/a/.../b",
            "/a/*b",
            "/users/:",
            "/users/:/edit",
            "/users/:a.b",
            "/users/:a:b",
            "/users/:id/:id",
            "/users/:user_id/:user-id",
        ] {
            assert!(Route::parse(bad).is_err(), "{bad}");
        }
        // Every message names the route and says what to write instead.
        let e = error("/a/*/b");
        assert!(
            e.starts_with("route \"/a/*/b\": \"*\" is a wildcard inside the route"),
            "{e}"
        );
        assert!(e.contains("\":name\" matches one segment"), "{e}");
        let e = error("/users/:/edit");
        assert_eq!(
            e,
            "route \"/users/:/edit\": a route parameter needs a name, e.g. \"/users/:id\""
        );
        let e = error("/files/:name.json");
        assert_eq!(
            e,
            "route \"/files/:name.json\": invalid parameter name \"name.json\": a parameter is a whole path segment, named with letters, digits, '_' and '-', e.g. \":user_id\""
        );
        let e = error("/a/:id/b/:id/...");
        assert_eq!(
            e,
            "route \"/a/:id/b/:id/...\": parameter \"id\" appears twice; give each parameter its own name"
        );
        let e = error("/a/:User_Id/:user-id");
        assert_eq!(
            e,
            "route \"/a/:User_Id/:user-id\": parameters \"User_Id\" and \"user-id\" would both be passed as spin-path-match-user-id; give each parameter its own name"
        );
    }

    #[test]
    fn displays_round_trip() {
        for s in [
            "/",
            "/foo",
            "/...",
            "/foo/...",
            "/users/:id",
            "/a/:b/:c/...",
        ] {
            assert_eq!(route(s).to_string(), s);
        }
    }

    #[test]
    fn matching() {
        let r = exact("/foo");
        assert!(r.matches("/foo"));
        assert!(r.matches("/foo/"));
        assert!(!r.matches("/foo/bar"));
        assert!(!r.matches("/foobar"));
        assert!(!r.matches("/foo//"));
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
    fn a_parameter_matches_exactly_one_non_empty_segment() {
        let r = route("/users/:userid/edit");
        assert!(r.matches("/users/1/edit"));
        assert!(r.matches("/users/alice/edit"));
        assert!(r.matches("/users/alice/edit/"));
        for no in [
            "/users",
            "/users/",
            "/users/1",
            "/users//edit",
            "/users/1/edit/cart",
        ] {
            assert!(!r.matches(no), "{no}");
        }
        let r = route("/:a");
        assert!(r.matches("/x"));
        assert!(r.matches("/x/"));
        assert!(!r.matches("/"));
        assert!(!r.matches("/x/y"));
    }

    #[test]
    fn a_trailing_wildcard_matches_zero_or_more_segments() {
        let r = route("/base/:a/:b/...");
        for (path, info) in [
            ("/base/x/y", ""),
            ("/base/x/y/", "/"),
            ("/base/x/y/z", "/z"),
            ("/base/x/y/z/w/", "/z/w/"),
        ] {
            let m = r.match_path(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(m.path_info(), info, "{path}");
            assert_eq!(m.params().collect::<Vec<_>>(), [("a", "x"), ("b", "y")]);
        }
        for no in ["/base", "/base/x", "/base/x/", "/base//y/z", "/based/x/y"] {
            assert!(!r.matches(no), "{no}");
        }
        let root = wild("/");
        let m = root.match_path("/a/b").unwrap();
        assert_eq!(m.path_info(), "/a/b");
        assert_eq!(m.params().count(), 0);
        assert_eq!(wild("/").match_path("/").unwrap().path_info(), "/");
    }

    #[test]
    fn parameter_values_are_the_raw_segments() {
        let r = route("/files/:name");
        let m = r.match_path("/files/a%20b.txt/").unwrap();
        assert_eq!(m.params().collect::<Vec<_>>(), [("name", "a%20b.txt")]);
        assert_eq!(m.path_info(), "");
    }

    fn best<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
        routes
            .iter()
            .filter(|r| r.matches(path))
            .max_by_key(|r| r.specificity())
    }

    #[test]
    fn exact_beats_parameter_beats_wildcard() {
        let routes = [
            route("/base/:a/:b/..."),
            route("/base/exact"),
            route("/base/:a"),
            route("/..."),
        ];
        assert_eq!(best(&routes, "/base/exact"), Some(&routes[1]));
        assert_eq!(best(&routes, "/base/other"), Some(&routes[2]));
        assert_eq!(best(&routes, "/base/x/y"), Some(&routes[0]));
        assert_eq!(best(&routes, "/base/x/y/z"), Some(&routes[0]));
        assert_eq!(best(&routes, "/base"), Some(&routes[3]));
        assert_eq!(best(&routes, "/elsewhere"), Some(&routes[3]));

        assert!(route("/a").specificity() > route("/:a").specificity());
        assert!(route("/:a").specificity() > route("/...").specificity());
        assert!(route("/a/b").specificity() > route("/a/:b").specificity());
        assert!(route("/a/:b").specificity() > route("/a/...").specificity());
        // A route that ends beats one that goes on with its wildcard.
        assert!(route("/a").specificity() > route("/a/...").specificity());
        assert!(route("/a/:b").specificity() > route("/a/:b/...").specificity());
        assert!(route("/").specificity() > route("/...").specificity());
    }

    #[test]
    fn among_wildcards_the_longest_prefix_wins() {
        assert!(wild("/a/b").specificity() > wild("/a").specificity());
        assert!(wild("/a").specificity() > wild("/").specificity());
        assert!(wild("/").specificity() > Route::Private.specificity());

        let routes = [wild("/"), wild("/one"), wild("/one/two"), exact("/one/two")];
        assert_eq!(best(&routes, "/one/two"), Some(&routes[3]));
        assert_eq!(best(&routes, "/one/two/x"), Some(&routes[2]));
        assert_eq!(best(&routes, "/one/x"), Some(&routes[1]));
        assert_eq!(best(&routes, "/x"), Some(&routes[0]));
    }

    #[test]
    fn routes_compare_segment_by_segment_from_the_left() {
        // The first segment that differs decides, whatever follows: a
        // literal there beats a parameter even when the rest of the route
        // is a wildcard (as Spin's routefinder orders them).
        let (param, literal_wild) = (route("/a/:b/c"), route("/a/b/..."));
        assert!(literal_wild.specificity() > param.specificity());
        let routes = [param.clone(), literal_wild.clone()];
        assert_eq!(best(&routes, "/a/b/c"), Some(&literal_wild));
        assert_eq!(best(&routes, "/a/x/c"), Some(&param));

        let (left, right) = (route("/:a/b"), route("/a/:b"));
        assert!(right.specificity() > left.specificity());
        let routes = [left.clone(), right.clone()];
        assert_eq!(best(&routes, "/a/b"), Some(&right));
        assert_eq!(best(&routes, "/x/b"), Some(&left));

        // A parameter beats the wildcard at the same place.
        assert!(route("/a/:b/...").specificity() > route("/a/...").specificity());
        assert!(route("/:x/...").specificity() > route("/...").specificity());
    }

    #[test]
    fn same_paths_ignores_parameter_names_only() {
        assert!(route("/a/:x").same_paths(&route("/a/:y")));
        assert!(route("/a/:x/...").same_paths(&route("/a/:y/*")));
        assert!(route("/a").same_paths(&route("/a/")));
        assert!(!route("/a/:x").same_paths(&route("/a/:x/...")));
        assert!(!route("/a/:x").same_paths(&route("/a/x")));
        assert!(!route("/a/:x").same_paths(&route("/b/:x")));
        assert!(!route("/a/:x").same_paths(&route("/a/:x/:y")));
        assert!(!Route::Private.same_paths(&Route::Private));
        assert_eq!(route("/a/:x").specificity(), route("/a/:y").specificity());
    }

    #[test]
    fn base_is_prefixed() {
        assert_eq!(exact("/a").with_base("/api/"), exact("/api/a"));
        assert_eq!(wild("/").with_base("/api"), wild("/api"));
        assert_eq!(exact("/").with_base("/api"), exact("/api"));
        assert_eq!(exact("/a").with_base("/"), exact("/a"));
        assert_eq!(route("/:id/...").with_base("/api"), wild("/api/:id"));
    }
}
