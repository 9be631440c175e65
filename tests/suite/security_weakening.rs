//! Safety of the plan (issue 8): every weakening change (public access on, key auth on, a looser
//! content filter, a privileged role, a deleted diagnostic setting) appears in the plan only with
//! the matching exception in the blueprint, and is then marked as a risk in every rendering
//! (text, markdown, JSON). Checked twice: on the resolved model (the planner refuses on its own),
//! and from YAML through `moat::blueprint::load_str` (the loader refuses without the exception).

use crate::support;

use moat::blueprint::resolved::{
    Control, Exception, ExceptionKind, Instance, Mode, RoleAssignment,
};
use moat::observe::{Observed, ObservedInstance, Read};
use moat::plan::model::{Action, Change, Plan};
use serde_json::json;
use support::*;

struct Weakening {
    name: &'static str,
    allows: ExceptionKind,
    kind: moat::model::KindId,
    weaken: fn(&mut Instance),
    /// The write carries the weak value.
    weak_write: fn(&Change) -> bool,
}

fn matrix() -> Vec<Weakening> {
    vec![
        Weakening {
            name: "enable public network access",
            allows: ExceptionKind::PublicNetworkAccess,
            kind: moat::resources::account::KIND,
            weaken: |i| {
                i.controls
                    .network_access
                    .as_mut()
                    .unwrap()
                    .spec
                    .public_network_access = "Enabled".into()
            },
            weak_write: |c| body(c)["properties"]["publicNetworkAccess"] == "Enabled",
        },
        Weakening {
            name: "enable key auth",
            allows: ExceptionKind::LocalAuth,
            kind: moat::resources::account::KIND,
            weaken: |i| i.controls.local_auth.as_mut().unwrap().spec.disabled = false,
            weak_write: |c| body(c)["properties"]["disableLocalAuth"] == false,
        },
        Weakening {
            name: "loosen a content filter",
            allows: ExceptionKind::ContentFilter,
            kind: moat::resources::rai_policy::KIND,
            weaken: |i| {
                let f = &mut i.controls.rai_policy.as_mut().unwrap().spec.content_filters;
                let v = f
                    .iter_mut()
                    .find(|f| f.name == "Violence" && f.source == "Completion")
                    .unwrap();
                v.severity_threshold = Some("High".into());
            },
            weak_write: |c| {
                body(c)["properties"]["contentFilters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"] == "Violence" && f["severityThreshold"] == "High")
            },
        },
        Weakening {
            name: "remove the managed identity",
            allows: ExceptionKind::NoManagedIdentity,
            kind: moat::resources::account::KIND,
            weaken: |i| i.controls.identity.as_mut().unwrap().spec.r#type = "None".into(),
            weak_write: |c| body(c)["identity"]["type"] == "None",
        },
        Weakening {
            name: "add a privileged role",
            allows: ExceptionKind::PrivilegedRole,
            kind: moat::resources::role_assignment::KIND,
            weaken: |i| {
                i.controls
                    .role_assignments
                    .as_mut()
                    .unwrap()
                    .spec
                    .assignments
                    .push(RoleAssignment {
                        principal_id: USER.into(),
                        principal_type: "User".into(),
                        role_definition_guid: CONTRIBUTOR.into(),
                        role_name: "Contributor".into(),
                        description: None,
                    })
            },
            weak_write: |c| {
                body(c)["properties"]["roleDefinitionId"]
                    .as_str()
                    .is_some_and(|r| r.ends_with(CONTRIBUTOR))
            },
        },
        Weakening {
            name: "let trusted Azure services through the firewall",
            allows: ExceptionKind::NetworkBypass,
            kind: moat::resources::account::KIND,
            weaken: |i| {
                i.controls.network_access.as_mut().unwrap().spec.bypass = "AzureServices".into()
            },
            weak_write: |c| body(c)["properties"]["networkAcls"]["bypass"] == "AzureServices",
        },
        Weakening {
            name: "open the firewall by default",
            allows: ExceptionKind::PublicNetworkAccess,
            kind: moat::resources::account::KIND,
            weaken: |i| {
                i.controls
                    .network_access
                    .as_mut()
                    .unwrap()
                    .spec
                    .default_action = "Allow".into()
            },
            weak_write: |c| body(c)["properties"]["networkAcls"]["defaultAction"] == "Allow",
        },
        Weakening {
            name: "lift the outbound restriction",
            allows: ExceptionKind::OutboundUnrestricted,
            kind: moat::resources::account::KIND,
            weaken: |i| i.controls.outbound.as_mut().unwrap().spec.restrict = false,
            weak_write: |c| body(c)["properties"]["restrictOutboundNetworkAccess"] == false,
        },
        Weakening {
            name: "let content stream before it is filtered",
            allows: ExceptionKind::ContentFilter,
            kind: moat::resources::rai_policy::KIND,
            weaken: |i| i.controls.rai_policy.as_mut().unwrap().spec.mode = "Deferred".into(),
            weak_write: |c| body(c)["properties"]["mode"] == "Deferred",
        },
        Weakening {
            name: "switch a content filter off",
            allows: ExceptionKind::ContentFilter,
            kind: moat::resources::rai_policy::KIND,
            weaken: |i| {
                let f = &mut i.controls.rai_policy.as_mut().unwrap().spec.content_filters;
                f.iter_mut()
                    .find(|f| f.name == "Jailbreak")
                    .unwrap()
                    .enabled = false;
            },
            weak_write: |c| {
                body(c)["properties"]["contentFilters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"] == "Jailbreak" && f["enabled"] == false)
            },
        },
        Weakening {
            name: "remove a content filter the blueprint does not list",
            allows: ExceptionKind::ContentFilter,
            kind: moat::resources::rai_policy::KIND,
            weaken: |i| {
                let spec = &mut i.controls.rai_policy.as_mut().unwrap().spec;
                spec.content_filters.retain(|f| f.name != "Profanity");
                spec.remove_undeclared_filters = true;
            },
            weak_write: |c| {
                !body(c)["properties"]["contentFilters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"] == "Profanity")
            },
        },
        Weakening {
            name: "stop sending the Audit log",
            allows: ExceptionKind::ReducedLogging,
            kind: moat::resources::diagnostic_setting::KIND,
            weaken: |i| {
                i.controls
                    .diagnostics
                    .as_mut()
                    .unwrap()
                    .spec
                    .log_categories
                    .retain(|c| c != "Audit")
            },
            weak_write: |c| {
                !body(c)["properties"]["logs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["category"] == "Audit")
            },
        },
        Weakening {
            name: "turn Defender for AI off",
            allows: ExceptionKind::DefenderForAiDisabled,
            kind: moat::resources::defender_for_ai::KIND,
            weaken: |i| {
                i.controls
                    .generic
                    .get_mut("defenderForAI")
                    .expect("the strict baseline declares defenderForAI")
                    .spec["state"] = "Disabled".into()
            },
            weak_write: |c| body(c)["properties"]["state"] == "Disabled",
        },
        Weakening {
            name: "turn the key-access alert off",
            allows: ExceptionKind::AlertDisabled,
            kind: moat::resources::activity_log_alert::KIND,
            weaken: |i| {
                i.controls.generic.insert(
                    "alerts",
                    Control {
                        mode: Mode::Managed,
                        spec: json!({"keyAccess": {"enabled": false, "severity": 1}}),
                    },
                );
            },
            weak_write: |c| {
                c.kind == moat::resources::activity_log_alert::KIND
                    && body(c)["properties"]["enabled"] == false
            },
        },
    ]
}

/// The strict baseline fully applied, with its activity-log alert rules (M2) on, as Azure
/// returns them: `microsoft.insights` lower-cased in the id, the scope without its leading `/`,
/// condition field names capitalised.
fn hardened() -> ObservedInstance {
    use moat::resources::activity_log_alert as alerts;
    let inst = strict_instance();
    let mut obs = hardened_observed(&inst);
    for rule in alerts::RULES {
        let id = alerts::rule_id(&inst, rule);
        let ops: Vec<serde_json::Value> = rule
            .operations
            .iter()
            .map(|op| json!({"field": "OperationName", "equals": op}))
            .collect();
        let live = json!({
            "id": id.replace("/Microsoft.Insights/", "/microsoft.insights/"),
            "name": moat::resources::last_segment(&id),
            "type": "Microsoft.Insights/ActivityLogAlerts",
            "location": "Global",
            "tags": {},
            "properties": {
                "scopes": [inst.account_id().trim_start_matches('/')],
                "condition": {"allOf": [
                    {"field": "Category", "equals": "Administrative"},
                    {"anyOf": ops},
                ]},
                "actions": {"actionGroups": []},
                "enabled": true,
                "description": rule.description,
            }
        });
        obs.reads
            .insert(&Read::get(id, alerts::API_VERSION), Some(live));
    }
    obs
}

fn body(c: &Change) -> serde_json::Value {
    c.write
        .as_ref()
        .and_then(|w| w.body.clone())
        .unwrap_or_default()
}

fn plan_one(inst: &Instance, obs: ObservedInstance) -> Plan {
    moat::plan::plan(
        &blueprint(vec![inst.clone()]),
        &Observed {
            instances: vec![obs],
        },
    )
}

fn exception(allows: ExceptionKind) -> Exception {
    Exception {
        allows,
        reason: format!("test exception for {allows}"),
        expires: None,
        days_left: None,
    }
}

/// The risk of `c` shows in the text, markdown and JSON renderings of `plan`.
fn assert_risk_rendered(plan: &Plan, c: &Change, what: &str) {
    let risk = c.risk.as_deref().unwrap();
    let text = moat::render::text::render(plan, false);
    assert!(
        text.contains(&format!("risk: {risk}")),
        "{what}: text rendering lacks the risk:\n{text}"
    );
    let md = moat::render::markdown::render(plan);
    assert!(md.contains(risk), "{what}: markdown lacks the risk:\n{md}");
    let doc: serde_json::Value = serde_json::from_str(&moat::render::json::render(plan)).unwrap();
    let found = doc["plan"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["changes"].as_array().unwrap().iter())
        .any(|j| j["address"] == c.address.as_str() && j["risk"] == risk);
    assert!(found, "{what}: JSON lacks the risk");
    assert!(
        doc["summary"]["risks"].as_u64().unwrap_or(0) >= 1,
        "{what}: the JSON summary counts no risk"
    );
}

#[test]
fn resolved_model_every_weakening_needs_its_exception_and_is_a_risk_everywhere() {
    for w in matrix() {
        // Live state: the strict baseline, fully applied (the key-access alert on).
        let live = hardened();
        let mut inst = strict_instance();
        (w.weaken)(&mut inst);

        // Without the exception: blocked, the plan fails, and no write carries the weak value.
        let plan = plan_one(&inst, live.clone());
        assert!(plan.is_failed(), "{}: the plan must fail", w.name);
        let blocked: Vec<_> = plan
            .changes()
            .filter(|c| c.action == Action::Blocked && c.kind == w.kind)
            .collect();
        assert!(
            blocked
                .iter()
                .any(|c| c.blocked.as_deref().unwrap().contains(w.allows.as_str())),
            "{}: no blocked change naming `{}`: {:#?}",
            w.name,
            w.allows,
            plan.changes().collect::<Vec<_>>()
        );
        assert!(
            !plan
                .changes()
                .any(|c| c.action.is_write() && (w.weak_write)(c)),
            "{}: a write carries the weakening without the exception",
            w.name
        );

        // A different exception does not unlock it.
        let other = if w.allows == ExceptionKind::LocalAuth {
            ExceptionKind::NetworkBypass
        } else {
            ExceptionKind::LocalAuth
        };
        let mut wrong = inst.clone();
        wrong.exceptions.push(exception(other));
        let plan = plan_one(&wrong, live.clone());
        assert!(
            plan.is_failed(),
            "{}: unlocked by the `{other}` exception",
            w.name
        );

        // With the exception: one write carries it, marked as a risk, quoting the exception.
        inst.exceptions.push(exception(w.allows));
        let plan = plan_one(&inst, live);
        assert!(
            !plan.is_failed(),
            "{}: still blocked with the exception",
            w.name
        );
        let weak: Vec<_> = plan
            .changes()
            .filter(|c| c.action.is_write() && (w.weak_write)(c))
            .collect();
        assert_eq!(weak.len(), 1, "{}: {weak:#?}", w.name);
        let c = weak[0];
        assert!(c.risk.is_some(), "{}: not marked as a risk", w.name);
        assert!(
            c.exception
                .as_deref()
                .unwrap_or("")
                .contains(w.allows.as_str()),
            "{}: the exception is not quoted: {:?}",
            w.name,
            c.exception
        );
        assert_risk_rendered(&plan, c, w.name);
    }
}

/// "Delete a diagnostic setting": the planner never deletes one. Not when the blueprint drops
/// the control, not when another setting clashes with moat's (it blocks instead); only the
/// `delete-diagnostic-setting` exception lets it delete the clashing setting, shown as a risk.
#[test]
fn resolved_model_diagnostic_settings_are_deleted_only_with_the_exception() {
    let strict = strict_instance();
    let mut clash = hardened_observed(&strict);
    // Someone's hand-made setting sends Audit to the same workspace; moat's is absent.
    let diag = moat::resources::diagnostic_setting::read(&strict);
    let mut other = live(&mut clash, diag.clone())[0].clone();
    other["name"] = "openai-security-diagnostics".into();
    other["id"] = json!(format!(
        "{}/providers/microsoft.insights/diagnosticSettings/openai-security-diagnostics",
        strict.account_id().to_lowercase()
    ));
    set_live(&mut clash, diag, Some(json!([other])));

    let mut no_diag = strict.clone();
    no_diag.controls.diagnostics = None;
    let mut with_exc = strict.clone();
    with_exc
        .exceptions
        .push(exception(ExceptionKind::DeleteDiagnosticSetting));
    let mut no_diag_exc = no_diag.clone();
    no_diag_exc
        .exceptions
        .push(exception(ExceptionKind::DeleteDiagnosticSetting));

    let plan = plan_one(&with_exc, clash.clone());
    let deletes: Vec<_> = plan
        .changes()
        .filter(|c| {
            c.kind == moat::resources::diagnostic_setting::KIND && c.action == Action::Delete
        })
        .collect();
    assert_eq!(
        deletes.len(),
        1,
        "clashing setting + exception: {deletes:#?}"
    );
    assert!(deletes[0].id.ends_with("/openai-security-diagnostics"));
    assert!(deletes[0]
        .risk
        .as_deref()
        .is_some_and(|r| r.starts_with("weakens security")));
    assert!(deletes[0]
        .exception
        .as_deref()
        .is_some_and(|e| e.starts_with("delete-diagnostic-setting")));

    for (what, inst, obs) in [
        ("control dropped", &no_diag, hardened_observed(&strict)),
        ("clashing setting", &strict, clash.clone()),
        (
            "control dropped + exception",
            &no_diag_exc,
            hardened_observed(&strict),
        ),
    ] {
        let plan = plan_one(inst, obs);
        let deletes: Vec<_> = plan
            .changes()
            .filter(|c| {
                c.kind == moat::resources::diagnostic_setting::KIND
                    && (c.action == Action::Delete
                        || c.write
                            .as_ref()
                            .is_some_and(|w| w.method == moat::arm::Method::Delete))
            })
            .collect();
        assert!(deletes.is_empty(), "{what}: {deletes:#?}");
    }
    // Without the exception the clash stops the plan, naming the other setting.
    let plan = plan_one(&strict, clash);
    let b = plan
        .changes()
        .find(|c| c.kind == moat::resources::diagnostic_setting::KIND)
        .unwrap();
    assert_eq!(b.action, Action::Blocked);
    assert!(b
        .blocked
        .as_deref()
        .unwrap()
        .contains("openai-security-diagnostics"));
}

/// The quickstart as YAML with `controls` and `exceptions` replaced.
fn yaml(controls: &str, exceptions: &str) -> String {
    let base = e2e_repo("blueprints/strict-baseline.yaml");
    format!(
        "version: 1\nimports: [{base}]\ninstances:\n  - name: contoso-openai-prod\n    profile: strict\n    subscription: {SUB}\n    resourceGroup: rg-ai-prod\n    accountName: contoso-openai-prod\n    location: eastus\n    kind: OpenAI\n    customSubdomain: contoso-openai-prod\n    existing:\n      endpointSubnet: {}\n      endpointSubnetPrefix: 10.10.2.0/24\n      nsg: {}\n      dnsZones:\n        resourceGroup: rg-dns\n      logAnalyticsWorkspace: {}\n    controls:\n      nsg:\n        rules:\n          Allow-App-Subnet:\n            source: 10.10.1.0/24\n          Allow-APIM-Subnet:\n            source: 10.10.3.0/24\n{controls}{exceptions}",
        subnet_id(),
        nsg_id(),
        workspace_id()
    )
}

fn e2e_repo(p: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

const APP_ROLE: &str = "      roleAssignments:\n        assignments:\n          - principalId: 9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34\n            principalType: ServicePrincipal\n            role: Cognitive Services OpenAI User\n";

#[test]
fn yaml_every_weakening_is_rejected_by_the_loader_without_its_exception() {
    let filters = "      raiPolicy:\n        contentFilters:\n          - {name: Hate, source: Prompt, severityThreshold: Low}\n          - {name: Hate, source: Completion, severityThreshold: Low}\n          - {name: Sexual, source: Prompt, severityThreshold: Low}\n          - {name: Sexual, source: Completion, severityThreshold: Low}\n          - {name: Violence, source: Prompt, severityThreshold: Low}\n          - {name: Violence, source: Completion, severityThreshold: High}\n          - {name: Selfharm, source: Prompt, severityThreshold: Low}\n          - {name: Selfharm, source: Completion, severityThreshold: Low}\n          - {name: Jailbreak, source: Prompt}\n          - {name: Indirect Attack, source: Prompt}\n";
    let cases: Vec<(&str, &str, String, moat::model::KindId)> = vec![
        (
            "enable public network access",
            "public-network-access",
            format!("      networkAccess:\n        publicNetworkAccess: Enabled\n{APP_ROLE}"),
            moat::resources::account::KIND,
        ),
        (
            "turn Defender for AI off",
            "defender-for-ai-disabled",
            format!("      defenderForAI:\n        state: Disabled\n{APP_ROLE}"),
            moat::resources::defender_for_ai::KIND,
        ),
        (
            "turn the key-access alert off",
            "alert-disabled",
            format!("      alerts:\n        keyAccess:\n          enabled: false\n{APP_ROLE}"),
            moat::resources::activity_log_alert::KIND,
        ),
        (
            "turn the configuration-change alert off",
            "alert-disabled",
            format!("      alerts:\n        configChange:\n          enabled: false\n{APP_ROLE}"),
            moat::resources::activity_log_alert::KIND,
        ),
        (
            "let trusted Azure services through the firewall",
            "network-bypass",
            format!("      networkAccess:\n        bypass: AzureServices\n{APP_ROLE}"),
            moat::resources::account::KIND,
        ),
        (
            "lift the outbound restriction",
            "outbound-unrestricted",
            format!("      outbound:\n        restrict: false\n{APP_ROLE}"),
            moat::resources::account::KIND,
        ),
        (
            "stop sending the Audit log",
            "reduced-logging",
            format!("      diagnostics:\n        logCategories: [RequestResponse]\n{APP_ROLE}"),
            moat::resources::diagnostic_setting::KIND,
        ),
        (
            "enable key auth",
            "local-auth",
            format!("      localAuth:\n        disabled: false\n{APP_ROLE}"),
            moat::resources::account::KIND,
        ),
        (
            "loosen a content filter",
            "content-filter",
            format!("{filters}{APP_ROLE}"),
            moat::resources::rai_policy::KIND,
        ),
        (
            "add a privileged role",
            "privileged-role",
            format!("{APP_ROLE}          - principalId: {USER}\n            principalType: User\n            role: Contributor\n"),
            moat::resources::role_assignment::KIND,
        ),
    ];
    // The unweakened blueprint loads (so a rejection below is the weakening's doing).
    moat::blueprint::load_str("strict.yaml", &yaml(APP_ROLE, ""))
        .unwrap_or_else(|d| panic!("the strict blueprint must load: {d}"));
    for (name, allows, controls, kind) in cases {
        let err = match moat::blueprint::load_str("weak.yaml", &yaml(&controls, "")) {
            Ok(_) => panic!("{name}: loaded without the `{allows}` exception"),
            Err(d) => d.to_string(),
        };
        assert!(
            err.contains(allows),
            "{name}: the error does not name the `{allows}` exception: {err}"
        );
        let extra = if allows == "privileged-role" {
            format!("        principalId: {USER}\n")
        } else {
            String::new()
        };
        let exc = format!(
            "    exceptions:\n      - allows: {allows}\n        reason: test exception for {allows}\n{extra}"
        );
        let bp = moat::blueprint::load_str("excused.yaml", &yaml(&controls, &exc))
            .unwrap_or_else(|d| panic!("{name}: refused with the exception: {d}"));
        // Planned against the hardened live state, the weakening is one risky write.
        // Live state: the strict baseline fully applied to the same account.
        let mut live = hardened();
        live.name = bp.instances[0].name.clone();
        let plan = moat::plan::plan(
            &bp,
            &Observed {
                instances: vec![live],
            },
        );
        assert!(!plan.is_failed(), "{name}");
        let risky: Vec<_> = plan
            .changes()
            .filter(|c| c.action.is_write() && c.kind == kind && c.risk.is_some())
            .collect();
        assert!(!risky.is_empty(), "{name}: no risky write");
        for c in risky {
            assert!(
                c.exception.as_deref().unwrap_or("").contains(allows),
                "{name}: {c:#?}"
            );
            assert_risk_rendered(&plan, c, name);
        }
    }
}

/// The planner's privileged-role rule matches the loader's: Cognitive Services Contributor for a
/// group is not a weakening (no exception needed), Contributor for a group is.
#[test]
fn a_group_with_a_service_scoped_privileged_role_needs_no_exception() {
    let live = hardened_observed(&strict_instance());
    for (role, guid, blocked) in [
        (
            "Cognitive Services Contributor",
            "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
            false,
        ),
        ("Contributor", CONTRIBUTOR, true),
    ] {
        let mut inst = strict_instance();
        inst.controls
            .role_assignments
            .as_mut()
            .unwrap()
            .spec
            .assignments
            .push(RoleAssignment {
                principal_id: USER.into(),
                principal_type: "Group".into(),
                role_definition_guid: guid.into(),
                role_name: role.into(),
                description: None,
            });
        let plan = plan_one(&inst, live.clone());
        assert_eq!(plan.is_failed(), blocked, "{role} for a group");
    }
}
