//! `Microsoft.Insights/scheduledQueryRules` (M2): log alerts over the instance's Log Analytics
//! workspace (the one M1 sends the account's logs to), one row each in [`RULES`]:
//! `newCallerPrefix` (a /24 caller prefix not seen in the baseline period, the seed's "new IP
//! address accessing") and `keyAuthRequests` (data-plane requests without a caller identity,
//! where an exception keeps API keys on). The KQL is moat's own, over the `AzureDiagnostics`
//! columns Microsoft documents for Azure OpenAI; a rule that reads anything else says so in
//! [`Rule::undocumented`], in the plan and in docs/alerts.md, and is off by default.
//!
//! Synchronous PUT, api-version 2023-12-01 (REST spec `createOrUpdateScheduledQueryRule.json`),
//! `kind: LogAlert`, in the instance's region and resource group, named
//! `{account}-{rule suffix}`, scoped to the workspace. The server lower-cases the type and the
//! ids, adds `isWorkspaceAlertsStorageConfigured`, and may answer numbers as floats; the
//! comparison sees through them. Queries compare after trimming each line. Turning a rule off
//! needs the `alert-disabled` exception.

use serde_json::{json, Value};

use super::alert_rule::{self, Diff, Draft, Words};
use super::get_str;
use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use crate::blueprint::resolved::{Instance, Mode};
use crate::model::{Change, KindId};

pub const API_VERSION: &str = "2023-12-01";
pub const KIND: KindId = KindId::new("log-alert");
use super::action_group::CONTROL;

/// One log rule: its field in `controls.alerts`, its defaults, the query and what it reads.
pub struct Rule {
    pub key: &'static str,
    pub severity: i64,
    pub window: &'static str,
    /// Whether the rule is on when the blueprint does not say (off where it depends on
    /// something Microsoft does not document).
    pub enabled: bool,
    /// Only planned where an exception keeps key auth on (otherwise it cannot fire).
    pub needs_keys: bool,
    /// The `AzureDiagnostics` columns the query reads.
    pub columns: &'static [&'static str],
    /// The keys of `properties_s` the query reads (`parse_json(properties_s).key`).
    pub property_keys: &'static [&'static str],
    /// What the query depends on that Microsoft does not document, in words.
    pub undocumented: &'static [&'static str],
    /// The query for an account id and the window in KQL (`1h`).
    pub query: fn(&str, &str) -> String,
    /// How far back the query reads (`overrideQueryTimeRange`), when longer than the window.
    pub lookback: Option<&'static str>,
    /// The result column each alert is split by.
    pub dimension: &'static str,
    pub description: &'static str,
    pub words: Words,
}

/// The account's rows of `AzureDiagnostics` since `since` (KQL), as every query starts.
fn rows(account: &str, since: &str) -> String {
    format!(
        "AzureDiagnostics\n| where TimeGenerated > ago({since})\n| where ResourceProvider == \"MICROSOFT.COGNITIVESERVICES\" and _ResourceId =~ \"{}\"",
        kql_string(account)
    )
}

/// A string inside KQL double quotes.
fn kql_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The first three octets of `CallerIPAddress` (Azure OpenAI masks the last one).
const PREFIX: &str = "extend CallerPrefix = extract(@\"^(\\d{1,3}\\.\\d{1,3}\\.\\d{1,3})\\.\", 1, CallerIPAddress)\n| where isnotempty(CallerPrefix)";

fn new_caller_prefix(account: &str, window: &str) -> String {
    format!(
        "let known = {}\n| where TimeGenerated < ago({window})\n| {PREFIX}\n| distinct CallerPrefix;\n{}\n| {PREFIX}\n| where CallerPrefix !in (known)\n| summarize Requests = count() by CallerPrefix",
        rows(account, "2d"),
        rows(account, window)
    )
}

fn key_auth_requests(account: &str, window: &str) -> String {
    format!(
        "{}\n| where Category == \"RequestResponse\"\n| extend CallerObjectId = tostring(parse_json(properties_s).objectId)\n| where isempty(CallerObjectId)\n| summarize Requests = count() by OperationName",
        rows(account, window)
    )
}

pub const NEW_CALLER_PREFIX: Rule = Rule {
    key: "newCallerPrefix",
    severity: 4,
    window: "PT1H",
    enabled: true,
    needs_keys: false,
    columns: &[
        "TimeGenerated",
        "ResourceProvider",
        "_ResourceId",
        "CallerIPAddress",
    ],
    property_keys: &[],
    undocumented: &[],
    query: new_caller_prefix,
    lookback: Some("P2D"),
    dimension: "CallerPrefix",
    description: "moat M2: requests from a /24 caller prefix not seen in the two days before",
    words: Words {
        suffix: "new-caller-prefix",
        reason:
            "alert when the account is called from a /24 prefix it has not seen for two days (M2)",
        lost: "no alert when the account is called from a new network",
    },
};

pub const KEY_AUTH_REQUESTS: Rule = Rule {
    key: "keyAuthRequests",
    severity: 3,
    window: "PT1H",
    enabled: false,
    needs_keys: true,
    columns: &[
        "TimeGenerated",
        "ResourceProvider",
        "_ResourceId",
        "Category",
        "OperationName",
        "properties_s",
    ],
    property_keys: &["objectId"],
    undocumented: &[
        "that `properties_s` carries the caller's Entra object id under `objectId` for token callers and not for key callers (Microsoft does not document its keys)",
    ],
    query: key_auth_requests,
    lookback: None,
    dimension: "OperationName",
    description: "moat M2: data-plane requests without a caller identity (API key), where keys are allowed",
    words: Words {
        suffix: "key-auth-requests",
        reason: "alert on requests made with an API key, where an exception keeps keys on (M2; depends on an undocumented log field)",
        lost: "no alert when the account's API keys are used",
    },
};

/// Every log rule moat keeps.
pub static RULES: &[&Rule] = &[&NEW_CALLER_PREFIX, &KEY_AUTH_REQUESTS];

pub struct LogAlertKind;

static META: Meta = Meta {
    label: "log-alert",
    arm_type: "Microsoft.Insights/scheduledQueryRules",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "location",
        "kind",
        "properties.description",
        "properties.displayName",
        "properties.severity",
        "properties.enabled",
        "properties.evaluationFrequency",
        "properties.windowSize",
        "properties.overrideQueryTimeRange",
        "properties.scopes",
        "properties.criteria",
        "properties.actions.actionGroups",
        "properties.autoMitigate",
    ],
    read_only: &[
        "properties.isWorkspaceAlertsStorageConfigured",
        "properties.isLegacyLogAnalyticsRule",
        "properties.createdWithApiVersion",
    ],
    // Other tools' settings on a rule moat owns: not compared; a PUT does not carry them.
    ignored: &[
        "tags",
        "properties.actions.customProperties",
        "properties.muteActionsDuration",
        "properties.ruleResolveConfiguration",
        "properties.checkWorkspaceAlertsStorageConfigured",
        "properties.skipQueryValidation",
    ],
    first_on_lock: false,
    weak: &[("properties.enabled", "false")],
};

/// The id of `rule` for `inst`.
pub fn rule_id(inst: &Instance, rule: &Rule) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Insights/scheduledQueryRules/{}-{}",
        inst.subscription, inst.resource_group, inst.account_name, rule.words.suffix
    )
}

/// The workspace the account's logs go to (M1), the scope of every log rule.
fn workspace(inst: &Instance) -> Option<&str> {
    let d = inst.controls.diagnostics.as_ref()?;
    Some(d.spec.workspace_id.as_str()).filter(|w| !w.is_empty())
}

/// Whether an exception keeps key auth on.
fn keys_on(inst: &Instance) -> bool {
    inst.controls
        .local_auth
        .as_ref()
        .is_some_and(|c| !c.spec.disabled)
}

alert_rule::row!(Rule, rule_id);

/// The rules `inst` declares and can have: a workspace to query, and keys on for the rules
/// about keys.
fn declared(inst: &Instance) -> Vec<alert_rule::Declared<'_, Rule>> {
    if workspace(inst).is_none() {
        return Vec::new();
    }
    let mut out = alert_rule::declared(inst, RULES, API_VERSION);
    out.retain(|d| !d.rule.needs_keys || keys_on(inst));
    out
}

/// A window as KQL writes a timespan (`PT1H` → `1h`, `P1D` → `1d`).
fn kql_timespan(iso: &str) -> String {
    let t = iso.trim_start_matches('P').trim_start_matches('T');
    t.to_ascii_lowercase()
}

impl Kind for LogAlertKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        alert_rule::reads(&declared(inst))
    }

    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        alert_rule::destroy(inst, &KIND, &declared(inst), seen)
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut out = Planned::default();
        let named = inst
            .controls
            .generic(CONTROL)
            .is_some_and(|c| RULES.iter().any(|r| c.spec.get(r.key).is_some()));
        if named && workspace(inst).is_none() {
            out.notes.push(format!(
                "{}: no log alert rules: the instance sends its logs to no workspace (declare `diagnostics`)",
                inst.name
            ));
        }
        for d in declared(inst) {
            let (rule, live) = (d.rule, seen.value(&d.read));
            let enabled = d.spec["enabled"].as_bool().unwrap_or(rule.enabled);
            let on = (enabled, rule.enabled);
            if alert_rule::off_and_absent(&mut out, inst, &rule.words, on, live) {
                continue;
            }
            let severity = d.spec["severity"].as_i64().unwrap_or(rule.severity);
            let window = get_str(d.spec, "window").unwrap_or(rule.window);
            let change = plan(inst, rule, d.mode, (enabled, severity, window), live);
            out.changes.push((Stage::Alerting, change));
        }
        out
    }
}

/// A query as the server keeps it: lines trimmed, blank lines dropped.
fn canon_query(q: &str) -> String {
    q.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A criterion as the server means it (the query as [`canon_query`] has it).
fn canon_criteria(c: &Value) -> Value {
    let mut all: Vec<Value> = c["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            let low = |k: &str| get_str(x, k).map(str::to_ascii_lowercase);
            let dims = alert_rule::canon_dimensions(&x["dimensions"]);
            json!({
                "query": get_str(x, "query").map(canon_query),
                "aggregation": low("timeAggregation"),
                "operator": low("operator"),
                "threshold": x["threshold"].as_f64(),
                "dimensions": dims,
                "periods": [
                    x["failingPeriods"]["numberOfEvaluationPeriods"].as_f64(),
                    x["failingPeriods"]["minFailingPeriodsToAlert"].as_f64(),
                ],
            })
        })
        .collect();
    all.sort_by_key(Value::to_string);
    Value::Array(all)
}

/// The criterion in one line, the query aside: `Count of rows > 0 per CallerPrefix`.
pub fn summary(c: &Value) -> String {
    let parts: Vec<String> = c["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            let op = match get_str(x, "operator").unwrap_or_default() {
                "GreaterThan" => ">",
                "GreaterThanOrEqual" => ">=",
                "LessThan" => "<",
                "LessThanOrEqual" => "<=",
                "Equals" => "=",
                other => other,
            };
            let dims: Vec<&str> = x["dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| get_str(d, "name"))
                .collect();
            let per = if dims.is_empty() {
                String::new()
            } else {
                format!(" per {}", dims.join(", "))
            };
            format!(
                "{} of rows {op} {}{per}",
                get_str(x, "timeAggregation").unwrap_or("?"),
                x["threshold"]
            )
        })
        .collect();
    if parts.is_empty() {
        "(no criteria)".into()
    } else {
        parts.join(" and ")
    }
}

/// The query of the first criterion, lines trimmed (as plans show it, line by line).
fn query_of(c: &Value) -> String {
    c["allOf"][0]["query"]
        .as_str()
        .map(canon_query)
        .unwrap_or_default()
}

fn plan(
    inst: &Instance,
    rule: &Rule,
    mode: Mode,
    (enabled, severity, window): (bool, i64, &str),
    live: Option<&Value>,
) -> Change {
    let account = inst.account_id();
    let query = (rule.query)(&account, &kql_timespan(window));
    let groups: Vec<String> = super::action_group::target(inst).into_iter().collect();
    let mut want = json!({
        "location": inst.location,
        "kind": "LogAlert",
        "properties": {
            "displayName": format!("{}-{}", inst.account_name, rule.words.suffix),
            "description": rule.description,
            "severity": severity,
            "enabled": enabled,
            "evaluationFrequency": window,
            "windowSize": window,
            "scopes": [workspace(inst).unwrap_or_default()],
            "criteria": {"allOf": [{
                "query": query,
                "timeAggregation": "Count",
                "operator": "GreaterThan",
                "threshold": 0,
                "dimensions": [{"name": rule.dimension, "operator": "Include", "values": ["*"]}],
                "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1},
            }]},
            "autoMitigate": false,
            "actions": {"actionGroups": groups},
        }
    });
    if let Some(lookback) = rule.lookback {
        want["properties"]["overrideQueryTimeRange"] = json!(lookback);
    }
    let mut diff = Diff::new(live, &want);
    diff.field("properties.severity", alert_rule::same_number);
    diff.field("properties.windowSize", alert_rule::same_text);
    diff.field("properties.evaluationFrequency", alert_rule::same_text);
    diff.field("properties.overrideQueryTimeRange", |l, w| {
        l == w || alert_rule::same_text(l, w)
    });
    diff.field("properties.scopes", alert_rule::same_scopes);
    diff.shown(
        "properties.criteria",
        |l, w| canon_criteria(l) == canon_criteria(w),
        summary,
    );
    diff.shown(
        "properties.criteria.allOf",
        |l, w| {
            let q = |v: &Value| v[0]["query"].as_str().map(canon_query);
            q(l) == q(w)
        },
        |v| query_of(&json!({"allOf": v})),
    );
    // A list of group ids compares like a list of scopes.
    diff.field("properties.actions.actionGroups", alert_rule::same_scopes);
    diff.field("properties.enabled", alert_rule::same_bool);
    diff.field("properties.autoMitigate", alert_rule::same_bool);
    let mut fields = diff.fields;
    // The query is shown once, as its own field; the criterion line says the rest.
    for f in &mut fields {
        if f.path == "properties.criteria.allOf" {
            f.path = "properties.criteria.allOf[0].query".into();
        }
    }
    let mut c = alert_rule::finish(Draft {
        inst,
        kind: KIND,
        id: rule_id(inst, rule),
        api_version: API_VERSION,
        mode,
        enabled,
        words: &rule.words,
        want,
        fields,
        live,
    });
    if !rule.undocumented.is_empty() && c.action.is_write() {
        c.reason = format!(
            "{}; it depends on {}",
            c.reason,
            rule.undocumented.join("; ")
        );
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_kql_timespans() {
        assert_eq!(kql_timespan("PT1H"), "1h");
        assert_eq!(kql_timespan("PT15M"), "15m");
        assert_eq!(kql_timespan("P1D"), "1d");
    }

    #[test]
    fn the_account_id_is_quoted_inside_kql() {
        let q = new_caller_prefix("/subscriptions/x/a\"b", "1h");
        assert!(
            q.contains("_ResourceId =~ \"/subscriptions/x/a\\\"b\""),
            "{q}"
        );
        assert!(q.contains("ago(2d)") && q.contains("ago(1h)"), "{q}");
    }

    #[test]
    fn queries_compare_line_by_line_without_indentation() {
        assert_eq!(canon_query("  A\n\n   | where x  \n"), "A\n| where x");
    }
}
