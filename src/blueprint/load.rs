//! Loading: read the file and its imports, check each structurally, merge profile ⊕ defaults ⊕
//! instance for every instance, then resolve and cross-check instances.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::check::Checker;
use super::diag::{Code, Diagnostic, Diagnostics};
use super::formats::suggest;
use super::resolve;
use super::resolved::{Blueprint, Instance};
use super::schema::{Ty, DOCUMENT, INSTANCE};
use super::source::{self, ReadError, MAX_BLUEPRINT_BYTES, MAX_TOTAL_BYTES};
use super::yaml::{self, Kind, Loc, Node};

/// Imports nested deeper than this are refused (they are certainly a mistake).
const MAX_IMPORT_DEPTH: usize = 16;

/// What validation knows about "now" (tests pin it), and how strict it is about time.
#[derive(Debug, Clone)]
pub struct Options {
    pub today: time::Date,
    /// An expired exception is an error (`validate`, and loading for tests). Plan and apply
    /// set this to false: the exception is then a warning, and the planner holds back only the
    /// instance it belongs to, so one expired exception cannot stop a whole fleet.
    pub expired_exceptions_are_errors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            today: time::OffsetDateTime::now_utc().date(),
            expired_exceptions_are_errors: true,
        }
    }
}

/// The outcome of a load: the blueprint when there are no errors, and every finding.
#[derive(Debug, Clone)]
pub struct Report {
    pub blueprint: Option<Blueprint>,
    pub diagnostics: Diagnostics,
}

struct Loader {
    out: Vec<Diagnostic>,
    files: Vec<String>,
    hasher: Sha256,
    /// Profile name → (definition, where its name was written).
    profiles: BTreeMap<String, (Node, Loc)>,
    /// Files being loaded (import cycle detection).
    stack: Vec<String>,
    /// An import could not be read: unknown profiles are then its consequence, not news.
    import_failed: bool,
    /// Bytes read so far, the top-level file and its imports (bounded by `MAX_TOTAL_BYTES`).
    total: u64,
}

/// Lexical clean-up so `examples/../blueprints/x.yaml` is shown as `blueprints/x.yaml`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

fn display(path: &Path) -> String {
    let s = path.to_string_lossy().to_string();
    if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

/// Deep merge: mappings merge key by key, anything else in `over` replaces; `~` removes.
pub fn merge(base: &Node, over: &Node) -> Node {
    match (&base.kind, &over.kind) {
        (Kind::Map(b), Kind::Map(o)) => {
            let mut entries = b.clone();
            for (k, v) in o {
                match entries.iter().position(|(bk, _)| bk.name == k.name) {
                    Some(i) if v.kind == Kind::Null => {
                        entries.remove(i);
                    }
                    Some(i) => {
                        let merged = merge(&entries[i].1, v);
                        entries[i] = (k.clone(), merged);
                    }
                    None if v.kind == Kind::Null => {}
                    None => entries.push((k.clone(), v.clone())),
                }
            }
            Node {
                kind: Kind::Map(entries),
                loc: over.loc.clone(),
            }
        }
        _ => over.clone(),
    }
}

fn without(node: &Node, key: &str) -> Node {
    match &node.kind {
        Kind::Map(entries) => Node {
            kind: Kind::Map(
                entries
                    .iter()
                    .filter(|(k, _)| k.name != key)
                    .cloned()
                    .collect(),
            ),
            loc: node.loc.clone(),
        },
        _ => node.clone(),
    }
}

impl Loader {
    /// Parses and checks one file, follows its imports and collects its profiles. `imported_at`
    /// is the `imports:` entry that named the file (`None` for the top-level file).
    fn file(
        &mut self,
        name: &str,
        text: &str,
        dir: &Path,
        imported_at: Option<&Loc>,
    ) -> Option<Node> {
        let imported = imported_at.is_some();
        self.files.push(name.to_string());
        self.hasher.update(text.as_bytes());
        self.total += text.len() as u64;
        if text.len() as u64 > MAX_BLUEPRINT_BYTES {
            let loc = Loc {
                file: name.into(),
                line: 1,
                column: 1,
            };
            self.out.push(
                Diagnostic::error(&loc, too_large(MAX_BLUEPRINT_BYTES), None).with_code(Code::Read),
            );
            return None;
        }
        let parsed = yaml::parse(name, text);
        if let Some(at) = imported_at {
            // An import can name any file (`/etc/shadow`, a key file): one that is not a
            // blueprint is reported without a word of its contents.
            if let Some(loc) = not_a_blueprint(&parsed) {
                self.import_failed = true;
                self.out.push(Diagnostic::error(
                    at,
                    format!("`{name}` is not a moat blueprint (line {}, column {})", loc.line, loc.column),
                    Some("imports must be moat blueprints (`version: 1` and the keys of a blueprint)".into()),
                ).with_code(Code::Import));
                return None;
            }
        }
        let root = match parsed {
            Ok(root) => root,
            Err(errs) => {
                for e in errs {
                    self.out
                        .push(Diagnostic::error(&e.loc, e.message, e.hint).with_code(Code::Syntax));
                }
                return None;
            }
        };
        if root.kind == Kind::Null {
            self.out.push(
                Diagnostic::error(
                    &root.loc,
                    "the blueprint is empty",
                    Some("start with `version: 1`".into()),
                )
                .with_code(Code::Required),
            );
            return None;
        }
        Checker { out: &mut self.out }.check(&root, &Ty::Obj(&DOCUMENT), "blueprint");
        root.as_map()?;
        if root.get("version").is_none() {
            self.out.push(
                Diagnostic::error(
                    &root.loc,
                    "missing `version`",
                    Some("add `version: 1` at the top of the file".into()),
                )
                .with_code(Code::Required),
            );
        }
        if imported {
            for key in ["defaults", "instances", "guardrails", "acknowledged"] {
                if root.get(key).is_some() {
                    let message = format!(
                        "`{key}` in an imported file are ignored; only its `profiles` are used"
                    );
                    self.out.push(
                        Diagnostic::warning(root.key_loc(key), message, None)
                            .with_code(Code::Import),
                    );
                }
            }
        }
        self.stack.push(name.to_string());
        for item in root
            .get("imports")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let Some(rel) = item.as_str() else { continue };
            let path = normalize(&dir.join(rel));
            let shown = display(&path);
            if self.stack.contains(&shown) {
                let message = format!("import cycle: `{shown}` is already being loaded");
                self.out
                    .push(Diagnostic::error(&item.loc, message, None).with_code(Code::Import));
                continue;
            }
            if self.files.contains(&shown) {
                continue; // already imported through another file
            }
            if self.stack.len() > MAX_IMPORT_DEPTH {
                self.out.push(
                    Diagnostic::error(&item.loc, "imports nested too deeply", None)
                        .with_code(Code::Import),
                );
                continue;
            }
            let left = MAX_TOTAL_BYTES.saturating_sub(self.total);
            match source::read_bounded(&path, left.min(MAX_BLUEPRINT_BYTES)) {
                Ok(t) => {
                    let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    self.file(&shown, &t, &sub_dir, Some(&item.loc));
                }
                Err(e) => {
                    self.import_failed = true;
                    let (message, hint) = match e {
                        ReadError::TooLarge { .. } if left < MAX_BLUEPRINT_BYTES => (
                            format!("cannot read import `{shown}`: the blueprint and its imports would exceed {MAX_TOTAL_BYTES} bytes (MAX_TOTAL_BYTES)"),
                            "split the fleet into several blueprints",
                        ),
                        ReadError::TooLarge { limit } => (
                            format!("cannot read import `{shown}`: {}", too_large(limit)),
                            "a blueprint file is at most 1 MiB",
                        ),
                        ReadError::NotRegular(_) | ReadError::NotUtf8 => (
                            format!("cannot read import `{shown}`: {e}"),
                            "imports must be blueprint files",
                        ),
                        ReadError::Io(_) => (
                            format!("cannot read import `{shown}`: {e}"),
                            "import paths are relative to the importing file",
                        ),
                    };
                    self.out.push(
                        Diagnostic::error(&item.loc, message, Some(hint.into()))
                            .with_code(Code::Import),
                    );
                }
            }
        }
        self.stack.pop();
        if let Some(entries) = root.get("profiles").and_then(Node::as_map) {
            for (k, v) in entries {
                if v.as_map().is_none() {
                    continue;
                }
                if let Some((_, first)) = self.profiles.get(&k.name) {
                    let message = format!(
                        "profile `{}` is already defined at {}:{}:{}",
                        k.name, first.file, first.line, first.column
                    );
                    self.out.push(
                        Diagnostic::error(
                            &k.loc,
                            message,
                            Some(
                                "profile names are shared by a file and everything it imports"
                                    .into(),
                            ),
                        )
                        .with_code(Code::Profile),
                    );
                    continue;
                }
                self.profiles
                    .insert(k.name.clone(), (v.clone(), k.loc.clone()));
            }
        }
        Some(root)
    }

    /// A profile with the profiles it extends merged in.
    fn profile(&mut self, name: &str, used_at: &Loc, seen: &mut Vec<String>) -> Option<Node> {
        let Some((node, _)) = self.profiles.get(name).cloned() else {
            let names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            let hint = match suggest(name, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => "no profiles are defined; import one, e.g. `imports: [../blueprints/strict-baseline.yaml]`".into(),
                None => format!("defined profiles: {}", names.join(", ")),
            };
            if !self.import_failed {
                let message = format!("unknown profile `{name}`");
                self.out
                    .push(Diagnostic::error(used_at, message, Some(hint)).with_code(Code::Profile));
            }
            return None;
        };
        if seen.iter().any(|s| s == name) {
            let message = format!("profile cycle: {} -> {name}", seen.join(" -> "));
            self.out
                .push(Diagnostic::error(used_at, message, None).with_code(Code::Profile));
            return None;
        }
        seen.push(name.to_string());
        let own = without(&node, "profile");
        match node.get("profile") {
            Some(base) if base.as_str().is_some() => {
                let base_name = base.as_str().unwrap_or_default().to_string();
                let base_node = self.profile(&base_name, &base.loc, seen)?;
                Some(merge(&base_node, &own))
            }
            _ => Some(own),
        }
    }

    fn instances(&mut self, root: &Node, opts: &Options) -> Vec<Instance> {
        let defaults = root.get("defaults").filter(|d| d.as_map().is_some());
        let mut resolved = Vec::new();
        let mut nodes = Vec::new();
        let mut seen: Vec<(Instance, Loc)> = Vec::new();
        for item in root
            .get("instances")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            if item.as_map().is_none() {
                continue;
            }
            let profile_ref = item
                .get("profile")
                .or_else(|| defaults.and_then(|d| d.get("profile")));
            let mut merged = Node {
                kind: Kind::Map(Vec::new()),
                loc: item.loc.clone(),
            };
            if let Some(p) = profile_ref {
                let Some(name) = p.as_str() else { continue };
                match self.profile(name, &p.loc, &mut Vec::new()) {
                    Some(node) => merged = node,
                    None => continue,
                }
            }
            if let Some(d) = defaults {
                merged = merge(&merged, &without(d, "profile"));
            }
            merged = merge(&merged, &without(item, "profile"));
            merged.loc = item.loc.clone();
            let name = merged
                .get("name")
                .or_else(|| merged.get("accountName"))
                .and_then(Node::as_str)
                .unwrap_or("?")
                .to_string();
            let before = self.out.len();
            Checker { out: &mut self.out }.required(
                &merged,
                &INSTANCE,
                &format!("instance `{name}`"),
                Some("set it on the instance, in `defaults`, or in its profile"),
            );
            if self.out[before..].iter().any(Diagnostic::is_error) {
                continue;
            }
            let Some(inst) = resolve::instance(
                &merged,
                &mut self.out,
                opts.today,
                opts.expired_exceptions_are_errors,
            ) else {
                continue;
            };
            self.cross_check(&inst, &item.loc, &seen);
            seen.push((inst.clone(), item.loc.clone()));
            resolved.push(inst);
            nodes.push(merged);
        }
        // Before any sharding (`commands::load::select`): a shard plans shared resources as the
        // whole blueprint declares them.
        super::shared::merge(&mut resolved, &nodes, &mut self.out);
        super::guardrails::attach(root, &mut resolved, &mut self.out);
        resolved
    }

    fn cross_check(&mut self, inst: &Instance, loc: &Loc, seen: &[(Instance, Loc)]) {
        for (other, other_loc) in seen {
            let line = other_loc.line;
            if other.name == inst.name {
                self.out.push(
                    Diagnostic::error(
                        loc,
                        format!(
                            "duplicate instance name `{}` (also on line {line})",
                            inst.name
                        ),
                        Some("set a unique `name`".into()),
                    )
                    .with_code(Code::Conflict),
                );
            } else if other.account_id().eq_ignore_ascii_case(&inst.account_id()) {
                self.out.push(
                    Diagnostic::error(
                        loc,
                        format!(
                        "instance `{}` declares the same account as instance `{}` (line {line})",
                        inst.name, other.name
                    ),
                        None,
                    )
                    .with_code(Code::Conflict),
                );
            } else if let (Some(a), Some(b)) = (&inst.custom_subdomain, &other.custom_subdomain) {
                if a.eq_ignore_ascii_case(b) {
                    self.out.push(
                        Diagnostic::error(
                            loc,
                            format!(
                            "custom subdomain `{a}` is also used by instance `{}` (line {line})",
                            other.name
                        ),
                            Some("custom subdomains are globally unique".into()),
                        )
                        .with_code(Code::Conflict),
                    );
                }
            }
        }
    }
}

/// Loads a blueprint whose text is already read; imports resolve against `dir`.
pub fn load_text(name: &str, text: &str, dir: &Path, opts: &Options) -> Report {
    let mut loader = Loader {
        out: Vec::new(),
        files: Vec::new(),
        hasher: Sha256::new(),
        profiles: BTreeMap::new(),
        stack: Vec::new(),
        import_failed: false,
        total: 0,
    };
    let root = loader.file(name, text, dir, None);
    let instances = match &root {
        Some(root) => loader.instances(root, opts),
        None => Vec::new(),
    };
    let acknowledged = match &root {
        Some(root) => super::acknowledged::resolve(root, opts.today, &mut loader.out),
        None => Vec::new(),
    };
    let digest = hex::encode(loader.hasher.finalize());
    let mut diagnostics = Diagnostics(loader.out);
    diagnostics.normalize(&loader.files);
    let blueprint = (!diagnostics.has_errors() && root.is_some()).then(|| Blueprint {
        source: PathBuf::from(name),
        digest,
        instances,
        acknowledged,
    });
    Report {
        blueprint,
        diagnostics,
    }
}

/// Reads and loads a blueprint file.
pub fn load_path(path: &Path, opts: &Options) -> Report {
    let name = display(&normalize(path));
    match source::read_bounded(path, MAX_BLUEPRINT_BYTES) {
        Ok(text) => {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            load_text(&name, &text, &dir, opts)
        }
        Err(e) => {
            let loc = Loc {
                file: name.as_str().into(),
                line: 1,
                column: 1,
            };
            Report {
                blueprint: None,
                diagnostics: Diagnostics(vec![Diagnostic::error(
                    &loc,
                    match e {
                        ReadError::TooLarge { limit } => too_large(limit),
                        e => format!("cannot read the file: {e}"),
                    },
                    None,
                )
                .with_code(Code::Read)]),
            }
        }
    }
}

fn too_large(limit: u64) -> String {
    format!("the file is larger than {limit} bytes (MAX_BLUEPRINT_BYTES), the limit for one blueprint file")
}

/// Where a parsed import stops looking like a blueprint: a YAML error, a top level that is not
/// a mapping, a key a blueprint does not have, or no `version`. `None` when it is one (its own
/// findings are then reported like those of any blueprint). An empty file is left to the
/// "the blueprint is empty" error.
fn not_a_blueprint(parsed: &Result<Node, Vec<yaml::YamlError>>) -> Option<Loc> {
    let root = match parsed {
        Err(errs) => return errs.first().map(|e| e.loc.clone()),
        Ok(root) if root.kind == Kind::Null => return None,
        Ok(root) => root,
    };
    let Some(entries) = root.as_map() else {
        return Some(root.loc.clone());
    };
    if let Some((k, _)) = entries
        .iter()
        .find(|(k, _)| !DOCUMENT.fields.iter().any(|f| f.name == k.name))
    {
        return Some(k.loc.clone());
    }
    root.get("version").is_none().then(|| root.loc.clone())
}
