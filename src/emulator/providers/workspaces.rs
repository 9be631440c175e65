//! Microsoft.OperationalInsights workspaces: enough to exist and be referenced by diagnostic
//! settings.

use serde_json::{json, Value};

use crate::emulator::config::LroStyle;
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::ids::required_location;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{Spec, TypeDef};
use crate::emulator::store::{prop_str, props};

const INFO: Info = Info {
    namespace: "Microsoft.OperationalInsights",
    api_versions: &[
        "2020-08-01",
        "2020-10-01",
        "2021-06-01",
        "2022-10-01",
        "2023-09-01",
        "2025-02-01",
    ],
    types: TYPES,
};

pub struct Workspaces;

const TYPES: &[TypeDef] = &[TypeDef {
    name: "Microsoft.OperationalInsights/workspaces",
    spec: Spec {
        put: LroStyle::AsyncBody,
        patch: Some(LroStyle::Sync),
        delete: LroStyle::Accepted,
        has_state: true,
        creating: "Creating",
        updating: "Updating",
        ..Spec::SYNC
    },
    seed_rank: 2,
    ..TypeDef::BASE
}];

impl Provider for Workspaces {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write {
            mut body, existing, ..
        } = w;
        body["location"] = json!(required_location(&body, existing)?);
        let customer = existing
            .and_then(|e| prop_str(e, "customerId"))
            .map(str::to_string)
            .unwrap_or_else(|| cx.st.new_guid("workspace"));
        let created = existing
            .and_then(|e| prop_str(e, "createdDate"))
            .map(str::to_string)
            .unwrap_or_else(|| cx.timestamp());
        let now = cx.timestamp();
        let p = props(&mut body);
        p.insert("customerId".into(), json!(customer));
        p.entry("sku").or_insert(json!({ "name": "PerGB2018" }));
        p.entry("retentionInDays").or_insert(json!(30));
        p.entry("publicNetworkAccessForIngestion")
            .or_insert(json!("Enabled"));
        p.entry("publicNetworkAccessForQuery")
            .or_insert(json!("Enabled"));
        p.insert("createdDate".into(), json!(created));
        p.insert("modifiedDate".into(), json!(now));
        Ok(body)
    }
}
