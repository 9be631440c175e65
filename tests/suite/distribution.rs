//! Distribution without a Rust toolchain (issue 19): the release workflow, the reusable action and
//! the container definition agree with each other. They cannot run here (no GitHub, no network),
//! so their shape is checked: every target the action installs is built and checksummed by the
//! release, the action verifies the checksum before it runs the binary, and the image is static,
//! non-root and verifies TLS.

use serde_yaml::Value;

fn file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&file(path)).unwrap()
}

/// Target triples in the action's `case` (`target=TRIPLE;`).
fn action_targets(script: &str) -> Vec<String> {
    script
        .split("target=")
        .skip(1)
        .filter_map(|t| t.split(';').next())
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn the_release_builds_and_checksums_every_target_the_action_installs() {
    let release = yaml(".github/workflows/release.yml");
    assert!(
        release["on"]["push"]["tags"].is_sequence(),
        "released on tags"
    );
    let build = &release["jobs"]["build"];
    let built: Vec<String> = build["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap().to_string())
        .collect();
    for t in [
        "x86_64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(built.contains(&t.to_string()), "{t} not built: {built:?}");
    }
    let steps = serde_yaml::to_string(&build["steps"]).unwrap();
    assert!(steps.contains("--locked --release --target"), "{steps}");
    assert!(steps.contains("sha256sum"), "every asset gets a checksum");
    let publish = serde_yaml::to_string(&release["jobs"]["release"]).unwrap();
    assert!(publish.contains("sha256sum -c SHA256SUMS"), "{publish}");

    let action = yaml(".github/actions/moat-plan/action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    let install = action["runs"]["steps"][0]["run"].as_str().unwrap();
    let targets = action_targets(install);
    assert!(!targets.is_empty());
    for t in &targets {
        assert!(
            built.contains(t),
            "the action installs {t}, which the release does not build"
        );
    }
    // Same asset names on both sides: moat-{tag}-{target}-{exe}.
    assert!(steps.contains(r#"name="moat-${GITHUB_REF_NAME}-${{ matrix.target }}""#));
    assert!(steps.contains(r#""${name}-${{ matrix.exe }}""#));
    assert!(install.contains(r#"asset="moat-${VERSION}-${target}-${exe}""#));
    // The checksum is verified before the binary is made executable or run.
    let verify = install.find("sha256sum -c").expect("checksum verified");
    let download = install.find("gh release download").unwrap();
    let chmod = install.find("chmod +x").unwrap();
    assert!(download < verify && verify < chmod, "{install}");
    assert!(
        install.contains("set -euo pipefail"),
        "a failed check stops the step"
    );
    let plan = action["runs"]["steps"][1]["run"].as_str().unwrap();
    assert!(
        plan.contains("--out") && plan.contains("--detailed-exitcode"),
        "{plan}"
    );
    assert!(
        plan.contains(r#"if [ "$code" = "1" ]; then exit 1; fi"#),
        "exit 1 fails the step"
    );
}

#[test]
fn the_container_is_static_non_root_and_verifies_tls() {
    let df = file(".github/container/Dockerfile");
    let lines: Vec<&str> = df
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    assert_eq!(
        lines[last_from], "FROM scratch",
        "the final image holds only moat"
    );
    let final_stage = lines[last_from..].join("\n");
    assert!(final_stage.contains("ca-certificates.crt"), "{final_stage}");
    assert!(final_stage.contains("USER 65532:65532"), "{final_stage}");
    assert!(final_stage.contains(r#"ENTRYPOINT ["/usr/local/bin/moat"]"#));
    let release = file(".github/workflows/release.yml");
    assert!(release.contains("x86_64-unknown-linux-musl-moat .github/container/moat"));
}
