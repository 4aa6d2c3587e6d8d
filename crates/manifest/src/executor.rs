//! How an HTTP trigger calls its component: a value type shared by the
//! HTTP trigger's schema (`nimbus-trigger-http`) and its executors.

/// How an HTTP trigger calls its component (`executor = { type = ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Executor {
    /// `type = "http"` (the default; Spin's alias `"spin"` is accepted): the
    /// component exports `wasi:http/incoming-handler`.
    #[default]
    Http,
    /// `type = "wagi"`: a WASI command run CGI-style (Spin's WAGI executor).
    Wagi {
        /// `argv`: the command line, with `${SCRIPT_NAME}` and `${ARGS}`
        /// replaced; `None` means [`Executor::WAGI_DEFAULT_ARGV`].
        argv: Option<String>,
        /// `entrypoint` (deprecated in Spin): the function to call; `None`
        /// means [`Executor::WAGI_DEFAULT_ENTRYPOINT`].
        entrypoint: Option<String>,
    },
}

impl Executor {
    /// Spin's default WAGI `argv`.
    pub const WAGI_DEFAULT_ARGV: &'static str = "${SCRIPT_NAME} ${ARGS}";
    /// Spin's default WAGI entrypoint.
    pub const WAGI_DEFAULT_ENTRYPOINT: &'static str = "_start";
}
