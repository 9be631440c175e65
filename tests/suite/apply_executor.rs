//! The executor (`moat::apply::execute`) on hand-made plans, against recording fakes: locks,
//! the endpoint's priority on its account, interruption. The plans carry the directives the
//! planner writes (`moat::plan::with_directives`), as real plans do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use moat::apply::{execute, progress, ApplyOptions, GateOptions};
use moat::arm::{ArmApi, ArmError, ArmRequest, ArmResponse, Method};
use moat::model::{Action, Change, KindId, Plan, Write};
use moat::resources as res;
use serde_json::json;

const ACCT: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1";
const VNET: &str =
    "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v";

fn change(kind: KindId, id: &str) -> Change {
    Change::new(
        format!("i/{}/{id}", kind.label()),
        kind,
        id,
        Action::Update,
        "test",
        "absent".into(),
    )
}

fn endpoint(target: &str) -> Change {
    change(
        res::private_endpoint::KIND,
        "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/pe",
    )
    .with_write(Write::new(
        Method::Put,
        "/x",
        "2024-05-01",
        Some(json!({"properties": {"privateLinkServiceConnections": [
            {"properties": {"privateLinkServiceId": target, "groupIds": ["account"]}}
        ]}})),
    ))
}

/// The lock the planner writes into the change.
fn lock_key(c: &Change) -> Option<String> {
    let mut c = c.clone();
    if c.write.is_none() {
        c.write = Some(Write::new(
            Method::Patch,
            c.id.clone(),
            "v",
            Some(json!({})),
        ));
    }
    moat::plan::with_directives(&mut c);
    c.write.and_then(|w| w.lock)
}

/// With the planner's directives, as in a real plan.
fn directed(mut c: Change) -> Change {
    moat::plan::with_directives(&mut c);
    c
}

#[test]
fn an_account_its_children_and_its_endpoint_share_one_lock() {
    let key = lock_key(&change(res::account::KIND, ACCT)).unwrap();
    for c in [
        change(res::deployment::KIND, &format!("{ACCT}/deployments/gpt-4o")),
        change(res::rai_policy::KIND, &format!("{ACCT}/raiPolicies/p")),
        endpoint(&ACCT.to_ascii_uppercase()),
    ] {
        assert_eq!(lock_key(&c).as_deref(), Some(key.as_str()), "{}", c.address);
    }
    let other = ACCT.replace("/a1", "/a2");
    assert_ne!(lock_key(&change(res::account::KIND, &other)).unwrap(), key);
    // An endpoint to something that is not an account locks nothing.
    assert_eq!(
        lock_key(&endpoint(
            "/subscriptions/s/providers/Microsoft.Storage/storageAccounts/x"
        )),
        None
    );
}

#[test]
fn subnets_of_one_vnet_share_a_lock_and_other_vnets_do_not() {
    let a = lock_key(&change(res::subnet::KIND, &format!("{VNET}/subnets/a"))).unwrap();
    let b = lock_key(&change(res::subnet::KIND, &format!("{VNET}/subnets/B"))).unwrap();
    let c = lock_key(&change(res::subnet::KIND, &format!("{VNET}2/subnets/a"))).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// Counts requests; answers every one 200 `{}`.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl ArmApi for Counting {
    async fn send(&self, _: ArmRequest) -> Result<ArmResponse, ArmError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(ArmResponse {
            status: 200,
            headers: Default::default(),
            body: Some(json!({})),
        })
    }
}

fn plan_of(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: 1,
        moat_version: "test".into(),
        blueprint: moat::model::BlueprintRef {
            path: "b.yaml".into(),
            path_from_plan: None,
            digest: "d".into(),
        },
        instances: vec![moat::model::InstancePlan {
            name: "i".into(),
            subscription: "s".into(),
            account_id: ACCT.into(),
            changes,
            notes: vec![],
            exceptions: vec![],
            rotation: None,
        }],
    }
}

#[tokio::test]
async fn interrupted_before_start_writes_nothing_and_lists_every_step_not_started() {
    let w = |c: Change| {
        c.with_write(Write::new(
            Method::Patch,
            ACCT,
            "2024-10-01",
            Some(json!({})),
        ))
    };
    let p = plan_of(vec![
        w(change(res::account::KIND, ACCT)),
        w(change(
            res::deployment::KIND,
            &format!("{ACCT}/deployments/d"),
        )),
    ]);
    let api = Arc::new(Counting::default());
    let report = execute(
        api.clone(),
        &p,
        ApplyOptions::default(),
        Arc::new(progress::Silent),
        Arc::new(AtomicBool::new(true)),
    )
    .await;
    assert!(report.interrupted && !report.ok());
    assert_eq!(report.not_started.len(), 2);
    assert!(report.applied.is_empty());
    assert_eq!(api.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_step_waiting_on_a_gate_stops_waiting_when_interrupted() {
    let mut c = change(res::account::KIND, ACCT).with_write(Write::new(
        Method::Patch,
        ACCT,
        "2024-10-01",
        Some(json!({})),
    ));
    // The account never shows Succeeded (the fake answers `{}`): the gate would wait for
    // its whole budget.
    c.gates.push(res::account::succeeded_gate(ACCT));
    let p = plan_of(vec![c]);
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        flag.store(true, Ordering::SeqCst);
    });
    let opts = ApplyOptions {
        parallelism: 4,
        gates: GateOptions {
            budget: std::time::Duration::from_secs(600),
            interval: std::time::Duration::from_millis(5),
        },
    };
    let t0 = std::time::Instant::now();
    let report = execute(
        Arc::new(Counting::default()),
        &p,
        opts,
        Arc::new(progress::Silent),
        cancel,
    )
    .await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    assert!(report.interrupted);
    assert_eq!(
        report.not_started,
        vec![p.instances[0].changes[0].address.clone()]
    );
    assert!(report.failed.is_empty() && report.applied.is_empty());
}

/// Records the writes in the order they are sent; a write to a path containing `slow`
/// takes 100 ms, everything else answers at once.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl ArmApi for Recording {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        if req.method.is_write() {
            self.0.lock().unwrap().push(req.path.clone());
            if req.path.contains("slow") {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Ok(ArmResponse {
            status: 200,
            headers: Default::default(),
            body: Some(json!({})),
        })
    }
}

/// A RAI policy PUT (`/rai`), a deployment re-bind waiting for it (`/deployment`), and a
/// private endpoint to the same account written to `endpoint_path`.
fn policy_rebind_and_endpoint(endpoint_path: &str) -> (Change, Change, Change) {
    let rai = change(res::rai_policy::KIND, &format!("{ACCT}/raiPolicies/p"))
        .with_write(Write::new(Method::Put, "/rai", "v", Some(json!({}))));
    let mut dep = change(res::deployment::KIND, &format!("{ACCT}/deployments/d"))
        .with_write(Write::new(Method::Put, "/deployment", "v", Some(json!({}))));
    dep.depends_on.push(rai.address.clone());
    let mut pe = endpoint(ACCT);
    pe.write.as_mut().unwrap().path = endpoint_path.into();
    (rai, dep, pe)
}

#[tokio::test]
async fn a_deployment_ready_first_still_gives_its_account_to_the_private_endpoint() {
    // The endpoint waits for a slow subnet write; the RAI policy and the deployment re-bind
    // are ready at once. The re-bind must not take the account before the endpoint.
    let subnet = change(res::subnet::KIND, &format!("{VNET}/subnets/slow")).with_write(Write::new(
        Method::Put,
        "/subnet-slow",
        "v",
        Some(json!({})),
    ));
    let (rai, dep, mut pe) = policy_rebind_and_endpoint("/endpoint");
    pe.depends_on.push(subnet.address.clone());
    // An account PATCH the endpoint waits for: a prerequisite, it must not give way.
    let mut identity = change(res::account::KIND, ACCT).with_write(Write::new(
        Method::Patch,
        "/identity",
        "v",
        Some(json!({})),
    ));
    identity.depends_on.push(subnet.address.clone());
    pe.depends_on.push(identity.address.clone());
    let p = plan_of(
        vec![identity, rai, dep, subnet, pe]
            .into_iter()
            .map(directed)
            .collect(),
    );
    let api = Arc::new(Recording::default());
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        execute(
            api.clone(),
            &p,
            ApplyOptions::default(),
            Arc::new(progress::Silent),
            Arc::new(AtomicBool::new(false)),
        ),
    )
    .await
    .expect("no deadlock between the endpoint and its prerequisites");
    assert!(report.ok(), "{report:#?}");
    let order = api.0.lock().unwrap().clone();
    let at = |p: &str| order.iter().position(|x| x == p).unwrap();
    assert!(at("/identity") < at("/endpoint"), "{order:?}");
    assert!(at("/endpoint") < at("/deployment"), "{order:?}");
}

#[tokio::test]
async fn a_failed_endpoint_does_not_hold_back_the_steps_that_gave_way() {
    // The endpoint fails: the re-bind, which does not depend on it, still applies.
    let (rai, dep, mut pe) = policy_rebind_and_endpoint("/endpoint-slow");
    // Never satisfied: the fake answers `{}` (no provisioningState), so the gate times out.
    pe.gates.push(res::account::succeeded_gate(ACCT));
    let p = plan_of(vec![rai, dep, pe].into_iter().map(directed).collect());
    let api = Arc::new(Recording::default());
    let opts = ApplyOptions {
        parallelism: 4,
        gates: GateOptions {
            budget: std::time::Duration::from_millis(200),
            interval: std::time::Duration::from_millis(10),
        },
    };
    let report = execute(
        api.clone(),
        &p,
        opts,
        Arc::new(progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    assert_eq!(report.failed.len(), 1, "{report:#?}");
    assert!(
        report.failed[0].0.contains("private-endpoint"),
        "{report:#?}"
    );
    assert_eq!(report.applied.len(), 2, "{report:#?}");
    assert!(!api.0.lock().unwrap().iter().any(|p| p.contains("endpoint")));
}

/// Answers every request with an account in `state`.
struct AccountIn(&'static str);

#[async_trait::async_trait]
impl ArmApi for AccountIn {
    async fn send(&self, _req: ArmRequest) -> Result<ArmResponse, ArmError> {
        Ok(ArmResponse {
            status: 200,
            headers: Default::default(),
            body: Some(json!({"properties": {"provisioningState": self.0}})),
        })
    }
}

#[tokio::test]
async fn each_gate_outcome_keeps_its_error() {
    use moat::apply::gates::{wait, GateError};
    use moat::model::Gate;
    let gate = |kind| Gate {
        kind: KindId::new(kind),
        ids: vec![ACCT.to_string()],
    };
    let now = GateOptions {
        budget: std::time::Duration::ZERO,
        interval: std::time::Duration::ZERO,
    };
    assert!(wait(&AccountIn("Succeeded"), &gate("account"), now)
        .await
        .is_ok());
    let never = wait(&AccountIn("Failed"), &gate("account"), now)
        .await
        .unwrap_err();
    assert!(
        matches!(&never, GateError::Never { seen, .. } if seen == "account provisioningState Failed"),
        "{never:?}"
    );
    assert!(
        never
            .to_string()
            .ends_with(" will not happen without another write: account provisioningState Failed"),
        "{never}"
    );
    let unknown = wait(&AccountIn("Succeeded"), &gate("no-such-kind"), now)
        .await
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        format!("no-such-kind {ACCT} will not happen without another write: moat does not know the kind no-such-kind")
    );
    let late = wait(&AccountIn("Creating"), &gate("account"), now)
        .await
        .unwrap_err();
    assert!(
        matches!(&late, GateError::Timeout { last, .. } if last.contains("Creating")),
        "{late:?}"
    );
}

/// Fleet isolation (issue 15): an instance with a blocked change (or verify-only drift) is held
/// back whole, with what depends on its writes; the rest of the fleet is applied.
#[tokio::test]
async fn a_failed_instance_is_held_back_with_its_dependents_and_the_rest_applies() {
    let w = |addr: &str, path: &str| {
        Change::new(
            addr,
            KindId::new("test"),
            path,
            Action::Update,
            "t",
            "absent".into(),
        )
        .with_write(Write::new(Method::Put, path, "v", Some(json!({}))))
    };
    let blocked = Change::blocked(
        "a/x/blocked",
        KindId::new("test"),
        "/a/b",
        "no",
        "absent".into(),
    );
    let shared = w("a/x/shared", "/shared");
    let mut dependent = w("b/x/dependent", "/dependent");
    dependent.depends_on.push(shared.address.clone());
    let free = w("b/x/free", "/free");
    let mut p = plan_of(vec![blocked, shared]);
    p.instances.push(moat::model::InstancePlan {
        name: "b".into(),
        changes: vec![dependent, free],
        ..p.instances[0].clone()
    });
    p.instances[0].name = "a".into();
    let api = Arc::new(Recording::default());
    let report = execute(
        api.clone(),
        &p,
        ApplyOptions::default(),
        Arc::new(progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    assert_eq!(report.applied, vec!["b/x/free".to_string()], "{report:#?}");
    assert!(report.failed.is_empty());
    let why = |a: &str| {
        report
            .skipped
            .iter()
            .find(|(x, _)| x == a)
            .map(|(_, w)| w.clone())
    };
    assert!(why("a/x/shared")
        .unwrap()
        .starts_with("held back: instance a has 1 blocked"));
    assert!(why("b/x/dependent")
        .unwrap()
        .contains("depends on a/x/shared"));
    assert_eq!(*api.0.lock().unwrap(), vec!["/free".to_string()]);
}
