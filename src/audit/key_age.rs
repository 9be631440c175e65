//! MOAT-IM-003 from the activity log, for an account that keeps key auth on (`disableLocalAuth`
//! not `true`) and has no `keyRotation` (so no secret dates its keys): the last regeneration of
//! each key is the newest `Succeeded` `Microsoft.CognitiveServices/accounts/regenerateKey/action`
//! event of the account in the activity log, which Azure keeps for 90 days. A key with no
//! regeneration in that window, on an account created before it (`properties.dateCreated`), is
//! older than the window: a finding. An account created within the window has keys no older
//! than itself.
//!
//! One request per such account (pages followed): `GET /subscriptions/{s}/providers/
//! Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01` with the documented
//! filter `eventTimestamp ge '{now - 90d}' and eventTimestamp le '{now}' and resourceUri eq
//! '{account}'` (the operation cannot be filtered on: Azure allows no other syntax) and a
//! `$select` of the fields read. Which key an event regenerated is the `keyName` of the request
//! body ARM logs in `properties.requestbody` (of the event itself or of another event of the same
//! correlation, the `Started` one); an event that does not say dates neither key. "Now" is ARM's
//! clock, the `Date` of its answers ([`Clocked`]), as rotation uses the vault's.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use crate::arm::vault::parse_http_date;
use crate::arm::{lro, retry, ArmApi, ArmError, ArmRequest, ArmResponse, Method, Stats};
use crate::blueprint::resolved::Blueprint;
use crate::model::observed::{Observed, Read};
use crate::rotate::state::{parse_rfc3339, rfc3339, span};

use super::{rules, Evidence, Finding};

pub const ACTIVITY_API_VERSION: &str = "2015-04-01";
pub const REGENERATE_KEY: &str = "Microsoft.CognitiveServices/accounts/regenerateKey/action";
/// How far back the activity log goes (Azure keeps events 90 days).
pub const WINDOW_SECS: i64 = 90 * 86_400;
const SELECT: &str = "eventTimestamp,operationName,status,properties,resourceId,correlationId";

/// An [`ArmApi`] that remembers ARM's clock: the newest `Date` header of its answers.
pub struct Clocked {
    inner: Arc<dyn ArmApi>,
    now: Mutex<Option<i64>>,
}

impl Clocked {
    pub fn new(inner: Arc<dyn ArmApi>) -> Self {
        Clocked {
            inner,
            now: Mutex::new(None),
        }
    }

    /// ARM's time (Unix seconds) as of its latest answer; this machine's before any answer.
    pub fn now(&self) -> i64 {
        self.now
            .lock()
            .expect("clock lock")
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
    }
}

#[async_trait]
impl ArmApi for Clocked {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        let resp = self.inner.send(req).await?;
        if let Some(t) = resp.header("date").and_then(parse_http_date) {
            let mut now = self.now.lock().expect("clock lock");
            *now = Some(now.map_or(t, |n| n.max(t)));
        }
        Ok(resp)
    }

    fn lro_options(&self) -> lro::LroOptions {
        self.inner.lro_options()
    }

    fn retry_policy(&self) -> retry::RetryPolicy {
        self.inner.retry_policy()
    }

    fn on_poll(&self) {
        self.inner.on_poll()
    }

    fn stats(&self) -> Stats {
        self.inner.stats()
    }
}

/// The newest regeneration of each key in a list of events, and how many said no key.
#[derive(Debug, Default, PartialEq)]
pub struct Regenerations {
    /// Unix seconds of the last regeneration of Key1, Key2.
    pub last: [Option<i64>; 2],
    pub unattributed: usize,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// `Key1` → 0, `Key2` → 1, from a logged request body `{"keyName": …}`.
fn key_of(requestbody: &str) -> Option<usize> {
    let body: Value = serde_json::from_str(requestbody).ok()?;
    match body.get("keyName")?.as_str()?.to_ascii_lowercase().as_str() {
        "key1" => Some(0),
        "key2" => Some(1),
        _ => None,
    }
}

/// The regenerations of `account`'s keys that succeeded, from its activity log events.
pub fn regenerations(events: &[Value], account: &str) -> Regenerations {
    let body_of = |e: &Value| str_at(e, &["properties", "requestbody"]).and_then(key_of);
    let mut out = Regenerations::default();
    for e in events {
        let ours = str_at(e, &["resourceId"]).is_some_and(|r| r.eq_ignore_ascii_case(account))
            && str_at(e, &["operationName", "value"])
                .is_some_and(|o| o.eq_ignore_ascii_case(REGENERATE_KEY))
            && str_at(e, &["status", "value"]).is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"));
        let Some(at) = ours
            .then(|| str_at(e, &["eventTimestamp"]).and_then(parse_rfc3339))
            .flatten()
        else {
            continue;
        };
        let correlation = str_at(e, &["correlationId"]);
        let key = body_of(e).or_else(|| {
            events
                .iter()
                .filter(|o| correlation.is_some() && str_at(o, &["correlationId"]) == correlation)
                .find_map(body_of)
        });
        match key {
            Some(k) => out.last[k] = Some(out.last[k].map_or(at, |t| t.max(at))),
            None => out.unattributed += 1,
        }
    }
    out
}

/// What the finding observes when a key is older than the window; `None` when both are younger.
pub fn verdict(regen: &Regenerations, created: Option<i64>, now: i64) -> Option<String> {
    let from = now - WINDOW_SECS;
    let young_account = created.is_some_and(|c| c >= from);
    let mut stale = false;
    let parts: Vec<String> = regen
        .last
        .iter()
        .enumerate()
        .map(|(i, last)| match (last, young_account) {
            (Some(t), _) => format!(
                "Key{} regenerated {} ({} ago)",
                i + 1,
                rfc3339(*t),
                span(now - t)
            ),
            (None, true) => format!("Key{} as old as the account", i + 1),
            (None, false) => {
                stale = true;
                format!(
                    "Key{} not regenerated since {} or earlier",
                    i + 1,
                    rfc3339(from)
                )
            }
        })
        .collect();
    if !stale {
        return None;
    }
    let mut why = format!(
        "from the activity log (no keyRotation vault; its last {}): {}",
        span(WINDOW_SECS),
        parts.join("; ")
    );
    if let Some(c) = created {
        why.push_str(&format!("; account created {}", rfc3339(c)));
    }
    if regen.unattributed > 0 {
        why.push_str(&format!(
            "; {} regeneration(s) did not say which key",
            regen.unattributed
        ));
    }
    Some(why)
}

/// MOAT-IM-003 for every instance of `bp` that keeps keys on without `keyRotation`, from the
/// activity log of its account (read through the caller's read-only client).
pub async fn findings(
    api: &dyn ArmApi,
    bp: &Blueprint,
    observed: &Observed,
    now: i64,
) -> Result<Vec<Finding>, ArmError> {
    let rule = rules::rule("MOAT-IM-003").expect("the key age rule exists");
    let judged = bp.instances.iter().filter_map(|inst| {
        if inst.key_rotation.is_some() {
            return None;
        }
        let account_id = inst.account_id();
        let read = Read::get(account_id.clone(), crate::resources::account::API_VERSION);
        let seen = crate::plan::observed_of(observed, inst);
        let account = seen.reads.value(&read)?;
        let keys_on = account
            .pointer("/properties/disableLocalAuth")
            .and_then(Value::as_bool)
            != Some(true);
        let created = account
            .pointer("/properties/dateCreated")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339);
        keys_on.then_some((inst, account_id, created))
    });
    let reads = judged.map(|(inst, account_id, created)| async move {
        let filter = format!(
            "eventTimestamp ge '{}' and eventTimestamp le '{}' and resourceUri eq '{account_id}'",
            rfc3339(now - WINDOW_SECS),
            rfc3339(now)
        );
        let req = ArmRequest::new(
            Method::Get,
            format!(
                "/subscriptions/{}/providers/Microsoft.Insights/eventtypes/management/values",
                inst.subscription
            ),
            ACTIVITY_API_VERSION,
        )
        .with_query("$filter", filter)
        .with_query("$select", SELECT.to_string());
        let events = api.list_query(req).await?;
        let why = verdict(&regenerations(&events, &account_id), created, now);
        Ok::<_, ArmError>(why.map(|why| Finding {
            rule,
            instance: inst.name.clone(),
            resource_id: account_id.clone(),
            address: format!("{}/key-age", inst.name),
            evidence: vec![Evidence {
                path: "keys".into(),
                observed: Some(why.into()),
                expected: Some(
                    format!(
                        "each key regenerated within {} (keyRotation and moat rotate)",
                        span(WINDOW_SECS)
                    )
                    .into(),
                ),
            }],
            waived_by: None,
        }))
    });
    let found = futures::future::try_join_all(reads).await?;
    Ok(found.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ACCT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";
    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const DAY: i64 = 86_400;

    fn event(status: &str, at: i64, correlation: &str, body: Option<&str>) -> Value {
        let mut e = json!({
            "resourceId": ACCT.to_ascii_lowercase(),
            "operationName": {"value": "microsoft.cognitiveservices/accounts/regeneratekey/action"},
            "status": {"value": status},
            "eventTimestamp": rfc3339(at),
            "correlationId": correlation,
            "properties": {},
        });
        if let Some(b) = body {
            e["properties"]["requestbody"] = json!(b);
        }
        e
    }

    #[test]
    fn a_regeneration_is_its_succeeded_event_with_the_key_of_its_request() {
        let events = [
            event(
                "Started",
                NOW - 10 * DAY,
                "c1",
                Some(r#"{"keyName":"Key2"}"#),
            ),
            event("Succeeded", NOW - 10 * DAY, "c1", None),
            event(
                "Succeeded",
                NOW - 5 * DAY,
                "c2",
                Some(r#"{"keyName":"key1"}"#),
            ),
            event("Failed", NOW - DAY, "c3", Some(r#"{"keyName":"Key1"}"#)),
            event("Succeeded", NOW - 2 * DAY, "c4", None),
        ];
        let r = regenerations(&events, ACCT);
        assert_eq!(r.last, [Some(NOW - 5 * DAY), Some(NOW - 10 * DAY)]);
        assert_eq!(r.unattributed, 1);
        let other = regenerations(&events, &format!("{ACCT}x"));
        assert_eq!(other, Regenerations::default());
    }

    #[test]
    fn a_key_without_a_regeneration_in_the_window_is_older_than_it() {
        let old = Some(NOW - 400 * DAY);
        let both = Regenerations {
            last: [Some(NOW - DAY), Some(NOW - 2 * DAY)],
            unattributed: 0,
        };
        assert_eq!(verdict(&both, old, NOW), None);
        let one = Regenerations {
            last: [None, Some(NOW - 2 * DAY)],
            unattributed: 1,
        };
        let why = verdict(&one, old, NOW).unwrap();
        assert!(why.starts_with("from the activity log"), "{why}");
        assert!(
            why.contains("Key1 not regenerated since 2025-10-03T00:00:00Z"),
            "{why}"
        );
        assert!(
            why.contains("Key2 regenerated") && why.contains("(2d ago)"),
            "{why}"
        );
        assert!(why.contains("1 regeneration(s) did not say"), "{why}");
        // A young account's keys are as old as the account; an undated one is not assumed young.
        assert_eq!(
            verdict(&Regenerations::default(), Some(NOW - 30 * DAY), NOW),
            None
        );
        assert!(verdict(&Regenerations::default(), None, NOW).is_some());
    }
}
