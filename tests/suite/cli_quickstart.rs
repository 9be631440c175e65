//! The README's newcomer path through the built binary, in a fresh directory:
//! plan (full hardening plan) → apply → plan ("No changes."), all on the embedded emulator.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use crate::support::e2e::copy_dir;

fn moat(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("moat")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ACCESS_TOKEN")
        .env_remove("MOAT_ARM_ENDPOINT")
        .args(args)
        .output()
        .unwrap()
}

/// A fresh directory holding copies of examples/ and blueprints/, as a newcomer's checkout.
fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("examples"), &tmp.path().join("examples"));
    copy_dir(&root.join("blueprints"), &tmp.path().join("blueprints"));
    tmp
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn readme_quickstart_plan_apply_plan_ends_in_no_changes() {
    let tmp = project();

    let o = moat(
        tmp.path(),
        &["plan", "examples/quickstart.yaml", "--emulator"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    for expected in [
        "+ contoso-openai-prod/private-endpoint/contoso-openai-prod-pe  create",
        "~ contoso-openai-prod/account/public-network-access  update",
        "~ contoso-openai-prod/account/local-auth  update",
        "~ contoso-openai-prod/deployment/gpt-4o  update",
        "Cognitive Services OpenAI User",
        "holds the privileged role Contributor",
        "Plan: 16 to create, 6 to update, 0 to delete.",
    ] {
        assert!(
            out.contains(expected),
            "plan output lacks {expected:?}:\n{out}"
        );
    }
    assert!(err.contains("Started the embedded ARM emulator"), "{err}");
    assert!(tmp.path().join(".moat/emulator-state.json").exists());

    // Without a terminal, apply refuses unless --auto-approve.
    let o = moat(
        tmp.path(),
        &["apply", "examples/quickstart.yaml", "--emulator"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("--auto-approve"), "{err}");

    let o = moat(
        tmp.path(),
        &[
            "apply",
            "examples/quickstart.yaml",
            "--emulator",
            "--auto-approve",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("Applied 22 change(s), 0 failed, 0 skipped."),
        "{out}"
    );
    assert!(
        out.contains("Apply complete: live state matches the blueprint."),
        "{out}"
    );

    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/quickstart.yaml",
            "--emulator",
            "--detailed-exitcode",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("No changes."), "{out}");

    // `moat emulator --reset` starts over: the brownfield plan is back (exit 2 with the flag).
    let o = moat(tmp.path(), &["emulator", "--reset"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/quickstart.yaml",
            "--emulator",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

#[test]
fn saved_plan_markdown_and_json_formats_through_the_binary() {
    let tmp = project();
    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/quickstart.yaml",
            "--emulator",
            "--format",
            "markdown",
            "--out",
            "plan.json",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.starts_with(
            "<!-- moat-plan: examples/quickstart.yaml -->\n## moat plan: `examples/quickstart.yaml`"
        ),
        "{out}"
    );
    assert!(out.contains("<details><summary><b>contoso-openai-prod</b>"));
    let saved = std::fs::read_to_string(tmp.path().join("plan.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["summary"]["create"], 16);

    let o = moat(
        tmp.path(),
        &[
            "apply",
            "--plan",
            "plan.json",
            "--emulator",
            "--auto-approve",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("Apply complete"), "{out}");

    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/quickstart.yaml",
            "--emulator",
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["has_changes"], false);
}

#[test]
fn help_version_completions_and_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = moat(root, &["--version"]);
    let (out, _) = text(&o);
    assert!(
        out.starts_with(&format!("moat {} (", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    for sub in [
        "plan",
        "apply",
        "validate",
        "schema",
        "emulator",
        "completions",
    ] {
        let o = moat(root, &[sub, "--help"]);
        let (out, _) = text(&o);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            out.contains("Example"),
            "`moat {sub} --help` has no examples:\n{out}"
        );
    }
    let o = moat(root, &["completions", "bash"]);
    assert!(text(&o).0.contains("complete -F"), "bash completions");

    let o = moat(
        root,
        &[
            "validate",
            "examples/quickstart.yaml",
            "examples/fleet.yaml",
            "examples/greenfield.yaml",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    std::fs::write(
        tmp.path().join("bad.yaml"),
        "version: 1\ninstances:\n  - name: x\n    colour: blue\n",
    )
    .unwrap();
    let o = moat(tmp.path(), &["validate", "bad.yaml"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        format!("{out}{err}").contains("bad.yaml:4:5"),
        "{out}\n{err}"
    );
    // An invalid blueprint never reaches ARM: plan fails before connecting.
    let o = moat(
        tmp.path(),
        &["plan", "bad.yaml", "--arm-endpoint", "http://127.0.0.1:9"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("nothing was sent to Azure"));
}

/// Fleet isolation (issue 15): one instance with a blocked change is held back; the others are
/// applied and converge, and apply exits 1 naming what it held back and why.
#[test]
fn a_blocked_instance_is_held_back_and_the_rest_of_the_fleet_applies() {
    let tmp = project();
    // A second instance whose account does not exist and may not be created: blocked.
    let fleet = std::fs::read_to_string(tmp.path().join("examples/quickstart.yaml")).unwrap()
        + "  - name: contoso-openai-missing\n    subscription: 6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10\n    resourceGroup: rg-ai-prod\n    accountName: contoso-openai-missing\n    location: eastus\n    kind: OpenAI\n    controls:\n      localAuth: {}\n";
    std::fs::write(tmp.path().join("examples/fleet-held.yaml"), fleet).unwrap();

    let o = moat(
        tmp.path(),
        &[
            "apply",
            "examples/fleet-held.yaml",
            "--emulator",
            "--auto-approve",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("held back: instance contoso-openai-missing has 1 blocked change(s)"),
        "{err}"
    );
    assert!(
        out.contains("Applied 22 change(s), 0 failed, 0 skipped."),
        "{out}"
    );
    assert!(
        out.contains("Apply complete for the other instances; held back: contoso-openai-missing"),
        "{out}"
    );
    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/fleet-held.yaml",
            "--emulator",
            "--instance",
            "contoso-openai-prod",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("No changes."), "{out}");
}

/// `--emulator --seed FILE` runs any blueprint locally from its own brownfield seed (issue 19):
/// the fleet example converges (plan → apply → plan with no changes), in a state of its own next
/// to the quickstart's, and `moat emulator --reset` forgets both.
#[test]
fn any_blueprint_converges_on_the_embedded_emulator_from_its_own_seed() {
    let tmp = project();
    let run = |verb: &str, extra: &[&str]| {
        let mut args = vec![
            verb,
            "examples/fleet.yaml",
            "--emulator",
            "--seed",
            "examples/fleet-seed.json",
        ];
        args.extend_from_slice(extra);
        moat(tmp.path(), &args)
    };
    let o = run("plan", &["--detailed-exitcode"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("Started the embedded ARM emulator from examples/fleet-seed.json"),
        "{err}"
    );
    assert!(!out.contains("createIfMissing"), "{out}");
    let o = run("apply", &["--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = run("plan", &["--detailed-exitcode"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("No changes."), "{out}");
    let states: Vec<String> = std::fs::read_dir(tmp.path().join(".moat"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        states
            .iter()
            .any(|n| n.starts_with("emulator-state-fleet-seed-")),
        "{states:?}"
    );
    // The quickstart's own state is separate and untouched.
    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/quickstart.yaml",
            "--emulator",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    let o = moat(tmp.path(), &["emulator", "--reset"]);
    let (_, err) = text(&o);
    assert_eq!(
        err.matches("Removed .moat/emulator-state").count(),
        2,
        "{err}"
    );
    // A seed that is not a regular file is refused before anything starts.
    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/fleet.yaml",
            "--emulator",
            "--seed",
            "/dev/zero",
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    // --seed without --emulator is a usage error.
    let o = moat(
        tmp.path(),
        &["plan", "examples/fleet.yaml", "--seed", "x.json"],
    );
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

/// `-v` on plan says what it read and decided, one line per change and a per-instance summary,
/// with no escape byte when `--no-color` is given (issue 19).
#[test]
fn verbose_plan_logs_reads_and_decisions_without_escape_bytes() {
    let tmp = project();
    let o = moat(
        tmp.path(),
        &[
            "plan",
            "examples/quickstart.yaml",
            "--emulator",
            "-v",
            "--no-color",
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        !err.contains('\x1b'),
        "an escape byte in -v output: {err:?}"
    );
    assert!(
        err.contains("contoso-openai-prod: read 17 resources and lists from ARM"),
        "{err}"
    );
    assert!(
        err.contains("contoso-openai-prod/account/identity: update: managed identity first"),
        "{err}"
    );
    assert!(
        err.contains("contoso-openai-prod: planned 16 to create, 6 to update, 0 to delete"),
        "{err}"
    );
    // Without -v, none of it.
    let o = moat(
        tmp.path(),
        &["plan", "examples/quickstart.yaml", "--emulator"],
    );
    assert!(!text(&o).1.contains(" INFO "), "{:?}", text(&o).1);
}
