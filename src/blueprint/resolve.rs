//! From one merged instance (profile ⊕ defaults ⊕ instance, already structurally checked) to a
//! `resolved::Instance`: defaults filled in, names resolved, cross-field rules and the strict
//! baseline's exceptions enforced. Network controls are in `network.rs`, the others in
//! `controls.rs`; the helpers they share are in `context.rs`.

use std::collections::BTreeMap;

use super::check::fits;
use super::context::{flag, items, text, val, Ctx, Granted};
use super::diag::Diagnostic;
use super::resolved::{self, Exception, SoftDeleteAction};
use super::schema::{self, ExceptionKind, EXCEPTION, INSTANCE};
use super::yaml::{Kind, Loc, Node};

/// How many days before an exception expires validation starts warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

fn exceptions(ctx: &mut Ctx, m: &Node) {
    for item in items(m, &INSTANCE, "exceptions") {
        let (Some(allows), Some(reason)) = (
            text(item, &EXCEPTION, "allows").and_then(|a| ExceptionKind::from_name(&a)),
            text(item, &EXCEPTION, "reason"),
        ) else {
            continue;
        };
        if reason.trim().chars().count() < 10 {
            let loc = item.get("reason").map_or(&item.loc, |r| &r.loc).clone();
            ctx.error(
                &loc,
                "an exception needs a real reason (at least 10 characters)",
                Some("say why the baseline cannot be met and who agreed".into()),
            );
        }
        let principal = text(item, &EXCEPTION, "principalId").map(|p| p.to_lowercase());
        if principal.is_some() && allows != ExceptionKind::PrivilegedRole {
            ctx.error(
                item.key_loc("principalId"),
                "`principalId` only narrows a `privileged-role` exception",
                None,
            );
        }
        let expires = text(item, &EXCEPTION, "expires");
        let mut days_left = None;
        if let (Some(date), Some(node)) = (&expires, item.get("expires")) {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            if let Ok(d) = time::Date::parse(date, &format) {
                let days = (d - ctx.today).whole_days();
                days_left = Some(days);
                let hint = "renew it with a new date and reason, or remove the setting it allows";
                if days < 0 && ctx.expired_are_errors {
                    ctx.error(
                        &node.loc,
                        format!("exception `{allows}` expired on {date}"),
                        Some(hint.into()),
                    );
                } else if days < 0 {
                    let instance = ctx.instance.clone();
                    ctx.warning(
                        &node.loc,
                        format!("exception `{allows}` expired on {date}: instance {instance} is held back until it is renewed"),
                        Some(hint.into()),
                    );
                } else if days <= EXPIRY_WARNING_DAYS {
                    ctx.warning(
                        &node.loc,
                        format!("exception `{allows}` expires on {date} (in {days} days)"),
                        None,
                    );
                }
            }
        }
        ctx.granted.push(Granted {
            exception: Exception {
                allows,
                reason,
                expires,
                days_left,
            },
            principal,
            loc: item.loc.clone(),
            used: false,
        });
    }
}

/// Resolves one merged instance. Returns `None` only when a value the resolved form cannot do
/// without is missing (already reported).
pub fn instance(
    m: &Node,
    out: &mut Vec<Diagnostic>,
    today: time::Date,
    expired_are_errors: bool,
) -> Option<resolved::Instance> {
    let account_name = text(m, &INSTANCE, "accountName")?;
    let name = text(m, &INSTANCE, "name").unwrap_or_else(|| account_name.clone());
    let mut ctx = Ctx {
        out,
        today,
        expired_are_errors,
        instance: name.clone(),
        at: m.loc.clone(),
        granted: Vec::new(),
        bad_existing: Vec::new(),
    };
    exceptions(&mut ctx, m);
    let soft_delete = match text(m, &INSTANCE, "softDelete").as_deref() {
        Some("restore") => SoftDeleteAction::Restore,
        Some("purge") => {
            let loc = m.get("softDelete").map_or(&m.loc, |n| &n.loc).clone();
            ctx.weak(
                ExceptionKind::SoftDeletePurge,
                &loc,
                "`softDelete: purge` permanently destroys a soft-deleted account and its data"
                    .into(),
                None,
            );
            SoftDeleteAction::Purge
        }
        _ => SoftDeleteAction::Block,
    };
    let tags: BTreeMap<String, String> = val(m, &INSTANCE, "tags")
        .and_then(Node::as_map)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.name.clone(), v.scalar_text()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut inst = resolved::Instance {
        name,
        subscription: text(m, &INSTANCE, "subscription")?.to_lowercase(),
        resource_group: text(m, &INSTANCE, "resourceGroup")?,
        account_name,
        location: text(m, &INSTANCE, "location")?,
        kind: text(m, &INSTANCE, "kind")?,
        sku: text(m, &INSTANCE, "sku").unwrap_or_else(|| "S0".into()),
        custom_subdomain: text(m, &INSTANCE, "customSubdomain"),
        tags,
        create_if_missing: flag(m, &INSTANCE, "createIfMissing").unwrap_or(false),
        soft_delete,
        controls: resolved::Controls::default(),
        exceptions: Vec::new(),
        guardrails: Vec::new(),
        key_rotation: None,
    };
    if inst.create_if_missing && inst.custom_subdomain.is_none() {
        ctx.missing(
            "a new account (`createIfMissing: true`) needs `customSubdomain`",
            "Entra ID auth and private endpoints need it, and setting it later is irreversible; the account name is the usual choice",
        );
    }
    let empty = Node {
        kind: Kind::Map(Vec::new()),
        loc: m.loc.clone(),
    };
    let controls = val(m, &INSTANCE, "controls").unwrap_or(&empty);
    let existing = val(m, &INSTANCE, "existing").unwrap_or(&empty);
    for (k, v) in existing.as_map().unwrap_or_default() {
        if schema::EXISTING
            .field(&k.name)
            .is_some_and(|f| !fits(v, f.ty))
        {
            ctx.bad_existing.push(k.name.clone());
        }
    }
    super::network::resolve(&mut ctx, &mut inst, controls, existing);
    super::controls::resolve(&mut ctx, &mut inst, controls, existing);
    super::generic::resolve(&mut ctx, &mut inst, controls);
    super::rotation::resolve(&mut ctx, &mut inst, m);
    let unused: Vec<(Loc, ExceptionKind)> = ctx
        .granted
        .iter()
        .filter(|g| !g.used && g.exception.allows != ExceptionKind::DeleteDiagnosticSetting)
        .map(|g| (g.loc.clone(), g.exception.allows))
        .collect();
    for (loc, allows) in unused {
        let message = format!(
            "exception `{allows}` is not needed: nothing in instance `{}` relies on it",
            ctx.instance
        );
        ctx.warning(
            &loc,
            message,
            Some("remove it so it cannot hide a future weakening".into()),
        );
    }
    inst.exceptions = ctx.granted.iter().map(|g| g.exception.clone()).collect();
    Some(inst)
}
