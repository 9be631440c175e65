//! Microsoft.CognitiveServices/accounts/defenderForAISettings: whether Microsoft Defender for
//! AI protects the account (moat writes the one setting named `Default`). Synchronous
//! CreateOrUpdate (200/201), Get, List under the account and Update (PATCH); api-version
//! 2026-03-01 as in Azure/azure-rest-api-specs
//! specification/cognitiveservices/resource-manager/Microsoft.CognitiveServices/stable/
//! 2026-03-01/examples/PutDefenderForAISetting.json.

use serde_json::Value;

use super::cognitive::{bad, API_VERSIONS, COGNITIVE};
use crate::emulator::config::LroStyle;
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{Lock, Spec, TypeDef};
use crate::emulator::store::prop_str;

const STATES: &[&str] = &["Enabled", "Disabled"];

const INFO: Info = Info {
    namespace: "Microsoft.CognitiveServices",
    api_versions: API_VERSIONS,
    types: &[TypeDef {
        name: "Microsoft.CognitiveServices/accounts/defenderForAISettings",
        spec: Spec {
            patch: Some(LroStyle::Sync),
            ..COGNITIVE
        },
        lock: Some(Lock::RequestConflict),
        seed_rank: 8,
        known: Some(&super::shapes::DEFENDER_FOR_AI),
        ..TypeDef::BASE
    }],
};

pub struct DefenderForAi;

impl Provider for DefenderForAi {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// `properties.state` is required and one of [`STATES`] (the spec's enum, exact case).
    fn prepare(&self, _cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        match prop_str(&w.body, "state") {
            Some(s) if STATES.contains(&s) => Ok(w.body),
            Some(s) => Err(bad(format!(
                "The value '{s}' of properties.state is invalid. Allowed values: {}.",
                STATES.join(", ")
            ))),
            None => Err(bad("properties.state is required.")),
        }
    }
}
