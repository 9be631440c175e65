//! The observer: every ARM read the kinds ask for, done concurrently, into plain data. It knows
//! no kind: it asks each registered kind which reads it needs, in rounds (a read named by an
//! earlier result comes in a later round), until none asks for more.
//!
//! No read is repeated within one run (a cache keyed by URL shares one request between every
//! instance that needs, say, the same privatelink zone), and a missing resource is data (`None`),
//! not an error.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use futures::stream::{FuturesOrdered, StreamExt};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::arm::{ArmApi, ArmError};
use crate::blueprint::resolved::{Blueprint, Instance};
pub use crate::model::observed::{Observed, ObservedInstance, Read, Reads};
use crate::resources;

/// A read failed: which instance, and ARM's error.
#[derive(Debug, thiserror::Error)]
#[error("could not read the live state of instance {instance}")]
pub struct ObserveError {
    pub instance: String,
    #[source]
    pub source: ArmError,
}

type Slot = Arc<OnceCell<Result<Option<Value>, ArmError>>>;

/// Shares one request between every caller that asks for the same URL in a run.
struct Reader<'a> {
    api: &'a dyn ArmApi,
    cache: Mutex<HashMap<String, Slot>>,
}

impl<'a> Reader<'a> {
    fn slot(&self, key: String) -> Slot {
        let mut c = self.cache.lock().expect("observer cache poisoned");
        c.entry(key).or_default().clone()
    }

    /// One read, shared with every other caller of the same read in this run. A list under a
    /// parent that does not exist (the links of a missing zone) is absent, like a missing
    /// resource.
    async fn read(&self, read: &Read) -> Result<Option<Value>, ArmError> {
        let slot = self.slot(read.key());
        slot.get_or_init(|| async {
            if !read.list {
                return self.api.get(&read.path, read.api_version).await;
            }
            match self.api.list_query(read.request()).await {
                Ok(items) => Ok(Some(Value::Array(items))),
                Err(e) if e.status() == Some(404) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
        .clone()
    }
}

/// Read the live state of every instance in the blueprint.
pub async fn observe(api: &dyn ArmApi, bp: &Blueprint) -> Result<Observed, ObserveError> {
    let reader = Reader {
        api,
        cache: Mutex::new(HashMap::new()),
    };
    // FuturesOrdered, not join_all: join_all polls every instance's future whenever any one of
    // them is woken (for up to 30 futures), which made a plan of 30 instances spend its time
    // polling; here only the woken instance is polled.
    let results: Vec<_> = bp
        .instances
        .iter()
        .map(|inst| {
            let reader = &reader;
            async move {
                observe_instance(reader, inst)
                    .await
                    .map_err(|source| ObserveError {
                        instance: inst.name.clone(),
                        source,
                    })
            }
        })
        .collect::<FuturesOrdered<_>>()
        .collect()
        .await;
    let mut out = Observed::default();
    for r in results {
        out.instances.push(r?);
    }
    Ok(out)
}

/// Public for `apply`, which re-reads single instances.
pub async fn observe_one(api: &dyn ArmApi, inst: &Instance) -> Result<ObservedInstance, ArmError> {
    let reader = Reader {
        api,
        cache: Mutex::new(HashMap::new()),
    };
    observe_instance(&reader, inst).await
}

/// Rounds of reads at most: each round's reads may name the next round's (two are enough for
/// every kind today; the bound stops a kind that keeps asking).
const MAX_ROUNDS: usize = 6;

/// Ask every kind for the reads it needs, do the new ones concurrently, and again until no kind
/// asks for anything new.
async fn observe_instance(r: &Reader<'_>, inst: &Instance) -> Result<ObservedInstance, ArmError> {
    let mut seen = Reads::default();
    for _ in 0..MAX_ROUNDS {
        let mut keys = HashSet::new();
        let wanted: Vec<Read> = resources::KINDS
            .iter()
            .flat_map(|k| k.reads(inst, &seen))
            .filter(|read| seen.result(read).is_none() && keys.insert(read.key()))
            .collect();
        if wanted.is_empty() {
            break;
        }
        let results = join_all(wanted.iter().map(|read| r.read(read))).await;
        for (read, v) in wanted.iter().zip(results) {
            seen.insert(read, v?);
        }
    }
    Ok(ObservedInstance {
        name: inst.name.clone(),
        reads: seen,
        rotation: None,
    })
}
