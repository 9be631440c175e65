//! Output hygiene for every string moat did not write itself (blueprint values, ARM's messages and
//! bodies, resource names): [`escape_controls`] makes terminal control characters visible instead
//! of letting them act on the terminal, and [`redact`] removes secrets: the bearer tokens moat sent
//! ([`register_secret`]), anything shaped like a JWT, URL userinfo and secret-looking query
//! parameters.
//!
//! A leaf module (it imports nothing from moat), so the renderings, the error report, the log
//! writer and the ARM client can all use the same functions without an import cycle.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not registered: replacing every occurrence of a short string
/// would garble ordinary text, and no real token is that short.
const MIN_SECRET_LEN: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember `secret` (a bearer token moat sends, a password it was given) so that every later
/// [`redact`] removes it, wherever a server or a library echoes it.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_string());
        // Longest first, so that a secret containing another is removed whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Whether `c` would act on a terminal (C0, DEL, C1) or reorder text (bidi controls).
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| is_dangerous(c) && !(keep_newlines && c == '\n'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` with every control character written as an escape (`ESC` → `\x1b`, newline → `\n`): for
/// text moat did not write, which must stay on its line and must not drive the terminal.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// [`escape_controls`] keeping newlines: for whole outputs (an error report, a log line) whose
/// line breaks are moat's own.
pub fn escape_controls_keep_newlines(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

/// JSON text (as serde_json writes it) with the characters JSON leaves as they are but a terminal
/// acts on (DEL, C1 controls, bidi controls) written as `\uXXXX` escapes: the same JSON value,
/// safe to print. They can only occur inside strings, and all are in the BMP, so one escape each.
pub fn escape_json_controls(json: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c >= '\u{7f}' && is_dangerous(c);
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` without secrets: registered ones, JWT-shaped tokens, URL userinfo and the values of
/// secret-looking query parameters.
pub fn redact(s: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(s);
    {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
    }
    for f in [redact_jwts, redact_userinfo, redact_query_secrets] {
        if let Cow::Owned(o) = f(&out) {
            out = Cow::Owned(o);
        }
    }
    out
}

/// [`redact`], then [`escape_controls`]: an external string ready to be printed on one line.
pub fn clean(s: &str) -> Cow<'_, str> {
    match redact(s) {
        Cow::Borrowed(b) => escape_controls(b),
        Cow::Owned(o) => Cow::Owned(escape_controls(&o).into_owned()),
    }
}

/// [`redact`], then [`escape_controls_keep_newlines`]: a whole output moat composed.
pub fn clean_output(s: &str) -> Cow<'_, str> {
    match redact(s) {
        Cow::Borrowed(b) => escape_controls_keep_newlines(b),
        Cow::Owned(o) => Cow::Owned(escape_controls_keep_newlines(&o).into_owned()),
    }
}

/// Redact the secrets in every string of a JSON value (keys included).
pub fn redact_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Cow::Owned(o) = redact(s) {
                *s = o;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        Value::Object(m) => {
            m.values_mut().for_each(redact_json);
            // Keys are almost never secret: rebuild the map (keeping its order) only when one is,
            // instead of re-allocating every key of every object of a 500-instance plan.
            if m.keys().any(|k| matches!(redact(k), Cow::Owned(_))) {
                let entries = std::mem::take(m);
                for (k, x) in entries {
                    m.insert(redact(&k).into_owned(), x);
                }
            }
        }
        _ => {}
    }
}

/// The result of a scan that copied `s` into `out` up to `copied` (nothing replaced: 0).
fn finish(s: &str, mut out: String, copied: usize) -> Cow<'_, str> {
    if copied == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `eyJ…` header, `.`, payload, `.`, optional signature: a JWT (or JWS) as Entra issues them.
fn redact_jwts(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let mut out = String::new();
    let (mut i, mut copied) = (0, 0);
    while let Some(off) = s[i..].find("eyJ") {
        let start = i + off;
        let run = |from: usize| from + b[from..].iter().take_while(|&&c| is_b64url(c)).count();
        let h_end = run(start);
        let preceded = start > 0 && is_b64url(b[start - 1]);
        if !preceded && h_end - start >= 10 && b.get(h_end) == Some(&b'.') {
            let p_end = run(h_end + 1);
            if p_end - h_end > 2 && b.get(p_end) == Some(&b'.') {
                let end = run(p_end + 1);
                out.push_str(&s[copied..start]);
                out.push_str(REDACTED);
                copied = end;
                i = end;
                continue;
            }
        }
        i = start + 3;
    }
    finish(s, out, copied)
}

/// Where a URL-ish token ends in running text.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',')
}

/// `scheme://user:password@host` → `scheme://[redacted]@host`.
fn redact_userinfo(s: &str) -> Cow<'_, str> {
    if !s.contains("://") || !s.contains('@') {
        return Cow::Borrowed(s);
    }
    let mut out = String::new();
    let (mut i, mut copied) = (0, 0);
    while let Some(off) = s[i..].find("://") {
        let auth_start = i + off + 3;
        let rest = &s[auth_start..];
        let auth_len = rest
            .find(|c: char| ends_token(c) || matches!(c, '/' | '?' | '#'))
            .unwrap_or(rest.len());
        if let Some(at) = rest[..auth_len].rfind('@') {
            out.push_str(&s[copied..auth_start]);
            out.push_str(REDACTED);
            copied = auth_start + at;
        }
        i = auth_start;
    }
    finish(s, out, copied)
}

/// Query parameters whose value is a credential (SAS signatures, tokens, keys, passwords).
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    // ARM's paging cursor is not a credential, and redacting it would hide what was paged.
    if n == "$skiptoken" || n == "skiptoken" {
        return false;
    }
    n == "sig"
        || n == "code"
        || n == "sas"
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "pwd",
            "key",
            "signature",
            "credential",
            "auth",
        ]
        .iter()
        .any(|w| n.contains(w))
}

/// `?sig=…&api-version=…` → `?sig=[redacted]&api-version=…`.
fn redact_query_secrets(s: &str) -> Cow<'_, str> {
    if !s.contains('=') {
        return Cow::Borrowed(s);
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = s[i..].find(['?', '&']) {
        let name_start = i + off + 1;
        let rest = &s[name_start..];
        let name_len = rest
            .find(|c: char| c == '=' || c == '&' || ends_token(c))
            .unwrap_or(rest.len());
        i = name_start;
        if !rest[name_len..].starts_with('=') || name_len == 0 {
            continue;
        }
        if !secret_param(&rest[..name_len]) {
            continue;
        }
        let value_start = name_start + name_len + 1;
        let value = &s[value_start..];
        let value_len = value
            .find(|c: char| c == '&' || c == '#' || ends_token(c))
            .unwrap_or(value.len());
        if value_len == 0 || &value[..value_len] == REDACTED {
            continue;
        }
        out.push_str(&s[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_start + value_len;
        i = copied;
    }
    finish(s, out, copied)
}

/// A `std::io::Write` that passes whole writes through [`clean_output`]: the log writer (tracing's
/// formatter writes each event in one call).
pub struct CleanWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for CleanWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(clean_output(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_keeps_its_value_without_raw_controls() {
        let v = serde_json::json!({"a": "x\u{202e}y\u{9b}z\u{7f}", "b": "plain ünïcode"});
        let text = serde_json::to_string_pretty(&v).unwrap();
        let safe = escape_json_controls(&text);
        assert!(!safe.chars().any(is_dangerous_outside_newlines), "{safe}");
        assert!(safe.contains("x\\u202ey\\u009bz\\u007f"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
        assert!(matches!(
            escape_json_controls("{\"b\": \"ü\"}"),
            Cow::Borrowed(_)
        ));
    }

    fn is_dangerous_outside_newlines(c: char) -> bool {
        c != '\n' && is_dangerous(c)
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape_controls("a\u{1b}[31mb"), "a\\x1b[31mb");
        assert_eq!(escape_controls("l1\nl2\r\t\u{7f}"), "l1\\nl2\\r\\t\\x7f");
        assert_eq!(escape_controls("\u{9b}2J\u{202e}x"), "\\x9b2J\\u{202e}x");
        assert_eq!(escape_controls_keep_newlines("a\n\u{7}b"), "a\n\\x07b");
        assert!(matches!(escape_controls("plain ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn registered_secrets_and_jwts_are_redacted() {
        register_secret("short");
        register_secret("registered-secret-4711");
        assert_eq!(redact("short"), "short");
        assert_eq!(
            redact("Bearer registered-secret-4711 was invalid"),
            "Bearer [redacted] was invalid"
        );
        let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcm0ifQ.c2lnbmF0dXJl";
        assert_eq!(redact(&format!("token {jwt}.")), "token [redacted].");
        assert_eq!(redact("eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."), "[redacted]");
        assert_eq!(
            redact("keyJustAWord eyJnot.a.jwt"),
            "keyJustAWord eyJnot.a.jwt"
        );
    }

    #[test]
    fn urls_lose_userinfo_and_secret_parameters() {
        assert_eq!(
            redact("error sending request for url (http://admin:hunter2@127.0.0.1:9/x)"),
            "error sending request for url (http://[redacted]@127.0.0.1:9/x)"
        );
        assert_eq!(
            redact("https://h/p?api-version=1&sig=abc%2F&se=2030 next"),
            "https://h/p?api-version=1&sig=[redacted]&se=2030 next"
        );
        assert_eq!(
            redact("http://h/?access_token=t0k#frag"),
            "http://h/?access_token=[redacted]#frag"
        );
        assert_eq!(
            redact("/subs?api-version=2024&$skiptoken=abc"),
            "/subs?api-version=2024&$skiptoken=abc"
        );
        assert_eq!(
            redact("a user@example.com and x=1"),
            "a user@example.com and x=1"
        );
    }

    #[test]
    fn json_strings_and_the_log_writer() {
        register_secret("json-secret-0815");
        let mut v = serde_json::json!({"a": ["x json-secret-0815"], "json-secret-0815": 1});
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x [redacted]"], "[redacted]": 1})
        );
        let mut v = serde_json::json!({"z": 1, "json-secret-0815": 2, "a": {"m": 3, "b": 4}});
        redact_json(&mut v);
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&v), ["z", "[redacted]", "a"], "order kept");
        assert_eq!(keys(&v["a"]), ["m", "b"], "order kept");
        use std::io::Write;
        let mut w = CleanWriter(Vec::new());
        writeln!(w, "line \u{1b}]0;title\u{7} json-secret-0815").unwrap();
        assert_eq!(
            String::from_utf8(w.0).unwrap(),
            "line \\x1b]0;title\\x07 [redacted]\n"
        );
    }
}
