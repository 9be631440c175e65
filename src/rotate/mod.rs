//! `moat rotate` (issue 20): the two-key swap for instances that keep API keys, with the active
//! key kept in a Key Vault secret. The state machine is in [`state`]; this file performs it.
//!
//! Keys go from the `listKeys` / `regenerateKey` answer straight into the Key Vault request as
//! [`KeyMaterial`]; every other string of those answers is overwritten before it is dropped.
//! moat never prints, logs or stores a key.

pub mod due;
pub mod state;

use serde_json::{json, Value};

use crate::arm::vault::{connect_vault, scrub, KeyMaterial, SecretVersion, Vault, VaultOptions};
use crate::arm::{ArmApi, ArmError};
use crate::blueprint::resolved::{Instance, KeyRotation};
use crate::resources::account;
use crate::resources::key_vault_grant::VAULT_API_VERSION;
use state::{fingerprint, lease, next, read, tags, Key, Next, Phase, Recorded, LEASE_SECS};

/// Why an instance was not rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Arm(Box<ArmError>),
    /// moat will not go on (key auth off, a secret it does not own).
    #[error("{0}")]
    Refused(String),
    /// Another run holds this instance's step (its lease): this run leaves it to that one.
    #[error("{0}")]
    BackedOff(String),
}

impl From<ArmError> for RotateError {
    fn from(e: ArmError) -> Self {
        RotateError::Arm(Box::new(e))
    }
}

/// What one run did for one instance, in a sentence for people.
pub struct Outcome {
    pub instance: String,
    pub done: String,
}

/// The settings of a run.
pub struct Options<'a> {
    pub force: bool,
    pub vault: VaultOptions<'a>,
}

/// Test hook (documented as such in docs/rotation.md): with `MOAT_TEST_PAUSE_AFTER_STEP=N`,
/// a run stops for ten minutes right after its Nth write (a secret version or a regenerate), so
/// a test can kill it there. It only ever waits; it changes nothing.
struct Steps {
    done: usize,
    pause_after: Option<usize>,
}

impl Steps {
    fn from_env() -> Self {
        Steps {
            done: 0,
            pause_after: std::env::var("MOAT_TEST_PAUSE_AFTER_STEP")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }

    async fn step(&mut self, what: &str) {
        self.done += 1;
        tracing::info!("rotate step {}: {what}", self.done);
        if self.pause_after == Some(self.done) {
            eprintln!("moat: test pause after step {} ({what})", self.done);
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        }
    }
}

/// Rotate one instance as far as is due now.
pub async fn rotate(
    api: &dyn ArmApi,
    inst: &Instance,
    kr: &KeyRotation,
    opts: &Options<'_>,
) -> Result<Outcome, RotateError> {
    let account_id = inst.account_id();
    let acct = api
        .get(&account_id, account::API_VERSION)
        .await?
        .ok_or_else(|| RotateError::Refused(format!("account {account_id} does not exist")))?;
    if acct.pointer("/properties/disableLocalAuth") == Some(&json!(true)) {
        return Err(RotateError::Refused(format!(
            "key auth is disabled on {account_id} (disableLocalAuth: true): it has no usable keys to rotate, and listKeys answers 400; remove `keyRotation`, or turn keys back on under a `local-auth` exception"
        )));
    }
    let vault_res = api
        .get(&kr.vault, VAULT_API_VERSION)
        .await?
        .ok_or_else(|| RotateError::Refused(format!("Key Vault {} does not exist", kr.vault)))?;
    let uri = vault_res
        .pointer("/properties/vaultUri")
        .and_then(Value::as_str)
        .ok_or_else(|| RotateError::Refused(format!("Key Vault {} has no vaultUri", kr.vault)))?;
    let vault = connect_vault(uri, &opts.vault)?;
    let (latest, server_now) = vault.latest(&kr.secret).await?;
    let now = server_now.unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let mut run = Run {
        api,
        vault: &vault,
        account: account_id.to_ascii_lowercase(),
        kr,
        steps: Steps::from_env(),
        id: uuid::Uuid::new_v4().to_string(),
        lease_until: now + LEASE_SECS,
        base: latest.as_ref().map(|v| v.version.clone()),
    };
    let rec = match &latest {
        Some(v) => Some(read(v, &run.account).map_err(|why| {
            RotateError::Refused(format!(
                "secret {} in {}: {why}; moat never overwrites a secret it does not own (name another secret in `keyRotation.secret`)",
                kr.secret, vault.host
            ))
        })?),
        None => None,
    };
    let (every, overlap) = (kr.every_secs as i64, kr.overlap_secs as i64);
    let step = async {
        Ok::<_, RotateError>(match next(rec.as_ref(), now, every, overlap, opts.force) {
            Next::Nothing { what, until } => {
                format!("nothing due: {what} (from {})", state::rfc3339(until))
            }
            Next::Start { active } => {
                let pending = run.begin(active, Phase::Pending, now, None).await?;
                run.finish(&pending).await?
            }
            Next::Retire { active, rotated } => {
                let retiring = run.begin(active, Phase::Retiring, rotated, None).await?;
                run.finish(&retiring).await?
            }
            Next::Resume(rec) => {
                if let Some((other, until)) = latest.as_ref().and_then(lease) {
                    if now < until {
                        return Err(RotateError::BackedOff(format!(
                            "another moat rotate run ({other}) holds the {} step of secret {} until {}; it finishes it, or a run after that resumes it",
                            rec.phase.name(),
                            kr.secret,
                            state::rfc3339(until)
                        )));
                    }
                }
                let taken = run
                    .begin(rec.key, rec.phase, rec.rotated, rec.target.clone())
                    .await?;
                let done = run.finish(&taken).await?;
                format!("resumed an interrupted run: {done}")
            }
        })
    };
    let done = match step.await {
        Ok(done) => done,
        Err(RotateError::BackedOff(why)) => format!("backed off, nothing regenerated: {why}"),
        Err(e) => return Err(e),
    };
    Ok(Outcome {
        instance: inst.name.clone(),
        done,
    })
}

struct Run<'a> {
    api: &'a dyn ArmApi,
    vault: &'a Vault,
    account: String,
    kr: &'a KeyRotation,
    steps: Steps,
    /// This run's id, in the lease it writes.
    id: String,
    /// When the lease this run writes expires (vault clock, Unix seconds).
    lease_until: i64,
    /// The latest version the run decided from (`None`: the secret had none).
    base: Option<String>,
}

impl Run<'_> {
    /// Both keys, from `listKeys` (or `regenerateKey` with `regenerate`).
    async fn keys(&self, regenerate: Option<Key>) -> Result<Value, RotateError> {
        let (action, body) = match regenerate {
            Some(k) => ("regenerateKey", Some(json!({ "keyName": k.name() }))),
            None => ("listKeys", None),
        };
        let path = format!("{}/{action}", self.account);
        let answer = self
            .api
            .post(&path, account::API_VERSION, body.as_ref())
            .await?;
        answer.ok_or_else(|| {
            RotateError::Refused(format!("{action} on {} answered no keys", self.account))
        })
    }

    fn take(keys: &mut Value, k: Key, account: &str) -> Result<KeyMaterial, RotateError> {
        keys.get_mut(k.field())
            .and_then(KeyMaterial::take)
            .ok_or_else(|| {
                RotateError::Refused(format!("the keys of {account} have no {}", k.field()))
            })
    }

    async fn write(
        &mut self,
        value: &KeyMaterial,
        key: Key,
        phase: Phase,
        rotated: i64,
        target: Option<(Key, &str)>,
    ) -> Result<SecretVersion, RotateError> {
        let mut t = tags(&self.account, key, phase, rotated, target);
        if target.is_some() {
            t.insert(state::TAG_RUN.into(), self.id.clone().into());
            t.insert(
                state::TAG_LEASE.into(),
                state::rfc3339(self.lease_until).into(),
            );
        }
        let exp = rotated + self.kr.every_secs as i64;
        let v = self.vault.set(&self.kr.secret, value, &t, exp).await?;
        self.steps
            .step(&format!(
                "wrote {} ({} {})",
                v.version,
                phase.name(),
                key.name()
            ))
            .await;
        Ok(v)
    }

    /// Take the lease: write `pending` / `retiring` (it holds `active`, the key clients use,
    /// and the fingerprint of the other key before; `keep` carries the recorded one when a run
    /// resumes) with this run's id and lease, and go on only if no other run wrote the secret
    /// since the version this run decided from: the latest is still that version after the
    /// fingerprint is taken, and after the write the versions are exactly the ones before plus
    /// this run's. Key Vault has no `If-Match` on secrets; this is the precondition instead.
    async fn begin(
        &mut self,
        active: Key,
        phase: Phase,
        rotated: i64,
        keep: Option<(Key, String)>,
    ) -> Result<Recorded, RotateError> {
        let target = active.other();
        let secret = &self.kr.secret;
        let before_write = self.vault.versions(secret).await?;
        let mut keys = self.keys(None).await?;
        let value = Self::take(&mut keys, active, &self.account)?;
        let before = match keep {
            Some((_, b)) => b,
            None => fingerprint(
                &self.account,
                keys.get(target.field())
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
        };
        scrub(&mut keys);
        let (latest, _) = self.vault.latest(secret).await?;
        if latest.map(|l| l.version) != self.base {
            return Err(RotateError::BackedOff(format!(
                "secret {secret} changed while this run started: another run is rotating it"
            )));
        }
        let v = self
            .write(&value, active, phase, rotated, Some((target, &before)))
            .await?;
        drop(value);
        let mut want: Vec<String> = before_write.into_iter().map(|x| x.version).collect();
        want.push(v.version.clone());
        want.sort();
        let mut now: Vec<String> = self
            .vault
            .versions(secret)
            .await?
            .into_iter()
            .map(|x| x.version)
            .collect();
        now.sort();
        if now != want {
            return Err(RotateError::BackedOff(format!(
                "another run wrote secret {secret} at the same time as this one; of two such runs at most one goes on (or neither, and a run after the lease, {}, resumes)",
                state::rfc3339(self.lease_until)
            )));
        }
        Ok(Recorded {
            version: v.version,
            key: active,
            phase,
            rotated,
            target: Some((target, before)),
        })
    }

    /// Whether this run still holds its lease: its version is the latest and the vault's
    /// clock has not passed the lease. Checked right before a regenerate.
    async fn still_holds(&self, rec: &Recorded) -> Result<(), RotateError> {
        let (latest, now) = self.vault.latest(&self.kr.secret).await?;
        let ours = latest.is_some_and(|l| l.version == rec.version);
        if ours && now.is_none_or(|n| n < self.lease_until) {
            return Ok(());
        }
        Err(RotateError::BackedOff(format!(
            "this run lost its lease on secret {} before regenerating (another run wrote it, or the lease expired)",
            self.kr.secret
        )))
    }

    /// Regenerate the target of `pending` / `retiring` unless that already happened, then
    /// write the version that ends the phase.
    async fn finish(&mut self, rec: &Recorded) -> Result<String, RotateError> {
        let Some((target, before)) = &rec.target else {
            return Err(RotateError::Refused("a phase without a target".into()));
        };
        let mut keys = self.keys(None).await?;
        let now_fp = fingerprint(
            &self.account,
            keys.get(target.field())
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        let regenerated = if &now_fp == before {
            scrub(&mut keys);
            self.still_holds(rec).await?;
            keys = self.keys(Some(*target)).await?;
            self.steps
                .step(&format!("regenerated {}", target.name()))
                .await;
            true
        } else {
            false
        };
        let (holds, phase) = match rec.phase {
            Phase::Pending => (*target, Phase::Active),
            _ => (rec.key, Phase::Settled),
        };
        let value = Self::take(&mut keys, holds, &self.account)?;
        scrub(&mut keys);
        let v = self.write(&value, holds, phase, rec.rotated, None).await?;
        drop(value);
        let how = if regenerated {
            "regenerated"
        } else {
            "had already regenerated"
        };
        Ok(match phase {
            Phase::Active => format!(
                "{how} {}, wrote it to secret {} (version {}): clients move to {} now; {} is regenerated after the overlap, from {}",
                target.name(),
                self.kr.secret,
                v.version,
                target.name(),
                target.other().name(),
                state::rfc3339(rec.rotated + self.kr.overlap_secs as i64)
            ),
            _ => format!(
                "{how} {} after the overlap; secret {} (version {}) holds {}; next rotation from {}",
                target.name(),
                self.kr.secret,
                v.version,
                rec.key.name(),
                state::rfc3339(rec.rotated + self.kr.every_secs as i64)
            ),
        })
    }
}
