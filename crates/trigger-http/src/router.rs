//! Routing: the most specific matching route wins (Spin's order, see
//! [`nimbus_manifest::Specificity`]).
//!
//! Everything that depends only on the routes is done once, in
//! [`Router::new`]: the table is sorted most specific first and each route's
//! text and component route are kept ready. Per request, [`Router::route`]
//! walks the path segment by segment against each route in turn, and the
//! first that matches wins; nothing is allocated.

use nimbus_manifest::{PathMatch, Route};

/// What a matched route tells the guest (Spin's `spin-*` headers and WAGI's
/// `X_*` variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a, T> {
    /// The route's target.
    pub target: &'a T,
    /// The route as written, e.g. `/hello/...` or `/users/:id/...`.
    pub raw_route: &'a str,
    /// The route without its wildcard, e.g. `/hello` or `/users/:id` (`""`
    /// for `/...`).
    pub component_route: &'a str,
    /// The part of the path the trailing wildcard matched, e.g. `/world`
    /// (`""` without a wildcard).
    pub path_info: &'a str,
    matched: PathMatch<'a, 'a>,
}

impl<'a, T> RouteMatch<'a, T> {
    /// The route's `:name` parameters and the path segments they matched, in
    /// route order: `("id", "42")` for `/users/42` on `/users/:id`.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.matched.params()
    }
}

/// A routing table built once at load.
#[derive(Debug)]
pub struct Router<T> {
    // Sorted most specific first, so the first match wins.
    routes: Vec<Entry<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    route: Route,
    raw: String,
    component_route: String,
    target: T,
}

impl<T> Router<T> {
    /// Builds a router from `(route, target)` pairs. Private routes are not
    /// reachable from outside and are left out.
    ///
    /// Routes that [match the same paths](Route::same_paths) should have
    /// been refused before (the manifest's duplicate-route check); if any
    /// remain, the first one given wins.
    pub fn new(routes: impl IntoIterator<Item = (Route, T)>) -> Self {
        let mut routes: Vec<(nimbus_manifest::Specificity, Entry<T>)> = routes
            .into_iter()
            .filter(|(route, _)| !route.is_private())
            .map(|(route, target)| {
                let component_route = match route.pattern() {
                    Some("/") if route.is_wildcard() => String::new(),
                    Some(pattern) => pattern.to_owned(),
                    None => String::new(),
                };
                let entry = Entry {
                    raw: route.to_string(),
                    component_route,
                    route,
                    target,
                };
                (entry.route.specificity(), entry)
            })
            .collect();
        // Stable: among equals, the order given.
        routes.sort_by(|(a, _), (b, _)| b.cmp(a));
        Router {
            routes: routes.into_iter().map(|(_, entry)| entry).collect(),
        }
    }

    /// The most specific route matching `path`.
    pub fn route<'a>(&'a self, path: &'a str) -> Option<RouteMatch<'a, T>> {
        self.routes.iter().find_map(|entry| {
            let matched = entry.route.match_path(path)?;
            Some(RouteMatch {
                target: &entry.target,
                raw_route: &entry.raw,
                component_route: &entry.component_route,
                path_info: matched.path_info(),
                matched,
            })
        })
    }

    /// Every reachable route with its target, most specific first.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &T)> {
        self.routes.iter().map(|e| (e.raw.as_str(), &e.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(s: &str) -> Route {
        Route::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn router() -> Router<&'static str> {
        Router::new([
            (route("/..."), "root"),
            (route("/hello"), "hello"),
            (route("/hello/..."), "hello-wild"),
            (route("/hello/deep/..."), "deep"),
        ])
    }

    fn target<T: Copy>(router: &Router<T>, path: &str) -> Option<T> {
        router.route(path).map(|m| *m.target)
    }

    #[test]
    fn most_specific_wins() {
        let r = router();
        assert_eq!(target(&r, "/hello"), Some("hello"));
        assert_eq!(target(&r, "/hello/x"), Some("hello-wild"));
        assert_eq!(target(&r, "/hello/deep/x"), Some("deep"));
        assert_eq!(target(&r, "/other"), Some("root"));
        assert_eq!(target(&r, "/helloworld"), Some("root"));
    }

    #[test]
    fn path_info_and_component_route() {
        let r = router();
        let m = r.route("/hello/a/b").unwrap();
        assert_eq!(m.raw_route, "/hello/...");
        assert_eq!(m.component_route, "/hello");
        assert_eq!(m.path_info, "/a/b");
        let m = r.route("/x/y").unwrap();
        assert_eq!(m.raw_route, "/...");
        assert_eq!(m.component_route, "");
        assert_eq!(m.path_info, "/x/y");
        let m = r.route("/hello").unwrap();
        assert_eq!(m.path_info, "");
        assert_eq!(m.params().count(), 0);
    }

    #[test]
    fn nothing_matches_without_a_catch_all() {
        let r = Router::new([(route("/a"), 1)]);
        assert!(r.route("/b").is_none());
        let r = Router::new([(route("/a/:b"), 1)]);
        assert!(r.route("/a").is_none());
        assert!(r.route("/a/").is_none());
        assert!(r.route("/a/b/c").is_none());
    }

    /// The manifest of the end-to-end test (`http_in_process.rs`), routed.
    fn parameterised() -> Router<&'static str> {
        Router::new([
            (route("/base/:a/:b/..."), "a-b-wild"),
            (route("/base/exact"), "exact"),
            (route("/base/:a"), "a"),
            (route("/..."), "root"),
        ])
    }

    #[test]
    fn exact_beats_parameter_beats_wildcard() {
        let r = parameterised();
        assert_eq!(target(&r, "/base/exact"), Some("exact"));
        assert_eq!(target(&r, "/base/exact/"), Some("exact"));
        assert_eq!(target(&r, "/base/one"), Some("a"));
        assert_eq!(target(&r, "/base/one/two"), Some("a-b-wild"));
        assert_eq!(target(&r, "/base/exact/two/three"), Some("a-b-wild"));
        assert_eq!(target(&r, "/base"), Some("root"));
        assert_eq!(target(&r, "/base/"), Some("root"));
        assert_eq!(target(&r, "/base//two"), Some("root"));
        assert_eq!(target(&r, "/other/one/two"), Some("root"));
    }

    #[test]
    fn parameters_and_path_info_of_a_parameterised_route() {
        let r = parameterised();
        let m = r.route("/base/one/two/three/four").unwrap();
        assert_eq!(m.raw_route, "/base/:a/:b/...");
        assert_eq!(m.component_route, "/base/:a/:b");
        assert_eq!(m.path_info, "/three/four");
        assert_eq!(m.params().collect::<Vec<_>>(), [("a", "one"), ("b", "two")]);

        let m = r.route("/base/one/two/").unwrap();
        assert_eq!(m.path_info, "/");
        assert_eq!(m.params().collect::<Vec<_>>(), [("a", "one"), ("b", "two")]);

        let m = r.route("/base/one/").unwrap();
        assert_eq!(*m.target, "a");
        assert_eq!(m.raw_route, "/base/:a");
        assert_eq!(m.component_route, "/base/:a");
        assert_eq!(m.path_info, "");
        assert_eq!(m.params().collect::<Vec<_>>(), [("a", "one")]);
    }

    #[test]
    fn among_wildcards_the_longest_prefix_wins_in_any_order() {
        let routes = ["/one/...", "/one/two/...", "/one/two/three/..."];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let r = Router::new(order.map(|i| (route(routes[i]), i)));
            assert_eq!(target(&r, "/one/two/three/four"), Some(2));
            assert_eq!(target(&r, "/one/two/x"), Some(1));
            assert_eq!(target(&r, "/one/x"), Some(0));
            assert_eq!(target(&r, "/one"), Some(0));
        }
    }

    #[test]
    fn the_first_differing_segment_decides() {
        // As in Spin: a literal segment beats a parameter at the same place,
        // even when the literal route ends in a wildcard.
        let r = Router::new([(route("/a/:b/c"), "param"), (route("/a/b/..."), "wild")]);
        assert_eq!(target(&r, "/a/b/c"), Some("wild"));
        assert_eq!(target(&r, "/a/x/c"), Some("param"));
        let r = Router::new([(route("/:a/b"), "left"), (route("/a/:b"), "right")]);
        assert_eq!(target(&r, "/a/b"), Some("right"));
        assert_eq!(target(&r, "/x/b"), Some("left"));
    }

    #[test]
    fn routes_are_listed_most_specific_first() {
        let r = parameterised();
        let listed: Vec<&str> = r.routes().map(|(route, _)| route).collect();
        assert_eq!(
            listed,
            ["/base/exact", "/base/:a", "/base/:a/:b/...", "/..."]
        );
    }
}
