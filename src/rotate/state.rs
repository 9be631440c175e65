//! The rotation state, recorded in the tags of the secret's latest version (docs/rotation.md,
//! "The state machine"), and the pure decision of what a run does next.
//!
//! A cycle, clients on key K and the other key O:
//!
//! ```text
//! settled(K) ──due──► pending(K → O) ──regenerate O──► active(O) ──overlap──► retiring(O, K)
//!                                                                 ──regenerate K──► settled(O)
//! ```
//!
//! `pending` and `retiring` are written *before* their regenerate and hold the key clients use
//! now (so the secret always holds a working key) and a fingerprint of the key about to be
//! regenerated. A run that finds one resumes it: it regenerates only if the key's fingerprint is
//! still the recorded one, so a run killed before or after the regenerate completes the cycle
//! with each key regenerated exactly once.

use serde_json::{Map, Value};

use crate::arm::vault::SecretVersion;

pub const TAG_ACCOUNT: &str = "moat-account";
pub const TAG_KEY: &str = "moat-key";
pub const TAG_PHASE: &str = "moat-phase";
pub const TAG_ROTATED: &str = "moat-rotated";
pub const TAG_TARGET: &str = "moat-target";
pub const TAG_BEFORE: &str = "moat-before";
/// On `pending` / `retiring`: the run that wrote it, and until when it holds the step (its lease).
pub const TAG_RUN: &str = "moat-run";
pub const TAG_LEASE: &str = "moat-lease";
/// How long a run holds the lease it writes: far longer than one instance's rotation takes
/// (seconds), short enough that a killed run's step is resumed by a run 15 minutes later.
pub const LEASE_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Key1,
    Key2,
}

impl Key {
    pub fn other(self) -> Key {
        match self {
            Key::Key1 => Key::Key2,
            Key::Key2 => Key::Key1,
        }
    }

    /// The name `regenerateKey` takes.
    pub fn name(self) -> &'static str {
        match self {
            Key::Key1 => "Key1",
            Key::Key2 => "Key2",
        }
    }

    /// The field of the `listKeys` / `regenerateKey` answer.
    pub fn field(self) -> &'static str {
        match self {
            Key::Key1 => "key1",
            Key::Key2 => "key2",
        }
    }

    fn parse(s: &str) -> Option<Key> {
        match s {
            "Key1" => Some(Key::Key1),
            "Key2" => Some(Key::Key2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Written before regenerating the other key; holds the key clients use.
    Pending,
    /// The new key, just written: clients move to it during the overlap.
    Active,
    /// Written before regenerating the old key after the overlap; holds the new key.
    Retiring,
    /// Both keys rotated this cycle; the next cycle starts `every` after `rotated`.
    Settled,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Active => "active",
            Phase::Retiring => "retiring",
            Phase::Settled => "settled",
        }
    }

    fn parse(s: &str) -> Option<Phase> {
        [
            Phase::Pending,
            Phase::Active,
            Phase::Retiring,
            Phase::Settled,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }
}

/// What the latest version records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub version: String,
    /// The key whose value the version holds.
    pub key: Key,
    pub phase: Phase,
    /// When the cycle started (Unix seconds).
    pub rotated: i64,
    /// `pending` / `retiring`: the key about to be regenerated and its fingerprint before.
    pub target: Option<(Key, String)>,
}

/// The tags of a version moat writes.
pub fn tags(
    account: &str,
    key: Key,
    phase: Phase,
    rotated: i64,
    target: Option<(Key, &str)>,
) -> Map<String, Value> {
    let mut t = Map::new();
    t.insert(TAG_ACCOUNT.into(), account.to_ascii_lowercase().into());
    t.insert(TAG_KEY.into(), key.name().into());
    t.insert(TAG_PHASE.into(), phase.name().into());
    t.insert(TAG_ROTATED.into(), rfc3339(rotated).into());
    if let Some((k, before)) = target {
        t.insert(TAG_TARGET.into(), k.name().into());
        t.insert(TAG_BEFORE.into(), before.into());
    }
    t
}

/// The lease a version records: the run that holds it, and until when (Unix seconds).
pub fn lease(v: &SecretVersion) -> Option<(&str, i64)> {
    Some((v.tag(TAG_RUN)?, v.tag(TAG_LEASE).and_then(parse_rfc3339)?))
}

/// The state a version records for `account`; `Err` when the version is not moat's for it
/// (another account's, or a secret moat did not write: it is never overwritten).
pub fn read(v: &SecretVersion, account: &str) -> Result<Recorded, String> {
    match v.tag(TAG_ACCOUNT) {
        Some(a) if a.eq_ignore_ascii_case(account) => {}
        Some(a) => {
            return Err(format!(
                "its latest version belongs to another account ({a})"
            ))
        }
        None => return Err("its latest version was not written by moat rotate".into()),
    }
    let bad = |what: &str| format!("its latest version has a bad `{what}` tag");
    let key = v
        .tag(TAG_KEY)
        .and_then(Key::parse)
        .ok_or_else(|| bad(TAG_KEY))?;
    let phase = v
        .tag(TAG_PHASE)
        .and_then(Phase::parse)
        .ok_or_else(|| bad(TAG_PHASE))?;
    let rotated = v
        .tag(TAG_ROTATED)
        .and_then(parse_rfc3339)
        .ok_or_else(|| bad(TAG_ROTATED))?;
    let target = match phase {
        Phase::Pending | Phase::Retiring => {
            let k = v
                .tag(TAG_TARGET)
                .and_then(Key::parse)
                .filter(|k| *k != key)
                .ok_or_else(|| bad(TAG_TARGET))?;
            let before = v.tag(TAG_BEFORE).ok_or_else(|| bad(TAG_BEFORE))?;
            Some((k, before.to_string()))
        }
        _ => None,
    };
    Ok(Recorded {
        version: v.version.clone(),
        key,
        phase,
        rotated,
        target,
    })
}

/// What a run does for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing due; `until` is when something will be (Unix seconds), `what` says what.
    Nothing { what: String, until: i64 },
    /// Start a cycle: clients are on `active`; write `pending`, regenerate the other key.
    Start { active: Key },
    /// Clients had the overlap to move to `active`: write `retiring`, regenerate the other.
    Retire { active: Key, rotated: i64 },
    /// A run stopped after writing `pending` / `retiring`: finish it.
    Resume(Recorded),
}

pub fn next(rec: Option<&Recorded>, now: i64, every: i64, overlap: i64, force: bool) -> Next {
    let Some(rec) = rec else {
        // First rotation: clients are assumed on Key1 (docs/rotation.md, "Before the first run").
        return Next::Start { active: Key::Key1 };
    };
    match rec.phase {
        Phase::Pending | Phase::Retiring => Next::Resume(rec.clone()),
        Phase::Active if force || now >= rec.rotated + overlap => Next::Retire {
            active: rec.key,
            rotated: rec.rotated,
        },
        Phase::Active => Next::Nothing {
            what: format!(
                "{} is new; {} is regenerated once the overlap ends",
                rec.key.name(),
                rec.key.other().name()
            ),
            until: rec.rotated + overlap,
        },
        Phase::Settled if force || now >= rec.rotated + every => Next::Start { active: rec.key },
        Phase::Settled => Next::Nothing {
            what: format!(
                "{} is active; the next rotation regenerates {}",
                rec.key.name(),
                rec.key.other().name()
            ),
            until: rec.rotated + every,
        },
    }
}

/// Whether the key `target` still has the value it had when `before` was recorded.
pub fn fingerprint(account: &str, key: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"moat-rotate-fingerprint\0");
    h.update(account.to_ascii_lowercase().as_bytes());
    h.update(b"\0");
    h.update(key.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// A duration for people: whole days, else whole hours, else minutes (`90d`, `24h`, `5m`).
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    if secs >= 86_400 {
        format!("{}d", secs / 86_400)
    } else if secs >= 3_600 {
        format!("{}h", secs / 3_600)
    } else {
        format!("{}m", secs / 60)
    }
}

pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const ACCT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";
    const DAY: i64 = 86_400;

    /// A version of secret `s` with these tags (also for the tests of `due`).
    pub(crate) fn version(tags: Map<String, Value>) -> SecretVersion {
        SecretVersion {
            id: "https://kv.vault.azure.net/secrets/s/v1".into(),
            version: "v1".into(),
            tags,
            created: None,
            expires: None,
        }
    }

    #[test]
    fn a_cycle_walks_the_phases() {
        let t0 = 1_767_225_600;
        assert_eq!(
            next(None, t0, 90 * DAY, DAY, false),
            Next::Start { active: Key::Key1 }
        );
        let fp = fingerprint(ACCT, "k2");
        let pending = read(
            &version(tags(
                ACCT,
                Key::Key1,
                Phase::Pending,
                t0,
                Some((Key::Key2, &fp)),
            )),
            ACCT,
        )
        .unwrap();
        assert!(matches!(
            next(Some(&pending), t0, 90 * DAY, DAY, false),
            Next::Resume(_)
        ));
        let active = read(
            &version(tags(ACCT, Key::Key2, Phase::Active, t0, None)),
            ACCT,
        )
        .unwrap();
        assert!(
            matches!(next(Some(&active), t0 + 3600, 90 * DAY, DAY, false), Next::Nothing { until, .. } if until == t0 + DAY)
        );
        assert!(matches!(
            next(Some(&active), t0 + 3600, 90 * DAY, DAY, true),
            Next::Retire {
                active: Key::Key2,
                ..
            }
        ));
        assert_eq!(
            next(Some(&active), t0 + DAY, 90 * DAY, DAY, false),
            Next::Retire {
                active: Key::Key2,
                rotated: t0
            }
        );
        let settled = read(
            &version(tags(ACCT, Key::Key2, Phase::Settled, t0, None)),
            ACCT,
        )
        .unwrap();
        assert!(matches!(
            next(Some(&settled), t0 + 89 * DAY, 90 * DAY, DAY, false),
            Next::Nothing { .. }
        ));
        assert_eq!(
            next(Some(&settled), t0 + 90 * DAY, 90 * DAY, DAY, false),
            Next::Start { active: Key::Key2 }
        );
    }

    #[test]
    fn versions_moat_did_not_write_are_refused() {
        assert!(read(&version(Map::new()), ACCT).is_err());
        let other = tags("/subscriptions/s/other", Key::Key1, Phase::Settled, 0, None);
        assert!(read(&version(other), ACCT)
            .unwrap_err()
            .contains("another account"));
        let mut broken = tags(ACCT, Key::Key1, Phase::Pending, 0, None);
        broken.remove(TAG_TARGET);
        assert!(read(&version(broken), ACCT).is_err());
    }

    #[test]
    fn fingerprints_do_not_contain_the_key() {
        let key = "0123456789abcdef0123456789abcdef";
        let fp = fingerprint(ACCT, key);
        assert_eq!(fp.len(), 16);
        assert!(!key.contains(&fp) && !fp.contains(&key[..8]));
        assert_ne!(fp, fingerprint(ACCT, "other"));
    }
}
