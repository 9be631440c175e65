//! Saved plans as a pipeline uses them: `plan --out` in one job, `apply --plan` in another, from
//! whatever directory that job runs in (the plan finds its blueprint relative to itself), and a
//! failed plan is never advertised as ready to apply.

use crate::support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use moat::emulator::EmulatorHandle;
use serde_json::json;
use support::e2e::*;

/// `moat ARGS… --arm-endpoint <emulator>` in `cwd`, with a static token and no terminal.
async fn moat_in(cwd: &Path, emu: &EmulatorHandle, args: &[&str]) -> Output {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("moat"));
    c.current_dir(cwd)
        .env("MOAT_ACCESS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ARM_ENDPOINT")
        .env_remove("RUST_LOG")
        .args(args)
        .args(["--arm-endpoint", &emu.base_url()])
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
        .await
        .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The quickstart and the baseline it imports, copied under `root/repo`.
fn repo_copy(root: &Path) -> std::path::PathBuf {
    let repo = root.join("repo");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&src.join("examples"), &repo.join("examples"));
    copy_dir(&src.join("blueprints"), &repo.join("blueprints"));
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_from_another_working_directory() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let root = tempfile::tempdir().unwrap();
    let repo = repo_copy(root.path());
    let (plans, elsewhere) = (root.path().join("plans"), root.path().join("elsewhere"));
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();

    let out = moat_in(
        &repo,
        &emu,
        &[
            "plan",
            "examples/quickstart.yaml",
            "--out",
            "../plans/plan.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("apply it with `moat apply --plan ../plans/plan.json`"),
        "{}",
        text(&out.stderr)
    );
    let saved = plans.join("plan.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(doc["plan"]["blueprint"]["path"], "examples/quickstart.yaml");
    assert_eq!(
        doc["plan"]["blueprint"]["path_from_plan"],
        "../repo/examples/quickstart.yaml"
    );

    // Another job, another directory: no blueprint named, none in its working directory.
    let out = moat_in(
        &elsewhere,
        &emu,
        &["apply", "--auto-approve", "--plan", "../plans/plan.json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Apply complete: live state matches the blueprint."),
        "{}",
        text(&out.stdout)
    );

    // Converged: a plan with nothing to apply does not say how to apply it.
    let out = moat_in(
        &repo,
        &emu,
        &[
            "plan",
            "examples/quickstart.yaml",
            "--out",
            "../plans/plan.json",
        ],
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("it has no changes, so there is nothing to apply"),
        "{err}"
    );
    assert!(!err.contains("apply it with"), "{err}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_of_an_older_moat_still_finds_its_blueprint_from_the_working_directory() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let root = tempfile::tempdir().unwrap();
    let repo = repo_copy(root.path());
    let out = moat_in(
        &repo,
        &emu,
        &["plan", "examples/quickstart.yaml", "--out", "plan.json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // As moat wrote plans before `path_from_plan`: the same document without it.
    let file = repo.join("plan.json");
    let doc: moat::render::json::PlanDocument =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut plan = doc.plan;
    assert!(plan.blueprint.path_from_plan.take().is_some());
    let old = moat::render::json::render(&plan);
    assert!(!old.contains("path_from_plan"));
    std::fs::write(&file, old).unwrap();

    let out = moat_in(
        &repo,
        &emu,
        &["apply", "--auto-approve", "--plan", "plan.json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_plan_out_is_not_advertised_as_ready_to_apply() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let bp = load("examples/quickstart.yaml");
    let nsg = &bp.instances[0].controls.nsg.as_ref().unwrap().spec.nsg_id;
    // Someone else's rule under a name the blueprint uses: the plan blocks it.
    connect(&emu)
        .put(
            &format!("{nsg}/securityRules/Allow-App-Subnet"),
            moat::resources::security_rule::API_VERSION,
            &json!({"properties": {
                "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "10.99.0.0/16", "sourcePortRange": "*",
                "destinationAddressPrefix": "10.10.2.0/24", "destinationPortRange": "443"}}),
            moat::arm::Precondition::None,
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let out = moat_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &emu,
        &[
            "plan",
            "examples/quickstart.yaml",
            "--out",
            saved.to_str().unwrap(),
        ],
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("apply it with"), "{err}");
    assert!(
        err.contains("but it failed") && err.contains("plan again before applying"),
        "{err}"
    );
    emu.shutdown().await;
}
