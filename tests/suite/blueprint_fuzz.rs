//! Loading never panics: random text and random edits of valid blueprints go through
//! `load_str`, which must return (Ok or Err) every time. Errors must carry positions inside
//! the text they point into.

use proptest::prelude::*;

use moat::blueprint;

fn seeds() -> Vec<String> {
    [
        "examples/quickstart.yaml",
        "examples/fleet.yaml",
        "examples/greenfield.yaml",
        "blueprints/exceptions.yaml",
    ]
    .iter()
    .map(|p| {
        std::fs::read_to_string(p)
            .unwrap()
            // load_str resolves imports against the current directory (the crate root).
            .replace(
                "../blueprints/strict-baseline.yaml",
                "blueprints/strict-baseline.yaml",
            )
            .replace(
                "imports: [strict-baseline.yaml]",
                "imports: [blueprints/strict-baseline.yaml]",
            )
    })
    .collect()
}

fn check(text: &str) {
    match blueprint::load_str("fuzz.yaml", text) {
        Ok(bp) => assert!(!bp.digest.is_empty()),
        Err(diags) => {
            assert!(diags.has_errors());
            let lines = text.lines().count().max(1) + 1;
            for d in diags.0.iter().filter(|d| d.file == "fuzz.yaml") {
                assert!(
                    d.line >= 1 && d.line <= lines,
                    "{d} (text has {lines} lines)"
                );
                assert!(d.column >= 1, "{d}");
            }
            let _ = diags.to_string();
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Dedent(usize),
}

const FRAGMENTS: &[&str] = &[
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "~",
    "'",
    "\"",
    "\n  ",
    "\t",
    "!!binary ",
    "#",
    ": [",
    "null",
    "yes",
    "-1",
    "99999999999999999999",
    "é",
    "\u{0}",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), prop::sample::select(FRAGMENTS.to_vec()))
            .prop_map(|(a, s)| Edit::Insert(a, s.to_string())),
        (any::<usize>(), "[ -~]{0,12}").prop_map(|(a, s)| Edit::Insert(a, s)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::Dedent),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match e {
        Edit::Delete(at, n) => {
            let at = at % (chars.len() + 1);
            let end = (at + n).min(chars.len());
            chars[..at].iter().chain(&chars[end..]).collect()
        }
        Edit::Insert(at, s) => {
            let at = at % (chars.len() + 1);
            chars[..at].iter().collect::<String>() + s + &chars[at..].iter().collect::<String>()
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let i = i % lines.len();
            lines.insert(i, lines[i].clone());
            lines.join("\n")
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
        Edit::Dedent(i) if !lines.is_empty() => {
            let n = lines.len();
            let l = &mut lines[i % n];
            *l = l.trim_start().to_string();
            lines.join("\n")
        }
        _ => text.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "[ -~\n\t]{0,300}") {
        check(&text);
    }

    #[test]
    fn edited_blueprints_never_panic(seed in 0usize..4, edits in prop::collection::vec(edit(), 1..6)) {
        let mut text = seeds()[seed].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        check(&text);
    }
}

#[test]
fn the_seeds_themselves_load() {
    for s in seeds() {
        assert!(blueprint::load_str("seed.yaml", &s).is_ok());
    }
}
