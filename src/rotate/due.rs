//! What `moat plan` shows of key rotation (issue 20): the secret's latest version, read once per
//! instance with `keyRotation` (the vault's ARM resource for its `vaultUri`, then the data plane
//! with the same client rules as `moat rotate`), and the pure decision of what `moat rotate`
//! would do with it. Instances without `keyRotation` are not read at all. Plan never rotates,
//! and a due rotation is not a change: it does not flip `--detailed-exitcode`.

use std::time::Duration;

use serde_json::Value;

use crate::arm::vault::{connect_vault, VaultOptions};
use crate::arm::ArmApi;
use crate::blueprint::resolved::{Blueprint, KeyRotation};
use crate::model::observed::{Observed, SecretRead};
use crate::model::{RotationDue, RotationStatus};
use crate::resources::key_vault_grant::VAULT_API_VERSION;

use super::state::{next, read, rfc3339, Next, Phase};

/// How long plan waits for one instance's vault before it says it could not tell.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Read the secret of every instance of `bp` with `keyRotation` into `observed`, concurrently.
pub async fn observe(
    api: &dyn ArmApi,
    bp: &Blueprint,
    opts: &VaultOptions<'_>,
    observed: &mut Observed,
) {
    let reads = bp.instances.iter().filter_map(|inst| {
        let kr = inst.key_rotation.as_ref()?;
        Some(async move {
            let r = tokio::time::timeout(READ_TIMEOUT, read_secret(api, kr, opts))
                .await
                .unwrap_or_else(|_| SecretRead::Failed {
                    message: format!(
                        "Key Vault {} did not answer within {} s",
                        kr.vault,
                        READ_TIMEOUT.as_secs()
                    ),
                    user_fault: false,
                });
            (inst.name.clone(), r)
        })
    });
    for (name, r) in futures::future::join_all(reads).await {
        if let Some(o) = observed.instances.iter_mut().find(|o| o.name == name) {
            o.rotation = Some(r);
        }
    }
}

async fn read_secret(api: &dyn ArmApi, kr: &KeyRotation, opts: &VaultOptions<'_>) -> SecretRead {
    let failed = |message: String, user_fault: bool| SecretRead::Failed {
        message,
        user_fault,
    };
    let vault = match api.get(&kr.vault, VAULT_API_VERSION).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return failed(
                format!(
                    "Key Vault {} does not exist: fix `keyRotation.vault`",
                    kr.vault
                ),
                true,
            )
        }
        Err(e) => return failed(format!("could not read Key Vault {}: {e}", kr.vault), false),
    };
    let Some(uri) = vault
        .pointer("/properties/vaultUri")
        .and_then(Value::as_str)
    else {
        return failed(format!("Key Vault {} has no vaultUri yet", kr.vault), false);
    };
    let client = match connect_vault(uri, opts) {
        Ok(c) => c,
        // A vaultUri of another cloud than `--cloud`, or a plain-HTTP endpoint: the command line.
        Err(e) => return failed(e.to_string(), true),
    };
    match client.latest(&kr.secret).await {
        Ok((latest, now)) => SecretRead::Read {
            now: now.unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp()),
            latest,
        },
        Err(e) if e.status() == Some(403) => failed(
            format!(
                "moat may not read secret {} in {} (403 Forbidden): it needs Key Vault Secrets User (or Officer) on the secret to tell whether rotation is due ({e})",
                kr.secret, client.host
            ),
            false,
        ),
        Err(e) => failed(
            format!("could not read secret {} in {}: {e}", kr.secret, client.host),
            false,
        ),
    }
}

/// What `moat rotate` (without `--force`) would do for `account` given what plan read.
pub fn due(kr: &KeyRotation, account: &str, seen: &SecretRead) -> RotationDue {
    let mut out = RotationDue {
        vault: kr.vault.clone(),
        secret: kr.secret.clone(),
        status: RotationStatus::Due,
        key: None,
        at: None,
        detail: String::new(),
    };
    let (now, latest) = match seen {
        SecretRead::Read { now, latest } => (*now, latest),
        SecretRead::Failed {
            message,
            user_fault,
        } => {
            out.status = if *user_fault {
                RotationStatus::Refused
            } else {
                RotationStatus::Unknown
            };
            out.detail = message.clone();
            return out;
        }
    };
    let rec = match latest
        .as_ref()
        .map(|v| read(v, &account.to_ascii_lowercase()))
    {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(why)) => {
            out.status = RotationStatus::Refused;
            out.detail = format!(
                "secret {}: {why}; moat rotate never overwrites a secret it does not own (name another secret in `keyRotation.secret`)",
                kr.secret
            );
            return out;
        }
    };
    let (every, overlap) = (kr.every_secs as i64, kr.overlap_secs as i64);
    match next(rec.as_ref(), now, every, overlap, false) {
        Next::Nothing { what, until } => {
            out.status = RotationStatus::Scheduled;
            out.key = rec.as_ref().map(|r| r.key.other().name().to_string());
            out.at = Some(rfc3339(until));
            out.detail = what;
        }
        Next::Start { active } => {
            out.key = Some(active.other().name().to_string());
            out.at = rec.as_ref().map(|r| rfc3339(r.rotated + every));
            out.detail = match rec {
                None => format!(
                    "never rotated: `moat rotate` regenerates {} and writes it to the secret; clients move to it within {}",
                    active.other().name(),
                    super::state::span(overlap)
                ),
                Some(r) => format!(
                    "the cycle of {} started {} ago (every {}): `moat rotate` regenerates {} and writes it to the secret",
                    active.name(),
                    super::state::span(now - r.rotated),
                    super::state::span(every),
                    active.other().name()
                ),
            };
        }
        Next::Retire { active, rotated } => {
            out.key = Some(active.other().name().to_string());
            out.at = Some(rfc3339(rotated + overlap));
            out.detail = format!(
                "the overlap ended: `moat rotate` regenerates {}, the key clients had to leave",
                active.other().name()
            );
        }
        Next::Resume(r) => {
            out.key = r.target.as_ref().map(|(k, _)| k.name().to_string());
            out.at = Some(rfc3339(r.rotated));
            out.detail = format!(
                "a `moat rotate` run stopped after writing version {} ({}): the next run finishes it",
                r.version,
                match r.phase {
                    Phase::Pending => "pending",
                    _ => "retiring",
                }
            );
        }
    }
    out
}

/// `moat audit` MOAT-IM-003: why the keys of `account` are older than `keyRotation.every`, or
/// `None` when they are not (or when the secret could not be read, or is not moat's: nothing
/// to judge the age by).
pub fn overdue(kr: &KeyRotation, account: &str, seen: &SecretRead) -> Option<String> {
    let SecretRead::Read { now, latest } = seen else {
        return None;
    };
    let every = kr.every_secs as i64;
    let Some(v) = latest else {
        return Some(format!(
            "secret {} has no version: the keys were never rotated (period {})",
            kr.secret,
            super::state::span(every)
        ));
    };
    let rec = read(v, &account.to_ascii_lowercase()).ok()?;
    (*now >= rec.rotated + every).then(|| {
        format!(
            "keys last rotated {} ({} ago; period {})",
            rfc3339(rec.rotated),
            super::state::span(now - rec.rotated),
            super::state::span(every)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate::state::{tags, Key};

    const ACCT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";
    const DAY: i64 = 86_400;
    const T0: i64 = 1_767_225_600;

    fn kr() -> KeyRotation {
        KeyRotation {
            vault: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
                .into(),
            secret: "s".into(),
            every_secs: 90 * DAY as u64,
            overlap_secs: DAY as u64,
        }
    }

    fn seen(now: i64, t: Option<serde_json::Map<String, Value>>) -> SecretRead {
        SecretRead::Read {
            now,
            latest: t.map(crate::rotate::state::tests::version),
        }
    }

    #[test]
    fn a_secret_never_written_is_due_now_for_key2() {
        let d = due(&kr(), ACCT, &seen(T0, None));
        assert_eq!(d.status, RotationStatus::Due);
        assert_eq!(d.key.as_deref(), Some("Key2"));
        assert_eq!(d.at, None, "never rotated: no date");
        assert!(d.detail.contains("never rotated"), "{}", d.detail);
    }

    #[test]
    fn the_phases_say_which_key_and_when() {
        let active = tags(ACCT, Key::Key2, Phase::Active, T0, None);
        let d = due(&kr(), ACCT, &seen(T0 + 3600, Some(active.clone())));
        assert_eq!(d.status, RotationStatus::Scheduled);
        assert_eq!(d.key.as_deref(), Some("Key1"));
        assert_eq!(d.at, Some(rfc3339(T0 + DAY)));
        let d = due(&kr(), ACCT, &seen(T0 + DAY, Some(active)));
        assert_eq!(d.status, RotationStatus::Due);
        assert_eq!(
            (d.key.as_deref(), d.at),
            (Some("Key1"), Some(rfc3339(T0 + DAY)))
        );
        let settled = tags(ACCT, Key::Key2, Phase::Settled, T0, None);
        let d = due(&kr(), ACCT, &seen(T0 + 91 * DAY, Some(settled.clone())));
        assert_eq!(d.status, RotationStatus::Due);
        assert_eq!(
            (d.key.as_deref(), d.at),
            (Some("Key1"), Some(rfc3339(T0 + 90 * DAY)))
        );
        assert!(d.detail.contains("91d ago"), "{}", d.detail);
        let d = due(&kr(), ACCT, &seen(T0 + 10 * DAY, Some(settled)));
        assert_eq!(d.status, RotationStatus::Scheduled);
        let pending = tags(ACCT, Key::Key1, Phase::Pending, T0, Some((Key::Key2, "fp")));
        let d = due(&kr(), ACCT, &seen(T0, Some(pending)));
        assert_eq!(d.status, RotationStatus::Due);
        assert_eq!(d.key.as_deref(), Some("Key2"));
        assert!(d.detail.contains("stopped"), "{}", d.detail);
    }

    #[test]
    fn keys_are_overdue_past_the_period_or_never_rotated() {
        assert!(overdue(&kr(), ACCT, &seen(T0, None))
            .unwrap()
            .contains("never rotated"));
        let settled = tags(ACCT, Key::Key2, Phase::Settled, T0, None);
        assert_eq!(
            overdue(&kr(), ACCT, &seen(T0 + 89 * DAY, Some(settled.clone()))),
            None
        );
        let why = overdue(&kr(), ACCT, &seen(T0 + 95 * DAY, Some(settled))).unwrap();
        assert!(why.contains("95d ago; period 90d"), "{why}");
        let forbidden = SecretRead::Failed {
            message: "403".into(),
            user_fault: false,
        };
        assert_eq!(overdue(&kr(), ACCT, &forbidden), None);
    }

    #[test]
    fn a_failed_read_is_unknown_unless_the_blueprint_is_wrong() {
        let forbidden = SecretRead::Failed {
            message: "403".into(),
            user_fault: false,
        };
        assert_eq!(due(&kr(), ACCT, &forbidden).status, RotationStatus::Unknown);
        let missing = SecretRead::Failed {
            message: "no vault".into(),
            user_fault: true,
        };
        assert_eq!(due(&kr(), ACCT, &missing).status, RotationStatus::Refused);
        // A secret moat did not write (or another account's) is never overwritten: refused.
        let d = due(&kr(), ACCT, &seen(T0, Some(serde_json::Map::new())));
        assert_eq!(d.status, RotationStatus::Refused);
        assert!(d.detail.contains("does not own"), "{}", d.detail);
    }
}
