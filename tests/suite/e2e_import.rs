//! `moat import` end to end against the emulator seeded with examples/audit-seed.json (26
//! accounts of mixed postures, and one soft-deleted): the written blueprint validates; its plan is
//! exactly the hardening the planted weaknesses need; with `--as-is` the plan is empty; after
//! applying the hardening, audit with that blueprint finds only what no blueprint changes
//! (observed-state rules), each of which the import wrote down. The YAML holds no key and says
//! where each value came from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moat::audit::discover::scopes;
use moat::emulator::EmulatorHandle;
use moat::model::Action;

use crate::e2e_audit::{audit_emulator, SUB};
use crate::support::e2e::*;

/// Each test here takes a few seconds; a hang fails it instead of the suite.
const BOUND: Duration = Duration::from_secs(90);

/// Run `f` within [`BOUND`].
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("the test finishes within its bound")
}

/// Import `emu`'s subscription as `moat import --out dir/import.yaml` does (the baseline written
/// beside it) and return the file and its text.
pub async fn import_into(
    emu: &EmulatorHandle,
    sub: &str,
    dir: &Path,
    as_is: bool,
) -> (PathBuf, String) {
    let opts = moat::import::Options {
        as_is,
        ..Default::default()
    };
    let imported =
        moat::import::import(connect(emu), &scopes(&[sub.into()], &[]), &opts, &|_, _| {})
            .await
            .expect("import");
    let out = dir.join("import.yaml");
    std::fs::write(
        moat::import::baseline_beside(&out),
        moat::import::STRICT_BASELINE,
    )
    .unwrap();
    std::fs::write(&out, &imported.text).unwrap();
    (out, imported.text)
}

fn validated(p: &Path) -> moat::blueprint::resolved::Blueprint {
    let mut out = Vec::new();
    let code = moat::blueprint::validate_files(&[p.to_path_buf()], &mut out);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out));
    moat::blueprint::load(p).unwrap_or_else(|d| panic!("{}: {d}", p.display()))
}

/// (instance, change address, action) of every change that writes.
fn writes(plan: &moat::plan::model::Plan) -> BTreeSet<(String, String, Action)> {
    plan.instances
        .iter()
        .flat_map(|i| i.changes.iter().map(move |c| (i.name.clone(), c)))
        .filter(|(_, c)| c.action.is_write())
        .map(|(i, c)| (i, c.address.clone(), c.action))
        .collect()
}

/// The hardening the seed's planted weaknesses need, and nothing else: (instance, address, action).
const HARDENING: &[(&str, &str, Action)] = &[
    // MOAT-IM-001, MOAT-NS-001: keys on, public network access on.
    (
        "fabrikam-ais-keys",
        "fabrikam-ais-keys/account/local-auth",
        Action::Update,
    ),
    (
        "fabrikam-ais-keys",
        "fabrikam-ais-keys/account/public-network-access",
        Action::Update,
    ),
    // MOAT-PA-001: a user holds Contributor on the account.
    (
        "fabrikam-openai-contrib",
        "fabrikam-openai-contrib/role-assignment/contributor/3c8d5e2f-1a4b-4c6d-8e9f-0a1b2c3d4e5f",
        Action::Delete,
    ),
    // MOAT-IM-001 (waived by examples/audit.yaml, not by an import).
    (
        "fabrikam-openai-legacy",
        "fabrikam-openai-legacy/account/local-auth",
        Action::Update,
    ),
    // The private account, judged with its private path: no RAI policy, subnet policies off.
    (
        "fabrikam-openai-private",
        "fabrikam-openai-private/rai-policy/strict-production-filter",
        Action::Create,
    ),
    (
        "fabrikam-openai-private",
        "fabrikam-openai-private/subnet/snet-private-endpoints",
        Action::Update,
    ),
    // MOAT-NS-001, MOAT-NS-002: public, firewall open.
    (
        "fabrikam-openai-public",
        "fabrikam-openai-public/account/network",
        Action::Update,
    ),
    (
        "fabrikam-openai-public",
        "fabrikam-openai-public/account/public-network-access",
        Action::Update,
    ),
    // MOAT-CF-002: a deployment not bound to the RAI policy.
    (
        "fabrikam-openai-unbound",
        "fabrikam-openai-unbound/deployment/gpt-4o",
        Action::Update,
    ),
];

/// What audit still finds after the hardening: observed-state rules, which no blueprint field
/// changes (rule, instance). Import writes each as an `acknowledged:` entry with a placeholder
/// reason, so audit shows them waived, and only them.
const OUTSIDE: &[(&str, &str)] = &[
    ("MOAT-DP-002", "fabrikam-openai-retired"),
    ("MOAT-NS-011", "fabrikam-ais-pending"),
    ("MOAT-NS-012", "fabrikam-openai-private"),
    ("MOAT-PA-002", "fabrikam-openai-inherit"),
    ("MOAT-PA-003", "fabrikam-openai-keyrole"),
    ("MOAT-PA-004", "fabrikam-openai-userrole"),
];

#[tokio::test]
async fn import_plans_exactly_the_hardening_and_after_apply_audit_finds_only_what_no_blueprint_changes(
) {
    bounded(async {
        let emu = audit_emulator().await;
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (file, text) = import_into(&emu, SUB, dir.path(), false).await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        assert!(
            emu.request_log().iter().all(|e| e.method == "GET"),
            "import wrote"
        );
        let bp = validated(&file);
        assert_eq!(bp.instances.len(), 26, "every live account");
        assert!(
            !bp.instances
                .iter()
                .any(|i| i.account_name == "fabrikam-openai-retired"),
            "not the soft-deleted one"
        );

        let api = connect(&emu);
        let p = plan(api.as_ref(), &bp).await;
        let want: BTreeSet<(String, String, Action)> = HARDENING
            .iter()
            .map(|(i, a, x)| (i.to_string(), a.to_string(), *x))
            .collect();
        assert_eq!(writes(&p), want);
        assert!(
            p.instances.iter().all(|i| i.exceptions.is_empty()),
            "no exception without --as-is"
        );

        let report = apply(api.clone(), &p).await;
        assert!(report.ok(), "{report:?}");
        let again = plan(api.as_ref(), &bp).await;
        assert!(writes(&again).is_empty(), "{:?}", writes(&again));

        let after = moat::audit::run::audit(api, &scopes(&[SUB.into()], &[]), Some(&bp))
            .await
            .expect("audit");
        let unwaived: Vec<String> = after
            .findings
            .iter()
            .filter(|f| f.waived_by.is_none())
            .map(|f| format!("{} on {} ({})", f.rule.id, f.instance, f.resource_id))
            .collect();
        assert!(unwaived.is_empty(), "after apply: {unwaived:#?}");
        let acknowledged: BTreeSet<(String, String)> = after
            .findings
            .iter()
            .filter(|f| {
                f.waived_by.as_deref().is_some_and(|w| {
                    w.starts_with(&format!("acknowledged: {}", moat::import::PLACEHOLDER))
                })
            })
            .map(|f| (f.rule.id.to_string(), f.instance.clone()))
            .collect();
        let outside: BTreeSet<(String, String)> = OUTSIDE
            .iter()
            .map(|(r, i)| (r.to_string(), i.to_string()))
            .collect();
        assert_eq!(acknowledged, outside);
        for f in after.findings.iter().filter(|f| {
            f.waived_by
                .as_deref()
                .is_some_and(|w| w.starts_with("acknowledged"))
        }) {
            assert!(
                [
                    moat::audit::rules::OBSERVED,
                    moat::audit::rules::DELETED_ACCOUNT
                ]
                .contains(&f.rule.kind),
                "{} on {} is a rule a blueprint changes, not one to acknowledge",
                f.rule.id,
                f.instance
            );
        }
        assert!(
            after.stale_acknowledgements.is_empty(),
            "{:?}",
            after.stale_acknowledgements
        );
        assert_eq!(
            bp.acknowledged.len(),
            OUTSIDE.len(),
            "one entry per finding"
        );
        assert_secret_free_and_sourced(&emu, &text);
    })
    .await;
}

#[tokio::test]
async fn import_as_is_plans_no_change() {
    bounded(async {
        let emu = audit_emulator().await;
        let dir = tempfile::tempdir().unwrap();
        let (file, text) = import_into(&emu, SUB, dir.path(), true).await;
        let bp = validated(&file);
        let p = plan(connect(&emu).as_ref(), &bp).await;
        assert!(writes(&p).is_empty(), "{:?}", writes(&p));
        // Each weakness the hardening would change is kept under a placeholder exception.
        let kept: BTreeSet<(String, String)> = p
            .instances
            .iter()
            .flat_map(|i| {
                i.exceptions
                    .iter()
                    .map(move |e| (i.name.clone(), e.allows.clone()))
            })
            .collect();
        let want: BTreeSet<(String, String)> = [
            ("fabrikam-ais-keys", "local-auth"),
            ("fabrikam-ais-keys", "public-network-access"),
            ("fabrikam-openai-legacy", "local-auth"),
            ("fabrikam-openai-public", "public-network-access"),
            ("fabrikam-openai-unbound", "content-filter"),
        ]
        .iter()
        .map(|(i, a)| (i.to_string(), a.to_string()))
        .collect();
        assert_eq!(kept, want);
        for i in &bp.instances {
            for e in &i.exceptions {
                assert!(e.reason.starts_with(moat::import::PLACEHOLDER), "{e:?}");
            }
        }
        assert_secret_free_and_sourced(&emu, &text);
    })
    .await;
}

fn assert_secret_free_and_sourced(emu: &EmulatorHandle, text: &str) {
    let mut keys = 0;
    for r in emu.resources() {
        let id = r["id"].as_str().unwrap_or_default();
        if let Some(pair) = emu.account_keys(id) {
            for k in pair {
                keys += 1;
                assert!(!text.contains(&k), "the YAML holds a key of {id}");
            }
        }
    }
    assert!(keys >= 8, "the emulator's accounts have keys ({keys})");
    if let Err(why) = every_value_sourced(text) {
        panic!("{why}\n{text}");
    }
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches([' ', '-']).len()
}

/// Every line holding a value is under a comment that names a source (an ARM id or property, the
/// baseline, or what to do): the comment block directly above it or above an earlier sibling
/// (deeper lines between are the siblings' children), else its parent's.
pub fn every_value_sourced(text: &str) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let is_comment = |l: &str| l.trim_start().starts_with('#');
    let cites = |c: &str| {
        [
            "/subscriptions/",
            "properties",
            "identity",
            "sku",
            "baseline",
            "moat import",
            "the account",
            "TODO(import)",
        ]
        .iter()
        .any(|w| c.contains(w))
    };
    // The comment that covers line `i`, searching upward: one directly above it or above the
    // run of flat siblings it ends, else its parent's; an instance and the entries of
    // `controls:` and `existing:` need their own.
    fn covered(lines: &[&str], i: usize, cites: &dyn Fn(&str) -> bool) -> bool {
        let me = indent(lines[i]);
        let item = |l: &str| l.trim_start().starts_with("- ");
        let mut j = i;
        while j > 0 {
            j -= 1;
            let l = lines[j];
            if l.trim_start().starts_with('#') {
                if indent(l) <= me && cites(l) {
                    return true;
                }
                continue;
            }
            let d = indent(l);
            if d > me {
                return false; // an earlier sibling with children ends the run
            }
            if d < me || (d == me && item(l) && !item(lines[i])) {
                // The parent (or the item this entry belongs to): covered when it is, unless
                // each of its entries must say where it came from.
                let t = l.trim();
                if ["controls:", "existing:", "instances:"].contains(&t) {
                    return false;
                }
                return covered(lines, j, cites);
            }
        }
        false
    }
    for (i, l) in lines.iter().enumerate() {
        if is_comment(l) || l.trim().is_empty() {
            continue;
        }
        let value = l
            .split_once(": ")
            .map(|(_, v)| v.trim())
            .or_else(|| l.trim().strip_prefix("- "));
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        let _ = v;
        if !covered(&lines, i, &cites) {
            return Err(format!(
                "line {}: `{}` has no comment saying where it came from",
                i + 1,
                l.trim()
            ));
        }
    }
    Ok(())
}

#[test]
fn a_value_without_its_source_comment_is_caught() {
    let sourced = "# Written by `moat import`.\nversion: 1\ninstances:\n  # /subscriptions/s/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/a\n  - name: a\n    location: eastus\n    controls:\n      # properties.disableLocalAuth\n      localAuth:\n        disabled: false\n";
    assert_eq!(every_value_sourced(sourced), Ok(()));
    let bare = "version: 1\ninstances:\n  - name: a\n    location: eastus\n";
    assert!(every_value_sourced(bare)
        .unwrap_err()
        .starts_with("line 1:"));
    let uncited = "# Written by `moat import`.\nversion: 1\ninstances:\n  # a note\n  - name: a\n";
    assert!(every_value_sourced(uncited)
        .unwrap_err()
        .contains("`- name: a`"));
}

/// The example's subscription (examples/import-seed.json).
const EXAMPLE_SUB: &str = "8a4c1e97-2d3b-4f65-9e80-7b1d3c5a9f24";

/// examples/import.yaml is what `moat import` writes for examples/import-seed.json, byte for
/// byte (the binary, as docs/import.md runs it). `MOAT_BLESS=1` writes it again.
#[tokio::test]
async fn the_import_example_is_what_moat_import_writes_for_its_seed() {
    bounded(async {
        let emu = emulator("examples/import-seed.json").await;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("examples")).unwrap();
        copy_dir(&repo("blueprints"), &tmp.path().join("blueprints"));
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("moat"));
        c.current_dir(tmp.path())
            .env("MOAT_ACCESS_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("MOAT_ARM_ENDPOINT")
            .env_remove("RUST_LOG")
            .args(["import", "--subscription", EXAMPLE_SUB])
            .args(["--out", "examples/import.yaml"])
            .args(["--baseline", "blueprints/strict-baseline.yaml"])
            .args(["--arm-endpoint", &emu.base_url()])
            .stdin(std::process::Stdio::null());
        let out = tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("Wrote examples/import.yaml: 4 instance(s)"), "{stderr}");
        assert!(
            !tmp.path().join("examples/strict-baseline.yaml").exists(),
            "--baseline: no baseline written beside the file"
        );
        let written = std::fs::read_to_string(tmp.path().join("examples/import.yaml")).unwrap();
        assert!(written.contains("imports:\n  - ../blueprints/strict-baseline.yaml\n"));
        let shipped = repo("examples/import.yaml");
        if std::env::var_os("MOAT_BLESS").is_some() {
            std::fs::write(&shipped, &written).unwrap();
        }
        let have = std::fs::read_to_string(&shipped).unwrap_or_default();
        assert!(
            have == written,
            "examples/import.yaml is not what `moat import` writes for examples/import-seed.json; \
             review the difference and write it again with \
             `MOAT_BLESS=1 cargo test --test suite e2e_import::the_import_example`\n--- written:\n{written}"
        );
        assert_secret_free_and_sourced(&emu, &written);
    })
    .await;
}

/// The example hardens the two weak accounts of its seed, and nothing on the others; applied,
/// the next plan is empty.
#[tokio::test]
async fn the_import_example_converges_on_its_seed() {
    bounded(async {
        let emu = emulator("examples/import-seed.json").await;
        let bp = load("examples/import.yaml");
        let api = connect(&emu);
        let p = plan(api.as_ref(), &bp).await;
        let changed: BTreeSet<String> = writes(&p).into_iter().map(|(i, _, _)| i).collect();
        assert_eq!(
            changed,
            BTreeSet::from(["contoso-ais-research".into(), "contoso-chat-dev".into()]),
            "{}",
            moat::render::text::render(&p, false)
        );
        let report = apply(api.clone(), &p).await;
        assert!(report.ok(), "{report:?}");
        let again = plan(api.as_ref(), &bp).await;
        assert!(writes(&again).is_empty(), "{:?}", writes(&again));
    })
    .await;
}
