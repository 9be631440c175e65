//! The audit's cache of the reads its rules need beyond the plan's (role assignments at a
//! scope, role definitions, record lists): each read once for the whole audit.

use std::collections::HashMap;

use serde_json::Value;

use crate::arm::{ArmApi, ArmError, ArmRequest, Method};
use crate::resources::role_assignment;
use crate::values::norm_id;

const ROLE_API: &str = role_assignment::API_VERSION;
const ASSIGNMENTS: &str = "providers/Microsoft.Authorization/roleAssignments";
const DEFINITIONS: &str = "providers/Microsoft.Authorization/roleDefinitions";

/// Per-audit cache of the reads the rules need beyond the plan's: one entry per scope or role.
#[derive(Default)]
pub struct Cache {
    lists: HashMap<String, Vec<Value>>,
    roles: HashMap<String, Option<Value>>,
}

impl Cache {
    /// A list (every page), once per path and filter for the whole audit.
    pub async fn list(
        &mut self,
        api: &dyn ArmApi,
        path: &str,
        api_version: &str,
        filter: Option<&str>,
    ) -> Result<&[Value], ArmError> {
        let key = format!("{}?{}", norm_id(path), filter.unwrap_or_default());
        if !self.lists.contains_key(&key) {
            let mut req = ArmRequest::new(Method::Get, path.to_string(), api_version);
            if let Some(f) = filter {
                req = req.with_query("$filter", f.to_string());
            }
            let items = api.list_query(req).await?;
            self.lists.insert(key.clone(), items);
        }
        Ok(self.lists.get(&key).map(Vec::as_slice).unwrap_or(&[]))
    }

    pub(super) async fn at_scope(
        &mut self,
        api: &dyn ArmApi,
        scope: &str,
    ) -> Result<&[Value], ArmError> {
        let path = format!("{}/{ASSIGNMENTS}", scope.trim_end_matches('/'));
        self.list(api, &path, ROLE_API, Some("atScope()")).await
    }

    /// The role definition (`None` when ARM does not know it), once per (subscription, GUID).
    pub(super) async fn role(
        &mut self,
        api: &dyn ArmApi,
        subscription: &str,
        role_id: &str,
    ) -> Result<Option<&Value>, ArmError> {
        let guid = guid_of(role_id);
        let key = format!("{}/{guid}", subscription.to_ascii_lowercase());
        if !self.roles.contains_key(&key) {
            let path = format!("/subscriptions/{subscription}/{DEFINITIONS}/{guid}");
            let v = api.get(&path, ROLE_API).await?;
            self.roles.insert(key.clone(), v);
        }
        Ok(self.roles.get(&key).and_then(Option::as_ref))
    }
}

/// The last segment of an ARM id (a role definition or assignment GUID).
pub(super) fn guid_of(id: &str) -> String {
    id.rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}
