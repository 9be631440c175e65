//! The pure planner against hand-built observed state: noise, the cutover order, safety.

use crate::support;

use moat::blueprint::resolved::*;
use moat::observe::Observed;
use moat::plan::model::{Action, Plan};
use serde_json::json;
use support::*;

fn plan_one(inst: Instance, obs: moat::observe::ObservedInstance) -> Plan {
    moat::plan::plan(
        &blueprint(vec![inst]),
        &Observed {
            instances: vec![obs],
        },
    )
}

fn writes(p: &Plan) -> Vec<(String, Action)> {
    p.changes()
        .filter(|c| c.action.is_write())
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

fn change<'a>(p: &'a Plan, addr: &str) -> &'a moat::plan::model::Change {
    p.changes()
        .find(|c| c.address == addr)
        .unwrap_or_else(|| panic!("no change {addr} in {:#?}", writes(p)))
}

#[test]
fn hardened_state_built_from_microsoft_examples_plans_no_change() {
    let inst = strict_instance();
    let obs = hardened_observed(&inst);
    let p = plan_one(inst, obs);
    let noisy: Vec<_> = p.changes().filter(|c| c.action != Action::NoOp).collect();
    assert!(noisy.is_empty(), "expected no changes, got {noisy:#?}");
    assert!(!p.has_changes());
    assert!(!p.is_failed());
    // Every managed kind was looked at.
    for kind in [
        moat::resources::account::KIND,
        moat::resources::deployment::KIND,
        moat::resources::rai_policy::KIND,
        moat::resources::private_endpoint::KIND,
        moat::resources::dns_zone_group::KIND,
        moat::resources::private_dns_zone::KIND,
        moat::resources::vnet_link::KIND,
        moat::resources::security_rule::KIND,
        moat::resources::subnet::KIND,
        moat::resources::role_assignment::KIND,
        moat::resources::diagnostic_setting::KIND,
    ] {
        assert!(
            p.changes().any(|c| c.kind == kind),
            "no {kind:?} in the plan"
        );
    }
}

#[test]
fn brownfield_plan_shows_each_expected_change() {
    let inst = strict_instance();
    let obs = brownfield_observed(&inst);
    let p = plan_one(inst, obs);
    let w = writes(&p);
    let expect = [
        ("quickstart/account/identity", Action::Update),
        ("quickstart/role-assignment/cognitive-services-openai-user/9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34", Action::Create),
        ("quickstart/diagnostic-setting/moat-security", Action::Create),
        ("quickstart/rai-policy/strict-production-filter", Action::Create),
        ("quickstart/deployment/gpt-4o", Action::Update),
        ("quickstart/subnet/snet-private-endpoints", Action::Update),
        ("quickstart/private-dns-zone/privatelink.openai.azure.com", Action::Create),
        ("quickstart/vnet-link/privatelink.openai.azure.com/vnet-prod", Action::Create),
        ("quickstart/private-endpoint/contoso-openai-prod-pe", Action::Create),
        ("quickstart/dns-zone-group/default", Action::Create),
        ("quickstart/security-rule/nsg-private-endpoints/Allow-App-Subnet", Action::Create),
        ("quickstart/security-rule/nsg-private-endpoints/Allow-APIM-Subnet", Action::Create),
        ("quickstart/security-rule/nsg-private-endpoints/Deny-All-Inbound", Action::Create),
        ("quickstart/account/network", Action::Update),
        ("quickstart/account/public-network-access", Action::Update),
        ("quickstart/account/local-auth", Action::Update),
    ];
    let got: Vec<(&str, Action)> = w.iter().map(|(a, x)| (a.as_str(), *x)).collect();
    assert_eq!(got, expect.to_vec());
    // The user with Contributor is reported, not deleted.
    assert!(p.instances[0]
        .notes
        .iter()
        .any(|n| n.contains("Contributor") && n.contains(USER)));
    // Risks where clients notice.
    assert!(change(&p, "quickstart/account/local-auth")
        .risk
        .as_deref()
        .unwrap()
        .contains("401"));
    assert!(change(&p, "quickstart/account/public-network-access")
        .risk
        .is_some());
    assert!(change(&p, "quickstart/deployment/gpt-4o").risk.is_some());
}

#[test]
fn cutover_order_is_enforced_by_edges_and_gates() {
    let inst = strict_instance();
    let obs = brownfield_observed(&inst);
    let p = plan_one(inst, obs);
    let local = change(&p, "quickstart/account/local-auth");
    let role = "quickstart/role-assignment/cognitive-services-openai-user/9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34";
    assert!(local.depends_on.iter().any(|d| d == role));
    assert!(local
        .depends_on
        .iter()
        .any(|d| d == "quickstart/account/public-network-access"));
    assert!(
        local.gates[0].kind == moat::resources::role_assignment::KIND
            && local.gates[0].ids.len() == 1
    );

    let public = change(&p, "quickstart/account/public-network-access");
    for d in [
        "quickstart/private-endpoint/contoso-openai-prod-pe",
        "quickstart/dns-zone-group/default",
        "quickstart/account/network",
    ] {
        assert!(
            public.depends_on.iter().any(|x| x == d),
            "public access must wait for {d}"
        );
    }
    // The endpoint's readiness, with its zone group (the gate's third id).
    assert!(public
        .gates
        .iter()
        .any(|g| g.kind == moat::resources::private_endpoint::KIND && g.ids.len() == 3));

    let pe = change(&p, "quickstart/private-endpoint/contoso-openai-prod-pe");
    assert!(pe
        .gates
        .iter()
        .any(|g| g.kind == moat::resources::account::KIND));
    assert!(pe
        .depends_on
        .iter()
        .any(|d| d == "quickstart/subnet/snet-private-endpoints"));

    let dep = change(&p, "quickstart/deployment/gpt-4o");
    assert!(dep
        .depends_on
        .iter()
        .any(|d| d == "quickstart/rai-policy/strict-production-filter"));
    assert!(dep
        .gates
        .iter()
        .any(|g| g.kind == moat::resources::rai_policy::KIND));

    // Allow rules before the deny rule.
    let deny = change(
        &p,
        "quickstart/security-rule/nsg-private-endpoints/Deny-All-Inbound",
    );
    assert_eq!(
        deny.depends_on
            .iter()
            .filter(|d| d.contains("Allow-APIM"))
            .count(),
        1
    );
    assert!(deny.risk.is_some());
}

#[test]
fn patches_carry_only_managed_fields_and_put_bodies_keep_unmanaged_ones() {
    let inst = strict_instance();
    let obs = brownfield_observed(&inst);
    let p = plan_one(inst, obs);
    let local = change(&p, "quickstart/account/local-auth")
        .write
        .as_ref()
        .unwrap();
    assert_eq!(local.method, moat::arm::Method::Patch);
    assert_eq!(
        local.body,
        Some(json!({"properties": {"disableLocalAuth": true}}))
    );
    // Deployment PUT keeps serviceTier / deploymentState that moat does not manage.
    let dep = change(&p, "quickstart/deployment/gpt-4o")
        .write
        .as_ref()
        .unwrap();
    let body = dep.body.as_ref().unwrap();
    assert_eq!(body["properties"]["serviceTier"], "Default");
    assert_eq!(body["properties"]["deploymentState"], "Running");
    assert_eq!(
        body["properties"]["raiPolicyName"],
        "strict-production-filter"
    );
    assert!(body["properties"].get("provisioningState").is_none());
    assert!(body.get("id").is_none());
    // Subnet PUT keeps the NSG association (a subnet PUT is a full replace).
    let sn = change(&p, "quickstart/subnet/snet-private-endpoints")
        .write
        .as_ref()
        .unwrap();
    assert_eq!(
        sn.body.as_ref().unwrap()["properties"]["networkSecurityGroup"]["id"],
        nsg_id()
    );
}

#[test]
fn weakening_without_exception_is_blocked_and_with_exception_is_a_risk() {
    let mut inst = strict_instance();
    inst.controls.local_auth.as_mut().unwrap().spec.disabled = false;
    let obs = hardened_observed(&inst);
    let p = plan_one(inst.clone(), obs.clone());
    let c = change(&p, "quickstart/account/local-auth");
    assert_eq!(c.action, Action::Blocked);
    assert!(p.is_failed());

    inst.exceptions.push(Exception {
        allows: ExceptionKind::LocalAuth,
        reason: "legacy batch job".into(),
        expires: None,
        days_left: None,
    });
    let p = plan_one(inst, obs);
    let c = change(&p, "quickstart/account/local-auth");
    assert_eq!(c.action, Action::Update);
    assert!(c.risk.as_deref().unwrap().starts_with("weakens security"));
    assert!(c.exception.as_deref().unwrap().contains("legacy batch job"));
}

#[test]
fn missing_custom_subdomain_blocks_the_instance() {
    let inst = strict_instance();
    let mut obs = hardened_observed(&inst);
    live(&mut obs, Some(moat::resources::account::read(&inst)))["properties"]
        .as_object_mut()
        .unwrap()
        .remove("customSubDomainName");
    let p = plan_one(inst, obs);
    let c = change(&p, "quickstart/account/custom-subdomain");
    assert_eq!(c.action, Action::Blocked);
    assert!(c.blocked.as_deref().unwrap().contains("irreversible"));
    assert!(
        !p.has_changes(),
        "nothing else is planned against a blocked account"
    );
}

#[test]
fn greenfield_account_is_created_hardened_in_its_first_request() {
    let mut inst = strict_instance();
    inst.create_if_missing = true;
    let p = plan_one(inst, Default::default());
    let create = change(&p, "quickstart/account");
    assert_eq!(create.action, Action::Create);
    let body = create.write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(body["properties"]["disableLocalAuth"], true);
    assert_eq!(body["properties"]["networkAcls"]["defaultAction"], "Deny");
    assert_eq!(body["properties"]["restrictOutboundNetworkAccess"], true);
    assert_eq!(
        body["properties"]["customSubDomainName"],
        "contoso-openai-prod"
    );
    assert_eq!(body["identity"]["type"], "SystemAssigned");
    // Nothing weakens it afterwards, and nothing re-patches what the PUT already set.
    for stage in ["network", "public-network-access", "local-auth", "identity"] {
        assert_eq!(
            change(&p, &format!("quickstart/account/{stage}")).action,
            Action::NoOp,
            "{stage}"
        );
    }
    // Children wait for the account.
    let rai = change(&p, "quickstart/rai-policy/strict-production-filter");
    assert!(rai.depends_on.contains(&"quickstart/account".to_string()));
}

#[test]
fn soft_deleted_name_blocks_unless_the_blueprint_chooses() {
    let mut inst = strict_instance();
    inst.create_if_missing = true;
    let mut deleted = moat::observe::ObservedInstance {
        name: "quickstart".into(),
        ..Default::default()
    };
    deleted
        .reads
        .insert(&moat::resources::account::read(&inst), None);
    deleted.reads.insert(
        &moat::resources::account::deleted_read(&inst),
        Some(
            json!({"id": format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/eastus/resourceGroups/rg-ai-prod/deletedAccounts/contoso-openai-prod"),
            "properties": {"deletionDate": "2026-11-20T10:00:00Z"}}),
        ),
    );
    let p = plan_one(inst.clone(), deleted.clone());
    assert_eq!(change(&p, "quickstart/account").action, Action::Blocked);
    assert!(change(&p, "quickstart/account")
        .blocked
        .as_deref()
        .unwrap()
        .contains("softDelete: restore"));

    inst.soft_delete = SoftDeleteAction::Restore;
    let p = plan_one(inst.clone(), deleted.clone());
    assert_eq!(
        change(&p, "quickstart/account")
            .write
            .as_ref()
            .unwrap()
            .body
            .as_ref()
            .unwrap()["properties"]["restore"],
        true
    );

    inst.soft_delete = SoftDeleteAction::Purge;
    let p = plan_one(inst, deleted);
    let purge = change(&p, "quickstart/deleted-account/contoso-openai-prod");
    assert_eq!(purge.action, Action::Delete);
    assert!(purge.risk.is_some());
    assert!(change(&p, "quickstart/account")
        .depends_on
        .contains(&purge.address));
}

#[test]
fn undeclared_privileged_assignments_are_removed_only_on_opt_in_and_loudly() {
    let mut inst = strict_instance();
    let obs = brownfield_observed(&inst);
    let p = plan_one(inst.clone(), obs.clone());
    assert!(!p.changes().any(|c| c.action == Action::Delete));
    inst.controls
        .role_assignments
        .as_mut()
        .unwrap()
        .spec
        .remove_undeclared_privileged = true;
    let p = plan_one(inst, obs);
    let del: Vec<_> = p.changes().filter(|c| c.action == Action::Delete).collect();
    assert_eq!(del.len(), 1);
    assert!(del[0]
        .risk
        .as_deref()
        .unwrap()
        .contains("REMOVES Contributor"));
}

#[test]
fn verify_only_zone_group_reports_drift_and_never_writes() {
    let mut inst = strict_instance();
    inst.controls.dns_zone_group.as_mut().unwrap().mode = Mode::Verify;
    let mut obs = hardened_observed(&inst);
    let p = plan_one(inst.clone(), obs.clone());
    assert_eq!(
        change(&p, "quickstart/dns-zone-group/default").action,
        Action::Verified
    );
    set_live(&mut obs, moat::resources::dns_zone_group::read(&inst), None);
    let p = plan_one(inst, obs);
    let c = change(&p, "quickstart/dns-zone-group/default");
    assert_eq!(c.action, Action::Drift);
    assert!(c.write.is_none());
    assert!(p.is_failed());
}

#[test]
fn fleet_shares_zones_and_links_once() {
    let a = strict_instance();
    let mut b = strict_instance();
    b.name = "second".into();
    b.account_name = "contoso-openai-2".into();
    b.custom_subdomain = Some("contoso-openai-2".into());
    b.controls.private_endpoint.as_mut().unwrap().spec.name = "contoso-openai-2-pe".into();
    let oa = brownfield_observed(&a);
    let mut ob = brownfield_observed(&b);
    ob.name = "second".into();
    live(&mut ob, Some(moat::resources::account::read(&b)))["properties"]["customSubDomainName"] =
        "contoso-openai-2".into();
    let p = moat::plan::plan(
        &blueprint(vec![a, b]),
        &Observed {
            instances: vec![oa, ob],
        },
    );
    let zones: Vec<_> = p
        .changes()
        .filter(|c| c.kind == moat::resources::private_dns_zone::KIND && c.action.is_write())
        .collect();
    assert_eq!(zones.len(), 1, "one zone for the fleet");
    let pe2 = change(&p, "second/private-endpoint/contoso-openai-2-pe");
    assert!(pe2
        .depends_on
        .iter()
        .any(|d| d.starts_with("quickstart/subnet/")));
    let zg2 = change(&p, "second/dns-zone-group/default");
    assert!(zg2
        .depends_on
        .iter()
        .any(|d| d.starts_with("quickstart/private-dns-zone/")));
}

#[test]
fn plans_are_deterministic() {
    let inst = strict_instance();
    let obs = brownfield_observed(&inst);
    let a = serde_json::to_string(&plan_one(inst.clone(), obs.clone())).unwrap();
    let b = serde_json::to_string(&plan_one(inst, obs)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn conflicting_diagnostic_setting_is_deleted_only_with_its_exception() {
    let mut inst = strict_instance();
    let mut obs = hardened_observed(&inst);
    let acct = inst.account_id();
    set_live(
        &mut obs,
        moat::resources::diagnostic_setting::read(&inst),
        Some(json!([{
            "id": format!("{acct}/providers/microsoft.insights/diagnosticSettings/legacy-audit"),
            "name": "legacy-audit",
            "properties": {"workspaceId": workspace_id(), "logs": [{"category": "Audit", "enabled": true}], "metrics": []}
        }])),
    );
    let p = plan_one(inst.clone(), obs.clone());
    let c = change(&p, "quickstart/diagnostic-setting/moat-security");
    assert_eq!(c.action, Action::Blocked);
    assert!(c
        .blocked
        .as_deref()
        .unwrap()
        .contains("delete-diagnostic-setting"));
    assert!(!p.changes().any(|c| c.action == Action::Delete));

    inst.exceptions.push(Exception {
        allows: ExceptionKind::DeleteDiagnosticSetting,
        reason: "legacy-audit duplicated by the SOC's own export".into(),
        expires: None,
        days_left: None,
    });
    let p = plan_one(inst, obs);
    let del = change(&p, "quickstart/diagnostic-setting/legacy-audit");
    assert_eq!(del.action, Action::Delete);
    assert!(del.risk.as_deref().unwrap().starts_with("weakens security"));
    assert!(del.exception.as_deref().unwrap().contains("SOC"));
    let create = change(&p, "quickstart/diagnostic-setting/moat-security");
    assert_eq!(create.action, Action::Create);
    assert!(create.depends_on.contains(&del.address));
}

/// Full-replace PUTs built from the observed body carry its etag (a concurrent change fails with
/// 412 rather than being written over); PUTs whose body is entirely the declared state (NSG
/// rules, zone groups) and creates do not need it.
#[test]
fn updates_built_from_the_observed_body_send_if_match_with_its_etag() {
    let inst = strict_instance();
    let mut obs = brownfield_observed(&inst);
    let tag = |v: &mut serde_json::Value, e: &str| v["etag"] = e.into();
    use moat::resources as res;
    tag(
        live(&mut obs, res::subnet::read(&inst)),
        "W/\"subnet-etag\"",
    );
    tag(
        &mut live(&mut obs, res::deployment::read(&inst))[0],
        "W/\"deployment-etag\"",
    );
    let mut hardened = hardened_observed(&inst);
    let mut rai = live(&mut hardened, res::rai_policy::read(&inst)).clone();
    rai["properties"]["contentFilters"] = json!([]);
    tag(&mut rai, "W/\"rai-etag\"");
    set_live(&mut obs, res::rai_policy::read(&inst), Some(rai));
    let mut pe = live(&mut hardened, res::private_endpoint::read(&inst)).clone();
    pe["properties"]["provisioningState"] = "Failed".into();
    tag(&mut pe, "W/\"pe-etag\"");
    set_live(&mut obs, res::private_endpoint::read(&inst), Some(pe));
    let p = plan_one(inst, obs);
    let if_match = |fragment: &str| {
        let c = p
            .changes()
            .find(|c| c.address.contains(fragment) && c.action == Action::Update)
            .unwrap_or_else(|| panic!("no update of {fragment} in {:#?}", writes(&p)));
        c.write.as_ref().unwrap().if_match.clone()
    };
    assert_eq!(if_match("/subnet/").as_deref(), Some("W/\"subnet-etag\""));
    assert_eq!(
        if_match("/deployment/").as_deref(),
        Some("W/\"deployment-etag\"")
    );
    assert_eq!(if_match("/rai-policy/").as_deref(), Some("W/\"rai-etag\""));
    assert_eq!(
        if_match("/private-endpoint/").as_deref(),
        Some("W/\"pe-etag\"")
    );
    // Creates: If-None-Match or nothing, never If-Match.
    for c in p.changes().filter(|c| c.action == Action::Create) {
        assert_eq!(c.write.as_ref().unwrap().if_match, None, "{}", c.address);
    }
}

#[test]
fn two_vnet_links_get_a_link_each_named_after_its_vnet() {
    for (link_name, names) in [
        (None, ["vnet-hub-link", "vnet-prod-link"]),
        (Some("{vnet}-dns"), ["vnet-hub-dns", "vnet-prod-dns"]),
    ] {
        let bp = two_vnet_quickstart(link_name);
        let inst = bp.instances[0].clone();
        let p = moat::plan::plan(
            &bp,
            &Observed {
                instances: vec![brownfield_observed(&inst)],
            },
        );
        let mut links: Vec<(String, String)> = p
            .changes()
            .filter(|c| c.kind == moat::resources::vnet_link::KIND && c.action == Action::Create)
            .map(|c| {
                let body = c.write.as_ref().unwrap().body.as_ref().unwrap();
                (
                    c.id.rsplit('/').next().unwrap().to_string(),
                    body["properties"]["virtualNetwork"]["id"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        links.sort();
        assert_eq!(
            links,
            vec![
                (names[0].to_string(), "vnet-hub".to_string()),
                (names[1].to_string(), "vnet-prod".to_string())
            ],
            "{link_name:?}"
        );
    }
}

/// A live filter the blueprint does not list keeps its live settings: the plan neither shows
/// it nor drops it from the PUT (issue 15: apply used to switch Protected Material and Profanity
/// off silently when the blueprint listed only the seed's filters).
#[test]
fn unlisted_live_filters_are_kept_and_removed_only_with_the_exception() {
    use moat::resources as res;
    let mut inst = strict_instance();
    let spec = &mut inst.controls.rai_policy.as_mut().unwrap().spec;
    // The blueprint lists the seed's ten filters; live has Microsoft's three more, blocking.
    spec.content_filters
        .retain(|f| !f.name.starts_with("Protected Material") && f.name != "Profanity");
    assert_eq!(spec.content_filters.len(), 10);
    let obs = hardened_observed(&strict_instance());
    let p = plan_one(inst.clone(), obs.clone());
    let rai = change(&p, "quickstart/rai-policy/strict-production-filter");
    assert_eq!(rai.action, Action::NoOp, "{rai:#?}");

    // A listed filter that differs: the PUT carries the unlisted ones as they are.
    let mut loose = obs.clone();
    live(&mut loose, res::rai_policy::read(&inst))["properties"]["contentFilters"][0]
        ["severityThreshold"] = "Medium".into();
    let p = plan_one(inst.clone(), loose);
    let rai = change(&p, "quickstart/rai-policy/strict-production-filter");
    assert_eq!(rai.action, Action::Update);
    assert!(rai.risk.is_none(), "tightening a filter is no risk");
    let sent = rai.write.as_ref().unwrap().body.as_ref().unwrap()["properties"]["contentFilters"]
        .as_array()
        .unwrap()
        .clone();
    for name in [
        "Protected Material Text",
        "Protected Material Code",
        "Profanity",
    ] {
        let f = sent.iter().find(|f| f["name"] == name).unwrap_or_else(|| {
            panic!("{name} was dropped from the PUT: {sent:#?}");
        });
        assert_eq!(
            (f["enabled"].clone(), f["blocking"].clone()),
            (json!(true), json!(true))
        );
    }

    // Removing them is the blueprint's explicit choice, a weakening that needs its exception.
    inst.controls
        .rai_policy
        .as_mut()
        .unwrap()
        .spec
        .remove_undeclared_filters = true;
    let p = plan_one(inst.clone(), obs.clone());
    let rai = change(&p, "quickstart/rai-policy/strict-production-filter");
    assert_eq!(rai.action, Action::Blocked);
    assert!(rai
        .blocked
        .as_deref()
        .unwrap()
        .contains("removes the Profanity filter on Prompt"));
    inst.exceptions.push(Exception {
        allows: ExceptionKind::ContentFilter,
        reason: "this tenant's own filters replace Microsoft's".into(),
        expires: None,
        days_left: None,
    });
    let p = plan_one(inst, obs);
    let rai = change(&p, "quickstart/rai-policy/strict-production-filter");
    assert_eq!(rai.action, Action::Update);
    let risk = rai.risk.as_deref().unwrap();
    assert!(risk.starts_with("weakens security") && risk.contains("Protected Material Code"));
    let sent = &rai.write.as_ref().unwrap().body.as_ref().unwrap()["properties"]["contentFilters"];
    assert_eq!(sent.as_array().unwrap().len(), 10);
}

/// Standing exceptions appear in every rendering of every plan, with their expiry and days left
/// (flagged from 30 days before); an expired one holds back only its own instance (issue 15).
#[test]
fn exceptions_are_shown_every_run_and_an_expired_one_holds_back_only_its_instance() {
    let mut soon = strict_instance();
    soon.exceptions.push(Exception {
        allows: ExceptionKind::NetworkBypass,
        reason: "backup vault reads the account through trusted services".into(),
        expires: Some("2026-12-13".into()),
        days_left: Some(10),
    });
    let mut gone = strict_instance();
    gone.name = "second".into();
    gone.exceptions.push(Exception {
        allows: ExceptionKind::ContentFilter,
        reason: "pilot of the crime-fiction drafting tool".into(),
        expires: Some("2026-11-30".into()),
        days_left: Some(-3),
    });
    let (obs_soon, mut obs_gone) = (hardened_observed(&soon), hardened_observed(&gone));
    obs_gone.name = "second".into();
    let p = moat::plan::plan(
        &blueprint(vec![soon, gone]),
        &Observed {
            instances: vec![obs_soon, obs_gone],
        },
    );
    assert!(
        !p.instances[0].is_failed(),
        "an exception in force holds nothing back"
    );
    assert!(p.instances[1].is_failed());
    assert!(p.instances[1]
        .held_back()
        .unwrap()
        .contains("expired exception(s): content-filter"));
    let text = moat::render::text::render(&p, false);
    assert!(text.contains("exception: network-bypass: backup vault reads the account through trusted services (expires on 2026-12-13, in 10 day(s): renew it"), "{text}");
    assert!(
        text.contains(
            "content-filter: pilot of the crime-fiction drafting tool (EXPIRED on 2026-11-30"
        ),
        "{text}"
    );
    let md = moat::render::markdown::render(&p);
    assert!(md.contains("### Standing exceptions"), "{md}");
    assert!(md.contains("| quickstart | `network-bypass` | backup vault reads the account through trusted services | ⚠️ 2026-12-13, in 10 day(s) |"), "{md}");
    assert!(
        md.contains("**expired** on 2026-11-30 (3 day(s) ago): instance held back"),
        "{md}"
    );
    let json: serde_json::Value = serde_json::from_str(&moat::render::json::render(&p)).unwrap();
    let e = &json["plan"]["instances"][0]["exceptions"][0];
    assert_eq!(
        (
            e["allows"].as_str(),
            e["days_left"].as_i64(),
            e["expires"].as_str()
        ),
        (Some("network-bypass"), Some(10), Some("2026-12-13"))
    );
    assert_eq!(json["failed"], true);
}

/// `validate` fails on an expired exception; plan and apply load the blueprint, warn, and the
/// planner holds back that instance only.
#[test]
fn an_expired_exception_is_an_error_for_validate_and_a_warning_for_plan() {
    let path = std::path::Path::new("tests/blueprints/broken/exception-expired.yaml");
    let opts = |strict: bool| moat::blueprint::Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: strict,
    };
    let strict = moat::blueprint::load_with(path, &opts(true));
    assert!(strict.blueprint.is_none());
    let lenient = moat::blueprint::load_with(path, &opts(false));
    let bp = lenient
        .blueprint
        .expect("loads, the instance held back by the planner");
    assert!(lenient
        .diagnostics
        .0
        .iter()
        .any(|d| d.to_string().contains("expired on 2026-01-31: instance")));
    let e = &bp.instances[0].exceptions[0];
    assert!(e.days_left.unwrap() < 0);
}

/// No ownership-only noise (issue 15): NSG rules written by someone else (Microsoft's SDK, the
/// portal) that match the blueprint but lack moat's marker are adopted as they are: no update
/// that only adds the marker, no risk line for a rule already in force. Not marked, moat never
/// deletes them.
#[test]
fn matching_rules_without_moats_marker_plan_no_update() {
    use moat::resources as res;
    let inst = strict_instance();
    let mut obs = hardened_observed(&inst);
    let rules = live(&mut obs, res::security_rule::read(&inst))["properties"]["securityRules"]
        .as_array_mut()
        .unwrap();
    for r in rules.iter_mut() {
        let d = r["properties"]["description"].as_str().unwrap().to_string();
        let plain = d.replace(res::OWNER_MARKER, "").trim().to_string();
        r["properties"]["description"] = plain.into();
    }
    let p = plan_one(inst, obs);
    let rules: Vec<_> = p
        .changes()
        .filter(|c| c.kind == res::security_rule::KIND)
        .collect();
    assert_eq!(rules.len(), 3);
    for c in rules {
        assert_eq!(c.action, Action::NoOp, "{c:#?}");
        assert!(c.risk.is_none());
    }
}
