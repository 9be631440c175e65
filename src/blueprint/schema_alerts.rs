//! The shape of M2 `controls.alerts` (the action group and one object per rule), a part of the
//! controls' schema table (schema_controls.rs) kept in its own file for size.

use super::formats::{ArmKind, Fmt, NameKind};
use super::shape::{f, Field, Obj, Ty, BOOL, MODE, MODE_DOC};

pub static ACTION_GROUP: Obj = Obj {
    title: "actionGroup",
    doc: "The action group the alerts notify, created in the instance's resource group; instances naming the same group share it.",
    nullable: false,
    fields: &[
        f("name", &Ty::Str(Fmt::Name(NameKind::ActionGroup)), "Name of the action group.").req().arm("Microsoft.Insights/actionGroups name"),
        f("shortName", &Ty::Str(Fmt::ShortName), "Short name shown in notifications, at most 12 characters.").req().arm("properties.groupShortName"),
        f("emails", &Ty::List(&Ty::Str(Fmt::Email)), "E-mail addresses notified (common alert schema).").def("[]").arm("properties.emailReceivers[].emailAddress"),
        f("webhooks", &Ty::List(&Ty::Str(Fmt::WebhookUrl)), "Webhooks called (common alert schema): `https://` URLs without user info or a query string. moat adds them and never removes a webhook receiver; plans show only the host and a fingerprint of the URL.").def("[]").arm("properties.webhookReceivers[].serviceUri"),
    ],
};

/// The fields of an activity-log rule, `severity` defaulting to `severity` (a YAML literal).
const fn activity_rule(severity: &'static str) -> [Field; 2] {
    [
        f("enabled", &BOOL, "Whether the rule is on; `false` needs the `alert-disabled` exception.").def("true").arm("activityLogAlerts properties.enabled"),
        f("severity", &Ty::Int { min: 0, max: 4 }, "Severity 0-4 carried in the action's webhook properties (activity-log alerts have no severity of their own).")
            .def(severity).arm("properties.actions.actionGroups[].webhookProperties.severity"),
    ]
}

static KEY_ACCESS_FIELDS: [Field; 2] = activity_rule("1");
static CONFIG_CHANGE_FIELDS: [Field; 2] = activity_rule("3");

pub static KEY_ACCESS_ALERT: Obj = Obj {
    title: "keyAccess",
    doc: "An activity-log alert when someone lists or regenerates the account's API keys (`listKeys/action`, `regenerateKey/action`).",
    nullable: false,
    fields: &KEY_ACCESS_FIELDS,
};

pub static CONFIG_CHANGE_ALERT: Obj = Obj {
    title: "configChange",
    doc: "An activity-log alert when a deployment or RAI policy is written or deleted, or the account is written (`accounts/deployments/write|delete`, `accounts/raiPolicies/write|delete`, `accounts/write`).",
    nullable: false,
    fields: &CONFIG_CHANGE_FIELDS,
};

/// The fields of a metric rule, with the rule's defaults (YAML literals).
const fn metric_rule(
    severity: &'static str,
    threshold: &'static str,
    window: &'static str,
    frequency: &'static str,
) -> [Field; 5] {
    [
        f("enabled", &BOOL, "Whether the rule is on; `false` needs the `alert-disabled` exception.").def("true").arm("metricAlerts properties.enabled"),
        f("severity", &Ty::Int { min: 0, max: 4 }, "Severity 0 (critical) to 4 (verbose).").def(severity).arm("properties.severity"),
        f("threshold", &Ty::Int { min: 1, max: 1_000_000_000_000 }, "Fires when the metric's total over the window is greater than this, on any one deployment.")
            .def(threshold).arm("properties.criteria.allOf[0].threshold"),
        f("window", &Ty::Enum { what: "window", values: WINDOWS }, "The period the total is taken over (ISO 8601 duration, as Azure Monitor allows).")
            .def(window).arm("properties.windowSize"),
        f("frequency", &Ty::Enum { what: "frequency", values: FREQUENCIES }, "How often the rule is evaluated; not longer than `window`.")
            .def(frequency).arm("properties.evaluationFrequency"),
    ]
}

/// The window sizes Azure Monitor accepts for metric alerts.
pub const WINDOWS: &[&str] = &[
    "PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D",
];
/// The evaluation frequencies Azure Monitor accepts for metric alerts.
pub const FREQUENCIES: &[&str] = &["PT1M", "PT5M", "PT15M", "PT30M", "PT1H"];

static CONTENT_FILTER_FIELDS: [Field; 5] = metric_rule("2", "20", "PT5M", "PT1M");
static TOKEN_USAGE_FIELDS: [Field; 5] = metric_rule("2", "500000", "PT1H", "PT15M");

pub static CONTENT_FILTER_ALERT: Obj = Obj {
    title: "contentFilter",
    doc: "A metric alert when the content filter rejects many requests on one deployment (`RAIRejectedRequests`, total, split by `ModelDeploymentName`; the seed: more than 20 in 5 minutes, Sev 2).",
    nullable: false,
    fields: &CONTENT_FILTER_FIELDS,
};

pub static TOKEN_USAGE_ALERT: Obj = Obj {
    title: "tokenUsage",
    doc: "A metric alert on unusual token consumption on one deployment (`TokenTransaction`, total, split by `ModelDeploymentName`; the seed: more than 500,000 in an hour, Sev 2). Azure OpenAI metrics have no caller dimension: this is per deployment, not per caller.",
    nullable: false,
    fields: &TOKEN_USAGE_FIELDS,
};

/// The fields of a log rule: whether it is on (its default, a YAML literal), its severity and
/// its window (also how often it runs).
const fn log_rule(enabled: &'static str, severity: &'static str) -> [Field; 3] {
    [
        f("enabled", &BOOL, "Whether the rule is on; turning off a rule that is on by default needs the `alert-disabled` exception.").def(enabled).arm("scheduledQueryRules properties.enabled"),
        f("severity", &Ty::Int { min: 0, max: 4 }, "Severity 0 (critical) to 4 (verbose).").def(severity).arm("properties.severity"),
        f("window", &Ty::Enum { what: "window", values: LOG_WINDOWS }, "The period each run looks at, and how often it runs (ISO 8601 duration).")
            .def("PT1H").arm("properties.windowSize, properties.evaluationFrequency"),
    ]
}

/// The windows moat offers for log rules (each is also the rule's frequency).
pub const LOG_WINDOWS: &[&str] = &["PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D"];

static NEW_CALLER_PREFIX_FIELDS: [Field; 3] = log_rule("true", "4");
static KEY_AUTH_REQUESTS_FIELDS: [Field; 3] = log_rule("false", "3");

pub static NEW_CALLER_PREFIX_ALERT: Obj = Obj {
    title: "newCallerPrefix",
    doc: "A log alert over the instance's workspace (M1's) when the account is called from a /24 prefix of `CallerIPAddress` it has not seen in the two days before (Azure OpenAI masks the last octet; behind a private endpoint these are VNet addresses). The seed's \"new IP address accessing\", Sev 4. Needs `diagnostics`.",
    nullable: false,
    fields: &NEW_CALLER_PREFIX_FIELDS,
};

pub static KEY_AUTH_REQUESTS_ALERT: Obj = Obj {
    title: "keyAuthRequests",
    doc: "A log alert on data-plane requests without a caller identity, i.e. made with an API key; planned only where a `local-auth` exception keeps keys on. **Off by default**: it depends on `properties_s` carrying the caller's object id under `objectId`, which Microsoft does not document (docs/alerts.md).",
    nullable: false,
    fields: &KEY_AUTH_REQUESTS_FIELDS,
};

pub static ALERTS: Obj = Obj {
    title: "alerts",
    doc: "M2: alert rules on the account and the action group they notify (give `actionGroup` or `actionGroupId`).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("actionGroup", &Ty::Obj(&ACTION_GROUP), "An action group moat creates and keeps.").arm("Microsoft.Insights/actionGroups"),
        f("actionGroupId", &Ty::Str(Fmt::ArmId(ArmKind::ActionGroup)), "An existing action group (not written by moat); not together with `actionGroup`.")
            .arm("properties.actions.actionGroups[].actionGroupId"),
        f("keyAccess", &Ty::Obj(&KEY_ACCESS_ALERT), "The key-access rule.").def("{}").arm("Microsoft.Insights/activityLogAlerts"),
        f("configChange", &Ty::Obj(&CONFIG_CHANGE_ALERT), "The configuration-change rule.").def("{}").arm("Microsoft.Insights/activityLogAlerts"),
        f("contentFilter", &Ty::Obj(&CONTENT_FILTER_ALERT), "The content-filter rejection rule.").def("{}").arm("Microsoft.Insights/metricAlerts"),
        f("tokenUsage", &Ty::Obj(&TOKEN_USAGE_ALERT), "The token-consumption rule.").def("{}").arm("Microsoft.Insights/metricAlerts"),
        f("newCallerPrefix", &Ty::Obj(&NEW_CALLER_PREFIX_ALERT), "The new-caller-prefix log rule.").def("{}").arm("Microsoft.Insights/scheduledQueryRules"),
        f("keyAuthRequests", &Ty::Obj(&KEY_AUTH_REQUESTS_ALERT), "The key-authenticated-requests log rule (opt-in).").def("{}").arm("Microsoft.Insights/scheduledQueryRules"),
    ],
};
