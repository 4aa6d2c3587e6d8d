//! The HTTP trigger tested in-process, without sockets (as axum's
//! `examples/testing` does with `oneshot`): an app is loaded through the real
//! capability list and `HttpTrigger::handle` is called with an
//! `http::Request<Full<Bytes>>`. Routing, the Spin headers, limits and the
//! mapping of guest failures to statuses are checked here in milliseconds;
//! `up.rs` checks the same through a real `nimbus up` process.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use common::in_process::{get, send, trigger, CLIENT};

const ROUTES: &str = r#"
spin_manifest_version = 2
[application]
name = "in-process"

[[trigger.http]]
route = "/api/..."
component = "wide"

[[trigger.http]]
route = "/api/exact"
component = "exact"

[component.wide]
source = "PROBE"
environment = { NAME = "wide" }

[component.exact]
source = "PROBE"
environment = { NAME = "exact" }
"#;

#[tokio::test(flavor = "current_thread")]
async fn routes_pick_the_most_specific_and_spin_headers_are_set() {
    let (trigger, _dir) = trigger(ROUTES);

    let (status, _, body) = send(&trigger, get("/api/exact")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("component=exact"), "{body}");

    let mut req = get("/api/items/42?x=1");
    // A client cannot set the Spin headers itself.
    req.headers_mut()
        .insert("spin-path-info", "/forged".parse().unwrap());
    let (status, _, body) = send(&trigger, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("component=wide"), "{body}");
    assert!(body.contains("spin-path-info=/items/42"), "{body}");
    assert!(!body.contains("/forged"), "{body}");
    assert!(body.contains("spin-matched-route=/api/..."), "{body}");
    assert!(body.contains("spin-component-route=/api"), "{body}");
    assert!(
        body.contains("spin-full-url=http://app.example/api/items/42?x=1"),
        "{body}"
    );
    assert!(
        body.contains(&format!("spin-client-addr={CLIENT}")),
        "{body}"
    );

    let (status, _, _) = send(&trigger, get("/elsewhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

const PARAMETERS: &str = r#"
spin_manifest_version = 2
[application]
name = "parameters"

[[trigger.http]]
route = "/base/:a/:b/..."
component = "a-b-wild"

[[trigger.http]]
route = "/base/exact"
component = "exact"

[[trigger.http]]
route = "/base/:a"
component = "a"

[[trigger.http]]
route = "/..."
component = "root"

[[trigger.http]]
route = "/wagi/:user_id/..."
component = "wagi"
executor = { type = "wagi" }

[component.a-b-wild]
source = "PROBE"
environment = { NAME = "a-b-wild" }

[component.exact]
source = "PROBE"
environment = { NAME = "exact" }

[component.a]
source = "PROBE"
environment = { NAME = "a" }

[component.root]
source = "PROBE"
environment = { NAME = "root" }

[component.wagi]
source = "ECHO"
"#;

/// The `key=value` lines of the probe's answer that start with `prefix`,
/// sorted.
fn lines_with(body: &str, prefix: &str) -> Vec<String> {
    let mut lines: Vec<String> = body
        .lines()
        .filter(|line| line.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "current_thread")]
async fn route_parameters_pick_the_component_and_reach_the_guest() {
    let echo = nimbus_test_guests::guest("echo", nimbus_test_guests::Target::P1);
    let manifest = PARAMETERS.replace("ECHO", echo.to_str().unwrap());
    let (trigger, _dir) = trigger(&manifest);

    // Exact beats parameter beats wildcard; which component answered, and
    // what it was told.
    for (path, component, matches, route, component_route, path_info) in [
        (
            "/base/exact",
            "exact",
            &[][..],
            "/base/exact",
            "/base/exact",
            "",
        ),
        (
            "/base/one",
            "a",
            &["spin-path-match-a=one"][..],
            "/base/:a",
            "/base/:a",
            "",
        ),
        (
            "/base/exact/two",
            "a-b-wild",
            &["spin-path-match-a=exact", "spin-path-match-b=two"][..],
            "/base/:a/:b/...",
            "/base/:a/:b",
            "",
        ),
        (
            "/base/one/two/three/four?q=1",
            "a-b-wild",
            &["spin-path-match-a=one", "spin-path-match-b=two"][..],
            "/base/:a/:b/...",
            "/base/:a/:b",
            "/three/four",
        ),
        ("/base", "root", &[][..], "/...", "", "/base"),
        ("/base//two", "root", &[][..], "/...", "", "/base//two"),
    ] {
        let mut req = get(path);
        // A client cannot make up parameters, nor change them.
        req.headers_mut()
            .insert("spin-path-match-a", "forged".parse().unwrap());
        req.headers_mut()
            .insert("spin-path-match-admin", "yes".parse().unwrap());
        let (status, _, body) = send(&trigger, req).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(
            body.contains(&format!("component={component}\n")),
            "{path}: {body}"
        );
        assert_eq!(
            lines_with(&body, "spin-path-match-"),
            matches,
            "{path}: {body}"
        );
        for expected in [
            format!("spin-matched-route={route}\n"),
            format!("spin-raw-component-route={route}\n"),
            format!("spin-component-route={component_route}\n"),
            format!("spin-path-info={path_info}\n"),
            format!("spin-full-url=http://app.example{path}\n"),
        ] {
            assert!(body.contains(&expected), "{path}: {expected}: {body}");
        }
    }

    // WAGI: the same as CGI variables (Spin's X_PATH_MATCH_NAME).
    let (status, _, body) = send(&trigger, get("/wagi/ada/notes/1?x=y")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for expected in [
        "env: X_PATH_MATCH_USER_ID=ada\n",
        "env: PATH_INFO=/notes/1\n",
        "env: X_MATCHED_ROUTE=/wagi/:user_id/...\n",
        "env: X_COMPONENT_ROUTE=/wagi/:user_id\n",
        "env: SCRIPT_NAME=/wagi/:user_id\n",
        &format!("env: X_CLIENT_ADDR={CLIENT}\n"),
    ] {
        assert!(body.contains(expected), "{expected}: {body}");
    }
    let (status, _, body) = send(&trigger, get("/wagi/ada")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("env: X_PATH_MATCH_USER_ID=ada\n"), "{body}");
    assert!(body.contains("env: PATH_INFO=\n"), "{body}");
    // `/wagi/` has no segment for `:user_id`: the catch-all answers.
    let (_, _, body) = send(&trigger, get("/wagi/")).await;
    assert!(body.contains("component=root\n"), "{body}");
}

const LIMITS: &str = r#"
spin_manifest_version = 2
[application]
name = "limits"

[[trigger.http]]
route = "/..."
component = "probe"

[component.probe]
source = "PROBE"
[component.probe.limits]
timeout = "300ms"
memory = "32MiB"
max_body_size = "1KiB"
max_concurrency = 1
"#;

#[tokio::test(flavor = "current_thread")]
async fn guest_failures_and_limits_map_to_statuses() {
    let (trigger, _dir) = trigger(LIMITS);
    let (status, _, body) = send(&trigger, get("/?do=trap")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // The cause is logged, never shown to the client.
    assert_eq!(body, "500 Internal Server Error\n");

    let (status, _, _) = send(&trigger, get("/?do=spin")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);

    let (status, _, _) = send(&trigger, get("/?do=hog")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    let big = Request::post("/")
        .header("host", "app.example")
        .header("content-length", "4096")
        .body(Full::new(Bytes::from(vec![b'x'; 4096])))
        .unwrap();
    let (status, _, _) = send(&trigger, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Still healthy after all of that.
    let (status, _, body) = send(&trigger, get("/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("body=0"), "{body}");
}

#[tokio::test(flavor = "current_thread")]
async fn over_max_concurrency_is_503_with_retry_after() {
    let (trigger, _dir) = trigger(LIMITS);
    let trigger = Arc::new(trigger);
    // The slow request takes the only slot; polled first so that it does.
    let slow = {
        let trigger = trigger.clone();
        tokio::spawn(async move { send(&trigger, get("/?do=sleep&ms=200")).await })
    };
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (status, headers, _) = send(&trigger, get("/")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    let (status, _, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "slept\n");
}
