//! ARM's token-bucket throttling, per subscription × principal × operation class. Integer
//! arithmetic in nano-tokens (one token = 10^9) so the refill is exact: `rate` tokens per second
//! is `rate` nano-tokens per nanosecond.

use std::collections::HashMap;
use std::time::Duration;

use super::config::ThrottleConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Read,
    Write,
    Delete,
}

impl Class {
    pub fn of_method(method: &str) -> Class {
        match method {
            "GET" | "HEAD" => Class::Read,
            "DELETE" => Class::Delete,
            _ => Class::Write,
        }
    }

    /// `x-ms-ratelimit-remaining-subscription-{reads|writes|deletes}`.
    pub fn header(self) -> &'static str {
        match self {
            Class::Read => "x-ms-ratelimit-remaining-subscription-reads",
            Class::Write => "x-ms-ratelimit-remaining-subscription-writes",
            Class::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

const ONE: u128 = 1_000_000_000;

#[derive(Debug, Clone)]
struct Bucket {
    nano_tokens: u128,
    last_ns: u128,
}

/// Outcome of taking one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// Allowed; whole tokens left afterwards.
    Allowed { remaining: u64 },
    /// Throttled; wait this long for one token.
    Throttled { retry_after: Duration },
}

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(String, String, Class), Bucket>,
}

impl Throttle {
    fn limits(cfg: &ThrottleConfig, class: Class) -> (u128, u128) {
        let (cap, rate) = match class {
            Class::Read => (cfg.read_capacity, cfg.read_refill_per_sec),
            Class::Write => (cfg.write_capacity, cfg.write_refill_per_sec),
            Class::Delete => (cfg.delete_capacity, cfg.delete_refill_per_sec),
        };
        (u128::from(cap) * ONE, u128::from(rate))
    }

    /// Take one token from the bucket of (`sub`, `principal`, `class`) at time `now`.
    pub fn take(
        &mut self,
        cfg: &ThrottleConfig,
        sub: &str,
        principal: &str,
        class: Class,
        now: Duration,
    ) -> Take {
        let (cap, rate) = Self::limits(cfg, class);
        let now_ns = now.as_nanos();
        let b = self
            .buckets
            .entry((sub.to_ascii_lowercase(), principal.to_string(), class))
            .or_insert(Bucket {
                nano_tokens: cap,
                last_ns: now_ns,
            });
        let elapsed = now_ns.saturating_sub(b.last_ns);
        b.nano_tokens = (b.nano_tokens + elapsed * rate).min(cap);
        b.last_ns = b.last_ns.max(now_ns);
        if b.nano_tokens >= ONE {
            b.nano_tokens -= ONE;
            Take::Allowed {
                remaining: (b.nano_tokens / ONE) as u64,
            }
        } else if rate == 0 {
            Take::Throttled {
                retry_after: Duration::from_secs(3600),
            }
        } else {
            let missing = ONE - b.nano_tokens;
            let wait_ns = missing.div_ceil(rate);
            Take::Throttled {
                retry_after: Duration::from_nanos(wait_ns as u64),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arithmetic_is_exact() {
        let cfg = ThrottleConfig::default();
        let mut t = Throttle::default();
        let t0 = Duration::from_secs(1000);
        for i in 0..200 {
            assert_eq!(
                t.take(&cfg, "s", "p", Class::Write, t0),
                Take::Allowed { remaining: 199 - i }
            );
        }
        // Empty: one token takes 1/10 s at 10 tokens/s.
        assert_eq!(
            t.take(&cfg, "s", "p", Class::Write, t0),
            Take::Throttled {
                retry_after: Duration::from_millis(100)
            }
        );
        // 40 ms later 0.4 tokens are there; 60 ms are still missing.
        assert_eq!(
            t.take(&cfg, "s", "p", Class::Write, t0 + Duration::from_millis(40)),
            Take::Throttled {
                retry_after: Duration::from_millis(60)
            }
        );
        assert_eq!(
            t.take(
                &cfg,
                "s",
                "p",
                Class::Write,
                t0 + Duration::from_millis(100)
            ),
            Take::Allowed { remaining: 0 }
        );
        // Other principals and classes have their own buckets.
        assert_eq!(
            t.take(&cfg, "s", "q", Class::Write, t0),
            Take::Allowed { remaining: 199 }
        );
        assert_eq!(
            t.take(&cfg, "s", "p", Class::Read, t0),
            Take::Allowed { remaining: 249 }
        );
    }
}
