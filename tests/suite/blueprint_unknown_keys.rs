//! Mechanical mutation of every valid shipped blueprint: for every mapping with a fixed shape,
//! (1) add an unknown key, and (2) misspell each of its keys; validation must fail with an
//! "unknown key" error at exactly that key's line and column. Mappings whose keys are names
//! the user chooses (profiles, NSG rules by name, tags, declared deployments) are skipped:
//! there a new key is a new entry, not a mistake.

use std::path::{Path, PathBuf};

use moat::blueprint::schema::{Ty, DOCUMENT};
use moat::blueprint::yaml::{self, Kind, Node};
use moat::blueprint::{self, Options};

/// (line, column) of the first key of every fixed-shape mapping, and of every key in them.
#[derive(Default)]
struct Found {
    maps: Vec<(usize, usize, usize)>, // first key line, column, last line of the first entry
    keys: Vec<(usize, usize, String)>,
}

fn last_line(n: &Node) -> usize {
    match &n.kind {
        Kind::Seq(items) => items.iter().map(last_line).max().unwrap_or(n.loc.line),
        Kind::Map(entries) => entries
            .iter()
            .map(|(k, v)| k.loc.line.max(last_line(v)))
            .max()
            .unwrap_or(n.loc.line),
        _ => n.loc.line,
    }
}

fn walk(n: &Node, ty: &Ty, found: &mut Found) {
    match (ty, &n.kind) {
        (Ty::Obj(obj), Kind::Map(entries)) => {
            let Some((first_key, first_val)) = entries.first() else {
                return;
            };
            if first_key.loc != n.loc {
                return; // an alias: its keys are written elsewhere
            }
            found.maps.push((
                first_key.loc.line,
                first_key.loc.column,
                first_key.loc.line.max(last_line(first_val)),
            ));
            for (k, v) in entries {
                found.keys.push((k.loc.line, k.loc.column, k.name.clone()));
                if let Some(f) = obj.field(&k.name) {
                    walk(v, f.ty, found);
                }
            }
        }
        (Ty::List(item) | Ty::OneOrMany(item), Kind::Seq(items)) => {
            items.iter().for_each(|i| walk(i, item, found))
        }
        (Ty::Map { value, .. }, Kind::Map(entries)) => {
            entries.iter().for_each(|(_, v)| walk(v, value, found))
        }
        _ => {}
    }
}

fn copy_tree(to: &Path) {
    for dir in ["blueprints", "examples"] {
        std::fs::create_dir_all(to.join(dir)).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(&p)).unwrap();
        }
    }
}

fn shipped() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["blueprints", "examples"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn options() -> Options {
    Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    }
}

/// Validates `text` as if it were `rel` (so its imports resolve) and returns the output.
fn validate_as(root: &Path, rel: &Path, text: &str) -> (i32, String) {
    let path = root.join(rel);
    std::fs::write(&path, text).unwrap();
    let mut out = Vec::new();
    let code = blueprint::validate_files_with(std::slice::from_ref(&path), &mut out, &options());
    (code, String::from_utf8(out).unwrap())
}

fn expect_unknown_key(
    root: &Path,
    rel: &Path,
    text: &str,
    line: usize,
    col: usize,
    key: &str,
    failures: &mut Vec<String>,
) {
    let (code, out) = validate_as(root, rel, text);
    let want = format!(
        "{}:{line}:{col}: error: unknown key `{key}`",
        root.join(rel).display()
    );
    if code != 1 || !out.contains(&want) {
        failures.push(format!(
            "{} line {line} col {col} key {key}: expected `{want}`, got:\n{out}",
            rel.display()
        ));
    }
}

/// A typo: the second and third characters swapped (or one doubled for short keys).
fn misspell(key: &str) -> String {
    let c: Vec<char> = key.chars().collect();
    if c.len() >= 4 && c[1] != c[2] {
        let mut m = c.clone();
        m.swap(1, 2);
        m.into_iter().collect()
    } else {
        let mut m = c.clone();
        m.insert(1, c[1]);
        m.into_iter().collect()
    }
}

#[test]
fn an_unknown_key_in_any_mapping_is_reported_where_it_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(tmp.path());
    let mut failures = Vec::new();
    let mut mutants = 0;
    for rel in shipped() {
        let text = std::fs::read_to_string(&rel).unwrap();
        let root = yaml::parse(&rel.display().to_string(), &text).unwrap();
        let mut found = Found::default();
        walk(&root, &Ty::Obj(&DOCUMENT), &mut found);
        assert!(found.maps.len() > 3, "{}", rel.display());
        let lines: Vec<&str> = text.lines().collect();
        for (line, col, after) in &found.maps {
            let key = "zzUnknownKey";
            let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let src = &lines[line - 1];
            let before_key = src.chars().take(col - 1).collect::<String>();
            let (new_line, new_col) =
                if before_key.trim_end().ends_with('{') || before_key.trim_end().ends_with(',') {
                    // A flow mapping: put the key first inside the braces.
                    let rest: String = src.chars().skip(col - 1).collect();
                    mutated[line - 1] = format!("{before_key}{key}: 1, {rest}");
                    (*line, *col)
                } else {
                    mutated.insert(*after, format!("{}{key}: 1", " ".repeat(col - 1)));
                    (after + 1, *col)
                };
            mutants += 1;
            expect_unknown_key(
                tmp.path(),
                &rel,
                &(mutated.join("\n") + "\n"),
                new_line,
                new_col,
                key,
                &mut failures,
            );
        }
        for (line, col, key) in &found.keys {
            let bad = misspell(key);
            let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let src: Vec<char> = lines[line - 1].chars().collect();
            let tail: String = src[col - 1 + key.chars().count()..].iter().collect();
            let head: String = src[..col - 1].iter().collect();
            mutated[line - 1] = format!("{head}{bad}{tail}");
            mutants += 1;
            let (code, out) = validate_as(tmp.path(), &rel, &(mutated.join("\n") + "\n"));
            let want = format!(
                "{}:{line}:{col}: error: unknown key `{bad}`",
                tmp.path().join(&rel).display()
            );
            let hint = format!("hint: did you mean `{key}`?");
            if code != 1 || !out.contains(&want) || !out.contains(&hint) {
                failures.push(format!(
                    "{} misspelled {key} -> {bad}: expected `{want}` and `{hint}`, got:\n{out}",
                    rel.display()
                ));
            }
        }
    }
    assert!(mutants > 200, "only {mutants} mutants");
    assert!(
        failures.is_empty(),
        "{} of {mutants} mutants not caught:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
