//! Reading a response body within limits: a size cap checked while the body streams in (never
//! buffering past it), a per-chunk idle timeout and a deadline for the whole exchange, so that a
//! hostile or broken server (a body trickling one byte every two seconds, an endless body) ends
//! in a clear error instead of hanging or eating memory. See docs/reliability.md, "Limits on what
//! ARM sends back".

use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;

/// Largest response body moat accepts: 16 MiB. ARM itself refuses to relay a resource provider's
/// response over 8 MB (ARM-PROTOCOL.md §1.2), so twice that is never a real answer; a list page of
/// 10,000 items (the page cap in `api.rs`) of ~1 KiB each fits.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body (declared or streamed) is larger than the cap.
    TooLarge { limit: usize, declared: Option<u64> },
    /// No byte arrived for `idle`.
    Idle { idle: Duration, received: usize },
    /// The exchange's deadline passed while the body was still arriving.
    Deadline { total: Duration, received: usize },
    /// The stream failed (reset, chunking error).
    Stream(String),
}

impl BodyError {
    /// Timeouts and stream failures are transport failures (the retry policy decides); a body
    /// over the cap is a protocol error that re-sending would only repeat.
    pub fn is_transport(&self) -> bool {
        !matches!(self, BodyError::TooLarge { .. })
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge {
                limit,
                declared: Some(n),
            } => write!(
                f,
                "response body of {n} bytes (Content-Length) is over moat's limit of {limit} bytes"
            ),
            BodyError::TooLarge { limit, .. } => write!(
                f,
                "response body is over moat's limit of {limit} bytes; stopped reading"
            ),
            BodyError::Idle { idle, received } => write!(
                f,
                "response body stalled: no byte for {idle:?} (idle timeout) after {received} bytes"
            ),
            BodyError::Deadline { total, received } => write!(
                f,
                "response not complete within {total:?} (total timeout) after {received} bytes"
            ),
            BodyError::Stream(m) => write!(f, "reading the response body: {m}"),
        }
    }
}

/// Read `stream` to its end: at most `limit` bytes (a `declared` Content-Length over it fails
/// before reading anything), each chunk within `idle` of the previous one, all before `deadline`
/// (`total` is only for the message).
pub async fn read_limited<S, B, E>(
    mut stream: S,
    declared: Option<u64>,
    limit: usize,
    idle: Duration,
    deadline: Instant,
    total: Duration,
) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        return Err(BodyError::TooLarge {
            limit,
            declared: Some(n),
        });
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(BodyError::Deadline {
                total,
                received: buf.len(),
            });
        }
        let wait = idle.min(deadline - now);
        let next = match tokio::time::timeout(wait, stream.next()).await {
            Ok(n) => n,
            Err(_) if wait < idle => {
                return Err(BodyError::Deadline {
                    total,
                    received: buf.len(),
                })
            }
            Err(_) => {
                return Err(BodyError::Idle {
                    idle,
                    received: buf.len(),
                })
            }
        };
        match next {
            None => return Ok(buf),
            Some(Err(e)) => return Err(BodyError::Stream(e.to_string())),
            Some(Ok(chunk)) => {
                let chunk = chunk.as_ref();
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge {
                        limit,
                        declared: None,
                    });
                }
                buf.extend_from_slice(chunk);
            }
        }
    }
}
