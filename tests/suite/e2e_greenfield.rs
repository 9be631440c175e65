//! Issue 10 end to end against the emulator: `examples/greenfield.yaml` on
//! `examples/greenfield-seed.json` creates a hardened account and everything around it, the
//! account's first PUT already carries every hardened property, deployments are created bound to
//! the RAI policy, and a second plan is empty. Also a greenfield fleet of 10.

use crate::support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use moat::arm::{ArmApi, ArmError, ArmRequest, ArmResponse, LroOptions, Method, RetryPolicy};
use moat::emulator::EmulatorHandle;
use moat::plan::model::{Action, Plan};
use serde_json::Value;
use support::e2e::*;

/// What the client sent (with its body), and for the account's creating PUT, the account as the
/// emulator stored it the moment that PUT was answered.
#[derive(Debug, Clone)]
struct Sent {
    method: Method,
    path: String,
    status: u16,
    body: Option<Value>,
    stored_after: Option<Value>,
}

/// moat's real client, wrapped to record every request body it sends.
struct Recording {
    inner: Arc<dyn ArmApi>,
    emu: Arc<EmulatorHandle>,
    watch: String,
    sent: Mutex<Vec<Sent>>,
}

#[async_trait]
impl ArmApi for Recording {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        let resp = self.inner.send(req.clone()).await?;
        let stored_after = (req.method == Method::Put
            && req.path.eq_ignore_ascii_case(&self.watch))
        .then(|| self.emu.resource(&self.watch))
        .flatten();
        self.sent.lock().unwrap().push(Sent {
            method: req.method,
            path: req.path.clone(),
            status: resp.status,
            body: req.body.clone(),
            stored_after,
        });
        Ok(resp)
    }
    fn lro_options(&self) -> LroOptions {
        self.inner.lro_options()
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry_policy()
    }
}

fn hardened(v: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    let mut want = |path: &str, expected: Value| {
        if v.pointer(path) != Some(&expected) {
            missing.push(format!(
                "{path}: want {expected}, got {:?}",
                v.pointer(path)
            ));
        }
    };
    want("/properties/publicNetworkAccess", "Disabled".into());
    want("/properties/networkAcls/defaultAction", "Deny".into());
    want("/properties/networkAcls/bypass", "None".into());
    want("/properties/networkAcls/ipRules", serde_json::json!([]));
    want("/properties/disableLocalAuth", true.into());
    want("/properties/restrictOutboundNetworkAccess", true.into());
    want("/properties/allowedFqdnList", serde_json::json!([]));
    want(
        "/properties/customSubDomainName",
        "contoso-openai-new".into(),
    );
    want("/identity/type", "SystemAssigned".into());
    want("/tags/managed-by", "moat".into());
    want("/tags/cost-center", "4711".into());
    want("/kind", "OpenAI".into());
    want("/sku/name", "S0".into());
    missing
}

fn pos(log: &[Sent], method: Method, fragment: &str, ok_only: bool) -> usize {
    let f = fragment.to_ascii_lowercase();
    log.iter()
        .position(|s| {
            s.method == method
                && s.path.to_ascii_lowercase().contains(&f)
                && (!ok_only || (200..300).contains(&s.status))
        })
        .unwrap_or_else(|| panic!("no {method} {fragment} was sent"))
}

fn not_converged(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect()
}

#[tokio::test]
async fn greenfield_example_creates_a_hardened_account_in_one_put_and_converges() {
    let emu = Arc::new(emulator("examples/greenfield-seed.json").await);
    let bp = load("examples/greenfield.yaml");
    let inst = &bp.instances[0];
    let account_id = inst.account_id();
    let rec = Arc::new(Recording {
        inner: connect(&emu),
        emu: emu.clone(),
        watch: account_id.clone(),
        sent: Mutex::new(Vec::new()),
    });
    let api: Arc<dyn ArmApi> = rec.clone();

    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{}", moat::render::text::render(&p, false));
    let create = p
        .changes()
        .find(|c| c.address == "contoso-openai-new/account")
        .expect("the account is created");
    assert_eq!(create.action, Action::Create);
    // Deployments are planned bound to the policy and one at a time, after the policy.
    let gpt = p
        .changes()
        .find(|c| c.address == "contoso-openai-new/deployment/gpt-4o")
        .unwrap();
    let emb = p
        .changes()
        .find(|c| c.address == "contoso-openai-new/deployment/text-embedding-3-large")
        .unwrap();
    assert!(gpt
        .depends_on
        .contains(&"contoso-openai-new/rai-policy/strict-production-filter".to_string()));
    assert!(
        emb.depends_on.contains(&gpt.address),
        "{:?}",
        emb.depends_on
    );
    // The private path does not wait for the RAI policy or the deployments.
    let pe = p
        .changes()
        .find(|c| c.address == "contoso-openai-new/private-endpoint/contoso-openai-new-pe")
        .unwrap();
    assert!(pe
        .depends_on
        .iter()
        .all(|d| !d.contains("/deployment/") && !d.contains("/rai-policy/")));
    // The plan changes nothing after the create: every account stage is already satisfied.
    let stages: Vec<_> = p
        .changes()
        .filter(|c| c.kind == moat::resources::account::KIND && c.address != create.address)
        .map(|c| (c.address.clone(), c.action))
        .collect();
    assert!(stages.iter().all(|(_, a)| *a == Action::NoOp), "{stages:?}");

    rec.sent.lock().unwrap().clear();
    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = rec.sent.lock().unwrap().clone();
    // Writes that ARM serialises per account (its children, and the private endpoint that
    // locks it) are serialised by apply: no RequestConflict round trips.
    let conflicts: Vec<_> = log
        .iter()
        .filter(|s| s.status == 409)
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert!(conflicts.is_empty(), "{conflicts:#?}");

    // The first write to the account is the creating PUT; it carries every hardened property,
    // and the account the emulator stored at that moment has them too.
    let acct = account_id.to_ascii_lowercase();
    let first_acct_write = log
        .iter()
        .position(|s| s.method != Method::Get && s.path.to_ascii_lowercase() == acct)
        .expect("the account was written");
    let put = &log[first_acct_write];
    assert_eq!(put.method, Method::Put);
    let missing = hardened(put.body.as_ref().expect("PUT has a body"));
    assert!(missing.is_empty(), "the creating PUT lacks: {missing:#?}");
    let stored = put
        .stored_after
        .as_ref()
        .expect("stored right after the PUT");
    let missing = hardened(stored);
    assert!(
        missing.is_empty(),
        "the created account lacks: {missing:#?}"
    );
    // ... and no later write ever touches the account again (nothing to weaken or fix).
    let account_writes = log
        .iter()
        .filter(|s| s.method != Method::Get && s.path.to_ascii_lowercase() == acct)
        .count();
    assert_eq!(account_writes, 1, "the account is written exactly once");

    // Order: account → (Succeeded) → RAI policy → deployments one at a time; the private path
    // starts without waiting for the account, and the endpoint only once it is Succeeded.
    let rai = pos(
        &log,
        Method::Put,
        "/raiPolicies/strict-production-filter",
        true,
    );
    let gpt_put = pos(&log, Method::Put, "/deployments/gpt-4o", true);
    let emb_put = pos(
        &log,
        Method::Put,
        "/deployments/text-embedding-3-large",
        false,
    );
    let zone = pos(
        &log,
        Method::Put,
        "/privateDnsZones/privatelink.openai.azure.com",
        false,
    );
    let pe_put = pos(
        &log,
        Method::Put,
        "/privateEndpoints/contoso-openai-new-pe",
        false,
    );
    let group = pos(&log, Method::Put, "/privateDnsZoneGroups/default", false);
    let link = pos(&log, Method::Put, "/virtualNetworkLinks/", false);
    assert!(first_acct_write < rai && rai < gpt_put && gpt_put < emb_put);
    assert!(
        zone < rai,
        "DNS zones are created in parallel with the account"
    );
    assert!(zone < link && link < group && pe_put < group);
    let gpt_done = log
        .iter()
        .rposition(|s| {
            s.method == Method::Get && s.path.to_ascii_lowercase().ends_with("/deployments/gpt-4o")
        })
        .unwrap_or(gpt_put);
    assert!(
        gpt_done < emb_put,
        "the second deployment waits for the first"
    );
    let acct_ready_read = log[first_acct_write + 1..pe_put]
        .iter()
        .any(|s| s.method == Method::Get && s.path.to_ascii_lowercase() == acct);
    assert!(acct_ready_read, "the endpoint waits for the account gate");
    for s in &log {
        if let (Method::Put, Some(b)) = (s.method, &s.body) {
            if s.path.contains("/deployments/") {
                assert_eq!(
                    b["properties"]["raiPolicyName"], "strict-production-filter",
                    "{}",
                    s.path
                );
            }
        }
    }

    // What exists now.
    for (name, model) in [
        ("gpt-4o", "gpt-4o"),
        ("text-embedding-3-large", "text-embedding-3-large"),
    ] {
        let d = emu
            .resource(&format!("{account_id}/deployments/{name}"))
            .expect("deployment exists");
        assert_eq!(d["properties"]["raiPolicyName"], "strict-production-filter");
        assert_eq!(d["properties"]["model"]["name"], model);
        assert_eq!(d["properties"]["provisioningState"], "Succeeded");
    }
    let acct_now = emu.resource(&account_id).unwrap();
    assert!(hardened(&acct_now).is_empty());
    assert_eq!(acct_now["properties"]["provisioningState"], "Succeeded");
    let pecs = acct_now["properties"]["privateEndpointConnections"]
        .as_array()
        .unwrap();
    assert_eq!(pecs.len(), 1);

    // Converged: a second plan is empty, and applying it writes nothing.
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:?}",
        not_converged(&again)
    );
    assert!(!again.has_changes());
    emu.clear_request_log();
    let report = apply(api.clone(), &again).await;
    assert!(report.ok() && report.applied.is_empty());
    assert_eq!(emu.request_log().iter().filter(|e| is_write(e)).count(), 0);
}

/// Ten new instances from one blueprint, created concurrently: shared zone, link, subnet and NSG
/// rules are written once, every account is created hardened, and the fleet converges.
#[tokio::test]
async fn greenfield_fleet_of_ten_is_created_and_converges() {
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let names: Vec<String> = (0..10).map(|i| format!("new-{i:02}")).collect();
    let bp = greenfield_instances(&names.iter().map(String::as_str).collect::<Vec<_>>());

    let started = std::time::Instant::now();
    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{}", moat::render::text::render(&p, false));
    let creates = p
        .changes()
        .filter(|c| c.action == Action::Create && c.kind == moat::resources::account::KIND)
        .count();
    assert_eq!(creates, 10);
    // Shared resources are planned once, by the first instance.
    let zone_writes = p
        .changes()
        .filter(|c| c.kind == moat::resources::private_dns_zone::KIND && c.action.is_write())
        .count();
    assert_eq!(zone_writes, 1);
    let rule_writes = p
        .changes()
        .filter(|c| c.kind == moat::resources::security_rule::KIND && c.action.is_write())
        .count();
    assert_eq!(rule_writes, 3);

    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    for inst in &bp.instances {
        let acct = emu.resource(&inst.account_id()).expect("account created");
        assert_eq!(acct["properties"]["publicNetworkAccess"], "Disabled");
        assert_eq!(acct["properties"]["disableLocalAuth"], true);
        assert_eq!(acct["properties"]["networkAcls"]["defaultAction"], "Deny");
        // Every account was written by exactly one request: its creating PUT.
        let id = inst.account_id().to_ascii_lowercase();
        let writes: Vec<_> = log
            .iter()
            .filter(|e| is_write(e) && e.path.to_ascii_lowercase() == id && e.status < 300)
            .collect();
        assert_eq!(writes.len(), 1, "{}: {writes:?}", inst.name);
        assert_eq!(writes[0].method, "PUT");
        for d in ["gpt-4o", "text-embedding-3-large"] {
            let dep = emu
                .resource(&format!("{}/deployments/{d}", inst.account_id()))
                .expect("deployment created");
            assert_eq!(
                dep["properties"]["raiPolicyName"],
                "strict-production-filter"
            );
        }
    }
    assert_eq!(log.iter().filter(|e| e.status == 409).count(), 0);
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:?}",
        not_converged(&again)
    );
    eprintln!(
        "fleet of 10: plan + apply + plan in {:.2}s, {} requests during apply ({} answered 409, {} 429)",
        started.elapsed().as_secs_f64(),
        log.len(),
        log.iter().filter(|e| e.status == 409).count(),
        log.iter().filter(|e| e.status == 429).count()
    );
}
