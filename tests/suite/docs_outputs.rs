//! Every example of moat's output in docs/ is the real output of the binary: a fenced block
//! right after `<!-- output: moat ARGS [&& moat ARGS …] -->` is compared with what those commands
//! print (the last one's stdout and stderr), run in a fresh directory with the repository's
//! examples and blueprints and the embedded emulator. A line `…` stands for any lines; `…` inside
//! a line for any text. A block that looks like moat's output without the marker fails too, so
//! docs cannot drift from behaviour again (issue 15).

use std::path::Path;

use assert_cmd::Command;

use crate::support::e2e::copy_dir;

/// `pattern` (one line, `…` = any text) matches `line`.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let mut rest = line;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// The block's lines appear in the output in order (`…` lines skip any number of lines; without
/// one, the next block line must match the next output line).
fn block_matches(block: &[&str], output: &[&str]) -> Result<(), String> {
    fn go(b: &[&str], o: &[&str]) -> bool {
        match b.split_first() {
            None => true,
            Some((&"…", rest)) => (0..=o.len()).any(|k| go(rest, &o[k..])),
            Some((first, rest)) => {
                o.first().is_some_and(|l| line_matches(first, l)) && go(rest, &o[1..])
            }
        }
    }
    // The block may start anywhere in the output.
    if (0..=output.len()).any(|k| go(block, &output[k..])) {
        Ok(())
    } else {
        Err(format!(
            "--- documented\n{}\n--- real output\n{}",
            block.join("\n"),
            output.join("\n")
        ))
    }
}

fn run(dir: &Path, commands: &str) -> String {
    let mut last = String::new();
    for cmd in commands.split("&&") {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(args.first(), Some(&"moat"), "{cmd}: only moat commands");
        let o = Command::cargo_bin("moat")
            .unwrap()
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env_remove("MOAT_ACCESS_TOKEN")
            .env_remove("MOAT_ARM_ENDPOINT")
            .args(&args[1..])
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    last
}

/// Looks like something moat prints.
fn looks_like_output(block: &str) -> bool {
    block.starts_with("moat plan for ")
        || block.starts_with("error: ")
        || block
            .lines()
            .any(|l| l.starts_with("Plan: ") || l.starts_with("Applied "))
}

#[test]
fn every_output_example_in_the_docs_is_what_the_binary_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root.join("README.md"));
    docs.sort();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].starts_with("```") {
                i += 1;
                continue;
            }
            let start = i + 1;
            let end = start
                + lines[start..]
                    .iter()
                    .position(|l| l.starts_with("```"))
                    .unwrap();
            let block = &lines[start..end];
            let marker = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.strip_prefix("<!-- output: "))
                .and_then(|l| l.strip_suffix(" -->"));
            let at = format!("{}:{}", doc.display(), i + 1);
            match marker {
                Some(commands) => {
                    let tmp = tempfile::tempdir().unwrap();
                    copy_dir(&root.join("examples"), &tmp.path().join("examples"));
                    copy_dir(&root.join("blueprints"), &tmp.path().join("blueprints"));
                    let out = run(tmp.path(), commands);
                    let out_lines: Vec<&str> = out.lines().collect();
                    if let Err(e) = block_matches(block, &out_lines) {
                        failures.push(format!("{at}: `{commands}`\n{e}"));
                    }
                    checked += 1;
                }
                None if looks_like_output(&block.join("\n")) => failures.push(format!(
                    "{at}: an example of moat's output without `<!-- output: moat … -->`"
                )),
                None => {}
            }
            i = end + 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 2, "only {checked} output examples checked");
}

#[test]
fn the_matcher_matches_what_it_should_and_nothing_else() {
    assert!(line_matches("a…c", "abbbc"));
    assert!(line_matches("…c", "xyc") && line_matches("a…", "axy"));
    assert!(!line_matches("a…c", "abd") && !line_matches("abc", "abcd"));
    let out = ["x", "one", "two", "three", "y"];
    assert!(block_matches(&["one", "…", "three"], &out).is_ok());
    assert!(block_matches(&["one", "three"], &out).is_err());
    assert!(block_matches(&["one", "two"], &out).is_ok());
    assert!(block_matches(&["nine"], &out).is_err());
}
