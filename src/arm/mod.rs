//! Everything moat knows about live Azure comes through [`ArmApi`]; everything it changes goes out
//! through it.
//!
//! The trait has one required method, [`ArmApi::send`] (one HTTP exchange, retries included), and
//! provided methods for the ARM verbs that add the protocol around it: 404 as absence, paging via
//! `nextLink`, and long-running operations via moat's own poller ([`lro`]). The HTTP implementation
//! ([`http::HttpArm`]) talks to Azure or to the local emulator; unit tests implement `send` with
//! scripted exchanges.
//!
//! Layout, each file importing only the ones before it: `types` (request, response, verb,
//! precondition, counters), [`retry`] (which failures are retried and how long to wait),
//! [`error`] and [`hint`] (what went wrong and what to do), [`lro`] (polling, over a `send` it is
//! handed; the states it knows), `api` (the trait; list caps and response-scope checks),
//! [`limiter`] (ARM's request buckets, mirrored locally), [`body`] (reading a body within size
//! and time limits), [`transport`] (moat's reqwest client behind azure_core's `HttpClient`),
//! `federated` (workload identity's token file), [`credential`] (the token chain over
//! azure_identity), [`http`] (requests, tokens, logging), [`config`] (clouds, endpoint checks,
//! [`connect`]). This file only re-exports them.

// `ArmError` carries everything the user needs to act on a failure (resource, method, ARM's code,
// message and details, request and correlation ids, retry count); its size is irrelevant next to
// the HTTP round trip that produced it, and boxing it would complicate every match on it.
#![allow(clippy::result_large_err)]

mod api;
pub mod body;
pub mod config;
pub mod credential;
pub mod error;
mod federated;
pub mod hint;
pub mod http;
pub mod limiter;
pub mod lro;
pub mod retry;
pub mod transport;
mod types;
pub mod vault;

pub use api::{ArmApi, MAX_LIST_BYTES, MAX_LIST_ITEMS, MAX_LIST_PAGES, MAX_PAGE_ITEMS};
pub use config::{connect, connect_http, Cloud, ConnectOptions};
pub use error::ArmError;
pub use http::HttpArm;
pub use lro::LroOptions;
pub use retry::RetryPolicy;
pub use types::{ArmRequest, ArmResponse, Method, Precondition, Stats};

/// Path of an extension resource type (`Microsoft.Insights/diagnosticSettings`) on any resource:
/// `/{resource_id}/providers/{provider_type}`, whatever slashes the id came with.
pub fn extension_path(resource_id: &str, provider_type: &str) -> String {
    format!(
        "/{}/providers/{provider_type}",
        resource_id.trim_matches('/')
    )
}
