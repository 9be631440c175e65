//! The account's PATCH stages, each in its place in the cutover: identity and CMK first, network
//! tightening after the private path, public access off after that, key auth off last; and the
//! checks on properties moat never changes (kind, location, custom subdomain).

use serde_json::{json, Map, Value};

use super::create::{identity_body, network_acls, norm_ip_rule};
use super::ids::{address, exception_for, API_VERSION, KIND};
use crate::arm::Method;
use crate::blueprint::resolved::{Control, ExceptionKind, Instance, Mode};
use crate::model::{Action, Change, FieldChange, Write};
use crate::resources::{
    enum_eq, field, fingerprint, get, get_bool, get_str, json_strs, location_eq, set_eq_ci,
    str_list,
};

/// What an account check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Kind,
    Location,
    CustomSubdomain,
}

/// Checks that make the plan fail instead of writing: account kind / location / subdomain.
pub fn blocked_checks(inst: &Instance, observed: &Value) -> Vec<(Check, Change)> {
    let fp = fingerprint(Some(observed));
    let id = inst.account_id();
    let mut out = Vec::new();
    if let Some(kind) = get_str(observed, "kind") {
        if !kind.eq_ignore_ascii_case(&inst.kind) {
            out.push((Check::Kind, Change::blocked(
                address(inst, "kind"),
                KIND,
                &id,
                format!(
                    "the account's kind is {kind}, the blueprint says {}: kind cannot be changed; create a new account",
                    inst.kind
                ),
                fp.clone(),
            )));
        }
    }
    if let Some(loc) = get_str(observed, "location") {
        if !location_eq(loc, &inst.location) {
            out.push((
                Check::Location,
                Change::blocked(
                    address(inst, "location"),
                    KIND,
                    &id,
                    format!(
                    "the account is in {loc}, the blueprint says {}: location cannot be changed",
                    inst.location
                ),
                    fp.clone(),
                ),
            ));
        }
    }
    let live_sub = get_str(observed, "properties.customSubDomainName");
    let needs_sub = inst.custom_subdomain.is_some() || inst.controls.private_endpoint.is_some();
    match (live_sub, &inst.custom_subdomain) {
        (None, _) if needs_sub => out.push((Check::CustomSubdomain, Change::blocked(
            address(inst, "custom-subdomain"),
            KIND,
            &id,
            "the account has no custom subdomain, which private endpoints and Entra ID auth need; \
             adding one is irreversible and changes the endpoint URL, so moat will not do it: set it \
             yourself (`az cognitiveservices account update --custom-domain NAME`) and plan again",
            fp.clone(),
        ))),
        (Some(live), Some(want)) if !live.eq_ignore_ascii_case(want) => out.push((Check::CustomSubdomain, Change::blocked(
            address(inst, "custom-subdomain"),
            KIND,
            &id,
            format!(
                "the account's custom subdomain is {live}, the blueprint says {want}: a custom subdomain cannot be changed"
            ),
            fp.clone(),
        ))),
        _ => {}
    }
    out
}

/// One PATCH stage: which managed fields differ and the body that fixes them.
struct Stage {
    fields: Vec<FieldChange>,
    body: Value,
    risks: Vec<String>,
    exceptions: Vec<String>,
    /// A weakening without an exception: refuse.
    unexcused: Vec<String>,
}

impl Stage {
    fn new() -> Stage {
        Stage {
            fields: Vec::new(),
            body: json!({}),
            risks: Vec::new(),
            exceptions: Vec::new(),
            unexcused: Vec::new(),
        }
    }

    fn weakening(&mut self, inst: &Instance, allows: ExceptionKind, what: &str) {
        match exception_for(inst, allows) {
            Some(e) => {
                self.risks.push(format!("weakens security: {what}"));
                self.exceptions.push(e);
            }
            None => self.unexcused.push(format!(
                "{what}, and the blueprint has no `{allows}` exception"
            )),
        }
    }

    fn into_change(
        self,
        inst: &Instance,
        stage: &str,
        mode: Mode,
        reason: &str,
        observed: &Value,
    ) -> Change {
        let fp = fingerprint(Some(observed));
        let id = inst.account_id();
        if !self.unexcused.is_empty() && mode == Mode::Managed {
            return Change::blocked(
                address(inst, stage),
                KIND,
                id,
                format!("refusing to weaken security: {}", self.unexcused.join("; ")),
                fp,
            )
            .with_fields(self.fields);
        }
        let action = crate::resources::outcome(mode, true, !self.fields.is_empty());
        let mut c = Change::new(address(inst, stage), KIND, &id, action, reason, fp)
            .with_fields(self.fields);
        if action == Action::Update {
            c.write = Some(Write::new(Method::Patch, &id, API_VERSION, Some(self.body)));
            if !self.risks.is_empty() {
                c.risk = Some(self.risks.join("; "));
            }
            if !self.exceptions.is_empty() {
                c.exception = Some(self.exceptions.join("; "));
            }
        }
        c
    }
}

fn merge_mode(modes: &[Option<Mode>]) -> Option<Mode> {
    let present: Vec<Mode> = modes.iter().flatten().copied().collect();
    if present.is_empty() {
        None
    } else if present.contains(&Mode::Managed) {
        Some(Mode::Managed)
    } else {
        Some(Mode::Verify)
    }
}

fn mode_of<T>(c: &Option<Control<T>>) -> Option<Mode> {
    c.as_ref().map(|c| c.mode)
}

/// I3: the managed identity (first in the cutover order: the key vault grant needs its
/// principal, and the customer-managed key needs the grant).
pub fn identity_stage(inst: &Instance, observed: &Value) -> Option<Change> {
    let c = &inst.controls;
    let mode = merge_mode(&[mode_of(&c.identity)])?;
    let mut s = Stage::new();
    if let Some(idc) = &c.identity {
        let want = &idc.spec;
        let live_type = get_str(observed, "identity.type").unwrap_or("None");
        let norm = |t: &str| t.replace(' ', "").to_ascii_lowercase();
        let live_uai: Vec<String> = get(observed, "identity.userAssignedIdentities")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let same =
            norm(live_type) == norm(&want.r#type) && set_eq_ci(&live_uai, &want.user_assigned);
        if !same && norm(&want.r#type) == "none" {
            // The loader already requires the exception; the planner refuses on its own too.
            s.weakening(
                inst,
                ExceptionKind::NoManagedIdentity,
                "removes the account's managed identity (a customer-managed key or anything \
                 else that authenticates as it stops working)",
            );
        }
        if !same {
            s.fields.push(FieldChange {
                path: "identity".into(),
                before: get(observed, "identity").map(|v| {
                    let mut v = v.clone();
                    crate::resources::remove(&mut v, "principalId");
                    crate::resources::remove(&mut v, "tenantId");
                    v
                }),
                after: Some(identity_body(want)),
            });
            s.body["identity"] = identity_body(want);
        }
    }
    Some(s.into_change(
        inst,
        "identity",
        mode,
        "managed identity first, before anything depends on it (I3)",
        observed,
    ))
}

/// D1: the customer-managed key, once the identity's access to the vault is visible (on Azure
/// the switch fails while the identity cannot read the key).
pub fn encryption_stage(inst: &Instance, observed: &Value) -> Option<Change> {
    let enc = inst.controls.encryption.as_ref()?;
    let mut s = Stage::new();
    {
        let want = &enc.spec;
        let live = get(observed, "properties.encryption");
        let live_src = live
            .and_then(|e| e.get("keySource"))
            .and_then(Value::as_str)
            .unwrap_or("Microsoft.CognitiveServices");
        let mut want_body = json!({"keySource": want.key_source});
        let mut same = enum_eq(live_src, &want.key_source);
        if want.key_source.eq_ignore_ascii_case("Microsoft.KeyVault") {
            let kv = |k: &str| {
                live.and_then(|e| e.get("keyVaultProperties"))
                    .and_then(|p| p.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let uri_eq = |a: &str, b: &str| {
                a.trim_end_matches('/')
                    .eq_ignore_ascii_case(b.trim_end_matches('/'))
            };
            let mut props = Map::new();
            if let Some(u) = &want.key_vault_uri {
                same &= uri_eq(&kv("keyVaultUri"), u);
                props.insert("keyVaultUri".into(), u.clone().into());
            }
            if let Some(n) = &want.key_name {
                same &= kv("keyName") == *n;
                props.insert("keyName".into(), n.clone().into());
            }
            if let Some(v) = &want.key_version {
                same &= kv("keyVersion") == *v;
                props.insert("keyVersion".into(), v.clone().into());
            }
            if let Some(ci) = &want.identity_client_id {
                same &= kv("identityClientId").eq_ignore_ascii_case(ci);
                props.insert("identityClientId".into(), ci.clone().into());
            }
            want_body["keyVaultProperties"] = Value::Object(props);
        } else if live_src.eq_ignore_ascii_case("Microsoft.KeyVault") {
            // No exception kind allows this (a blueprint cannot write `customer-managed-key`),
            // so it is always refused; the message is the one it has always been.
            s.unexcused.push(
                "switches from a customer-managed key to Microsoft-managed keys, and the blueprint has no `customer-managed-key` exception".into(),
            );
        }
        if !same {
            s.fields.push(FieldChange {
                path: "properties.encryption".into(),
                before: live.cloned(),
                after: Some(want_body.clone()),
            });
            crate::resources::set(&mut s.body, "properties.encryption", want_body);
        }
    }
    Some(s.into_change(
        inst,
        "encryption",
        enc.mode,
        "the customer-managed key, once the account's identity can read it (D1)",
        observed,
    ))
}

/// N5 (network ACLs) + N6 (outbound restriction): after the private path exists.
pub fn network_stage(inst: &Instance, observed: &Value) -> Option<Change> {
    let c = &inst.controls;
    let mode = merge_mode(&[mode_of(&c.network_access), mode_of(&c.outbound)])?;
    let mut s = Stage::new();
    if let Some(na) = &c.network_access {
        let want = &na.spec;
        let acls = get(observed, "properties.networkAcls");
        let live = |k: &str| acls.and_then(|a| a.get(k));
        let live_default = live("defaultAction")
            .and_then(Value::as_str)
            .unwrap_or("Allow");
        let live_bypass = live("bypass").and_then(Value::as_str);
        let live_ips: Vec<String> = live("ipRules")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("value")?.as_str())
                    .map(norm_ip_rule)
                    .collect()
            })
            .unwrap_or_default();
        let live_vnets: Vec<String> = live("virtualNetworkRules")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("id")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let want_ips: Vec<String> = want.ip_rules.iter().map(|r| norm_ip_rule(r)).collect();
        let same_default = enum_eq(live_default, &want.default_action);
        let same_bypass = live_bypass.is_some_and(|b| enum_eq(b, &want.bypass));
        let same_ips = set_eq_ci(&live_ips, &want_ips);
        let same_vnets = set_eq_ci(&live_vnets, &want.virtual_network_rules);
        if !(same_default && same_bypass && same_ips && same_vnets) {
            let desired = network_acls(want);
            for (k, same) in [
                ("defaultAction", same_default),
                ("bypass", same_bypass),
                ("ipRules", same_ips),
                ("virtualNetworkRules", same_vnets),
            ] {
                if let Some(f) = field(
                    &format!("properties.networkAcls.{k}"),
                    live(k).cloned(),
                    desired.get(k).cloned(),
                    same,
                ) {
                    s.fields.push(f);
                }
            }
            crate::resources::set(&mut s.body, "properties.networkAcls", desired);
            if !same_default && want.default_action.eq_ignore_ascii_case("Allow") {
                s.weakening(
                    inst,
                    ExceptionKind::PublicNetworkAccess,
                    "sets the network ACL default action to Allow",
                );
            } else if !same_default {
                s.risks.push(
                    "requests from addresses outside ipRules / virtualNetworkRules are refused (private endpoint traffic is not affected)"
                        .into(),
                );
            }
            if !same_bypass && want.bypass.eq_ignore_ascii_case("AzureServices") {
                s.weakening(
                    inst,
                    ExceptionKind::NetworkBypass,
                    "lets trusted Azure services bypass the network ACLs",
                );
            }
        }
    }
    if let Some(o) = &c.outbound {
        let want = &o.spec;
        let live_restrict =
            get_bool(observed, "properties.restrictOutboundNetworkAccess").unwrap_or(false);
        let live_fqdns = str_list(get(observed, "properties.allowedFqdnList"));
        if let Some(f) = field(
            "properties.restrictOutboundNetworkAccess",
            Some(live_restrict.into()),
            Some(want.restrict.into()),
            live_restrict == want.restrict,
        ) {
            s.fields.push(f);
            crate::resources::set(
                &mut s.body,
                "properties.restrictOutboundNetworkAccess",
                want.restrict.into(),
            );
            if want.restrict {
                s.risks.push(
                    "outbound calls from the service to hosts outside allowedFqdnList are blocked"
                        .into(),
                );
            } else {
                s.weakening(
                    inst,
                    ExceptionKind::OutboundUnrestricted,
                    "lifts the outbound network restriction",
                );
            }
        }
        if let Some(f) = field(
            "properties.allowedFqdnList",
            Some(json_strs(&live_fqdns)),
            Some(json_strs(&want.allowed_fqdns)),
            set_eq_ci(&live_fqdns, &want.allowed_fqdns),
        ) {
            s.fields.push(f);
            crate::resources::set(
                &mut s.body,
                "properties.allowedFqdnList",
                json_strs(&want.allowed_fqdns),
            );
        }
    }
    Some(s.into_change(
        inst,
        "network",
        mode,
        "tighten the account firewall and outbound access once the private path works (N5, N6)",
        observed,
    ))
}

/// N5: `publicNetworkAccess`, after the private endpoint is ready.
pub fn public_access_stage(inst: &Instance, observed: &Value) -> Option<Change> {
    let na = inst.controls.network_access.as_ref()?;
    let want = &na.spec.public_network_access;
    let live = get_str(observed, "properties.publicNetworkAccess").unwrap_or("Enabled");
    let mut s = Stage::new();
    if let Some(f) = field(
        "properties.publicNetworkAccess",
        Some(live.into()),
        Some(want.clone().into()),
        enum_eq(live, want),
    ) {
        s.fields.push(f);
        crate::resources::set(
            &mut s.body,
            "properties.publicNetworkAccess",
            want.clone().into(),
        );
        if want.eq_ignore_ascii_case("Enabled") {
            s.weakening(
                inst,
                ExceptionKind::PublicNetworkAccess,
                "enables public network access",
            );
        } else {
            s.risks.push(
                "disables public network access: clients that do not reach the account through its private endpoint lose access"
                    .into(),
            );
        }
    }
    Some(s.into_change(
        inst,
        "public-network-access",
        na.mode,
        "public network access off last, once the private endpoint and its DNS work (N5)",
        observed,
    ))
}

/// I1: `disableLocalAuth`, last of all.
pub fn local_auth_stage(inst: &Instance, observed: &Value) -> Option<Change> {
    let la = inst.controls.local_auth.as_ref()?;
    let want = la.spec.disabled;
    let live = get_bool(observed, "properties.disableLocalAuth").unwrap_or(false);
    let mut s = Stage::new();
    if let Some(f) = field(
        "properties.disableLocalAuth",
        Some(live.into()),
        Some(want.into()),
        live == want,
    ) {
        s.fields.push(f);
        crate::resources::set(&mut s.body, "properties.disableLocalAuth", want.into());
        if want {
            s.risks.push(
                "disables key auth: callers using API keys will get 401 (keys can keep working at the gateway for a while after the change)"
                    .into(),
            );
        } else {
            s.weakening(
                inst,
                ExceptionKind::LocalAuth,
                "re-enables API key (local) authentication",
            );
        }
    }
    Some(s.into_change(
        inst,
        "local-auth",
        la.mode,
        if want {
            "key auth off last of all, after every consumer has a role assignment (I1)"
        } else {
            "key (local) auth kept on, as the blueprint's exception allows (I1)"
        },
        observed,
    ))
}

/// An existing account whose last operation ended `Failed` or `Canceled` stays in that state
/// until it is written again, and every cutover gate waits for `Succeeded`: when no other stage
/// writes the account first, re-drive it with a PATCH that changes nothing (its own tags).
pub fn repair_stage(inst: &Instance, observed: &Value) -> Option<Change> {
    let c = &inst.controls;
    let mode = merge_mode(&[
        mode_of(&c.identity),
        mode_of(&c.network_access),
        mode_of(&c.local_auth),
    ])?;
    let state = get_str(observed, "properties.provisioningState")?;
    if mode != Mode::Managed
        || !(state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled"))
    {
        return None;
    }
    let id = inst.account_id();
    let tags = get(observed, "tags")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    Some(
        Change::new(
            address(inst, "identity"),
            KIND,
            &id,
            Action::Update,
            "the account's last operation ended in a terminal failure; a no-change PATCH brings it back to Succeeded before the cutover",
            fingerprint(Some(observed)),
        )
        .with_fields(vec![FieldChange {
            path: "properties.provisioningState".into(),
            before: Some(state.into()),
            after: Some("Succeeded".into()),
        }])
        .with_write(Write::new(
            Method::Patch,
            &id,
            API_VERSION,
            Some(serde_json::json!({ "tags": tags })),
        )),
    )
}
