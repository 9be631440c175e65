//! A small block-style YAML writer for the blueprints `moat import` writes.
//!
//! It writes only what import needs: maps, sequences, scalars and comments. Every string goes
//! through [`scalar`], which leaves it plain only when no YAML reader could take it for anything
//! else (a boolean, a null, a number, an alias, a flow collection, a comment, a key); everything
//! else is double-quoted with escapes. The property test below writes arbitrary strings and
//! parses them back with the blueprint loader's own YAML reader.

/// A YAML value with comments.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    /// A string, quoted when it needs to be.
    Str(String),
    Bool(bool),
    /// `~`: a control dropped from the profile.
    Null,
    /// A block map: entries in order, each with comment lines written above it.
    Map(Vec<Entry>),
    /// A sequence of scalars or maps (`[]` when empty).
    Seq(Vec<Y>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub comments: Vec<String>,
    pub key: String,
    pub value: Y,
}

impl Y {
    pub fn str(s: impl Into<String>) -> Y {
        Y::Str(s.into())
    }
}

/// A map under construction.
#[derive(Debug, Default, Clone)]
pub struct MapBuilder(pub Vec<Entry>);

impl MapBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, key: &str, value: Y) -> &mut Self {
        self.put_noted(key, value, &[])
    }

    /// An entry with comment lines above it.
    pub fn put_noted(&mut self, key: &str, value: Y, comments: &[String]) -> &mut Self {
        self.0.push(Entry {
            comments: comments.to_vec(),
            key: key.to_string(),
            value,
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn build(self) -> Y {
        Y::Map(self.0)
    }
}

/// Words a YAML 1.1 or 1.2 reader may resolve to a boolean or a null.
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", ".nan", "inf", ".inf",
    "-.inf", "+.inf",
];

/// `s` as a YAML scalar: plain when that is unambiguous, else double-quoted.
pub fn scalar(s: &str) -> String {
    if is_plain(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // Letters and '/' first only: a digit, sign or dot could make a number (`0x10`, `1e3`,
    // `.5`), and every indicator (`-`, `*`, `&`, `!`, `#`, `?`, `:`, `[`, `{`, `|`, `>`, `'`,
    // `"`, `%`, `@`, `` ` ``) means something at the start of a scalar.
    // `./` and `../` (relative paths) cannot be read as numbers either.
    (first.is_ascii_alphabetic() || first == '/' || s.starts_with("./") || s.starts_with("../"))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./ ".contains(c))
        && !s.ends_with(' ')
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            // Line and paragraph separators, BOM and the C1 block: YAML readers treat some of
            // them as line breaks or drop them; escaped, they survive.
            c if matches!(c as u32, 0x80..=0x9f | 0x2028 | 0x2029 | 0xfeff) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment line: one line, no control characters.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The document: `top` (a map) in block style, two-space indents, ending with a newline.
pub fn document(header: &[String], top: &Y) -> String {
    let mut out = String::new();
    for h in header {
        push_comment(&mut out, 0, h);
    }
    if let Y::Map(entries) = top {
        write_entries(&mut out, 0, entries);
    }
    out
}

fn push_comment(out: &mut String, indent: usize, c: &str) {
    let text = comment_text(c);
    out.push_str(&" ".repeat(indent));
    if text.is_empty() {
        out.push_str("#\n");
    } else {
        out.push_str("# ");
        out.push_str(text.trim_end());
        out.push('\n');
    }
}

fn write_entries(out: &mut String, indent: usize, entries: &[Entry]) {
    for e in entries {
        for c in &e.comments {
            push_comment(out, indent, c);
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(&e.key));
        out.push(':');
        write_value(out, indent, &e.value);
    }
}

/// After `key:` (or `- `): the rest of the line, and nested lines at `indent + 2`.
fn write_value(out: &mut String, indent: usize, v: &Y) {
    match v {
        Y::Str(s) => {
            out.push(' ');
            out.push_str(&scalar(s));
            out.push('\n');
        }
        Y::Bool(b) => out.push_str(if *b { " true\n" } else { " false\n" }),
        Y::Null => out.push_str(" ~\n"),
        Y::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Y::Map(entries) => {
            out.push('\n');
            write_entries(out, indent + 2, entries);
        }
        Y::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Y::Seq(items) => {
            out.push('\n');
            for item in items {
                write_item(out, indent + 2, item);
            }
        }
    }
}

fn write_item(out: &mut String, indent: usize, item: &Y) {
    match item {
        Y::Map(entries) if !entries.is_empty() => {
            // The first entry's comments go above the dash; the entry itself follows it.
            let (first, rest) = entries.split_first().expect("not empty");
            for c in &first.comments {
                push_comment(out, indent, c);
            }
            out.push_str(&" ".repeat(indent));
            out.push_str("- ");
            out.push_str(&scalar(&first.key));
            out.push(':');
            write_value(out, indent + 2, &first.value);
            write_entries(out, indent + 2, rest);
        }
        other => {
            out.push_str(&" ".repeat(indent));
            out.push('-');
            write_value(out, indent, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::blueprint::yaml;

    fn round_trip(s: &str) -> Option<String> {
        let mut m = MapBuilder::new();
        m.put("k", Y::str(s));
        m.put(
            "list",
            Y::Seq(vec![Y::str(s), {
                let mut i = MapBuilder::new();
                i.put_noted("a", Y::str(s), &[s.to_string()]);
                i.put("b", Y::str(s));
                i.build()
            }]),
        );
        let text = document(&[s.to_string()], &m.build());
        let node = yaml::parse("t.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e:?}"));
        let k = node.get("k")?.as_str()?.to_string();
        let list = node.get("list")?.as_seq()?;
        assert_eq!(list[0].as_str(), Some(k.as_str()), "{text}");
        assert_eq!(list[1].get("a")?.as_str(), Some(k.as_str()), "{text}");
        assert_eq!(list[1].get("b")?.as_str(), Some(k.as_str()), "{text}");
        Some(k)
    }

    #[test]
    fn the_tricky_scalars_round_trip() {
        for s in [
            "yes",
            "Yes",
            "on",
            "OFF",
            "y",
            "n",
            "no",
            "true",
            "null",
            "~",
            "0x10",
            "0o17",
            "1e3",
            "- a",
            "#x",
            "a #x",
            ": ",
            "a: b",
            "*alias",
            "&anchor",
            "!tag",
            "%x",
            "@x",
            "`x",
            "[a]",
            "{a: 1}",
            "|",
            ">",
            "'",
            "\"",
            "",
            " ",
            " lead",
            "trail ",
            "10.0.0.0/24",
            "0",
            "-1",
            ".5",
            "+1",
            ".inf",
            "a\nb",
            "tab\tx",
            "\u{2028}",
            "\u{feff}x",
            "\\",
            "?",
            "? x",
            "-",
            "---",
            "...",
            "a,b",
            "=",
            "<<",
            "../a.yaml",
            "./a",
            "..",
            ".",
        ] {
            assert_eq!(round_trip(s).as_deref(), Some(s), "{s:?}");
        }
    }

    #[test]
    fn plain_only_when_unambiguous() {
        assert_eq!(scalar("eastus"), "eastus");
        assert_eq!(
            scalar("/subscriptions/x/resourceGroups/rg"),
            "/subscriptions/x/resourceGroups/rg"
        );
        assert_eq!(
            scalar("Cognitive Services OpenAI User"),
            "Cognitive Services OpenAI User"
        );
        assert_eq!(scalar("../blueprints/b.yaml"), "../blueprints/b.yaml");
        assert_eq!(scalar(".5"), "\".5\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("0x10"), "\"0x10\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn any_string_round_trips(s in "\\PC{0,24}|[-:#*&!?|>'\" ,\\[\\]{}%@`~.0-9a-zA-Z\\\\\n\t]{0,12}") {
            prop_assert_eq!(round_trip(&s), Some(s.clone()));
        }
    }
}
