//! What a handler may touch while the state lock is held.

use std::time::Duration;

use super::clock::rfc3339;
use super::config::{EmulatorConfig, FaultConfig};
use super::store::State;

/// Everything a handler may touch while the state lock is held.
pub struct Cx<'a> {
    pub st: &'a mut State,
    pub cfg: &'a EmulatorConfig,
    pub faults: &'a mut FaultConfig,
    pub now: Duration,
    pub base: &'a str,
    /// Hash of the caller's bearer token (never the token).
    pub principal: &'a str,
    pub api_version: &'a str,
}

impl Cx<'_> {
    pub fn now_ns(&self) -> u64 {
        self.now.as_nanos() as u64
    }

    pub fn timestamp(&self) -> String {
        rfc3339(self.now)
    }
}
