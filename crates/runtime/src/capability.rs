/// One host service that a guest may be granted (WASI, outbound HTTP, key-value, …).
///
/// A capability has three moments, each done as rarely as possible:
///
/// - *configure* ([`Capability::configure`]): once per app (or per `nimbus run`),
///   validate what was granted and open backends. A bad grant is refused here,
///   before anything runs.
/// - *link*: once per linker; each capability crate exposes its own
///   `add_to_linker` functions for the store state types that embed it, because
///   core modules and components use different linkers.
/// - *prepare* ([`Capability::prepare`]): once per instance, cheap; builds the
///   per-store state from the configured app state.
pub trait Capability: Send + Sync + 'static {
    /// Short name, used as runtime-config key and as prefix in error messages.
    const NAME: &'static str;
    /// What the user granted (from flags or a manifest), before validation.
    type Grants;
    /// Validated grants and open backends, shared by every instance of an app.
    type AppState: Send + Sync;
    /// The part of a store's state that this capability owns, one per instance.
    type InstanceState: Send + 'static;

    /// Validates `grants` and opens what can be opened once.
    fn configure(&self, grants: Self::Grants) -> anyhow::Result<Self::AppState>;

    /// Builds the state for one instance. Must be cheap: it runs per request.
    fn prepare(&self, app: &Self::AppState) -> anyhow::Result<Self::InstanceState>;
}
