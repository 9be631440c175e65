//! Every `moat …` command shown in README.md and docs/ is a contract: each must parse with
//! today's CLI (subcommands and flags exist), and the runnable ones are run by the other CLI
//! tests. Also: fleet sharding selectors through the binary.

use std::path::Path;

use assert_cmd::Command;
use clap::Parser;

/// Command lines in fenced `sh` blocks, as `moat` argument vectors.
fn documented_commands() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut in_sh = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("```") {
                in_sh = t == "```sh";
                continue;
            }
            if !in_sh {
                continue;
            }
            let cmd = t
                .split(" #")
                .next()
                .unwrap()
                .split(" > ")
                .next()
                .unwrap()
                .trim();
            let cmd = cmd
                .strip_prefix("cargo run --release -- ")
                .map(|c| format!("moat {c}"))
                .unwrap_or(cmd.to_string());
            if !cmd.starts_with("moat ") {
                continue;
            }
            let args: Vec<String> = cmd
                .split_whitespace()
                .map(|a| a.trim_matches('"').to_string())
                .collect();
            out.push((
                format!("{}: {cmd}", f.file_name().unwrap().to_string_lossy()),
                args,
            ));
        }
    }
    out
}

#[test]
fn every_documented_command_parses() {
    let cmds = documented_commands();
    assert!(
        cmds.len() >= 15,
        "expected the docs to show commands, found {}",
        cmds.len()
    );
    let mut bad = Vec::new();
    for (where_, args) in &cmds {
        if let Err(e) = moat::cli::Cli::try_parse_from(args) {
            bad.push(format!("{where_}\n{e}"));
        }
    }
    assert!(
        bad.is_empty(),
        "documented commands that do not parse:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_doc_is_linked_from_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            readme.contains(&format!("(docs/{name})")),
            "README.md does not link docs/{name}"
        );
    }
}

fn moat(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::cargo_bin("moat")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_ACCESS_TOKEN")
        .env_remove("MOAT_ARM_ENDPOINT")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn fleet_sharding_selects_instances_by_name_and_subscription() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["examples", "blueprints"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), tmp.path().join(dir).join(e.file_name())).unwrap();
        }
    }
    // The quickstart seed holds the fleet's first instance: one shard plans just that one.
    let (code, out, err) = moat(
        tmp.path(),
        &[
            "plan",
            "examples/fleet.yaml",
            "--emulator",
            "--instance",
            "contoso-openai-prod",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("(1 instance)") && out.contains("instance contoso-openai-prod "),
        "{out}"
    );
    assert!(!out.contains("contoso-openai-weu"), "{out}");

    // The second subscription's shard: its two instances, and only those (their accounts do not
    // exist in this seed, so the plan is blocked: exit 1).
    let (code, out, _) = moat(
        tmp.path(),
        &[
            "plan",
            "examples/fleet.yaml",
            "--emulator",
            "--subscription",
            "0b7c3d9e-8f21-4a6b-b5c4-2d9e7f1a3c68",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("(2 instances)")
            && out.contains("instance contoso-openai-weu ")
            && out.contains("instance contoso-openai-weu-batch "),
        "{out}"
    );
    assert!(!out.contains("instance contoso-openai-prod "), "{out}");

    let (code, _, err) = moat(
        tmp.path(),
        &[
            "plan",
            "examples/fleet.yaml",
            "--emulator",
            "--instance",
            "nope",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--instance nope: no such instance"), "{err}");
}
