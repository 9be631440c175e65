//! `Microsoft.CognitiveServices/accounts/defenderForAISettings` (D2): Microsoft Defender for AI
//! threat protection on the account (prompt attacks, data leakage, credential theft alerts).
//!
//! One setting per account, named `Default`. Synchronous PUT of `{"properties": {"state"}}`; the
//! server returns an etag and systemData (REST spec 2026-03-01,
//! `PutDefenderForAISetting.json`). Managed: `properties.state`. Ignored: `tags` (moat never
//! writes them). Turning it off is a weakening that needs the `defender-for-ai-disabled`
//! exception, in the loader and here.

use serde_json::{json, Value};

use super::kind::{Kind, Meta, Planned, Read, Reads, Stage};
use super::{enum_eq, fingerprint, get_str};
use crate::arm::Method;
use crate::blueprint::resolved::{ExceptionKind, Instance, Mode};
use crate::model::{Change, FieldChange, KindId, Resend, Write};

pub const API_VERSION: &str = "2026-03-01";
pub const KIND: KindId = KindId::new("defender-for-ai");
/// The control's key in `controls:`.
const CONTROL: &str = "defenderForAI";

pub struct DefenderForAi;

static META: Meta = Meta {
    label: "defender-for-ai",
    arm_type: "Microsoft.CognitiveServices/accounts/defenderForAISettings",
    api_version: API_VERSION,
    shared: false,
    managed: &["properties.state"],
    read_only: &[],
    ignored: &["tags"],
    first_on_lock: false,
    weak: &[("properties.state", "\"Disabled\"")],
};

fn id(inst: &Instance) -> String {
    format!("{}/defenderForAISettings/Default", inst.account_id())
}

fn read(inst: &Instance) -> Option<Read> {
    inst.controls
        .generic(CONTROL)
        .map(|_| Read::get(id(inst), API_VERSION))
}

impl Kind for DefenderForAi {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let (Some(ctl), Some(r)) = (inst.controls.generic(CONTROL), read(inst)) else {
            return Planned::default();
        };
        let want = ctl.text("state").unwrap_or("Enabled");
        Planned::of(Stage::Logging, [plan(inst, ctl.mode, want, seen.value(&r))])
    }

    fn lock(&self, change: &Change) -> Option<String> {
        super::account::lock_of(&change.id)
    }

    fn resend(&self, change: &Change) -> Option<Resend> {
        super::account::resend_when_busy(&change.id)
    }
}

fn plan(inst: &Instance, mode: Mode, want: &str, live: Option<&Value>) -> Change {
    let id = id(inst);
    let address = format!("{}/defender-for-ai/Default", inst.name);
    let current = live.and_then(|l| get_str(l, "properties.state"));
    let differs = !current.is_some_and(|c| enum_eq(c, want));
    let action = super::outcome(mode, live.is_some(), differs);
    let turning_off = enum_eq(want, "Disabled") && !current.is_some_and(|c| enum_eq(c, want));
    let exception = inst
        .exceptions
        .iter()
        .find(|e| e.allows == ExceptionKind::DefenderForAiDisabled);
    if turning_off && action.is_write() && exception.is_none() {
        return Change::blocked(
            address,
            KIND,
            &id,
            "refusing to weaken security: Defender for AI threat protection off, and the blueprint has no `defender-for-ai-disabled` exception",
            fingerprint(live),
        );
    }
    let reason = if enum_eq(want, "Disabled") {
        "Defender for AI threat protection off, as the blueprint's exception allows (D2)"
    } else {
        "Defender for AI threat protection on: prompt attacks and data leakage raise alerts (D2)"
    };
    let mut c = Change::new(address, KIND, &id, action, reason, fingerprint(live));
    if differs {
        c.fields.push(FieldChange {
            path: "properties.state".into(),
            before: current.map(Value::from),
            after: Some(want.into()),
        });
    }
    if action.is_write() {
        let mut w = Write::new(
            Method::Put,
            &id,
            API_VERSION,
            Some(json!({"properties": {"state": want}})),
        );
        match live {
            Some(l) => w = w.if_match(l),
            None => w.if_none_match = true,
        }
        c.write = Some(w);
        if turning_off {
            c.risk = Some("weakens security: Defender for AI threat protection off".into());
            c.exception = exception.map(|e| format!("{}: {}", e.allows, e.reason));
        }
    }
    c
}
