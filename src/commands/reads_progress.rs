//! A status line on stderr while a read-only command (`moat audit`, `moat import`) reads ARM:
//! how many reads are done, how many ARM or moat's own limiter held back, and for how long.
//!
//! A large subscription takes minutes to read at ARM's read rate (25 per second once the
//! bucket's 250 are spent: docs/benchmarks.md), and without it the terminal looks hung. Shown only
//! on a terminal, without `-v` (whose log lines would tear a line redrawn in place) and not with
//! `TERM=dumb`; pipelines get the one summary line the command prints at the end. The counts are
//! the client's own ([`crate::arm::Stats`]): every read goes through the same limiter and cache as
//! `moat plan`, so what is counted is what was sent.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::arm::{ArmApi, Stats};

use super::Output;

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(250);

/// A running status line; [`ReadsProgress::finish`] clears it.
pub struct ReadsProgress {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadsProgress {
    /// Start the line for `what` (`audit`), when stderr is a terminal that can take it.
    pub fn start(api: Arc<dyn ArmApi>, what: &'static str, out: Output) -> Option<ReadsProgress> {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if !out.stderr_is_terminal || out.verbose > 0 || dumb {
            return None;
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let base = api.stats();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let line = status_line(what, since(api.stats(), base), started.elapsed());
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Some(ReadsProgress { stop, task })
    }

    /// Stop and clear the line (before the command prints its result).
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn since(now: Stats, base: Stats) -> Stats {
    Stats {
        reads: now.reads.saturating_sub(base.reads),
        writes: now.writes.saturating_sub(base.writes),
        polls: now.polls.saturating_sub(base.polls),
        retries: now.retries.saturating_sub(base.retries),
        throttled: now.throttled.saturating_sub(base.throttled),
    }
}

/// `audit: 1,234 reads, 12 waited for the read budget, 3 retried · 41.2 s`
pub fn status_line(what: &str, s: Stats, elapsed: Duration) -> String {
    let mut line = format!("{what}: {} {}", thousands(s.reads), plural(s.reads, "read"));
    if s.throttled > 0 {
        line.push_str(&format!(
            ", {} waited for the read budget",
            thousands(s.throttled)
        ));
    }
    if s.retries > 0 {
        line.push_str(&format!(", {} retried", thousands(s.retries)));
    }
    line.push_str(&format!(" · {:.1} s", elapsed.as_secs_f64()));
    line
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn thousands(n: u64) -> String {
    crate::render::markdown::with_commas(usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(reads: u64, throttled: u64, retries: u64) -> Stats {
        Stats {
            reads,
            throttled,
            retries,
            ..Stats::default()
        }
    }

    #[test]
    fn the_line_counts_reads_and_says_what_held_them_back() {
        assert_eq!(
            status_line("audit", stats(1, 0, 0), Duration::from_millis(250)),
            "audit: 1 read · 0.2 s"
        );
        assert_eq!(
            status_line("audit", stats(6504, 1234, 3), Duration::from_secs(260)),
            "audit: 6,504 reads, 1,234 waited for the read budget, 3 retried · 260.0 s"
        );
    }

    #[test]
    fn thousands_groups_from_the_right() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn counts_are_relative_to_the_start_and_never_underflow() {
        let s = since(stats(10, 2, 1), stats(4, 3, 0));
        assert_eq!((s.reads, s.throttled, s.retries), (6, 0, 1));
    }
}
