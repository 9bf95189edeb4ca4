//! The built-in operations, shipped in the binary as `.graphql` files (`builtin/`) and
//! checked at every load like the operator's own (`graphql.builtin: true`).

/// Each built-in operation: its name and its document.
pub const DOCUMENTS: &[(&str, &str)] = &[
    ("ExceptionIncidents", include_str!("builtin/ExceptionIncidents.graphql")),
    ("PerformanceIncidents", include_str!("builtin/PerformanceIncidents.graphql")),
    ("Incident", include_str!("builtin/Incident.graphql")),
    ("DeployMarkers", include_str!("builtin/DeployMarkers.graphql")),
];

/// Where a built-in document is said to come from in messages.
pub fn source(name: &str) -> String {
    format!("builtin/{name}.graphql")
}
