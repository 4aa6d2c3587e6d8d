//! Why an admin operation was refused.

use http::StatusCode;

/// A refused admin operation: the HTTP status, a category for metrics and
/// logs, and the reason given to the client.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status to answer with.
    pub status: StatusCode,
    /// `bundle`, `signature`, `manifest`, `quota`, `settings`, `load`,
    /// `name`, `hostname`, `size`, `registry`, `not_found`, `conflict` or
    /// `internal`.
    pub category: &'static str,
    /// What went wrong, for the client.
    pub message: String,
}

impl Refusal {
    pub(super) fn new(
        status: StatusCode,
        category: &'static str,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal {
            status,
            category,
            message: message.into(),
        }
    }

    pub(super) fn internal(err: anyhow::Error) -> Refusal {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{err:#}"),
        )
    }
}

pub(super) fn not_found(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no app named {name}"),
    )
}
