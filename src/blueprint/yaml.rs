//! A YAML tree that remembers where every node and key was written.
//!
//! serde_yaml reports the position of the first error only and forgets positions once a value is
//! deserialised; blueprint validation needs the line and column of *every* finding (unknown keys,
//! bad values, findings made after profiles are merged). So the blueprint is read from
//! yaml-rust2's event stream into this small tree, which also catches what a plain deserialiser
//! lets through: duplicate keys, several documents in one file, tags and alias bombs.
//!
//! Plain scalars are typed with the YAML 1.2 core schema (`true`, `12`, `~`); `yes`/`no` stay
//! strings, so `disabled: yes` is reported as a wrong type rather than silently read as true.

use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Where something was written: file name as shown to the user, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

/// A problem found while reading YAML (syntax, duplicate key, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub loc: Loc,
    pub message: String,
    pub hint: Option<String>,
}

/// Nesting deeper than this is refused (a blueprint needs about eight levels).
const MAX_DEPTH: usize = 64;
/// Upper bound on nodes after alias expansion, so an alias bomb cannot exhaust memory.
const MAX_NODES: usize = 200_000;

impl Kind {
    /// Short name of the YAML type, for messages ("expected a string, found a mapping").
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` when this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The position of `key` itself (for "this key ..." messages), else the node's.
    pub fn key_loc(&self, key: &str) -> &Loc {
        self.as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.name == key))
            .map(|(k, _)| &k.loc)
            .unwrap_or(&self.loc)
    }

    /// A scalar rendered as text (`12`, `true`, `x`); `None` for collections and null.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// The same tree as JSON (for JSON Schema checks and digests of merged values).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Types a plain scalar by the YAML 1.2 core schema; quoted scalars are always strings.
fn scalar_kind(text: String, style: TScalarStyle) -> Kind {
    if style != TScalarStyle::Plain {
        return Kind::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Kind::Int(i);
        }
    }
    let looks_float = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float {
        if let Ok(f) = text.parse::<f64>() {
            return Kind::Float(f);
        }
    }
    Kind::Str(text)
}

enum Frame {
    Seq(Vec<Node>, Loc, usize),
    /// Entries so far, a key waiting for its value, the map's position and anchor.
    Map(Vec<(Key, Node)>, Option<Key>, Loc, usize),
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    nodes: usize,
    docs: Vec<Node>,
    errors: Vec<YamlError>,
}

impl Builder {
    fn loc(&self, mark: &yaml_rust2::scanner::Marker) -> Loc {
        Loc {
            file: self.file.clone(),
            line: mark.line(),
            column: mark.col() + 1,
        }
    }

    fn error(&mut self, loc: Loc, message: impl Into<String>, hint: Option<&str>) {
        self.errors.push(YamlError {
            loc,
            message: message.into(),
            hint: hint.map(str::to_owned),
        });
    }

    /// Attaches a finished node to its parent (or makes it a document).
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                None => {
                    // A key: only scalars make sense as blueprint keys.
                    let name = match node.scalar_text() {
                        Some(t) => t,
                        None => {
                            let loc = node.loc.clone();
                            *pending = Some(Key {
                                name: String::new(),
                                loc: loc.clone(),
                            });
                            self.error(loc, "mapping keys must be plain strings", None);
                            return;
                        }
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                        let first = first.loc.line;
                        let loc = node.loc.clone();
                        *pending = Some(Key {
                            name: String::new(),
                            loc: loc.clone(),
                        });
                        self.error(
                            loc,
                            format!("duplicate key `{name}` (first written on line {first})"),
                            Some("YAML keeps only one of them; remove or merge the other"),
                        );
                        return;
                    }
                    *pending = Some(Key {
                        name,
                        loc: node.loc,
                    });
                }
                Some(key) => {
                    // An empty name marks a key already reported (duplicate or complex): drop it.
                    if !key.name.is_empty() {
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    fn count(&mut self, n: usize, loc: &Loc) -> bool {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            self.error(
                loc.clone(),
                "document too large (alias expansion exceeds 200000 nodes)",
                None,
            );
            return false;
        }
        true
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(_, v)| 1 + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Parses one YAML document. An empty file is an empty mapping at 1:1.
pub fn parse(file: &str, text: &str) -> Result<Node, Vec<YamlError>> {
    let mut b = Builder {
        file: Arc::from(file),
        stack: Vec::new(),
        anchors: Vec::new(),
        nodes: 0,
        docs: Vec::new(),
        errors: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                let loc = b.loc(e.marker());
                b.error(loc, format!("YAML syntax error: {}", e.info()), None);
                return Err(b.errors);
            }
        };
        let loc = b.loc(&mark);
        match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {}
            Event::Scalar(text, style, anchor, tag) => {
                if !b.count(1, &loc) {
                    return Err(b.errors);
                }
                let kind = match tag {
                    None => scalar_kind(text, style),
                    Some(t) if t.handle == "tag:yaml.org,2002:" && t.suffix == "str" => {
                        Kind::Str(text)
                    }
                    Some(t) => {
                        b.error(
                            loc.clone(),
                            format!("YAML tags are not supported (`{}{}`)", t.handle, t.suffix),
                            Some("write the value without a tag"),
                        );
                        Kind::Null
                    }
                };
                b.push(Node { kind, loc }, anchor);
            }
            Event::Alias(id) => {
                let found = b.anchors.iter().rev().find(|(a, _)| *a == id).cloned();
                match found {
                    Some((_, mut node)) => {
                        if !b.count(count_nodes(&node), &loc) {
                            return Err(b.errors);
                        }
                        node.loc = loc;
                        b.push(node, 0);
                    }
                    None => {
                        b.error(loc.clone(), "unknown YAML alias", None);
                        b.push(
                            Node {
                                kind: Kind::Null,
                                loc,
                            },
                            0,
                        );
                    }
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if b.stack.len() >= MAX_DEPTH {
                    b.error(loc, "nesting too deep (more than 64 levels)", None);
                    return Err(b.errors);
                }
                if !b.count(1, &loc) {
                    return Err(b.errors);
                }
                b.stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), loc, anchor)
                } else {
                    Frame::Map(Vec::new(), None, loc, anchor)
                });
            }
            Event::SequenceEnd | Event::MappingEnd => match b.stack.pop() {
                Some(Frame::Seq(items, loc, anchor)) => b.push(
                    Node {
                        kind: Kind::Seq(items),
                        loc,
                    },
                    anchor,
                ),
                Some(Frame::Map(entries, _, loc, anchor)) => {
                    // yaml-rust2 marks a block mapping after its first key; users think of a
                    // mapping as starting at that key.
                    let loc = entries.first().map_or(loc, |(k, _)| k.loc.clone());
                    b.push(
                        Node {
                            kind: Kind::Map(entries),
                            loc,
                        },
                        anchor,
                    )
                }
                None => {}
            },
        }
    }
    if b.docs.len() > 1 {
        let loc = b.docs[1].loc.clone();
        b.error(
            loc,
            "a blueprint file holds exactly one YAML document",
            Some("split the documents into separate files, or use `imports`"),
        );
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    let root = b.docs.into_iter().next().unwrap_or(Node {
        kind: Kind::Null,
        loc: Loc {
            file: Arc::from(file),
            line: 1,
            column: 1,
        },
    });
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_keys_and_values() {
        let n = parse("f", "a: 1\nb:\n  - x: yes\n    y: '3'\n").unwrap();
        let b = n.get("b").unwrap();
        let item = &b.as_seq().unwrap()[0];
        assert_eq!(item.key_loc("y").line, 4);
        assert_eq!(item.key_loc("y").column, 5);
        let x = item.get("x").unwrap();
        assert_eq!((x.loc.line, x.loc.column), (3, 8));
        assert_eq!(x.kind, Kind::Str("yes".into()));
        assert_eq!(item.get("y").unwrap().kind, Kind::Str("3".into()));
        assert_eq!(n.get("a").unwrap().kind, Kind::Int(1));
        assert_eq!(n.key_loc("a").column, 1);
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second_key() {
        let errs = parse("f", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].loc.line, errs[0].loc.column), (3, 1));
        assert!(errs[0].message.contains("duplicate key `a`"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errs = parse("f", &text).unwrap_err();
        assert!(errs[0].message.contains("too large"), "{errs:?}");
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let errs = parse("f", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(errs[0].message.starts_with("YAML syntax error"));
        assert!(errs[0].loc.line >= 1);
    }
}
