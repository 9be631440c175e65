//! Identity, access, encryption, monitoring and content controls: I1, I3, I4, D1, M1, C1, C2.

use super::context::{at, control, declared, flag, items, text, texts, val, value_at, Ctx};
use super::formats::{is_guid, suggest};
use super::resolved::{self as r, Instance};
use super::roles;
use super::schema::{
    ExceptionKind, CONTENT_FILTER, DEPLOYMENT, DEPLOYMENTS, DIAGNOSTICS, ENCRYPTION, EXISTING,
    HARM_FILTERS, IDENTITY, KEY_VAULT_KEY, LOCAL_AUTH, RAI_POLICY, ROLE_ASSIGNMENT,
    ROLE_ASSIGNMENTS,
};
use super::yaml::{Kind, Node};

pub fn resolve(ctx: &mut Ctx, inst: &mut Instance, controls: &Node, existing: &Node) {
    if let Some(la) = declared(controls, "localAuth") {
        let disabled = flag(la, &LOCAL_AUTH, "disabled").unwrap_or(true);
        if !disabled {
            ctx.weak(
                ExceptionKind::LocalAuth,
                &value_at(la, "disabled"),
                "key (local) authentication stays enabled".into(),
                None,
            );
        }
        inst.controls.local_auth = control(la, &LOCAL_AUTH, r::LocalAuth { disabled });
    }
    if let Some(id) = declared(controls, "identity") {
        inst.controls.identity = identity(ctx, id);
    }
    if let Some(ra) = declared(controls, "roleAssignments") {
        inst.controls.role_assignments = role_assignments(ctx, ra);
    }
    if let Some(enc) = declared(controls, "encryption") {
        inst.controls.encryption = encryption(ctx, inst, enc, existing);
    }
    if let Some(diag) = declared(controls, "diagnostics") {
        inst.controls.diagnostics = diagnostics(ctx, diag, existing);
    }
    if let Some(rai) = declared(controls, "raiPolicy") {
        inst.controls.rai_policy = rai_policy(ctx, rai);
    }
    if let Some(dep) = declared(controls, "deployments") {
        if declared(controls, "raiPolicy").is_none() {
            ctx.missing("controls.deployments binds deployments to the RAI policy, but there is no `controls.raiPolicy`", "declare `raiPolicy` (the strict baseline profile has one)");
        }
        inst.controls.deployments = deployments(ctx, dep);
    }
}

fn identity(ctx: &mut Ctx, id: &Node) -> Option<r::Control<r::Identity>> {
    let kind = text(id, &IDENTITY, "type").unwrap_or_else(|| "SystemAssigned".into());
    let user = texts(id, &IDENTITY, "userAssigned");
    if kind == "None" {
        ctx.weak(
            ExceptionKind::NoManagedIdentity,
            &value_at(id, "type"),
            "the account has no managed identity (`type: None`)".into(),
            None,
        );
    }
    if kind.contains("UserAssigned") && user.is_empty() {
        ctx.error(
            &value_at(id, "type"),
            format!("identity type `{kind}` needs `userAssigned` identities"),
            Some("list the user-assigned identity ids in `userAssigned`".into()),
        );
    }
    if !kind.contains("UserAssigned") && !user.is_empty() {
        ctx.error(&at(id, "userAssigned"), format!("`userAssigned` identities need identity type `UserAssigned` or `SystemAssigned, UserAssigned`, not `{kind}`"), None);
    }
    control(
        id,
        &IDENTITY,
        r::Identity {
            r#type: kind,
            user_assigned: user,
        },
    )
}

fn role_assignments(ctx: &mut Ctx, ra: &Node) -> Option<r::Control<r::RoleAssignments>> {
    let mut out: Vec<r::RoleAssignment> = Vec::new();
    let names: Vec<&str> = roles::BUILTIN.iter().map(|(n, _)| *n).collect();
    for item in items(ra, &ROLE_ASSIGNMENTS, "assignments") {
        let (Some(principal), Some(ptype), Some(role)) = (
            text(item, &ROLE_ASSIGNMENT, "principalId"),
            text(item, &ROLE_ASSIGNMENT, "principalType"),
            text(item, &ROLE_ASSIGNMENT, "role"),
        ) else {
            continue;
        };
        let principal = principal.to_lowercase();
        let role_loc = value_at(item, "role");
        let guid = if is_guid(&role) {
            role.to_lowercase()
        } else if let Some(g) = roles::builtin_by_name(&role) {
            g.to_string()
        } else {
            let hint = match suggest(&role, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use a built-in role name (e.g. `Cognitive Services OpenAI User`) or a role definition GUID".to_string(),
            };
            ctx.error(&role_loc, format!("unknown role `{role}`"), Some(hint));
            continue;
        };
        let role_name = roles::name_of(&guid).map_or_else(|| guid.clone(), str::to_owned);
        if out
            .iter()
            .any(|a| a.principal_id == principal && a.role_definition_guid == guid)
        {
            ctx.error(
                &item.loc,
                format!("principal {principal} is assigned `{role_name}` twice"),
                None,
            );
            continue;
        }
        if guid == "bba48692-92b0-4667-a9ad-c31c7b334ac2" {
            ctx.warning(&role_loc, "`Cognitive Services Usages Reader` only has effect at subscription scope, not on an account", None);
        }
        let broad = matches!(
            role_name.as_str(),
            "Owner" | "Contributor" | "User Access Administrator"
        );
        if roles::is_privileged(&guid) && (ptype != "Group" || broad) {
            let who = match ptype.as_str() {
                "User" => "a user",
                "ServicePrincipal" => "an application",
                _ => "a group",
            };
            let message = format!(
                "`{role_name}` for {who} ({principal}) breaks least privilege: it can read keys and change network settings; prefer {}",
                roles::least_privilege_alternative(&ptype)
            );
            ctx.weak(
                ExceptionKind::PrivilegedRole,
                &role_loc,
                message,
                Some(&principal),
            );
        }
        out.push(r::RoleAssignment {
            principal_id: principal,
            principal_type: ptype,
            role_definition_guid: guid,
            role_name,
            description: text(item, &ROLE_ASSIGNMENT, "description"),
        });
    }
    let spec = r::RoleAssignments {
        assignments: out,
        remove_undeclared_privileged: flag(ra, &ROLE_ASSIGNMENTS, "removeUndeclaredPrivileged")
            .unwrap_or(false),
    };
    control(ra, &ROLE_ASSIGNMENTS, spec)
}

fn encryption(
    ctx: &mut Ctx,
    inst: &Instance,
    enc: &Node,
    existing: &Node,
) -> Option<r::Control<r::Encryption>> {
    let source = text(enc, &ENCRYPTION, "keySource").unwrap_or_else(|| "Microsoft.KeyVault".into());
    let client_id = text(enc, &ENCRYPTION, "identityClientId").map(|c| c.to_lowercase());
    let mut spec = r::Encryption {
        key_source: source.clone(),
        key_vault_uri: None,
        key_name: None,
        key_version: None,
        key_vault_id: None,
        identity_client_id: None,
        key_access: match text(enc, &ENCRYPTION, "keyAccess").as_deref() {
            Some("verify") => r::KeyAccess::Verify,
            _ => r::KeyAccess::Grant,
        },
    };
    if source == "Microsoft.KeyVault" {
        let Some(key) = val(existing, &EXISTING, "keyVaultKey") else {
            ctx.missing_existing("keyVaultKey", "a customer-managed key (controls.encryption) needs `existing.keyVaultKey`", "add `existing: {keyVaultKey: {vaultUri: https://NAME.vault.azure.net/, vaultId: /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/NAME, name: KEY}}`");
            return None;
        };
        match inst
            .controls
            .identity
            .as_ref()
            .map(|c| c.spec.r#type.as_str())
        {
            None | Some("None") => ctx.error(
                &at_key(enc),
                "a customer-managed key needs a managed identity on the account",
                Some("declare `controls.identity` (SystemAssigned or UserAssigned)".into()),
            ),
            Some("UserAssigned") if client_id.is_none() => ctx.error(
                &at_key(enc),
                "with only a user-assigned identity, the key needs `identityClientId`",
                Some("set the client id of the identity that may read the key".into()),
            ),
            _ => {}
        }
        spec.key_vault_uri = text(key, &KEY_VAULT_KEY, "vaultUri");
        spec.key_name = text(key, &KEY_VAULT_KEY, "name");
        spec.key_version = text(key, &KEY_VAULT_KEY, "version");
        spec.key_vault_id = text(key, &KEY_VAULT_KEY, "vaultId");
        if spec.key_access == r::KeyAccess::Grant && client_id.is_some() {
            ctx.error(
                &at(enc, "identityClientId"),
                "moat grants key access to the system-assigned identity only; a user-assigned identity that reads the key must already have access",
                Some("set `keyAccess: verify`".into()),
            );
        }
        spec.identity_client_id = client_id;
    } else if client_id.is_some() {
        ctx.error(
            &at(enc, "identityClientId"),
            "`identityClientId` only applies to `keySource: Microsoft.KeyVault`",
            None,
        );
    }
    control(enc, &ENCRYPTION, spec)
}

fn at_key(node: &Node) -> super::yaml::Loc {
    node.loc.clone()
}

fn no_duplicates(ctx: &mut Ctx, node: &Node, key: &str, what: &str) {
    let mut seen: Vec<String> = Vec::new();
    for item in items(node, &DIAGNOSTICS, key) {
        if let Some(s) = item.scalar_text() {
            if seen.contains(&s) {
                ctx.error(&item.loc, format!("duplicate {what} `{s}`"), None);
            }
            seen.push(s);
        }
    }
}

fn diagnostics(ctx: &mut Ctx, diag: &Node, existing: &Node) -> Option<r::Control<r::Diagnostics>> {
    let cats = texts(diag, &DIAGNOSTICS, "logCategories");
    let groups = texts(diag, &DIAGNOSTICS, "logCategoryGroups");
    let metrics = texts(diag, &DIAGNOSTICS, "metricCategories");
    no_duplicates(ctx, diag, "logCategories", "log category");
    no_duplicates(ctx, diag, "logCategoryGroups", "log category group");
    no_duplicates(ctx, diag, "metricCategories", "metric category");
    for item in items(diag, &DIAGNOSTICS, "logCategories") {
        let Some(c) = item.as_str() else { continue };
        let group = if groups.iter().any(|g| g == "allLogs") {
            Some("allLogs")
        } else if c == "Audit" && groups.iter().any(|g| g == "audit") {
            Some("audit")
        } else {
            None
        };
        if let Some(g) = group {
            ctx.error(
                &item.loc,
                format!("log category `{c}` is already sent by category group `{g}`"),
                Some("Azure rejects a setting that names a category twice; keep one".into()),
            );
        }
    }
    if cats.is_empty() && groups.is_empty() && metrics.is_empty() {
        ctx.error(&diag.loc, "the diagnostic setting sends nothing", Some("list `logCategories` (Audit, RequestResponse, Trace, AzureOpenAIRequestUsage) and `metricCategories: [AllMetrics]`".into()));
    } else if !cats.iter().any(|c| c == "Audit")
        && !groups.iter().any(|g| g == "allLogs" || g == "audit")
    {
        ctx.weak(
            ExceptionKind::ReducedLogging,
            &diag.loc,
            "the diagnostic setting does not send the Audit log".into(),
            None,
        );
    }
    let Some(workspace) = text(existing, &EXISTING, "logAnalyticsWorkspace") else {
        ctx.missing_existing(
            "logAnalyticsWorkspace",
            "controls.diagnostics needs `existing.logAnalyticsWorkspace`",
            "add `existing: {logAnalyticsWorkspace: /subscriptions/.../workspaces/NAME}`",
        );
        return None;
    };
    let spec = r::Diagnostics {
        name: text(diag, &DIAGNOSTICS, "name").unwrap_or_else(|| "moat-security".into()),
        workspace_id: workspace,
        log_categories: cats,
        log_category_groups: groups,
        metric_categories: metrics,
        destination_type: text(diag, &DIAGNOSTICS, "destinationType").filter(|d| d == "Dedicated"),
    };
    control(diag, &DIAGNOSTICS, spec)
}

fn rai_policy(ctx: &mut Ctx, rai: &Node) -> Option<r::Control<r::RaiPolicy>> {
    let name = text(rai, &RAI_POLICY, "name")?;
    if name.eq_ignore_ascii_case("Microsoft.Default")
        || name.eq_ignore_ascii_case("Microsoft.DefaultV2")
    {
        ctx.error(&value_at(rai, "name"), format!("`{name}` is a system-managed policy and cannot be owned"), Some("name your own policy (e.g. strict-production-filter) and use `basePolicy` to derive from it".into()));
    }
    let mode = text(rai, &RAI_POLICY, "policyMode").unwrap_or_else(|| "Blocking".into());
    if mode == "Deferred" || mode == "Asynchronous_filter" {
        ctx.weak(
            ExceptionKind::ContentFilter,
            &value_at(rai, "policyMode"),
            format!("RAI policy mode `{mode}` lets content stream before it is filtered"),
            None,
        );
    }
    let mut filters: Vec<r::ContentFilter> = Vec::new();
    // Filters written with an impossible source: reported once, not again as missing.
    let mut misplaced: Vec<String> = Vec::new();
    for item in items(rai, &RAI_POLICY, "contentFilters") {
        let (Some(fname), Some(source)) = (
            text(item, &CONTENT_FILTER, "name"),
            text(item, &CONTENT_FILTER, "source"),
        ) else {
            continue;
        };
        let harm = HARM_FILTERS.contains(&fname.as_str());
        let severity = text(item, &CONTENT_FILTER, "severityThreshold");
        if !harm && severity.is_some() {
            ctx.error(&at(item, "severityThreshold"), format!("severity does not apply to the `{fname}` filter"), Some("remove `severityThreshold`; only Hate, Sexual, Violence and Selfharm have severities".into()));
        }
        // An unknown key (e.g. the seed's `allowedContentLevel`) is reported already.
        let unknown_key = item
            .as_map()
            .unwrap_or_default()
            .iter()
            .any(|(k, _)| CONTENT_FILTER.field(&k.name).is_none());
        if harm && severity.is_none() && !unknown_key {
            ctx.error(
                &item.loc,
                format!("the `{fname}` filter needs a `severityThreshold`"),
                Some("the strict baseline is `Low`".into()),
            );
        }
        let prompt_only = fname == "Jailbreak" || fname == "Indirect Attack";
        if prompt_only && source != "Prompt"
            || fname.starts_with("Protected Material") && source != "Completion"
        {
            let only = if prompt_only { "Prompt" } else { "Completion" };
            ctx.error(
                &value_at(item, "source"),
                format!("the `{fname}` filter applies to `{only}` only, not `{source}`"),
                None,
            );
            misplaced.push(fname);
            continue;
        }
        if filters
            .iter()
            .any(|f| f.name == fname && f.source == source)
        {
            ctx.error(
                &item.loc,
                format!("duplicate content filter `{fname}` for `{source}`"),
                Some("a filter is identified by (name, source); keep one".into()),
            );
            continue;
        }
        let enabled = flag(item, &CONTENT_FILTER, "enabled").unwrap_or(true);
        let blocking = flag(item, &CONTENT_FILTER, "blocking").unwrap_or(true);
        if !enabled || !blocking {
            let what = if !enabled { "disabled" } else { "not blocking" };
            ctx.weak(
                ExceptionKind::ContentFilter,
                &item.loc,
                format!("content filter `{fname}` ({source}) is {what}"),
                None,
            );
        } else if harm && severity.as_deref().is_some_and(|s| s != "Low") {
            let s = severity.clone().unwrap_or_default();
            ctx.weak(ExceptionKind::ContentFilter, &value_at(item, "severityThreshold"), format!("content filter `{fname}` ({source}) only filters from `{s}` up (baseline: `Low`)"), None);
        }
        filters.push(r::ContentFilter {
            name: fname,
            source,
            enabled,
            blocking,
            severity_threshold: severity,
        });
    }
    let list_at = at(rai, "contentFilters");
    let required = HARM_FILTERS
        .iter()
        .flat_map(|h| [(*h, "Prompt"), (*h, "Completion")])
        .chain([("Jailbreak", "Prompt"), ("Indirect Attack", "Prompt")]);
    for (fname, source) in required {
        if !filters
            .iter()
            .any(|f| f.name == fname && f.source == source)
            && !misplaced.iter().any(|m| m == fname)
            && val(rai, &RAI_POLICY, "contentFilters").is_some()
        {
            ctx.weak(
                ExceptionKind::ContentFilter,
                &list_at,
                format!("the RAI policy has no `{fname}` filter for `{source}`"),
                None,
            );
        }
    }
    let remove_undeclared = flag(rai, &RAI_POLICY, "removeUndeclaredFilters").unwrap_or(false);
    if remove_undeclared {
        ctx.weak(
            ExceptionKind::ContentFilter,
            &value_at(rai, "removeUndeclaredFilters"),
            "live content filters the blueprint does not list are removed (`removeUndeclaredFilters: true`)".into(),
            None,
        );
    }
    let spec = r::RaiPolicy {
        name,
        mode,
        base_policy_name: text(rai, &RAI_POLICY, "basePolicy")
            .unwrap_or_else(|| "Microsoft.DefaultV2".into()),
        content_filters: filters,
        remove_undeclared_filters: remove_undeclared,
    };
    control(rai, &RAI_POLICY, spec)
}

fn deployments(ctx: &mut Ctx, dep: &Node) -> Option<r::Control<r::Deployments>> {
    let bind_all = flag(dep, &DEPLOYMENTS, "bindAllToRaiPolicy").unwrap_or(true);
    if !bind_all {
        ctx.weak(ExceptionKind::ContentFilter, &value_at(dep, "bindAllToRaiPolicy"), "deployments not declared here keep whatever content filter they have (`bindAllToRaiPolicy: false`)".into(), None);
    }
    let mut declared_list = Vec::new();
    if let Some(entries) = val(dep, &DEPLOYMENTS, "declared").and_then(Node::as_map) {
        for (key, d) in entries {
            let (Some(model), Some(sku), Some(capacity)) = (
                text(d, &DEPLOYMENT, "model"),
                text(d, &DEPLOYMENT, "sku"),
                val(d, &DEPLOYMENT, "capacity").and_then(|c| match c.kind {
                    Kind::Int(i) => u32::try_from(i).ok(),
                    _ => None,
                }),
            ) else {
                continue;
            };
            declared_list.push(r::Deployment {
                name: key.name.clone(),
                model_format: text(d, &DEPLOYMENT, "format").unwrap_or_else(|| "OpenAI".into()),
                model_name: model,
                model_version: text(d, &DEPLOYMENT, "version"),
                sku_name: sku,
                capacity,
                version_upgrade_option: text(d, &DEPLOYMENT, "versionUpgrade"),
            });
        }
    }
    let spec = r::Deployments {
        bind_all_to_rai_policy: bind_all,
        declared: declared_list,
    };
    control(dep, &DEPLOYMENTS, spec)
}
