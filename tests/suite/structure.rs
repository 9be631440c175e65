//! The shape of `src/`, read from the source tree at test time: no import cycles between files,
//! no file over 600 lines, and no kind-specific name in the kind-agnostic layers (the planner,
//! the observer, apply and the commands reach kinds only through `moat::resources::KINDS`).
//!
//! The reader is a small tokenizer, not a Rust parser: comments are dropped, string literals are
//! kept as one token (their text matters to the name check, never to the import graph), and paths
//! are recognised from `use` trees and from `crate::` / `super::` / `self::` / child-module
//! prefixes in code. That is enough for moat's code, and keeps the test free of a parser crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use moat::resources::KINDS;

const MAX_LINES: usize = 600;

/// The layers that must not know any kind by name.
const KIND_AGNOSTIC: &[&str] = &["src/plan", "src/observe.rs", "src/apply", "src/commands"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// `::`
    Path,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Rust source as tokens, without comments; numbers and lifetimes are dropped.
fn tokens(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == '"' || ((ch == 'r' || ch == 'b') && raw_or_byte_string(&c, i).is_some()) {
            // "…", b"…", r"…", r#"…"#, br#"…"#
            let start_line = line;
            let (hashes, open) = raw_or_byte_string(&c, i).unwrap_or((None, i));
            i = open + 1;
            let mut text = String::new();
            loop {
                if i >= c.len() {
                    break;
                }
                match (hashes, c[i]) {
                    (None, '\\') => {
                        text.push(c[i]);
                        text.push(at(i + 1));
                        line += usize::from(at(i + 1) == '\n');
                        i += 2;
                        continue;
                    }
                    (None, '"') => {
                        i += 1;
                        break;
                    }
                    (Some(n), '"') if (1..=n).all(|k| at(i + k) == '#') => {
                        i += 1 + n;
                        break;
                    }
                    (_, ch) => {
                        line += usize::from(ch == '\n');
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a): both dropped.
            if at(i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(c[start..i].iter().collect()),
                line,
            });
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token {
                tok: Tok::Path,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// At `r`/`b` starting a string literal: the raw string's `#` count (None: not raw) and the
/// index of its opening quote.
fn raw_or_byte_string(c: &[char], i: usize) -> Option<(Option<usize>, usize)> {
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    let raw = c.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let hashes = c[j.min(c.len())..]
        .iter()
        .take_while(|&&h| h == '#')
        .count();
    if raw && c.get(j + hashes) == Some(&'"') {
        Some((Some(hashes), j + hashes))
    } else if !raw && j > i && c.get(j) == Some(&'"') {
        Some((None, j))
    } else {
        None
    }
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// The paths a `use` tree names, starting at `toks[*i]`, with `prefix` before them; stops after
/// the tree (at `,`, `}` or `;`, which it does not consume).
fn use_tree(
    toks: &[Token],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let mut path = prefix;
    let line = toks.get(*i).map_or(0, |t| t.line);
    loop {
        match toks.get(*i).map(|t| &t.tok) {
            Some(Tok::Ident(s)) if s == "as" => {
                *i += 2;
            }
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
            }
            Some(Tok::Path) => *i += 1,
            Some(Tok::Punct('*')) => *i += 1,
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match toks.get(*i).map(|t| &t.tok) {
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            break;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, path.clone(), out),
                    }
                }
                return;
            }
            _ => break,
        }
    }
    out.push((path, line));
}

/// One file of `src/`.
struct File {
    rel: String,
    /// Its module path (`resources::kind`; `mod.rs` is its directory's module).
    module: Vec<String>,
    text: String,
    toks: Vec<Token>,
}

fn src_files() -> Vec<File> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    let mut todo = vec![root.join("src")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p: PathBuf| {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = rel
                .trim_start_matches("src/")
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_string)
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let toks = tokens(&text);
            File {
                rel,
                module,
                text,
                toks,
            }
        })
        .collect()
}

/// The library's files by module path (`main.rs` is another crate: its `crate::` is not this one).
fn by_module(files: &[File]) -> BTreeMap<Vec<String>, usize> {
    files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rel != "src/main.rs")
        .map(|(i, f)| (f.module.clone(), i))
        .collect()
}

/// Every module path a file refers to, with its line: `use` trees and paths in code that start
/// at `crate`, `super`, `self` or a child module of the file, made absolute.
fn references(f: &File, modules: &BTreeMap<Vec<String>, usize>) -> Vec<(Vec<String>, usize)> {
    let toks = &f.toks;
    // Inline modules (`mod tests { … }`) with the brace depth they opened at.
    let (mut inline, mut depth): (Vec<(String, usize)>, usize) = (Vec::new(), 0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let here = || {
            let mut m = f.module.clone();
            m.extend(inline.iter().map(|(n, _)| n.clone()));
            m
        };
        match &toks[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(k) if k == "mod" => {
                if let (Some(name), Some(Tok::Punct('{'))) =
                    (ident(toks.get(i + 1)), toks.get(i + 2).map(|t| &t.tok))
                {
                    inline.push((name.to_string(), depth + 1));
                }
            }
            Tok::Ident(k) if k == "use" => {
                let (mut j, mut paths) = (i + 1, Vec::new());
                use_tree(toks, &mut j, Vec::new(), &mut paths);
                let m = here();
                out.extend(
                    paths
                        .into_iter()
                        .filter_map(|(p, l)| Some((absolute(&m, &p, modules)?, l))),
                );
                i = j;
                continue;
            }
            Tok::Ident(first)
                if toks.get(i + 1).map(|t| &t.tok) == Some(&Tok::Path)
                    && !matches!(
                        i.checked_sub(1).map(|p| &toks[p].tok),
                        Some(Tok::Path | Tok::Punct('$'))
                    ) =>
            {
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j).map(|t| &t.tok) == Some(&Tok::Path) {
                    match ident(toks.get(j + 1)) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                if let Some(p) = absolute(&here(), &path, modules) {
                    out.push((p, toks[i].line));
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// `path` as seen from module `here`, made absolute; None for paths outside the crate.
fn absolute(
    here: &[String],
    path: &[String],
    modules: &BTreeMap<Vec<String>, usize>,
) -> Option<Vec<String>> {
    let mut base = here.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str)? {
        "crate" => {
            base.clear();
            rest = &rest[1..];
        }
        "self" => rest = &rest[1..],
        "super" => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        child => {
            let mut m = here.to_vec();
            m.push(child.to_string());
            if !modules.contains_key(&m) {
                return None;
            }
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// What a file's top level holds: the names it defines, and what its `use` declarations bring in
/// (by name, and globs), as absolute paths.
#[derive(Default)]
struct Items {
    defined: BTreeSet<String>,
    named: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

fn items(f: &File, modules: &BTreeMap<Vec<String>, usize>) -> Items {
    const DEFINING: &[&str] = &[
        "fn", "struct", "enum", "union", "const", "static", "type", "trait", "mod",
    ];
    let (toks, mut out, mut depth) = (&f.toks, Items::default(), 0usize);
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.saturating_sub(1),
            Tok::Ident(k) if depth == 0 && DEFINING.contains(&k.as_str()) => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    out.defined.insert(name.to_string());
                }
            }
            Tok::Ident(k) if depth == 0 && k == "use" => {
                let (mut j, mut paths) = (i + 1, Vec::new());
                use_tree(toks, &mut j, Vec::new(), &mut paths);
                let glob_at = (i..j).filter(|&t| toks[t].tok == Tok::Punct('*')).count();
                for (p, _) in paths {
                    let Some(abs) = absolute(&f.module, &p, modules) else {
                        continue;
                    };
                    // A glob's path is its module; a module brought in by name is a name too.
                    if glob_at > 0 && modules.contains_key(&abs) {
                        out.globs.push(abs.clone());
                    }
                    if let Some(name) = abs.last() {
                        out.named.entry(name.clone()).or_insert(abs);
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The file that defines what `path` names: the file of its longest module prefix, or, where that
/// file only brings the next segment in with a `use` (a re-export, or a glob), the file it comes
/// from (`hops` bounds the chain).
fn file_of(
    path: &[String],
    modules: &BTreeMap<Vec<String>, usize>,
    items: &[Items],
    hops: usize,
) -> Option<usize> {
    let n = (0..=path.len())
        .rev()
        .find(|&n| modules.contains_key(&path[..n]))?;
    let file = modules[&path[..n]];
    let (Some(next), false) = (path.get(n), hops == 0) else {
        return Some(file);
    };
    let it = &items[file];
    if it.defined.contains(next) {
        return Some(file);
    }
    let via_name = it.named.get(next).map(|target| {
        let mut p = target.clone();
        p.extend(path[n + 1..].iter().cloned());
        p
    });
    let via_globs = it.globs.iter().map(|g| {
        let mut p = g.clone();
        p.extend(path[n..].iter().cloned());
        p
    });
    via_name
        .into_iter()
        .chain(via_globs)
        .filter_map(|p| file_of(&p, modules, items, hops - 1))
        .find(|&f| {
            f != file && (items[f].defined.contains(next) || modules.values().any(|&m| m == f))
        })
        .or(Some(file))
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(n: usize, edges: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    struct T<'a> {
        edges: &'a BTreeMap<usize, BTreeSet<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in t.edges.get(&v).into_iter().flatten() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn src_has_no_import_cycles() {
    let files = src_files();
    let modules = by_module(&files);
    let items: Vec<Items> = files.iter().map(|f| items(f, &modules)).collect();
    // Edge a -> b, with the first line of a that refers to b.
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut first_line: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (a, f) in files.iter().enumerate() {
        if f.rel == "src/main.rs" {
            continue;
        }
        for (path, line) in references(f, &modules) {
            match file_of(&path, &modules, &items, 8) {
                Some(b) if b != a => {
                    edges.entry(a).or_default().insert(b);
                    first_line.entry((a, b)).or_insert(line);
                }
                _ => {}
            }
        }
    }
    let mut found = cycles(files.len(), &edges);
    found.sort_by(|a, b| {
        let name = |c: &Vec<usize>| c.iter().map(|&i| files[i].rel.clone()).collect::<Vec<_>>();
        name(a).cmp(&name(b))
    });
    let report: Vec<String> = found
        .iter()
        .map(|scc| {
            let inside: BTreeSet<usize> = scc.iter().copied().collect();
            let shown: Vec<String> = scc
                .iter()
                .flat_map(|&a| {
                    let (files, first_line) = (&files, &first_line);
                    edges[&a]
                        .iter()
                        .filter(|b| inside.contains(b))
                        .map(move |&b| {
                            format!(
                                "    {}:{} -> {}",
                                files[a].rel,
                                first_line[&(a, b)],
                                files[b].rel
                            )
                        })
                })
                .collect();
            format!(
                "  cycle between {}:\n{}",
                scc.iter()
                    .map(|&i| files[i].rel.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                shown.join("\n")
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "import cycles between files of src/ (break them: what both sides need goes to a third \
         file):\n{}",
        report.join("\n")
    );
}

#[test]
fn no_file_in_src_is_over_600_lines() {
    let long: Vec<String> = src_files()
        .iter()
        .filter(|f| f.text.lines().count() > MAX_LINES)
        .map(|f| format!("  {}: {} lines", f.rel, f.text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by what they hold):\n{}",
        long.join("\n")
    );
}

/// Each registered kind's module name, in the order of `KINDS` (read from the registry's source:
/// the module a kind lives in is not part of its `Meta`).
fn kind_modules() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/resources/mod.rs");
    let toks = tokens(&std::fs::read_to_string(path).unwrap());
    let start = toks
        .iter()
        .position(|t| t.tok == Tok::Ident("KINDS".into()))
        .expect("src/resources/mod.rs declares KINDS");
    let open = start
        + toks[start..]
            .iter()
            .position(|t| t.tok == Tok::Punct('['))
            .unwrap();
    let open = open
        + 1
        + toks[open + 1..]
            .iter()
            .position(|t| t.tok == Tok::Punct('['))
            .unwrap();
    let mut out = Vec::new();
    let mut i = open + 1;
    while toks[i].tok != Tok::Punct(']') {
        if toks[i].tok == Tok::Punct('&') {
            let mut path = Vec::new();
            let mut j = i + 1;
            while let Some(s) = ident(toks.get(j)) {
                path.push(s.to_string());
                if toks.get(j + 1).map(|t| &t.tok) != Some(&Tok::Path) {
                    break;
                }
                j += 2;
            }
            // `&module::Type`: the module is the segment before the type.
            out.push(path[path.len().saturating_sub(2)].clone());
            i = j;
        }
        i += 1;
    }
    assert_eq!(out.len(), KINDS.len(), "every entry of KINDS read: {out:?}");
    out
}

#[test]
fn kind_agnostic_layers_name_no_kind() {
    let modules = kind_modules();
    let mut found = Vec::new();
    for f in src_files().iter().filter(|f| {
        KIND_AGNOSTIC
            .iter()
            .any(|d| f.rel == *d || f.rel.starts_with(&format!("{d}/")))
    }) {
        for (i, tok) in f.toks.iter().enumerate() {
            for (kind, module) in KINDS.iter().zip(&modules) {
                let meta = kind.meta();
                let segment = meta.arm_type.rsplit('/').next().unwrap();
                let what = match &tok.tok {
                    // A kind's module as a path segment (`vnet_link::id`, `resources::vnet_link`).
                    Tok::Ident(s)
                        if s == module
                            && (f.toks.get(i + 1).map(|t| &t.tok) == Some(&Tok::Path)
                                || i.checked_sub(1).map(|p| &f.toks[p].tok)
                                    == Some(&Tok::Path)) =>
                    {
                        Some(format!("module `{module}`"))
                    }
                    Tok::Ident(s) if s.eq_ignore_ascii_case(segment) => {
                        Some(format!("ARM type `{segment}`"))
                    }
                    Tok::Str(s)
                        if s.to_ascii_lowercase()
                            .contains(&segment.to_ascii_lowercase()) =>
                    {
                        Some(format!("ARM type `{segment}` in {s:?}"))
                    }
                    Tok::Str(s) if s == meta.label => {
                        Some(format!("label \"{}\" in {s:?}", meta.label))
                    }
                    _ => None,
                };
                if let Some(what) = what {
                    found.push(format!("  {}:{}: {what}", f.rel, tok.line));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "kind-specific names in kind-agnostic code (ask the kind through moat::resources::KINDS):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_reader_sees_code_not_comments_or_strings() {
    let toks = tokens(
        "use crate::a::{b, c::{d as e, *}};\n// crate::x::y\n/* crate::z /* nested */ */\nlet s = r#\"crate::q \"# ; let c = '\"'; fn f<'a>() { super::w::v() }",
    );
    let idents: Vec<&str> = toks.iter().filter_map(|t| ident(Some(t))).collect();
    assert!(!idents.contains(&"x") && !idents.contains(&"z") && !idents.contains(&"q"));
    assert!(toks
        .iter()
        .any(|t| t.tok == Tok::Str("crate::q ".into()) && t.line == 4));
    let mut paths = Vec::new();
    use_tree(&toks, &mut 1, Vec::new(), &mut paths);
    let paths: Vec<String> = paths.into_iter().map(|(p, _)| p.join("::")).collect();
    assert_eq!(paths, ["crate::a::b", "crate::a::c::d", "crate::a::c"]);
    assert!(idents.windows(2).any(|w| w == ["super", "w"]));
}
