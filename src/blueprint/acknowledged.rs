//! The top-level `acknowledged:` list: observed-state audit findings a reviewer has seen and
//! keeps for now, one resource each. Structure is checked by the schema table; here the
//! resource id's shape, duplicates and expiry. The planner never reads them; `moat audit`
//! waives the one finding each names (`audit::run`).

use super::context::{items, text};
use super::diag::Diagnostic;
use super::resolved::Acknowledgement;
use super::schema::{ACKNOWLEDGEMENT, DOCUMENT};
use super::yaml::Node;

/// The prefix of a reason `moat import` writes for a reviewer to replace (`import::PLACEHOLDER`).
pub const PLACEHOLDER: &str = "TODO(import):";

/// How many days before an acknowledgement expires validation starts warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// The acknowledgements of the root document.
pub fn resolve(root: &Node, today: time::Date, out: &mut Vec<Diagnostic>) -> Vec<Acknowledgement> {
    let mut acks: Vec<Acknowledgement> = Vec::new();
    for item in items(root, &DOCUMENT, "acknowledged") {
        let (Some(rule), Some(resource), Some(reason)) = (
            text(item, &ACKNOWLEDGEMENT, "rule"),
            text(item, &ACKNOWLEDGEMENT, "resource"),
            text(item, &ACKNOWLEDGEMENT, "reason"),
        ) else {
            continue; // reported by the structural check
        };
        let at = |key: &str| item.get(key).map_or(&item.loc, |n| &n.loc).clone();
        if reason.trim().chars().count() < 10 {
            out.push(Diagnostic::error(
                &at("reason"),
                "an acknowledgement needs a real reason (at least 10 characters)",
                Some("say why the finding stays, who agreed, and what fixes it".into()),
            ));
        }
        if reason.trim_start().starts_with(PLACEHOLDER) {
            out.push(Diagnostic::warning(
                &at("reason"),
                format!("{rule} on `{resource}` is acknowledged with import's placeholder reason"),
                Some(
                    "fix the finding and delete the entry, or write why it stays and who agreed"
                        .into(),
                ),
            ));
        }
        if !is_arm_id(&resource) {
            out.push(Diagnostic::error(
                &at("resource"),
                format!("`{resource}` is not an ARM resource id"),
                Some("copy the finding's resourceId from `moat audit --format json` (it starts with /subscriptions/)".into()),
            ));
            continue;
        }
        if let Some(first) = acks.iter().find(|a| {
            a.rule == rule
                && crate::values::norm_id(&a.resource) == crate::values::norm_id(&resource)
        }) {
            out.push(Diagnostic::error(
                &item.loc,
                format!(
                    "{rule} on `{resource}` is acknowledged twice (also at {})",
                    first.at
                ),
                Some("keep one entry".into()),
            ));
            continue;
        }
        let expires = text(item, &ACKNOWLEDGEMENT, "expires");
        let mut expired = false;
        if let (Some(date), Some(node)) = (&expires, item.get("expires")) {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            if let Ok(d) = time::Date::parse(date, &format) {
                let days = (d - today).whole_days();
                expired = days < 0;
                if expired {
                    out.push(Diagnostic::warning(
                        &node.loc,
                        format!("the acknowledgement of {rule} expired on {date}: audit reports the finding again"),
                        Some("fix the finding and delete the entry, or renew it with a new date and reason".into()),
                    ));
                } else if days <= EXPIRY_WARNING_DAYS {
                    out.push(Diagnostic::warning(
                        &node.loc,
                        format!("the acknowledgement of {rule} expires on {date} (in {days} days)"),
                        None,
                    ));
                }
            }
        }
        acks.push(Acknowledgement {
            rule,
            resource,
            reason,
            expires,
            expired,
            at: format!("{}:{}:{}", item.loc.file, item.loc.line, item.loc.column),
        });
    }
    acks
}

/// `/subscriptions/{guid}/…`: a resource (or a deleted account's) id, nothing else.
fn is_arm_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() >= 5
        && parts[0].is_empty()
        && parts[1].eq_ignore_ascii_case("subscriptions")
        && uuid_like(parts[2])
        && parts[3..]
            .iter()
            .all(|p| !p.is_empty() && !p.chars().any(char::is_whitespace))
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_subscription_scoped_ids_are_resources() {
        let sub = "/subscriptions/00000000-0000-0000-0000-000000000001";
        assert!(is_arm_id(&format!(
            "{sub}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/x"
        )));
        assert!(is_arm_id(&format!("{sub}/providers/Microsoft.CognitiveServices/locations/eastus/resourceGroups/rg/deletedAccounts/a")));
        assert!(
            !is_arm_id(sub),
            "a subscription is not a finding's resource"
        );
        assert!(!is_arm_id(
            "subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg"
        ));
        assert!(!is_arm_id("/subscriptions/not-a-guid/resourceGroups/rg"));
        assert!(!is_arm_id(&format!("{sub}//resourceGroups/rg")));
        assert!(!is_arm_id(&format!("{sub}/resourceGroups/r g")));
    }
}
