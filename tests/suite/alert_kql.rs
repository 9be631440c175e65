//! M2: every KQL query moat writes into a log alert reads only columns Microsoft documents for
//! Azure OpenAI, unless its rule says what else it depends on. No KQL parser fits (none in
//! Rust), so this is a checked list: each query is tokenised (string literals removed), KQL's own
//! words and the names the query binds itself are set aside, and every column left must be in
//! [`DOCUMENTED`] — and be exactly the columns the rule declares. Keys read from `properties_s`
//! are held to [`DOCUMENTED_PROPERTY_KEYS`] the same way, or to the rule's `undocumented` list.

use std::collections::BTreeSet;

use moat::resources::log_alert::{self, Rule};

/// `AzureDiagnostics` columns documented for Azure OpenAI, with where Microsoft says so.
const DOCUMENTED: &[(&str, &str)] = &[
    ("TimeGenerated", "standard column of every Log Analytics table (Azure Monitor Logs, Standard columns)"),
    ("_ResourceId", "standard column of every Log Analytics table (Azure Monitor Logs, Standard columns)"),
    ("ResourceProvider", "AzureDiagnostics table reference; Microsoft's Azure OpenAI sample queries"),
    ("Category", "AzureDiagnostics table reference; Azure OpenAI log categories (Audit, RequestResponse, Trace, AzureOpenAIRequestUsage)"),
    ("OperationName", "AzureDiagnostics table reference; Microsoft's Azure OpenAI sample queries"),
    ("CallerIPAddress", "AzureDiagnostics table reference; Microsoft's Azure OpenAI sample queries (last octet masked)"),
    ("ResultSignature", "Microsoft's Azure OpenAI sample queries"),
    ("DurationMs", "Microsoft's Azure OpenAI sample queries"),
    ("properties_s", "Microsoft's Azure OpenAI sample queries (`parse_json(properties_s).apiName`)"),
];

/// Keys of `properties_s` Microsoft's own queries read.
const DOCUMENTED_PROPERTY_KEYS: &[&str] = &["apiName"];

/// KQL's own words (operators, functions, keywords) the queries use, and the one table.
const KQL: &[&str] = &[
    "AzureDiagnostics",
    "let",
    "where",
    "extend",
    "summarize",
    "distinct",
    "by",
    "and",
    "or",
    "in",
    "ago",
    "extract",
    "isnotempty",
    "isempty",
    "tostring",
    "parse_json",
    "count",
];

/// The identifiers of a query outside string literals (`"…"`, `@"…"`), with the position of
/// each, skipping numbers and timespans (`2d`, `1h`).
fn identifiers(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = query.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'@' && b.get(i + 1) == Some(&b'"') {
            i += 2;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            i += 1;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            // A member access (`parse_json(x).key`) is a property key, not a column.
            let member = start > 0 && b[start - 1] == b'.';
            if !member {
                out.push(query[start..i].to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The names a query binds itself: `let X =`, `extend X =`, `summarize X =`.
fn bound(query: &str) -> BTreeSet<String> {
    let ids = identifiers(query);
    let mut out = BTreeSet::new();
    for w in ids.windows(2) {
        if ["let", "extend", "summarize"].contains(&w[0].as_str()) {
            out.insert(w[1].clone());
        }
    }
    out
}

/// The keys read as `parse_json(properties_s).key`.
fn property_keys(query: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let needle = "parse_json(properties_s).";
    let mut rest = query;
    while let Some(at) = rest.find(needle) {
        rest = &rest[at + needle.len()..];
        let key: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(key);
    }
    out
}

/// The columns a query reads, and what in it is neither a column moat knows nor KQL.
fn columns(query: &str) -> BTreeSet<String> {
    let bound = bound(query);
    identifiers(query)
        .into_iter()
        .filter(|id| !KQL.contains(&id.as_str()) && !bound.contains(id))
        .collect()
}

/// What is wrong with one rule's query, in sentences.
fn problems(rule: &Rule, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let used = columns(query);
    for c in &used {
        if !DOCUMENTED.iter().any(|(d, _)| d == c) {
            out.push(format!(
                "{}: reads `{c}`, which is not documented for Azure OpenAI",
                rule.key
            ));
        }
    }
    let declared: BTreeSet<String> = rule.columns.iter().map(|s| s.to_string()).collect();
    if used != declared {
        out.push(format!(
            "{}: reads {used:?} but declares {declared:?}",
            rule.key
        ));
    }
    let keys = property_keys(query);
    let declared_keys: BTreeSet<String> =
        rule.property_keys.iter().map(|s| s.to_string()).collect();
    if keys != declared_keys {
        out.push(format!(
            "{}: reads properties_s keys {keys:?} but declares {declared_keys:?}",
            rule.key
        ));
    }
    let undocumented_keys: Vec<&String> = keys
        .iter()
        .filter(|k| !DOCUMENTED_PROPERTY_KEYS.contains(&k.as_str()))
        .collect();
    if !undocumented_keys.is_empty() && rule.undocumented.is_empty() {
        out.push(format!(
            "{}: reads properties_s keys {undocumented_keys:?} Microsoft does not document, and the rule does not say it depends on them",
            rule.key
        ));
    }
    if !rule.undocumented.is_empty() && rule.enabled {
        out.push(format!(
            "{}: depends on undocumented fields but is on by default",
            rule.key
        ));
    }
    out
}

const ACCOUNT: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-openai-prod";

#[test]
fn every_log_alert_query_reads_only_documented_columns_or_says_what_it_depends_on() {
    let mut all = Vec::new();
    for rule in log_alert::RULES {
        for window in ["15m", "1h", "1d"] {
            let query = (rule.query)(ACCOUNT, window);
            assert!(query.contains(&format!("ago({window})")), "{query}");
            all.extend(problems(rule, &query));
        }
    }
    assert!(all.is_empty(), "{all:#?}");
}

/// The check is not blind: the seed's own queries (a Key Vault column, a guessed key) fail it.
#[test]
fn the_seeds_columns_and_an_undeclared_key_are_caught() {
    let rule = &log_alert::NEW_CALLER_PREFIX;
    let seed = "AzureDiagnostics\n| where TimeGenerated > ago(1h)\n| summarize count() by identity_claim_appid_g";
    let p = problems(rule, seed);
    assert!(
        p.iter()
            .any(|m| m.contains("`identity_claim_appid_g`, which is not documented")),
        "{p:#?}"
    );
    let guessed = "AzureDiagnostics\n| where TimeGenerated > ago(1h) and CallerIPAddress != \"\" and ResourceProvider == \"x\" and _ResourceId =~ \"y\"\n| extend R = tostring(parse_json(properties_s).resultType)";
    let p = problems(rule, guessed);
    assert!(
        p.iter().any(|m| m.contains("keys {\"resultType\"}")),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|m| m.contains("does not say it depends")),
        "{p:#?}"
    );
}

#[test]
fn the_tokeniser_skips_literals_timespans_and_member_keys() {
    let q = "let k = T | where a == \"b c\" and x > ago(2d) | extend P = extract(@\"^(\\d+)\", 1, Col) | extend Q = tostring(parse_json(properties_s).apiName)";
    assert_eq!(
        identifiers(q),
        [
            "let",
            "k",
            "T",
            "where",
            "a",
            "and",
            "x",
            "ago",
            "extend",
            "P",
            "extract",
            "Col",
            "extend",
            "Q",
            "tostring",
            "parse_json",
            "properties_s"
        ]
    );
    assert_eq!(property_keys(q), BTreeSet::from(["apiName".to_string()]));
}
