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
}

/// Read `path` (already loaded and validated) for the instances' lines; `cwd` is what the URI
/// is relative to. An unreadable file gives no lines (results then carry only the ARM id).
pub fn source(path: &Path, cwd: &Path) -> Source {
    let file = path.display().to_string();
    let uri = crate::render::diagnostics::artifact_uri(&file, cwd);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Source {
        uri,
        lines: instance_lines(&file, &text),
    }
}

/// Instance name (its `name`, else its `accountName`, as the loader names it) → line.
pub fn instance_lines(file: &str, text: &str) -> BTreeMap<String, usize> {
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
            out.insert(name.to_string(), item.loc.line);
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
    }
}
