//! `moat audit` end to end against the emulator seeded with examples/audit-seed.json (22
//! accounts of mixed kinds and postures, one soft-deleted here): every planted weakness is found
//! exactly once, nothing on the hardened accounts, the blueprint's exception and acknowledgement
//! are shown as waived with their reasons, nothing is written, and the exit codes follow `--fail-on`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use moat::audit::discover::scopes;
use moat::audit::run::audit;
use moat::emulator::EmulatorHandle;
use serde_json::Value;

use crate::support::e2e::*;

pub const SUB: &str = "2b9c4e71-6d3a-4f58-8e2b-9a1c7d5e3f60";
const RETIRED: &str = "fabrikam-openai-retired";

/// (rule, instance) of every finding the seed plants, and whether it is waived.
pub const PLANTED: &[(&str, &str, bool)] = &[
    ("MOAT-CF-002", "fabrikam-openai-unbound", false),
    ("MOAT-DP-002", RETIRED, false),
    ("MOAT-IM-001", "fabrikam-ais-keys", false),
    ("MOAT-IM-001", "openai-legacy", true),
    ("MOAT-NS-001", "fabrikam-ais-keys", false),
    ("MOAT-NS-001", "fabrikam-openai-public", false),
    ("MOAT-NS-002", "fabrikam-openai-public", false),
    ("MOAT-NS-011", "fabrikam-ais-pending", false),
    ("MOAT-NS-012", "openai-private", false),
    ("MOAT-PA-001", "fabrikam-openai-contrib", false),
    ("MOAT-PA-002", "fabrikam-openai-inherit", true),
    ("MOAT-PA-003", "fabrikam-openai-keyrole", false),
    ("MOAT-PA-004", "fabrikam-openai-userrole", false),
];

/// The example's emulator, with one account soft-deleted (the emulator seeds no deleted
/// accounts, so the test deletes it as a caller would) and a clean request log.
pub async fn audit_emulator() -> EmulatorHandle {
    // The seed holds the retired account soft-deleted (a deletedAccounts entry).
    let emu = emulator("examples/audit-seed.json").await;
    assert_eq!(emu.deleted_accounts().len(), 1);
    emu.clear_request_log();
    emu
}

fn planted() -> BTreeSet<(String, String, bool)> {
    PLANTED
        .iter()
        .map(|(r, i, w)| (r.to_string(), i.to_string(), *w))
        .collect()
}

#[tokio::test]
async fn audit_finds_each_planted_weakness_once_and_nothing_on_hardened_accounts() {
    let emu = audit_emulator().await;
    let bp = load("examples/audit.yaml");
    let report = audit(connect(&emu), &scopes(&[SUB.into()], &[]), Some(&bp))
        .await
        .expect("audit");
    assert!(report.accounts.len() >= 20, "{}", report.accounts.len());
    let kinds: BTreeSet<&str> = report.accounts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["AIServices", "OpenAI"]));
    assert_eq!(report.deleted.len(), 1);

    let got: Vec<(String, String, bool)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.rule.id.to_string(),
                f.instance.clone(),
                f.waived_by.is_some(),
            )
        })
        .collect();
    let set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "a finding is repeated: {got:?}");
    assert_eq!(set, planted());

    let weak: BTreeSet<&str> = PLANTED.iter().map(|p| p.1).collect();
    let hardened: Vec<&str> = report
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !weak.contains(n))
        .collect();
    assert!(hardened.len() >= 14, "{hardened:?}");
    assert!(hardened.contains(&"openai-01"), "the named hardened one");

    let acknowledged = report
        .findings
        .iter()
        .find(|f| f.rule.id == "MOAT-PA-002")
        .unwrap();
    assert_eq!(
        acknowledged.waived_by.as_deref(),
        Some("acknowledged: The sandbox lead's Contributor on rg-ai-sandbox moves to a group in SEC-412 (due 2027-01)"),
        "the blueprint's acknowledged: entry"
    );
    assert!(report.stale_acknowledgements.is_empty());
    let waived = report
        .findings
        .iter()
        .find(|f| f.rule.id == "MOAT-IM-001" && f.waived_by.is_some())
        .unwrap();
    assert!(
        waived
            .waived_by
            .as_deref()
            .unwrap()
            .contains("Vendor appliance only supports api-key headers"),
        "{waived:?}"
    );
    assert!(!moat::audit::fails(
        std::slice::from_ref(waived),
        moat::audit::Severity::Low
    ));

    let log = emu.request_log();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|e| e.method == "GET"),
        "audit wrote: {log:?}"
    );
}

/// `moat audit ARGS… --arm-endpoint URL` with a static token, no terminal.
pub fn moat_audit(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("RUST_LOG")
        .arg("audit")
        .args(args)
        .args(["--arm-endpoint", url])
        .stdin(Stdio::null());
    c
}

#[tokio::test]
async fn the_binary_exits_3_on_findings_and_0_above_the_worst_severity() {
    let emu = audit_emulator().await;
    let run = |args: Vec<&'static str>| {
        let mut c = moat_audit(&emu.base_url(), &args);
        tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
    };
    let json = run(vec!["examples/audit.yaml", "--format", "json"])
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert_eq!(json.status.code(), Some(3), "{stderr}");
    let doc: Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    let got: BTreeSet<(String, String, bool)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["ruleId"].as_str().unwrap().to_string(),
                f["instance"].as_str().unwrap().to_string(),
                !f["waivedBy"].is_null(),
            )
        })
        .collect();
    assert_eq!(got, planted());
    assert_eq!(doc["failed"], true);

    // The worst unwaived finding is high: --fail-on critical passes, --fail-on high fails.
    let critical = run(vec!["examples/audit.yaml", "--fail-on", "critical"])
        .await
        .unwrap();
    assert_eq!(critical.status.code(), Some(0), "{critical:?}");
    assert!(String::from_utf8_lossy(&critical.stdout).contains("MOAT-NS-001  high"));
    let high = run(vec!["--subscription", SUB, "--fail-on", "high"])
        .await
        .unwrap();
    assert_eq!(high.status.code(), Some(3), "{high:?}");

    // A resource group narrows the audit; an unknown --fail-on is a usage error (1, not 2).
    let rg = run(vec![
        "--subscription",
        SUB,
        "--resource-group",
        "rg-ai-shared",
        "--format",
        "json",
    ])
    .await
    .unwrap();
    let doc: Value = serde_json::from_slice(&rg.stdout).unwrap();
    let accounts: BTreeSet<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["instance"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, BTreeSet::from(["fabrikam-ais-keys"]));
    let bad = run(vec!["--subscription", SUB, "--fail-on", "urgent"])
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let none = run(vec![]).await.unwrap();
    assert_eq!(none.status.code(), Some(1), "no scope is an error");

    let log = emu.request_log();
    assert!(
        log.iter().all(|e| e.method == "GET"),
        "audit wrote: {log:?}"
    );
}

/// The observed-state rules read each resource group's role assignments once (ARM's
/// `atScope()` answers the subscription's and the root's with them) and each role definition
/// once, however many accounts the resource group holds: never once per account.
#[tokio::test]
async fn inherited_assignments_are_read_once_per_scope_and_roles_once_each() {
    let emu = audit_emulator().await;
    let report = audit(connect(&emu), &scopes(&[SUB.into()], &[]), None)
        .await
        .expect("audit");
    let log = emu.request_log();
    let count = |p: &str| {
        log.iter()
            .filter(|e| e.path.eq_ignore_ascii_case(p))
            .count()
    };
    let groups: BTreeSet<String> = report
        .accounts
        .iter()
        .map(|a| a.resource_group.to_ascii_lowercase())
        .collect();
    assert_eq!(groups.len(), 4, "{groups:?}");
    for rg in &groups {
        let accounts = report
            .accounts
            .iter()
            .filter(|a| a.resource_group.eq_ignore_ascii_case(rg))
            .count();
        assert!(accounts >= 1);
        let path = format!(
            "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Authorization/roleAssignments"
        );
        assert_eq!(count(&path), 1, "{rg} ({accounts} accounts): {path}");
    }
    let rg_prod = report
        .accounts
        .iter()
        .filter(|a| a.resource_group == "rg-ai-prod")
        .count();
    assert!(
        rg_prod >= 5,
        "the cache is exercised: {rg_prod} accounts share one list"
    );
    // No subscription-scope list: the resource group's atScope() list already holds it.
    assert_eq!(
        count(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments"
        )),
        0
    );
    let defs: Vec<&str> = log
        .iter()
        .filter(|e| e.path.contains("/roleDefinitions/"))
        .map(|e| e.path.as_str())
        .collect();
    let distinct: BTreeSet<String> = defs.iter().map(|p| p.to_ascii_lowercase()).collect();
    assert_eq!(
        defs.len(),
        distinct.len(),
        "a role definition read twice: {defs:?}"
    );
    assert!(
        distinct
            .iter()
            .any(|p| p.ends_with("c6d2a8f4-1e3b-4a97-8d5c-0b7f9e2a4c16")),
        "the custom role is read: {distinct:?}"
    );
    assert!(log.iter().all(|e| e.method == "GET"), "audit wrote");
}

/// `MOAT-NS-012` on the private instance of the example: the planted record is stale (the
/// endpoint's IP and one left by an endpoint that is gone); with the other IP only it points
/// elsewhere; deleted it is missing; with only the endpoint's IP nothing is reported. One A-record list per zone, never one GET per record.
#[tokio::test]
async fn privatelink_a_records_missing_elsewhere_stale_or_right() {
    let zone = format!("/subscriptions/{SUB}/resourceGroups/rg-ai-network/providers/Microsoft.Network/privateDnsZones/privatelink.openai.azure.com");
    let record_id = format!("{zone}/A/fabrikam-openai-private");
    let bp = load("examples/audit.yaml");
    let scope = scopes(&[SUB.into()], &["rg-ai-prod".into()]);
    let ns012 = |r: &moat::audit::run::Audit| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.rule.id == "MOAT-NS-012")
            .map(|f| {
                assert_eq!(f.resource_id, record_id);
                f.evidence[0].observed.as_ref().unwrap().to_string()
            })
            .collect()
    };
    let emu = audit_emulator().await;
    let with = |ips: &[&str]| {
        let mut rec = emu.resource(&record_id).expect("the planted record");
        rec["properties"]["aRecords"] = ips
            .iter()
            .map(|ip| serde_json::json!({ "ipv4Address": ip }))
            .collect();
        emu.seed(&[rec]).expect("record replaced");
    };
    let run = || audit(connect(&emu), &scope, Some(&bp));

    let got = ns012(&run().await.expect("audit"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("stale: also holds 10.0.2.99"), "{got:?}");
    let lists = emu
        .request_log()
        .iter()
        .filter(|e| e.path.eq_ignore_ascii_case(&format!("{zone}/A")))
        .count();
    assert_eq!(lists, 1, "one A-record list for the zone");
    assert!(
        !emu.request_log()
            .iter()
            .any(|e| e.path.to_ascii_lowercase().contains("/a/fabrikam")),
        "no GET per record"
    );

    with(&["10.0.2.99"]);
    let got = ns012(&run().await.expect("audit"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("points at 10.0.2.99 instead"), "{got:?}");

    with(&["10.0.2.4"]);
    assert_eq!(ns012(&run().await.expect("audit")), Vec::<String>::new());

    with(&[]);
    let got = ns012(&run().await.expect("audit"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("missing"), "{got:?}");
    emu.shutdown().await;
}

/// `MOAT-PA-004` on a user the blueprint itself declares: a reviewed decision, so the finding is
/// shown waived by the declaration (never a failure), while the undeclared user of the baseline
/// run stays a finding.
#[tokio::test]
async fn a_declared_user_assignment_is_shown_waived_by_the_blueprint() {
    let example = std::fs::read_to_string(repo("examples/audit.yaml")).unwrap();
    // The instance goes at the end of `instances:`, before the example's `acknowledged:`.
    let (instances, acknowledged) = example
        .split_once("\n# What audit finds on observed state")
        .expect("the example's acknowledged: section");
    let text = instances.to_string()
        + r#"
  - name: openai-userrole
    resourceGroup: rg-ai-prod
    accountName: fabrikam-openai-userrole
    controls:
      roleAssignments:
        assignments:
          - principalId: 9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34
            principalType: ServicePrincipal
            role: Cognitive Services OpenAI User
          - principalId: 5a1c7e3b-9d24-4f68-b0e5-2c8a6d4f1b97
            principalType: User
            role: Cognitive Services OpenAI User
"# + "\n# What audit finds on observed state"
        + acknowledged;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("declared-user.yaml");
    std::fs::write(&path, text).unwrap();
    let bp = moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{d}"));
    let emu = audit_emulator().await;
    let report = audit(
        connect(&emu),
        &scopes(&[SUB.into()], &["rg-ai-prod".into()]),
        Some(&bp),
    )
    .await
    .expect("audit");
    let pa004: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule.id == "MOAT-PA-004")
        .collect();
    assert_eq!(pa004.len(), 1, "{pa004:?}");
    assert_eq!(pa004[0].instance, "openai-userrole");
    let by = pa004[0]
        .waived_by
        .as_deref()
        .expect("waived by the declaration");
    assert!(by.contains("declared in the blueprint"), "{by}");
    assert!(
        !moat::audit::fails(
            &report
                .findings
                .iter()
                .filter(|f| f.instance == "openai-userrole")
                .cloned()
                .collect::<Vec<_>>(),
            moat::audit::Severity::Low
        ),
        "{:?}",
        report
            .findings
            .iter()
            .filter(|f| f.instance == "openai-userrole")
            .collect::<Vec<_>>()
    );
    emu.shutdown().await;
}

/// An acknowledgement whose finding is gone (or whose id is wrong) waives nothing, and the
/// binary says where it is so it can be deleted; the audit's result is unchanged by it.
#[tokio::test]
async fn an_acknowledgement_that_waives_nothing_is_named_with_its_position() {
    let gone = format!("/subscriptions/{SUB}/resourceGroups/rg-ai-prod/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-00000000dead");
    let example = std::fs::read_to_string(repo("examples/audit.yaml")).unwrap();
    let text = format!(
        "{example}  - rule: MOAT-PA-003\n    resource: {gone}\n    reason: the old reporting job, deleted since\n"
    );
    let line = text.lines().count() - 2;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.yaml");
    std::fs::write(&path, &text).unwrap();
    let emu = audit_emulator().await;
    let mut c = moat_audit(
        &emu.base_url(),
        &[path.to_str().unwrap(), "--format", "json"],
    );
    let out = tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let want = format!(
        "warning: {}:{line}:5: the acknowledgement of MOAT-PA-003 on {gone} waives no finding",
        path.display()
    );
    assert!(stderr.contains(&want), "{want}\nnot in:\n{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["findings"].as_array().unwrap().len(), PLANTED.len());
}
