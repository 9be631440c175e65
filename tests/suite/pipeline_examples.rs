//! The shipped pipeline examples (`examples/*.yml`). The apply pipelines apply the reviewed saved
//! plan (issue 19): the apply job of each downloads the plan artifact its plan job published and
//! runs `moat apply --plan` on it, never a fresh `moat plan` or a blueprint-only `moat apply`
//! (which would apply what nobody reviewed). The drift alarms read `--detailed-exitcode`. The
//! rotation schedules (issue 20) run `moat rotate` one run at a time with federated login and no
//! secret in the file. Every moat command line of every example parses with moat's CLI, and
//! docs that show a pipeline file show it as it is.

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

/// The `case "$code" in … esac` branches of a script: `(pattern, body)` for `0)`, `2)`, `*)` ….
fn case_branches(script: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in script.lines().map(str::trim) {
        let pattern = line
            .strip_suffix(')')
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || "*|".contains(c)));
        match (pattern, out.last_mut()) {
            (Some(p), _) => out.push((p.to_string(), String::new())),
            (None, Some((_, body))) if line != ";;" && line != "esac" => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// The branches of the script's `case "$code"`, by pattern (`0`, `2`, `*`), after checking that
/// the script reads the exit code itself instead of losing it to `set -e`.
fn exit_branches<'a>(what: &'a str, script: &str) -> impl Fn(&str) -> String + 'a {
    assert!(
        script.contains("set +e") && script.contains("code=$?"),
        "{what}: the exit code is read, not lost to `set -e`: {script}"
    );
    let branches = case_branches(script);
    move |p: &str| {
        branches
            .iter()
            .find(|(pat, _)| pat.split('|').any(|x| x == p))
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("{what}: no `{p})` branch in {branches:?}"))
    }
}

/// Whether a branch body fails the job (an `exit` with a code other than 0).
fn fails(body: &str) -> bool {
    body.lines()
        .any(|l| l.starts_with("exit ") && l.trim_start_matches("exit ").trim() != "0")
}

/// A nightly drift job (issue 19): it plans with `--detailed-exitcode`, never applies, and reads
/// the exit code as 0 no drift (passes), 2 drift (fails, saying drift), anything else an error
/// (fails, saying so), in one script; nothing lets a failure pass.
fn assert_drift_alarm(what: &str, wf: &Value) {
    let scripts = all_scripts(wf);
    let calls = moat_calls(&scripts);
    assert!(
        !calls.iter().any(|c| c.contains("moat apply")),
        "{what}: a drift alarm never writes: {calls:?}"
    );
    let script = scripts
        .iter()
        .find(|s| s.contains("moat plan"))
        .unwrap_or_else(|| panic!("{what}: no moat plan"));
    let plan = moat_calls(std::slice::from_ref(script));
    assert!(
        plan.iter()
            .any(|c| c.contains("moat plan") && c.contains("--detailed-exitcode")),
        "{what}: {plan:?}"
    );
    let body = exit_branches(what, script);
    let (none, drift, error) = (body("0"), body("2"), body("*"));
    assert!(!fails(&none), "{what}: no drift passes: {none}");
    assert!(
        fails(&drift) && drift.to_lowercase().contains("drift"),
        "{what}: exit 2 is drift, and fails the job: {drift}"
    );
    assert!(
        fails(&error) && !error.contains("drifted from"),
        "{what}: exit 1 is an error, not drift: {error}"
    );
    let text = serde_yaml::to_string(wf).unwrap();
    assert!(!text.contains("continue-on-error"), "{what}");
}

#[test]
fn github_actions_nightly_drift_job_alarms_on_exit_2_and_fails_on_1() {
    let wf = example("github-actions-nightly-drift.yml");
    let cron = wf["on"]["schedule"][0]["cron"].as_str().unwrap_or_default();
    assert_eq!(
        cron.split_whitespace().count(),
        5,
        "a nightly schedule: {cron:?}"
    );
    assert!(
        wf["on"]["pull_request"].is_null() && wf["on"]["push"].is_null(),
        "scheduled, not on code changes"
    );
    assert_eq!(wf["permissions"]["contents"], "read");
    assert!(
        wf["jobs"]["drift"]["environment"].is_null(),
        "the read-only planner needs no approval"
    );
    assert_drift_alarm("github-actions-nightly-drift.yml", &wf);
}

#[test]
fn azure_pipelines_nightly_drift_job_alarms_on_exit_2_and_fails_on_1() {
    let wf = example("azure-pipelines-nightly-drift.yml");
    assert_eq!(wf["trigger"], "none");
    assert_eq!(wf["pr"], "none");
    let schedule = &wf["schedules"][0];
    assert_eq!(
        schedule["cron"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .count(),
        5
    );
    assert_eq!(
        schedule["always"], true,
        "runs without new commits: drift happens in Azure"
    );
    let text = serde_yaml::to_string(&wf).unwrap();
    assert!(
        text.contains("azureSubscription: moat-planner-wif"),
        "{text}"
    );
    assert!(!text.contains("moat-applier"), "{text}");
    assert_drift_alarm("azure-pipelines-nightly-drift.yml", &wf);
}

#[test]
fn case_branches_reads_a_shell_case() {
    let b = case_branches("case \"$code\" in\n  0)\n    echo ok\n    ;;\n  2|3)\n    exit 2\n    ;;\n  *)\n    exit 1\nesac\n");
    assert_eq!(
        b,
        vec![
            ("0".to_string(), "echo ok\n".to_string()),
            ("2|3".to_string(), "exit 2\n".to_string()),
            ("*".to_string(), "exit 1\n".to_string()),
        ]
    );
}

#[test]
fn github_actions_uploads_the_blueprint_findings_as_sarif_even_when_validation_fails() {
    let wf = example("github-actions.yml");
    let job = &wf["jobs"]["validate"];
    assert_eq!(job["permissions"]["security-events"], "write");
    let steps = job["steps"].as_sequence().unwrap();
    let calls = moat_calls(&all_scripts(job));
    let sarif = calls
        .iter()
        .find_map(|c| {
            c.contains("moat validate")
                .then(|| c.split("--format sarif > ").nth(1))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no moat validate --format sarif > FILE in {calls:?}"));
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif"))
        })
        .expect("an upload-sarif step");
    assert_eq!(upload["with"]["sarif_file"].as_str(), Some(sarif.trim()));
    assert_eq!(
        upload["if"].as_str(),
        Some("always()"),
        "uploaded when validate exits 1"
    );
}

/// A script line's words as a shell reads them: quotes grouped and dropped, stopping at the first
/// unquoted redirection, pipe or list operator (`>`, `|`, `;`, `&`).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, '>' | '|' | ';' | '&') => break,
            (None, c) if c.is_whitespace() => {
                if started || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                started = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if started || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Every command line of the scripts whose program is moat (`moat`, `~/.cargo/bin/moat`), as words.
fn moat_invocations(scripts: &[String]) -> Vec<Vec<String>> {
    scripts
        .iter()
        .flat_map(|s| {
            s.replace("\\\n", " ")
                .lines()
                .map(shell_words)
                .collect::<Vec<_>>()
        })
        .filter(|w| {
            w.first()
                .is_some_and(|p| p == "moat" || p.ends_with("/moat"))
        })
        .collect()
}

/// The pipeline examples call only commands and flags moat has: every moat command line of every
/// `examples/*.yml` parses with moat's own CLI definition (clap), as the binary would parse it.
#[test]
fn every_moat_call_in_the_pipeline_examples_parses_with_the_cli() {
    use clap::Parser;
    let dir = format!("{}/examples", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    files.sort();
    for must in ["github-actions-rotate.yml", "azure-pipelines-rotate.yml"] {
        assert!(files.iter().any(|f| f == must), "{must} in {files:?}");
    }
    for f in &files {
        let calls = moat_invocations(&all_scripts(&example(f)));
        assert!(!calls.is_empty(), "{f}: no moat command");
        for words in calls {
            if let Err(e) = moat::cli::Cli::try_parse_from(&words) {
                panic!(
                    "{f}: `{}` is not a moat command line:\n{e}",
                    words.join(" ")
                );
            }
        }
    }
}

#[test]
fn shell_words_groups_quotes_and_stops_at_operators() {
    assert_eq!(
        shell_words(
            r#"moat plan "$BLUEPRINT" --instance "${{ matrix.instance }}" --format markdown > x.md"#
        ),
        [
            "moat",
            "plan",
            "$BLUEPRINT",
            "--instance",
            "${{ matrix.instance }}",
            "--format",
            "markdown"
        ]
    );
    assert_eq!(
        shell_words("moat validate a.yaml | tee o; echo"),
        ["moat", "validate", "a.yaml"]
    );
    assert_eq!(shell_words("moat x ''"), ["moat", "x", ""]);
}

/// A scheduled rotation job (issue 20): it runs `moat rotate` on the blueprint (never `--force`,
/// never apply), reads the exit code itself (0 passes, anything else fails the run, saying so),
/// and the file holds no secret: login is federated.
fn assert_rotation_job(what: &str, wf: &Value) {
    let scripts = all_scripts(wf);
    let script = scripts
        .iter()
        .find(|s| s.contains("moat rotate"))
        .unwrap_or_else(|| panic!("{what}: no moat rotate"));
    let calls = moat_invocations(&scripts);
    assert!(
        calls
            .iter()
            .all(|w| w.get(1).map(String::as_str) == Some("rotate")),
        "{what}: a rotation job only rotates: {calls:?}"
    );
    assert!(
        calls.iter().all(|w| !w.iter().any(|x| x == "--force")),
        "{what}: a schedule never forces a step that is not due: {calls:?}"
    );
    let body = exit_branches(what, script);
    assert!(!fails(&body("0")), "{what}: exit 0 passes");
    assert!(fails(&body("*")), "{what}: any other exit fails the run");
    let text = serde_yaml::to_string(wf).unwrap();
    assert!(!text.contains("continue-on-error"), "{what}");
    let lower = text.to_lowercase();
    for secret in [
        "secrets.",
        "client-secret",
        "clientsecret",
        "creds:",
        "password",
        "moat_access_token",
        "moat_vault_access_token",
        "api-key",
    ] {
        assert!(!lower.contains(secret), "{what}: `{secret}` in the file");
    }
}

#[test]
fn github_actions_rotates_daily_with_oidc_one_run_at_a_time() {
    let wf = example("github-actions-rotate.yml");
    let cron = wf["on"]["schedule"][0]["cron"].as_str().unwrap_or_default();
    assert_eq!(cron.split_whitespace().count(), 5, "a schedule: {cron:?}");
    assert!(
        wf["on"]["push"].is_null() && wf["on"]["pull_request"].is_null(),
        "rotation is due by the clock, never on code changes"
    );
    assert!(
        wf["concurrency"]["group"].as_str().is_some(),
        "one concurrency group for every run"
    );
    assert_eq!(
        wf["concurrency"]["cancel-in-progress"], false,
        "a running rotation is never cancelled half-way"
    );
    assert_eq!(wf["permissions"]["id-token"], "write", "OIDC federation");
    assert_eq!(wf["permissions"]["contents"], "read");
    let jobs = wf["jobs"].as_mapping().unwrap();
    assert_eq!(jobs.len(), 1, "one job: no matrix of parallel rotations");
    let job = &wf["jobs"]["rotate"];
    assert!(job["strategy"].is_null(), "no matrix");
    let login = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("azure/login@"))
        })
        .expect("an azure/login step");
    assert!(login["with"]["client-id"].as_str().is_some());
    assert!(login["with"]["client-secret"].is_null() && login["with"]["creds"].is_null());
    assert_rotation_job("github-actions-rotate.yml", &wf);
}

#[test]
fn azure_pipelines_rotates_daily_with_workload_identity_behind_an_exclusive_lock() {
    let wf = example("azure-pipelines-rotate.yml");
    assert_eq!(wf["trigger"], "none");
    assert_eq!(wf["pr"], "none");
    let schedule = &wf["schedules"][0];
    let cron = schedule["cron"].as_str().unwrap_or_default();
    assert_eq!(cron.split_whitespace().count(), 5, "{cron:?}");
    assert_eq!(schedule["always"], true, "due by the clock, not by commits");
    assert_eq!(
        wf["lockBehavior"], "sequential",
        "queued runs wait for the exclusive lock"
    );
    let stages = wf["stages"].as_sequence().unwrap();
    let jobs: Vec<&Value> = stages
        .iter()
        .flat_map(|s| s["jobs"].as_sequence().unwrap().iter())
        .collect();
    assert_eq!(jobs.len(), 1, "one job");
    assert!(
        jobs[0]["deployment"].as_str().is_some() && jobs[0]["environment"].as_str().is_some(),
        "a deployment job on an environment (which holds the Exclusive lock check)"
    );
    let text = serde_yaml::to_string(&wf).unwrap();
    assert!(text.contains("task: AzureCLI@2"), "{text}");
    assert!(
        text.contains("azureSubscription: moat-rotate-wif"),
        "{text}"
    );
    assert_rotation_job("azure-pipelines-rotate.yml", &wf);
}

/// Where a document shows a shipped file (`<!-- file: PATH -->` before a fenced block), the block
/// is the file, byte for byte: the copy a reader pastes is the one the tests check.
#[test]
fn docs_show_the_shipped_pipeline_files_as_they_are() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut shown = Vec::new();
    for entry in std::fs::read_dir(format!("{root}/docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let doc = std::fs::read_to_string(&path).unwrap();
        for (i, part) in doc.split("<!-- file: ").enumerate().skip(1) {
            let (file, rest) = part.split_once(" -->\n").unwrap_or_else(|| {
                panic!(
                    "{}: marker {i} is not `<!-- file: PATH -->`",
                    path.display()
                )
            });
            let block = rest
                .strip_prefix("```yaml\n")
                .and_then(|b| b.split_once("\n```\n"))
                .map(|(b, _)| format!("{b}\n"))
                .unwrap_or_else(|| panic!("{}: no ```yaml block after {file}", path.display()));
            let want = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
            assert_eq!(
                block,
                want,
                "{}: the copy of {file} differs",
                path.display()
            );
            shown.push(file.to_string());
        }
    }
    for must in [
        "examples/github-actions-rotate.yml",
        "examples/azure-pipelines-rotate.yml",
    ] {
        assert!(shown.iter().any(|f| f == must), "{must} in {shown:?}");
    }
}
