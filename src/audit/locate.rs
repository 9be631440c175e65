//! Where the blueprint declares each instance, so SARIF results about a named instance point at
//! its `FILE:LINE` (code scanning annotates the blueprint in the pull request).

use std::collections::BTreeMap;
use std::path::Path;

/// The blueprint file as SARIF names it, and the line of each instance's entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// Artifact URI (relative to the working directory when the file is under it).
    pub uri: String,
    /// Instance name → 1-based line of its `- name:` entry.
    pub lines: BTreeMap<String, usize>,
    /// Instance name → 1-based column where its entry's mapping starts (the `name:` key).
    pub columns: BTreeMap<String, usize>,
}

/// Read `path` (already loaded and validated) for the instances' lines; `cwd` is what the URI
/// is relative to. An unreadable file gives no lines (results then carry only the ARM id).
pub fn source(path: &Path, cwd: &Path) -> Source {
    let file = path.display().to_string();
    let uri = crate::render::diagnostics::artifact_uri(&file, cwd);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let locs = instance_locs(&file, &text);
    Source {
        uri,
        lines: locs.iter().map(|(n, (l, _))| (n.clone(), *l)).collect(),
        columns: locs.into_iter().map(|(n, (_, c))| (n, c)).collect(),
    }
}

/// Instance name (its `name`, else its `accountName`, as the loader names it) → line.
pub fn instance_lines(file: &str, text: &str) -> BTreeMap<String, usize> {
    instance_locs(file, text)
        .into_iter()
        .map(|(n, (l, _))| (n, l))
        .collect()
}

/// Instance name → (line, column) of its entry.
fn instance_locs(file: &str, text: &str) -> BTreeMap<String, (usize, usize)> {
    let mut out = BTreeMap::new();
    let Ok(root) = crate::blueprint::yaml::parse(file, text) else {
        return out;
    };
    let items = root
        .get("instances")
        .and_then(|i| i.as_seq())
        .unwrap_or(&[]);
    for item in items {
        let name = item
            .get("name")
            .or_else(|| item.get("accountName"))
            .and_then(|n| n.as_str());
        if let Some(name) = name {
            out.insert(name.to_string(), (item.loc.line, item.loc.column.max(1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_instance_is_found_at_its_entry_line() {
        let text =
            "version: 1\ninstances:\n  - name: a\n    accountName: x\n\n  - accountName: b\n";
        let lines = super::instance_lines("b.yaml", text);
        assert_eq!(lines.get("a"), Some(&3));
        assert_eq!(lines.get("b"), Some(&6));
        assert_eq!(lines.len(), 2);
        let locs = super::instance_locs("b.yaml", text);
        assert_eq!(locs.get("a"), Some(&(3, 5)), "the column of `name:`");
    }
}
