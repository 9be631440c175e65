//! The shipped pipeline examples apply the reviewed saved plan (issue 19): the apply job of each
//! downloads the plan artifact its plan job published and runs `moat apply --plan` on it, never a
//! fresh `moat plan` or a blueprint-only `moat apply` (which would apply what nobody reviewed).

use serde_yaml::Value;

fn example(name: &str) -> Value {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every `run` / `script` / `inlineScript` text under `v`, in order.
fn scripts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    (Some("run" | "script" | "inlineScript"), Value::String(s)) => {
                        out.push(s.clone())
                    }
                    _ => scripts(x, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|x| scripts(x, out)),
        _ => {}
    }
}

fn all_scripts(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    scripts(v, &mut out);
    out
}

/// The moat invocations in `scripts`, with line continuations joined and quotes dropped.
fn moat_calls(scripts: &[String]) -> Vec<String> {
    scripts
        .iter()
        .flat_map(|s| {
            s.replace("\\\n", " ")
                .lines()
                .map(|l| {
                    l.replace('"', "")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains("moat "))
        .collect()
}

fn assert_applies_saved_plan(what: &str, apply: &Value) {
    let calls = moat_calls(&all_scripts(apply));
    let applies: Vec<&String> = calls.iter().filter(|c| c.contains("moat apply")).collect();
    assert!(!applies.is_empty(), "{what}: no moat apply in {calls:?}");
    for c in &applies {
        assert!(
            c.contains("--plan "),
            "{what}: applies without the saved plan: {c}"
        );
        assert!(c.contains("--auto-approve"), "{what}: {c}");
    }
    assert!(
        !calls.iter().any(|c| c.contains("moat plan")),
        "{what}: the apply job plans again: {calls:?}"
    );
    let text = serde_yaml::to_string(apply).unwrap();
    assert!(
        !text.contains("continue-on-error"),
        "{what}: a failed apply must fail the job"
    );
}

#[test]
fn github_actions_applies_the_plan_artifact_its_plan_job_uploaded() {
    let wf = example("github-actions.yml");
    let jobs = &wf["jobs"];
    let (plan, apply) = (&jobs["plan"], &jobs["apply"]);
    let needs = match &apply["needs"] {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(v) => v
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => vec![],
    };
    assert!(
        needs.contains(&"plan".to_string()),
        "apply needs plan: {needs:?}"
    );
    assert!(
        apply["environment"].as_str().is_some(),
        "apply is gated by an environment"
    );
    let steps = |job: &Value| job["steps"].as_sequence().cloned().unwrap_or_default();
    let uses = |s: &Value, action: &str| s["uses"].as_str().is_some_and(|u| u.starts_with(action));
    let upload: Vec<Value> = steps(plan)
        .into_iter()
        .filter(|s| uses(s, "actions/upload-artifact"))
        .collect();
    let download: Vec<Value> = steps(apply)
        .into_iter()
        .filter(|s| uses(s, "actions/download-artifact"))
        .collect();
    assert_eq!(upload.len(), 1, "the plan job uploads one plan artifact");
    assert_eq!(download.len(), 1, "the apply job downloads it");
    assert_eq!(upload[0]["with"]["name"], download[0]["with"]["name"]);
    let saved = upload[0]["with"]["path"].as_str().unwrap();
    let plan_calls = moat_calls(&all_scripts(plan));
    assert!(
        plan_calls
            .iter()
            .any(|c| c.contains("moat plan") && c.contains(&format!("--out {saved}"))),
        "the plan job saves {saved}: {plan_calls:?}"
    );
    assert!(
        plan["if"].is_null(),
        "the plan job also runs on the push that applies"
    );
    assert_applies_saved_plan("github-actions.yml", apply);
    let applies = moat_calls(&all_scripts(apply));
    assert!(applies
        .iter()
        .any(|c| c.contains(&format!("--plan {saved}"))));
}

#[test]
fn azure_pipelines_applies_the_artifact_of_the_same_run() {
    let wf = example("azure-pipelines.yml");
    let stages = wf["stages"].as_sequence().unwrap();
    let stage = |name: &str| {
        stages
            .iter()
            .find(|s| s["stage"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("stage {name}"))
    };
    let (plan, apply) = (stage("plan"), stage("apply"));
    let plan_text = serde_yaml::to_string(plan).unwrap();
    assert!(
        plan_text.contains("artifact: plan-${{ s.name }}"),
        "{plan_text}"
    );
    let plan_calls = moat_calls(&all_scripts(plan));
    assert!(plan_calls
        .iter()
        .any(|c| c.contains("moat plan") && c.contains("--out ")));
    let apply_text = serde_yaml::to_string(apply).unwrap();
    assert!(apply_text.contains("download: current"), "{apply_text}");
    assert!(
        apply_text.contains("artifact: plan-${{ s.name }}"),
        "{apply_text}"
    );
    assert!(
        apply_text.contains("environment: production"),
        "{apply_text}"
    );
    assert_applies_saved_plan("azure-pipelines.yml", apply);
    let applies = moat_calls(&all_scripts(apply));
    assert!(
        applies
            .iter()
            .any(|c| c.contains("--plan $(Pipeline.Workspace)/plan-${{ s.name }}/plan.json")),
        "{applies:?}"
    );
}
