//! The record kept per long-running operation and the polling URLs it hands out (absolute, on
//! the emulator's own origin). Plain data: stored in the state, serialisable.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::FailOutcome;

/// What happens to the store when the operation completes successfully.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Effect {
    /// The resource is already stored with a non-terminal provisioningState: mark it Succeeded.
    Finish,
    /// 202-create/update: the body becomes visible only now.
    Commit { body: Value, created: bool },
    /// Remove the resource (soft-delete for accounts).
    Delete,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpState {
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl OpState {
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Running => "InProgress",
            OpState::Succeeded => "Succeeded",
            OpState::Failed => "Failed",
            OpState::Canceled => "Canceled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub sub: String,
    pub ns: String,
    pub location: String,
    pub api_version: String,
    pub method: String,
    pub resource_key: String,
    pub resource_id: String,
    pub full_type: String,
    pub start_ns: u64,
    pub done_ns: u64,
    pub effect: Effect,
    /// Set by a fault rule: the operation ends in this state with this error.
    pub forced: Option<(FailOutcome, String, String)>,
    pub state: OpState,
    pub error: Option<(String, String)>,
    /// What the Location URL answers once done.
    pub result_status: u16,
    pub result_body: Option<Value>,
}

impl Operation {
    pub fn running(&self) -> bool {
        self.state == OpState::Running
    }

    pub fn path(&self, kind: &str) -> String {
        format!(
            "/subscriptions/{}/providers/{}/locations/{}/{kind}/{}",
            self.sub, self.ns, self.location, self.id
        )
    }

    pub fn status_url(&self, base: &str) -> String {
        format!(
            "{base}{}?api-version={}",
            self.path("operationStatuses"),
            self.api_version
        )
    }

    pub fn result_url(&self, base: &str) -> String {
        format!(
            "{base}{}?api-version={}",
            self.path("operationResults"),
            self.api_version
        )
    }
}
