//! Routing: the most specific matching route wins.

use nimbus_manifest::Route;

/// What a matched route tells the guest (Spin's `spin-*` headers and WAGI's
/// `X_*` variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a, T> {
    /// The route's target.
    pub target: &'a T,
    /// The route as written, e.g. `/hello/...`.
    pub raw_route: &'a str,
    /// The route without its wildcard, e.g. `/hello` (`""` for `/...`).
    pub component_route: &'a str,
    /// The part of the path after `component_route`, e.g. `/world`.
    pub path_info: &'a str,
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
    pub fn new(routes: impl IntoIterator<Item = (Route, T)>) -> Self {
        let mut routes: Vec<Entry<T>> = routes
            .into_iter()
            .filter(|(route, _)| !route.is_private())
            .map(|(route, target)| {
                let component_route = match &route {
                    Route::Exact(p) => p.clone(),
                    Route::Wildcard(p) if p == "/" => String::new(),
                    Route::Wildcard(p) => p.clone(),
                    Route::Private => String::new(),
                };
                Entry {
                    raw: route.to_string(),
                    route,
                    component_route,
                    target,
                }
            })
            .collect();
        routes.sort_by_key(|entry| std::cmp::Reverse(entry.route.specificity()));
        Router { routes }
    }

    /// The most specific route matching `path`.
    pub fn route<'a>(&'a self, path: &'a str) -> Option<RouteMatch<'a, T>> {
        let entry = self.routes.iter().find(|e| e.route.matches(path))?;
        let path_info = match &entry.route {
            Route::Wildcard(_) => path
                .strip_prefix(entry.component_route.as_str())
                .unwrap_or(""),
            _ => "",
        };
        Some(RouteMatch {
            target: &entry.target,
            raw_route: &entry.raw,
            component_route: &entry.component_route,
            path_info,
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

    fn router() -> Router<&'static str> {
        Router::new([
            (Route::parse("/...").unwrap(), "root"),
            (Route::parse("/hello").unwrap(), "hello"),
            (Route::parse("/hello/...").unwrap(), "hello-wild"),
            (Route::parse("/hello/deep/...").unwrap(), "deep"),
        ])
    }

    #[test]
    fn most_specific_wins() {
        let r = router();
        assert_eq!(*r.route("/hello").unwrap().target, "hello");
        assert_eq!(*r.route("/hello/x").unwrap().target, "hello-wild");
        assert_eq!(*r.route("/hello/deep/x").unwrap().target, "deep");
        assert_eq!(*r.route("/other").unwrap().target, "root");
        assert_eq!(*r.route("/helloworld").unwrap().target, "root");
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
    }

    #[test]
    fn nothing_matches_without_a_catch_all() {
        let r = Router::new([(Route::parse("/a").unwrap(), 1)]);
        assert!(r.route("/b").is_none());
    }
}
