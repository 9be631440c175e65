//! The cutover gates: conditions apply waits to see in live ARM before it starts a change.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::arm::{ArmApi, ArmError};
use crate::plan::model::Gate;
use crate::resources::{self as res, get, get_str, id_eq};

/// How long and how often to wait for a gate.
#[derive(Debug, Clone, Copy)]
pub struct GateOptions {
    pub budget: Duration,
    pub interval: Duration,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            budget: Duration::from_secs(15 * 60),
            interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("gave up after {waited:?} waiting for {what} (last seen: {last})")]
    Timeout {
        what: String,
        waited: Duration,
        last: String,
    },
    #[error("{what} will not happen without another write: {seen}")]
    Never { what: String, seen: String },
    #[error("while waiting for {what}")]
    Arm {
        what: String,
        #[source]
        source: ArmError,
    },
}

/// A provisioning state ARM never leaves by itself (the last operation on the resource failed).
fn terminal_failure(state: &str) -> bool {
    state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled")
}

/// Marks a "not yet" description as final: waiting longer cannot help.
const NEVER: &str = "never: ";

/// Whether the gate holds now; `Err(description of what is missing)` when it does not (starting
/// with [`NEVER`] when it cannot come true without another write).
async fn check(api: &dyn ArmApi, gate: &Gate) -> Result<Result<(), String>, ArmError> {
    match gate {
        Gate::AccountSucceeded { account_id } => {
            let acct = api.get(account_id, res::account::API_VERSION).await?;
            let state = acct
                .as_ref()
                .and_then(|a| get_str(a, "properties.provisioningState"))
                .unwrap_or("absent");
            Ok(if state.eq_ignore_ascii_case("Succeeded") {
                Ok(())
            } else if terminal_failure(state) {
                Err(format!("{NEVER}account provisioningState {state}"))
            } else {
                Err(format!("account provisioningState {state}"))
            })
        }
        Gate::RoleAssignmentsVisible { ids } => {
            for id in ids {
                if api
                    .get(id, res::role_assignment::API_VERSION)
                    .await?
                    .is_none()
                {
                    return Ok(Err(format!("role assignment {id} not visible yet")));
                }
            }
            Ok(Ok(()))
        }
        Gate::Exists { id, api_version } => Ok(match api.get(id, api_version).await? {
            Some(_) => Ok(()),
            None => Err(format!("{id} does not exist yet")),
        }),
        Gate::PrivateEndpointReady {
            endpoint_id,
            zone_group_id,
            account_id,
        } => {
            let pe = api
                .get(endpoint_id, res::private_endpoint::API_VERSION)
                .await?;
            let state = pe
                .as_ref()
                .and_then(|p| get_str(p, "properties.provisioningState"))
                .unwrap_or("absent");
            if terminal_failure(state) {
                return Ok(Err(format!(
                    "{NEVER}private endpoint provisioningState {state}"
                )));
            }
            if !state.eq_ignore_ascii_case("Succeeded") {
                return Ok(Err(format!("private endpoint provisioningState {state}")));
            }
            let conns = api
                .list(
                    &format!("{account_id}/privateEndpointConnections"),
                    res::account::API_VERSION,
                )
                .await?;
            let approved = conns.iter().any(|c| {
                get_str(c, "properties.privateEndpoint.id").is_some_and(|p| id_eq(p, endpoint_id))
                    && get_str(c, "properties.privateLinkServiceConnectionState.status")
                        .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
            });
            if !approved {
                return Ok(Err(
                    "private endpoint connection not Approved on the account".into(),
                ));
            }
            if let Some(gid) = zone_group_id {
                let Some(group) = api.get(gid, res::dns_zone_group::API_VERSION).await? else {
                    return Ok(Err("DNS zone group does not exist".into()));
                };
                let configs = get(&group, "properties.privateDnsZoneConfigs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if configs.is_empty() {
                    return Ok(Err("DNS zone group has no zones".into()));
                }
                for cfg in configs {
                    let zone = get_str(&cfg, "properties.privateDnsZoneId")
                        .unwrap_or("")
                        .to_string();
                    let sets = get(&cfg, "properties.recordSets")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let Some(set) = sets.iter().find(|s| {
                        get_str(s, "recordType").is_some_and(|t| t.eq_ignore_ascii_case("A"))
                    }) else {
                        return Ok(Err(format!("no A record written into {zone} yet")));
                    };
                    let name = get_str(set, "recordSetName").unwrap_or("");
                    let rec = api
                        .get(
                            &format!("{zone}/A/{name}"),
                            res::private_dns_zone::API_VERSION,
                        )
                        .await?;
                    let has_ip = rec
                        .as_ref()
                        .and_then(|r| get(r, "properties.aRecords"))
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty());
                    if !has_ip {
                        return Ok(Err(format!("A record {name} missing in {zone}")));
                    }
                }
            }
            Ok(Ok(()))
        }
    }
}

/// Wait until the gate holds, or its budget runs out.
pub async fn wait(api: &dyn ArmApi, gate: &Gate, opts: GateOptions) -> Result<(), GateError> {
    let start = Instant::now();
    loop {
        match check(api, gate).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(last)) => {
                if let Some(seen) = last.strip_prefix(NEVER) {
                    return Err(GateError::Never {
                        what: gate.describe(),
                        seen: seen.to_string(),
                    });
                }
                if start.elapsed() >= opts.budget {
                    return Err(GateError::Timeout {
                        what: gate.describe(),
                        waited: start.elapsed(),
                        last,
                    });
                }
            }
            Err(source) => {
                return Err(GateError::Arm {
                    what: gate.describe(),
                    source,
                })
            }
        }
        tokio::time::sleep(opts.interval).await;
    }
}
