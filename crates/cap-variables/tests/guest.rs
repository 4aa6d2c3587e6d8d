//! The guests `variables-get` (spin-sdk, `fermyon:spin/variables`) and
//! `config-get` (wit-bindgen, `wasi:config/store`) against this capability,
//! through a real `wasi:http` request per call.

use nimbus_cap_outbound_http::OutboundHttpCapability;
use nimbus_cap_variables::VariablesCapability;
use nimbus_cap_wasi::WasiCapability;
use nimbus_capability::Capabilities;
use nimbus_test_host::{toml_path, TestApp};

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "variables-test"

[variables]
greeting = { default = "Hello" }
name = { required = true }
api_token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "reader"
[[trigger.http]]
route = "/other/..."
component = "other"

[component.reader]
source = GUEST
variables = { message = "{{ greeting }}, {{ name }}!", token = "Bearer {{ api_token }}" }

[component.other]
source = GUEST
variables = { only_other = "not for reader" }
"#;

/// The app of [`MANIFEST`], both components running `guest`: `name` comes
/// from the host's environment, `api_token` from the runtime config.
fn app(guest: &str) -> TestApp {
    let path =
        nimbus_test_guests::package_guest("guests-spin", guest, nimbus_test_guests::Target::P2);
    let capabilities = Capabilities::new()
        .with(WasiCapability)
        .with(OutboundHttpCapability)
        .with(VariablesCapability);
    TestApp::builder(capabilities, MANIFEST.replace("GUEST", &toml_path(&path)))
        .env("NIMBUS_VARIABLE_NAME", "Ada")
        .runtime_config("[variables]\napi_token = \"t-123\"\n")
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_sdk_guest_reads_templated_variables() {
    let host = app("variables-get");
    assert_eq!(
        host.get("reader", "/v/message").await,
        (200, "Hello, Ada!".to_string())
    );
    assert_eq!(
        host.get("reader", "/v/token").await,
        (200, "Bearer t-123".to_string())
    );
    // Another component's key is undefined here.
    let (status, body) = host.get("reader", "/v/only_other").await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("Error::Undefined(")
            && body.contains("component `reader` has no variable `only_other`"),
        "{body}"
    );
    let (status, body) = host.get("reader", "/v/Bad-Name").await;
    assert_eq!(status, 500);
    assert!(body.starts_with("Error::InvalidName("), "{body}");
    assert_eq!(
        host.get("other", "/v/only_other").await,
        (200, "not for reader".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_config_guest_reads_templated_variables() {
    let host = app("config-get");
    assert_eq!(
        host.get("reader", "/get/message").await,
        (200, "Hello, Ada!".to_string())
    );
    assert_eq!(
        host.get("reader", "/get/nope").await,
        (404, "none".to_string())
    );
    assert_eq!(
        host.get("reader", "/get/only_other").await,
        (404, "none".to_string())
    );
    // get-all: this component's keys only, in manifest order.
    assert_eq!(
        host.get("reader", "/all").await,
        (200, "message=Hello, Ada!\ntoken=Bearer t-123\n".to_string())
    );
    assert_eq!(
        host.get("other", "/all").await,
        (200, "only_other=not for reader\n".to_string())
    );
}
