//! Golden files: one folder per scenario under tests/golden/ with the blueprint, the observed
//! live state, and the expected text, markdown and JSON renderings of the plan (a destroy plan
//! where a `destroy` file names the instances). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test suite golden::` and review the diff like any other change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use moat::observe::Observed;
use moat::plan::model::{Action, Plan};
use moat::render::{self, Format};

fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("tests/golden")
        .expect("tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn plan_of(dir: &Path) -> Plan {
    // As `moat plan` loads (an expired exception holds back its instance, it does not stop
    // the load), on a pinned day so that days left and expiries render the same every day.
    let opts = moat::blueprint::Options {
        today: time::macros::date!(2026 - 12 - 01),
        expired_exceptions_are_errors: false,
    };
    let report = moat::blueprint::load_with(&dir.join("blueprint.yaml"), &opts);
    let bp = report
        .blueprint
        .unwrap_or_else(|| panic!("{}: {}", dir.display(), report.diagnostics));
    let text = std::fs::read_to_string(dir.join("observed.json")).unwrap();
    let observed: Observed = serde_json::from_str(&text).unwrap();
    // A `destroy` file makes the scenario a destroy plan of the instances it names.
    match std::fs::read_to_string(dir.join("destroy")) {
        Ok(names) => {
            let names: Vec<String> = names.lines().map(str::to_string).collect();
            moat::plan::destroy::plan(&bp, &names, &observed)
        }
        Err(_) => moat::plan::plan(&bp, &observed),
    }
}

pub(crate) fn check(dir: &Path, file: &str, actual: &str) -> Option<String> {
    let path = dir.join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return None;
    }
    let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
        .unified_diff()
        .header(&format!("{} (expected)", path.display()), "actual")
        .to_string();
    Some(diff)
}

#[test]
fn every_scenario_renders_exactly_as_its_golden_files() {
    let mut failures = Vec::new();
    for dir in scenarios() {
        let plan = plan_of(&dir);
        for (file, format) in [
            ("expected.txt", Format::Text),
            ("expected.md", Format::Markdown),
            ("expected.json", Format::Json),
        ] {
            let out = render::render(&plan, format, false);
            if let Some(d) = check(&dir, file, &out) {
                failures.push(d);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden files differ (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}

#[test]
fn scenarios_cover_every_action_and_resource_kind() {
    let mut actions = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for dir in scenarios() {
        for c in plan_of(&dir).changes() {
            actions.insert(c.action);
            kinds.insert(c.kind.clone());
        }
    }
    for a in [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::NoOp,
        Action::Drift,
        Action::Verified,
        Action::Blocked,
    ] {
        assert!(actions.contains(&a), "no scenario has a {a:?} change");
    }
    // Every registered kind, without listing them here.
    for k in moat::resources::KINDS {
        let k = moat::model::KindId::new(k.meta().label);
        assert!(kinds.contains(&k), "no scenario covers {k:?}");
    }
}

/// What each scenario is about, checked on the plan itself (so a wrong golden file cannot be
/// accepted by regenerating it).
#[test]
fn scenarios_mean_what_their_names_say() {
    let p = |n: &str| plan_of(&Path::new("tests/golden").join(n));
    let converged = p("converged");
    assert!(!converged.has_changes() && !converged.is_failed());
    assert!(render::render(&converged, Format::Text, false).contains("No changes."));

    let brownfield = p("brownfield");
    assert!(brownfield.has_changes() && !brownfield.is_failed());

    // Guardrails: writes of each policy kind, by label and action.
    let policy = |plan: &Plan| -> Vec<(String, Action)> {
        plan.changes()
            .filter(|c| c.kind.label().starts_with("policy-") && c.action != Action::NoOp)
            .map(|c| (c.kind.label().to_string(), c.action))
            .collect()
    };
    // The blast radius: every instance in the scope whose account the assignments find
    // non-compliant today gets a note, saying whether the plan fixes it first or an exemption
    // waives it (the legacy instance keeps keys by exception, its network is hardened).
    let guarded = p("guardrails-create");
    let notes: Vec<&String> = guarded
        .instances
        .iter()
        .flat_map(|i| i.notes.iter())
        .filter(|n| n.contains(" assignment of controls."))
        .collect();
    assert_eq!(notes.len(), 2 * guarded.instances.len(), "{notes:#?}");
    let waived: Vec<_> = notes.iter().filter(|n| n.contains("exemption")).collect();
    assert_eq!(waived.len(), 1, "{notes:#?}");
    assert!(waived[0].contains("controls.localAuth") && waived[0].contains("legacy"));
    let create = policy(&guarded);
    assert_eq!(
        create
            .iter()
            .filter(|(k, a)| k == "policy-assignment" && *a == Action::Create)
            .count(),
        2
    );
    assert_eq!(
        create
            .iter()
            .filter(|(k, a)| k == "policy-exemption" && *a == Action::Create)
            .count(),
        1
    );
    assert_eq!(
        policy(&p("guardrails-exemption-added")),
        vec![("policy-exemption".to_string(), Action::Create)]
    );
    let expired = p("guardrails-exemption-expired");
    assert_eq!(
        policy(&expired),
        vec![("policy-exemption".to_string(), Action::Delete)]
    );
    assert!(expired.changes().any(|c| c.action == Action::Delete
        && c.risk
            .as_deref()
            .is_some_and(|r| r.contains("RequestDisallowedByPolicy"))));

    // DeployIfNotExists diagnostics: one assignment with the workspace parameter, its identity's
    // Log Analytics Contributor at the scope and at the workspace outside it.
    let dine = p("guardrails-diagnostics");
    let pa: Vec<_> = dine
        .changes()
        .filter(|c| c.kind.label() == "policy-assignment")
        .collect();
    assert_eq!(pa.len(), 1);
    let params = &pa[0].write.as_ref().unwrap().body.as_ref().unwrap()["properties"]["parameters"];
    assert_eq!(params["effect"]["value"], "DeployIfNotExists");
    assert!(params["logAnalytics"]["value"].is_string());
    assert_eq!(
        dine.changes()
            .filter(|c| c.kind.label() == "guardrail-grant" && c.action == Action::Create)
            .count(),
        2
    );

    // Destroy: the guardrails first, each shared assignment once; the exemption and the
    // identity's grant after their assignment, the accounts after the guardrails; someone
    // else's exemption under moat's name kept, with a note.
    let destroy = p("guardrails-destroy");
    assert!(destroy.changes().all(|c| c.action == Action::Delete));
    let of = |label: &str| -> Vec<&moat::plan::model::Change> {
        destroy
            .changes()
            .filter(|c| c.kind.label() == label)
            .collect()
    };
    let assignments = of("policy-assignment");
    assert_eq!(assignments.len(), 2);
    let modify = assignments
        .iter()
        .find(|a| a.address.contains("moat-localauth-"))
        .unwrap();
    for c in of("policy-exemption")
        .into_iter()
        .chain(of("guardrail-grant"))
    {
        assert!(c.depends_on.contains(&modify.address), "{}", c.address);
    }
    for acct in of("account") {
        assert!(assignments
            .iter()
            .all(|a| acct.depends_on.contains(&a.address)));
    }
    assert!(destroy.instances[0]
        .notes
        .iter()
        .any(|n| n.contains("is kept: moat did not make it")));

    // M2: one threshold and window raised on the converged instance: one update of one metric
    // rule, the criterion shown in one line (not a JSON blob).
    let threshold = p("alert-threshold");
    let writes: Vec<_> = threshold
        .changes()
        .filter(|c| c.action.is_write())
        .collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let c = writes[0];
    assert_eq!((c.kind.label(), c.action), ("metric-alert", Action::Update));
    let criteria = c
        .fields
        .iter()
        .find(|f| f.path == "properties.criteria")
        .unwrap();
    assert_eq!(
        criteria.after.as_ref().and_then(|v| v.as_str()),
        Some("Total RAIRejectedRequests > 50 per ModelDeploymentName")
    );
    assert!(
        !c.regression,
        "a new threshold is the blueprint changing, not drift"
    );
    assert_eq!(threshold.summary().regressions, 0);
    let body = &c.write.as_ref().unwrap().body.as_ref().unwrap()["properties"];
    assert_eq!(body["criteria"]["allOf"][0]["threshold"], 50);

    // Hand edits that weaken a converged instance are regressions, each of them, in the
    // summary every rendering shows; the plan does not fail (apply puts them back).
    let regression = p("regression");
    let writes: Vec<_> = regression
        .changes()
        .filter(|c| c.action.is_write())
        .collect();
    assert_eq!(writes.len(), 3, "{writes:#?}");
    assert!(writes
        .iter()
        .all(|c| c.regression && c.action == Action::Update));
    assert_eq!(regression.summary().regressions, 3);
    assert!(!regression.is_failed());
    let text = render::render(&regression, Format::Text, false);
    assert!(text.contains("3 regression(s): live weaker than the blueprint declares."));
    let md = render::render(&regression, Format::Markdown, false);
    assert!(md.contains("**Regression:**"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&render::render(&regression, Format::Json, false)).unwrap();
    assert_eq!(json["summary"]["regressions"], 3);
    assert_eq!(body["windowSize"], "PT15M");

    let blocked = p("blocked");
    assert!(blocked.is_failed());
    assert_eq!(
        blocked
            .changes()
            .filter(|c| c.action == Action::Blocked)
            .count(),
        2
    );

    let exception = p("exception");
    let weak: Vec<_> = exception
        .changes()
        .filter(|c| {
            c.risk
                .as_deref()
                .is_some_and(|r| r.starts_with("weakens security"))
        })
        .collect();
    assert_eq!(weak.len(), 2, "key auth and the content filter");
    assert!(weak.iter().all(|c| c.exception.is_some()));

    let deletes = p("deletes");
    assert_eq!(
        deletes
            .changes()
            .filter(|c| c.action == Action::Delete)
            .count(),
        3
    );

    let drift = p("verify-drift");
    assert!(drift.is_failed() && !drift.has_changes());

    let greenfield = p("greenfield");
    assert_eq!(
        greenfield.changes().next().map(|c| c.action),
        Some(Action::Create)
    );

    // D1: the grant binds the principal the same apply creates; the key waits for the grant.
    let cmk = p("cmk");
    let grant = cmk
        .changes()
        .find(|c| c.kind == moat::resources::key_vault_grant::KIND)
        .unwrap();
    assert!(grant.action == Action::Create && !grant.write.as_ref().unwrap().bind.is_empty());
    assert!(cmk
        .changes()
        .any(|c| c.address.ends_with("/account/encryption")
            && c.gates.iter().any(|g| g.kind == grant.kind)));

    let purge = p("soft-deleted-purge");
    assert!(purge
        .changes()
        .any(|c| c.kind == moat::resources::deleted_account::KIND
            && c.action == Action::Delete
            && c.risk.is_some()));
}

#[test]
fn saved_plans_round_trip_and_their_digest_detects_edits() {
    let plan = plan_of(Path::new("tests/golden/brownfield"));
    let json = render::render(&plan, Format::Json, false);
    let back = render::json::load("plan.json", &json).expect("a saved plan loads");
    assert_eq!(back, plan);
    let edited = json.replacen(
        "\"disableLocalAuth\": true",
        "\"disableLocalAuth\": false",
        1,
    );
    assert_ne!(edited, json, "the edit must change the file");
    assert!(matches!(
        render::json::load("plan.json", &edited),
        Err(render::json::LoadError::Tampered { .. })
    ));
}

/// `moat show FILE` with no way to reach Azure: an ARM endpoint nothing listens on, no token.
fn show(file: &Path, format: &str) -> std::process::Output {
    assert_cmd::Command::cargo_bin("moat")
        .unwrap()
        .args(["show", file.to_str().unwrap(), "--format", format])
        .env("NO_COLOR", "1")
        .env("MOAT_ARM_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("MOAT_ACCESS_TOKEN")
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap()
}

#[test]
fn show_renders_every_saved_golden_plan_exactly_as_plan_did() {
    let mut failures = Vec::new();
    for dir in scenarios() {
        // expected.json is what `plan --format json` printed, and what `--out` saves.
        let saved = dir.join("expected.json");
        for (file, format) in [
            ("expected.txt", "text"),
            ("expected.md", "markdown"),
            ("expected.json", "json"),
        ] {
            let o = show(&saved, format);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}: {}",
                saved.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let expected = std::fs::read_to_string(dir.join(file)).unwrap();
            if String::from_utf8_lossy(&o.stdout) != expected {
                failures.push(format!("moat show {} --format {format}", saved.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "differ from the golden files:\n{}",
        failures.join("\n")
    );
}

#[test]
fn show_refuses_an_edited_plan_and_escapes_hostile_strings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    let mut plan = plan_of(Path::new("tests/golden/brownfield"));
    let c = plan.instances[0]
        .changes
        .iter_mut()
        .find(|c| c.action.is_write())
        .unwrap();
    c.reason = "\u{1b}]0;owned\u{7}\u{1b}[2J reason".into();
    c.risk = Some("\u{202e}lanigiro".into());
    // Re-digested, as anyone who can write the artifact can.
    std::fs::write(&file, render::json::render(&plan)).unwrap();
    for format in ["text", "markdown", "json"] {
        let o = show(&file, format);
        assert_eq!(o.status.code(), Some(0), "{format}");
        assert!(
            !o.stdout.contains(&0x1b),
            "{format}: an escape byte reached stdout"
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.contains('\u{202e}'),
            "{format}: a bidi control reached stdout"
        );
        assert!(out.contains("reason"), "{format}: {out}");
    }

    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen(" reason", " edited", 1)).unwrap();
    let o = show(&file, "text");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("was modified after moat wrote it"), "{err}");
    assert!(o.stdout.is_empty());
}

/// `rotation-due` is `exception` with `keyRotation` and a secret past its overlap: the rotation
/// is shown, due for Key1, and changes nothing the plan counts.
#[test]
fn a_due_rotation_is_shown_and_not_counted() {
    let p = |n: &str| plan_of(&Path::new("tests/golden").join(n));
    let (base, rot) = (p("exception"), p("rotation-due"));
    let r = rot.instances[0].rotation.as_ref().expect("rotation shown");
    assert_eq!(r.status, moat::model::RotationStatus::Due);
    assert_eq!(r.key.as_deref(), Some("Key1"));
    assert_eq!(rot.summary(), base.summary());
    assert_eq!(
        (rot.has_changes(), rot.is_failed()),
        (base.has_changes(), base.is_failed())
    );
    assert!(base.instances[0].rotation.is_none());
}
