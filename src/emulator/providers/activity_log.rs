//! The Azure Monitor activity log (`Microsoft.Insights/eventtypes/management/values`, api-version
//! 2015-04-01): the Administrative events the emulator records when a caller regenerates an
//! account key, and the events a seed plants (an entry whose id is an event id,
//! `{resource id}/events/{eventDataId}/ticks/{ticks}`, as Microsoft's examples name them).
//!
//! Shape and filter as in Azure/azure-rest-api-specs specification/monitor/resource-manager/
//! Microsoft.Insights/stable/2015-04-01/activityLogs_API.json (operation `ActivityLogs_List`, example
//! GetActivityLogsFiltered.json): `$filter` allows only `eventTimestamp ge '…'` (required), an
//! optional `eventTimestamp le '…'`, and at most one of `resourceGroupName`, `resourceUri`,
//! `resourceProvider` or `correlationId` `eq '…'`, joined by `and` ("No other syntax is
//! allowed"); `$select` names the top-level properties to return; pages follow `nextLink`.
//! Newest events first. Events older than the log's 90-day retention are not served.

use serde_json::{json, Map, Value};

use crate::emulator::cx::Cx;
use crate::emulator::engine::list_reply;
use crate::emulator::error::{ApiError, HResult};
use crate::emulator::ids::ResId;
use crate::emulator::provider::{Info, Provider, Request};
use crate::emulator::routes::list_start;
use crate::emulator::spec::TypeDef;

pub const API_VERSION: &str = "2015-04-01";
const VALUES_TYPE: &str = "Microsoft.Insights/eventtypes/values";
/// How long Azure keeps activity log events.
const RETENTION_NS: i128 = 90 * 86_400 * 1_000_000_000;
/// .NET ticks (100 ns since 0001-01-01) at the Unix epoch: the `ticks` segment of event ids.
const EPOCH_TICKS: i128 = 621_355_968_000_000_000;

const INFO: Info = Info {
    namespace: "Microsoft.Insights",
    api_versions: &[API_VERSION],
    types: &[TypeDef {
        name: VALUES_TYPE,
        pageable: true,
        ..TypeDef::BASE
    }],
};

pub struct ActivityLog;

impl Provider for ActivityLog {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// Insights answers errors with the flat `{code, message}` (the spec's `ErrorResponse`).
    fn flat_errors(&self) -> bool {
        true
    }

    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let id = req.id()?;
        if !id.is(VALUES_TYPE) || id.rg.is_some() || id.scope_is_resource() {
            return None;
        }
        if !id
            .names
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case("management"))
        {
            return Some(Err(ApiError::not_found(&id.display())));
        }
        if req.method != "GET" {
            return Some(Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "The activity log is read-only.",
            )));
        }
        Some(list(cx, req, id))
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("BadRequest", message)
}

const PATTERNS: &str = "The $filter must be `eventTimestamp ge '<start>'`, optionally `and eventTimestamp le '<end>'`, and at most one of `resourceGroupName`, `resourceUri`, `resourceProvider` or `correlationId` `eq '<value>'`. No other syntax is allowed.";

/// What a `$filter` asks for.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    from: i128,
    to: Option<i128>,
    /// `(field, value)`: the one scope clause.
    scope: Option<(String, String)>,
}

fn parse_time(s: &str) -> Option<i128> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

fn parse_filter(f: &str) -> Result<Filter, ApiError> {
    let mut out = Filter::default();
    let mut from = None;
    let lower = f.to_ascii_lowercase();
    let mut rest = f;
    let mut clauses = Vec::new();
    let mut offset = 0;
    while let Some(i) = lower[offset..].find(" and ") {
        clauses.push(&rest[..i]);
        rest = &rest[i + 5..];
        offset += i + 5;
    }
    clauses.push(rest);
    for c in clauses {
        let c = c.trim();
        let mut parts = c.splitn(3, ' ');
        let (field, op, value) = match (parts.next(), parts.next(), parts.next()) {
            (Some(f), Some(o), Some(v)) => (f, o.to_ascii_lowercase(), v.trim()),
            _ => return Err(bad(format!("Unsupported clause `{c}`. {PATTERNS}"))),
        };
        let Some(value) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
            return Err(bad(format!("Values are quoted: `{c}`. {PATTERNS}")));
        };
        match (field.to_ascii_lowercase().as_str(), op.as_str()) {
            ("eventtimestamp", "ge") | ("eventtimestamp", "le") => {
                let t = parse_time(value)
                    .ok_or_else(|| bad(format!("`{value}` is not a date-time. {PATTERNS}")))?;
                if op == "ge" {
                    from = Some(t);
                } else {
                    out.to = Some(t);
                }
            }
            // The tenant log's documented form also names the channels; all are served.
            ("eventchannels", "eq") => {}
            (
                f @ ("resourcegroupname" | "resourceuri" | "resourceprovider" | "correlationid"),
                "eq",
            ) => {
                if out.scope.is_some() {
                    return Err(bad(format!("Only one scope clause is allowed. {PATTERNS}")));
                }
                out.scope = Some((f.to_string(), value.to_string()));
            }
            _ => return Err(bad(format!("Unsupported clause `{c}`. {PATTERNS}"))),
        }
    }
    out.from = from.ok_or_else(|| bad(format!("The start time is required. {PATTERNS}")))?;
    Ok(out)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn matches(f: &Filter, e: &Value, oldest: i128) -> bool {
    let Some(t) = parse_time(str_at(e, &["eventTimestamp"])) else {
        return false;
    };
    if t < f.from || t < oldest || f.to.is_some_and(|to| t > to) {
        return false;
    }
    let Some((field, want)) = &f.scope else {
        return true;
    };
    let have = match field.as_str() {
        "resourcegroupname" => str_at(e, &["resourceGroupName"]),
        "resourceuri" => str_at(e, &["resourceId"]),
        "resourceprovider" => str_at(e, &["resourceProviderName", "value"]),
        _ => str_at(e, &["correlationId"]),
    };
    have.eq_ignore_ascii_case(want)
}

fn list(cx: &mut Cx, req: &Request, id: &ResId) -> HResult {
    let skip = list_start(cx, id, req.query)?;
    let filter = match req.param("$filter") {
        Some(f) => parse_filter(f)?,
        None => return Err(bad(format!("The $filter is required. {PATTERNS}"))),
    };
    let oldest = cx.now.as_nanos() as i128 - RETENTION_NS;
    let sub_prefix = format!("/subscriptions/{}/", id.sub.to_ascii_lowercase());
    let mut events: Vec<&Value> = cx
        .st
        .activity
        .iter()
        .filter(|e| {
            str_at(e, &["resourceId"])
                .to_ascii_lowercase()
                .starts_with(&sub_prefix)
        })
        .filter(|e| matches(&filter, e, oldest))
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(parse_time(str_at(e, &["eventTimestamp"]))));
    let select: Option<Vec<String>> = req.param("$select").map(|s| {
        s.split(',')
            .map(|x| x.trim().to_ascii_lowercase())
            .collect()
    });
    let items = events
        .into_iter()
        .map(|e| match (&select, e.as_object()) {
            (Some(keep), Some(o)) => Value::Object(
                o.iter()
                    .filter(|(k, _)| keep.contains(&k.to_ascii_lowercase()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<_, _>>(),
            ),
            _ => e.clone(),
        })
        .collect();
    Ok(list_reply(cx, req.path, req.query, items, skip, true))
}

fn localizable(s: &str) -> Value {
    json!({ "value": s, "localizedValue": s })
}

/// The `/events/{id}/ticks/{n}` id of an event on `resource_id` at `ns` since the epoch.
fn event_id(resource_id: &str, event_data_id: &str, ns: i128) -> String {
    format!(
        "{resource_id}/events/{event_data_id}/ticks/{}",
        EPOCH_TICKS + ns / 100
    )
}

/// Record the Administrative events of an action ARM accepted on `account`: `Started` with the
/// request body, then `Succeeded` (same correlation and operation ids), both now.
pub fn record_action(cx: &mut Cx, account: &ResId, operation: &str, request_body: &Value) {
    let resource_id = account.display();
    let correlation = cx.st.new_guid("activity-correlation");
    let ns = cx.now.as_nanos() as i128;
    for (status, event_name, sub_status) in [
        ("Started", "BeginRequest", ""),
        ("Succeeded", "EndRequest", "OK"),
    ] {
        let event_data_id = cx.st.new_guid("activity-event");
        let mut properties = json!({
            "eventCategory": "Administrative",
            "entity": resource_id,
            "message": operation,
            "hierarchy": "",
        });
        if status == "Started" {
            properties["requestbody"] = json!(request_body.to_string());
        } else {
            properties["statusCode"] = json!(sub_status);
        }
        cx.st.activity.push(json!({
            "authorization": { "action": operation, "scope": resource_id },
            "caller": cx.principal,
            "channels": "Operation",
            "correlationId": correlation,
            "description": "",
            "eventDataId": event_data_id,
            "eventName": localizable(event_name),
            "category": localizable("Administrative"),
            "httpRequest": { "clientIpAddress": "127.0.0.1", "method": "POST" },
            "id": event_id(&resource_id, &event_data_id, ns),
            "level": "Informational",
            "resourceGroupName": account.rg.clone().unwrap_or_default(),
            "resourceProviderName": localizable(&account.ns),
            "resourceId": resource_id,
            "resourceType": localizable(&account.full_type),
            "operationId": correlation,
            "operationName": localizable(operation),
            "properties": properties,
            "status": localizable(status),
            "subStatus": localizable(sub_status),
            "eventTimestamp": cx.timestamp(),
            "submissionTimestamp": cx.timestamp(),
            "subscriptionId": account.sub,
        }));
    }
    cx.st.dirty = true;
}

/// A seed entry whose id is an event id (`…/events/{eventDataId}/ticks/{ticks}`): stored in the
/// log as given, with the fields its id implies filled in. `None` for other ids.
pub fn seed_event(cx: &mut Cx, id: &str, v: &Value) -> Option<Result<(), String>> {
    let segs: Vec<&str> = id.split('/').collect();
    let n = segs.len();
    let is_event = n >= 9
        && segs[n - 4].eq_ignore_ascii_case("events")
        && segs[n - 2].eq_ignore_ascii_case("ticks")
        && segs[1].eq_ignore_ascii_case("subscriptions")
        && id.to_ascii_lowercase().contains("/providers/");
    if !is_event {
        return None;
    }
    let resource_id = segs[..n - 4].join("/");
    if parse_time(str_at(v, &["eventTimestamp"])).is_none()
        || str_at(v, &["operationName", "value"]).is_empty()
    {
        return Some(Err(format!(
            "seed event {id}: needs an RFC 3339 eventTimestamp and operationName.value"
        )));
    }
    let mut e = v.clone();
    let rg = segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| segs.get(i + 1))
        .copied()
        .unwrap_or_default();
    let defaults = [
        ("resourceId", json!(resource_id)),
        ("eventDataId", json!(segs[n - 3])),
        ("subscriptionId", json!(segs[2])),
        ("resourceGroupName", json!(rg)),
        ("category", localizable("Administrative")),
        ("level", json!("Informational")),
        ("status", localizable("Succeeded")),
        ("submissionTimestamp", v["eventTimestamp"].clone()),
    ];
    for (k, d) in defaults {
        if e.get(k).is_none() {
            e[k] = d;
        }
    }
    cx.st.activity.push(e);
    cx.st.dirty = true;
    Some(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_allows_only_the_documented_patterns() {
        let f = parse_filter("eventTimestamp ge '2015-01-21T20:00:00Z' and eventTimestamp le '2015-01-23T20:00:00Z' and resourceUri eq '/subscriptions/s/x'").unwrap();
        assert_eq!(
            f.scope,
            Some(("resourceuri".into(), "/subscriptions/s/x".into()))
        );
        assert!(f.to.unwrap() > f.from);
        assert!(parse_filter(
            "eventTimestamp ge '2015-01-21T20:00:00Z' and resourceGroupName eq 'rg'"
        )
        .is_ok());
        for wrong in [
            "resourceUri eq '/x'",
            "eventTimestamp ge '2015-01-21T20:00:00Z' and operationName eq 'a/b/action'",
            "eventTimestamp ge '2015-01-21T20:00:00Z' and resourceUri eq '/x' and resourceGroupName eq 'rg'",
            "eventTimestamp ge 2015-01-21T20:00:00Z",
            "eventTimestamp ge 'yesterday'",
        ] {
            assert!(parse_filter(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn event_ids_carry_dotnet_ticks() {
        // 2015-01-21T22:14:26.9792776Z, as in Microsoft's GetActivityLogsFiltered example.
        let ns = parse_time("2015-01-21T22:14:26.9792776Z").unwrap();
        assert!(event_id("/r", "e", ns).ends_with("/events/e/ticks/635574752669792776"));
    }
}
