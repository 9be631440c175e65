//! moat's local ARM emulator: an HTTP server (axum on tokio) answering the ARM REST protocol for
//! every resource type moat touches, with Azure's long-running operations, conflicts,
//! throttling and (opt-in) faults. Used by tests in-process, by `moat emulator`, and behind
//! moat's `--emulator` flag. See docs/emulator.md for what is emulated and what is simplified.
//!
//! Layout: the core (`server` → `routes` → `engine`/`settle`/`lro`, over `ids`, `spec`, `store`,
//! `cx`, `ops`, `error`) knows ARM's generic protocol and no resource type. Every resource type
//! is served by one file in `providers/` implementing [`provider::Provider`]; `providers::all()`
//! is the one list of them, installed into the core when an emulator starts.

pub mod cli;
pub mod clock;
pub mod config;
pub mod cx;
pub mod engine;
pub mod error;
pub mod handle;
pub mod ids;
pub mod lro;
pub mod ops;
pub mod provider;
pub mod providers;
pub mod routes;
pub mod seed_from;
pub mod server;
pub mod settle;
pub mod spec;
pub mod store;
pub mod throttle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    ConflictConfig, EmulatorConfig, FailOutcome, FailRule, FaultConfig, LroConfig, LroStyle,
    ThrottleConfig,
};
pub use handle::{load_seed_file, Emulator, EmulatorHandle};
pub use server::RequestLogEntry;
