//! The cutover gates: conditions apply waits to see in live ARM before it starts a change.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::arm::{ArmApi, ArmError};
use crate::model::Gate;
use crate::resources;
use crate::resources::kind::{Reads, Ready};

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

/// Reads one gate may ask for in one check (a zone group's A records: one per zone).
const READS_PER_CHECK: usize = 64;

/// What one check of a gate found.
#[derive(Debug)]
enum Check {
    Holds,
    /// Not yet: what is missing (waiting may help).
    NotYet(String),
    /// Cannot come true without another write: waiting longer cannot help.
    Never(String),
}

/// Whether the gate holds now. The gate's kind decides, from reads it names; they are done here,
/// fresh for every check.
async fn check(api: &dyn ArmApi, gate: &Gate) -> Result<Check, ArmError> {
    let Some(kind) = resources::find(&gate.kind) else {
        return Ok(Check::Never(format!(
            "moat does not know the kind {}",
            gate.kind
        )));
    };
    let mut seen = Reads::default();
    let mut done = 0;
    loop {
        match kind.ready(&gate.ids, &seen) {
            Ready::Yes => return Ok(Check::Holds),
            Ready::Wait(why) => return Ok(Check::NotYet(why)),
            Ready::Never(why) => return Ok(Check::Never(why)),
            Ready::Need(reads) => {
                for read in reads {
                    done += 1;
                    if done > READS_PER_CHECK {
                        return Ok(Check::Never(format!(
                            "the {} gate asked for more than {READS_PER_CHECK} reads",
                            gate.kind
                        )));
                    }
                    let v = if read.list {
                        Some(Value::Array(api.list_query(read.request()).await?))
                    } else {
                        api.get(&read.path, read.api_version).await?
                    };
                    seen.insert(&read, v);
                }
            }
        }
    }
}

/// Wait until the gate holds, or its budget runs out.
pub async fn wait(api: &dyn ArmApi, gate: &Gate, opts: GateOptions) -> Result<(), GateError> {
    let start = Instant::now();
    loop {
        match check(api, gate).await {
            Ok(Check::Holds) => return Ok(()),
            Ok(Check::Never(seen)) => {
                return Err(GateError::Never {
                    what: resources::describe(gate),
                    seen,
                })
            }
            Ok(Check::NotYet(last)) => {
                if start.elapsed() >= opts.budget {
                    return Err(GateError::Timeout {
                        what: resources::describe(gate),
                        waited: start.elapsed(),
                        last,
                    });
                }
            }
            Err(source) => {
                return Err(GateError::Arm {
                    what: resources::describe(gate),
                    source,
                })
            }
        }
        tokio::time::sleep(opts.interval).await;
    }
}
