//! `MOAT-NS-012`: the privatelink zones hold an A record for the account's custom subdomain that
//! points at its private endpoint's IP.
//!
//! Judged for instances that declare the private path (`privateEndpoint`, `privateDns`,
//! `dnsZoneGroup`): only they say where the zones are. For each zone the instance needs (OpenAI:
//! `privatelink.openai.azure.com`; AIServices: that, `privatelink.cognitiveservices.azure.com`
//! and `privatelink.services.ai.azure.com`; other kinds the cognitiveservices zone — HARDENING.md
//! "DNS zones by kind"), the record `{subdomain}` must hold the endpoint's IP: from the
//! endpoint's `customDnsConfigs` (the FQDN `{subdomain}.{zone without privatelink.}`), else the
//! zone group's `recordSets` for that zone, both already read by the plan. One finding per zone
//! and record: missing, pointing elsewhere (the endpoint's IP absent), or stale (the endpoint's
//! IP plus addresses no endpoint of the account has: clients are sent to a dead IP part of the
//! time).
//!
//! Not judged where the plan already changes the endpoint, the zone group or the zone (its fix
//! rewrites the records; NS-003 / NS-006 / NS-008 show it). Reads: one A-record list per zone
//! (`{zone}/A`), cached for the whole audit however many accounts share the zone.

use serde_json::{json, Value};

use crate::arm::{ArmApi, ArmError};
use crate::blueprint::resolved::Instance;
use crate::model::observed::Reads;
use crate::model::{Action, Plan};
use crate::resources::{
    dns_zone_group as zone_group, private_dns_zone as zone, private_endpoint as endpoint,
};
use crate::values::norm_id;

use super::cache::Cache;
use super::{rules, Evidence, Finding};

/// Plan kinds whose pending change rewrites the records.
const FIXED_BY: &[&str] = &["private-endpoint", "dns-zone-group", "private-dns-zone"];

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The IPs the record `label` of `zone_name` must hold: the endpoint's DNS config for the FQDN,
/// else the zone group's record set for that zone.
pub fn expected_ips(
    pe: &Value,
    group: Option<&Value>,
    zone_id: &str,
    zone_name: &str,
    label: &str,
) -> Vec<String> {
    let fqdn = format!("{label}.{}", zone_name.trim_start_matches("privatelink."));
    let from_pe: Vec<String> = pe["properties"]["customDnsConfigs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["fqdn"]
                .as_str()
                .is_some_and(|f| f.trim_end_matches('.').eq_ignore_ascii_case(&fqdn))
        })
        .flat_map(|c| strs(c.get("ipAddresses")))
        .collect();
    if !from_pe.is_empty() {
        return from_pe;
    }
    group
        .and_then(|g| g["properties"]["privateDnsZoneConfigs"].as_array())
        .into_iter()
        .flatten()
        .filter(|c| {
            c["properties"]["privateDnsZoneId"]
                .as_str()
                .is_some_and(|z| norm_id(z) == norm_id(zone_id))
        })
        .flat_map(|c| c["properties"]["recordSets"].as_array().cloned())
        .flatten()
        .filter(|s| {
            s["recordType"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("A"))
                && s["recordSetName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(label))
        })
        .flat_map(|s| strs(s.get("ipAddresses")))
        .collect()
}

/// What is wrong with the live record (`None`: missing) given the endpoint's IPs, if anything.
pub fn judge(live: Option<&Value>, expected: &[String]) -> Option<String> {
    let Some(rec) = live else {
        return Some("missing".into());
    };
    let ips: Vec<String> = rec["properties"]["aRecords"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["ipv4Address"].as_str())
        .map(str::to_string)
        .collect();
    let has = |ip: &String| ips.iter().any(|x| x == ip);
    if ips.is_empty() {
        Some("missing".into())
    } else if !expected.iter().any(has) {
        Some(format!("points at {} instead", ips.join(", ")))
    } else if ips.iter().any(|ip| !expected.contains(ip)) {
        let stale: Vec<&str> = ips
            .iter()
            .filter(|ip| !expected.contains(ip))
            .map(String::as_str)
            .collect();
        Some(format!("stale: also holds {}", stale.join(", ")))
    } else {
        None
    }
}

/// What is wrong with the record `label` of one zone, given that zone's A record sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `{zone id}/A/{label}`: what the finding is on (and an acknowledgement names).
    pub resource_id: String,
    /// `A {label} in {zone}: {missing | points at … instead | stale: also holds …}`.
    pub observed: String,
    /// The endpoint's IPs.
    pub expected: Vec<String>,
}

/// The NS-012 verdict on the record `label` (lowercase) of `zone_name`, whose A records
/// should hold `expected` (`expected_ips`, non-empty: callers read the records only then);
/// `None` when it is right. Shared by audit and import.
pub fn verdict(
    expected: Vec<String>,
    zone_id: &str,
    zone_name: &str,
    label: &str,
    records: &[Value],
) -> Option<Verdict> {
    let live = records.iter().find(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(label))
    });
    let what = judge(live, &expected)?;
    Some(Verdict {
        resource_id: format!("{zone_id}/A/{label}"),
        observed: format!("A {label} in {zone_name}: {what}"),
        expected,
    })
}

/// The NS-012 findings of one instance.
pub async fn findings(
    api: &dyn ArmApi,
    inst: &Instance,
    account: &Value,
    seen: &Reads,
    plan: &Plan,
    cache: &mut Cache,
) -> Result<Vec<Finding>, ArmError> {
    let mut out = Vec::new();
    let (Some(pe_read), Some(group_read), Some(dns)) = (
        endpoint::read(inst),
        zone_group::read(inst),
        inst.controls.private_dns.as_ref(),
    ) else {
        return Ok(out);
    };
    let pending: Vec<&crate::model::Change> = plan
        .instances
        .iter()
        .filter(|p| p.name == inst.name)
        .flat_map(|p| &p.changes)
        .filter(|c| {
            !matches!(c.action, Action::NoOp | Action::Verified)
                && FIXED_BY.contains(&c.kind.label())
        })
        .collect();
    let (Some(pe), Some(label)) = (
        seen.value(&pe_read),
        account["properties"]["customSubDomainName"].as_str(),
    ) else {
        return Ok(out);
    };
    let fixed = |id: &str| pending.iter().any(|c| norm_id(&c.id) == norm_id(id));
    if fixed(&pe_read.path) || fixed(&group_read.path) {
        return Ok(out);
    }
    let group = seen.value(&group_read);
    let label = label.to_ascii_lowercase();
    let rule = rules::rule("MOAT-NS-012").expect("the A record rule exists");
    for (zone_name, zone_read) in zone::zone_reads(inst, seen) {
        let zone_id = zone::id(&dns.spec, &zone_name);
        if seen.value(&zone_read).is_none() || fixed(&zone_id) {
            continue;
        }
        let expected = expected_ips(pe, group, &zone_id, &zone_name, &label);
        if expected.is_empty() {
            continue; // the endpoint has no IP yet: nothing to compare with (and nothing read)
        }
        let records = cache
            .list(api, &format!("{zone_id}/A"), zone::API_VERSION, None)
            .await?;
        let Some(v) = verdict(expected, &zone_id, &zone_name, &label, records) else {
            continue;
        };
        out.push(Finding {
            rule,
            instance: inst.name.clone(),
            resource_id: v.resource_id,
            address: format!("{}/dns-a-record/{zone_name}", inst.name),
            evidence: vec![Evidence {
                path: "properties.aRecords".into(),
                observed: Some(json!(v.observed)),
                expected: Some(json!(v.expected)),
            }],
            waived_by: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ips: &[&str]) -> Value {
        let a: Vec<Value> = ips.iter().map(|i| json!({"ipv4Address": i})).collect();
        json!({"name": "acct", "properties": {"aRecords": a}})
    }

    #[test]
    fn missing_elsewhere_stale_and_right() {
        let want = vec!["10.0.2.4".to_string()];
        assert_eq!(judge(None, &want).as_deref(), Some("missing"));
        assert_eq!(judge(Some(&rec(&[])), &want).as_deref(), Some("missing"));
        assert_eq!(
            judge(Some(&rec(&["10.9.9.9"])), &want).as_deref(),
            Some("points at 10.9.9.9 instead")
        );
        assert_eq!(
            judge(Some(&rec(&["10.0.2.4", "10.0.2.9"])), &want).as_deref(),
            Some("stale: also holds 10.0.2.9")
        );
        assert_eq!(judge(Some(&rec(&["10.0.2.4"])), &want), None);
    }

    #[test]
    fn the_ip_comes_from_the_endpoint_then_the_zone_group() {
        let zid = "/subscriptions/s/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/privatelink.openai.azure.com";
        let pe = json!({"properties": {"customDnsConfigs": [
            {"fqdn": "acct.cognitiveservices.azure.com", "ipAddresses": ["10.0.0.9"]},
            {"fqdn": "acct.openai.azure.com", "ipAddresses": ["10.0.0.4"]}
        ]}});
        let ips = expected_ips(&pe, None, zid, "privatelink.openai.azure.com", "acct");
        assert_eq!(ips, vec!["10.0.0.4"]);
        let group = json!({"properties": {"privateDnsZoneConfigs": [{"properties": {
            "privateDnsZoneId": zid.to_uppercase(),
            "recordSets": [{"recordType": "A", "recordSetName": "ACCT", "ipAddresses": ["10.0.0.5"]}]
        }}]}});
        let none = json!({"properties": {}});
        let ips = expected_ips(
            &none,
            Some(&group),
            zid,
            "privatelink.openai.azure.com",
            "acct",
        );
        assert_eq!(ips, vec!["10.0.0.5"]);
        assert!(expected_ips(&none, None, zid, "privatelink.openai.azure.com", "acct").is_empty());
    }
}
