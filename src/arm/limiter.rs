//! Request budgeting: moat keeps itself under ARM's throttling limits instead of running into them.
//!
//! ARM (since 2024) throttles with token buckets per subscription and principal: reads 250 with 25
//! refilled per second, writes (and deletes) 200 with 10 per second (ARM-PROTOCOL.md §1.7). The
//! limiter mirrors those buckets locally, one pair per subscription, and lowers its count when
//! ARM's `x-ms-ratelimit-remaining-subscription-*` headers say fewer requests remain (other tools
//! running as the same principal share the bucket). A request that finds the bucket empty
//! reserves the next token and waits for it, so waiting requests are served in order.
//!
//! Waiting requests are released in small batches, not one by one: a request whose token accrues
//! at time `t` is held until the next multiple of `batch / refill` seconds (counted from the
//! bucket's creation) at or after `t`. Every request still leaves no earlier than its token
//! exists, so moat stays under ARM's bucket; what changes is that a throttled fleet plan wakes up
//! a fifth as often (each wake-up is a timer, a socket write and a read to serve, which is where a
//! throttled run spends its CPU: see docs/benchmarks.md). The cost is at most one batch interval
//! (0.2 s for reads, 0.5 s for writes) of added wait, and only once the bucket is empty.
//!
//! The arithmetic takes `now` as a parameter: tests drive it with synthetic instants.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    refill_per_sec: f64,
    /// May go negative: tokens reserved by waiting requests.
    tokens: f64,
    updated: Instant,
    /// Waiting requests are released on a grid of `batch / refill_per_sec` seconds from `epoch`.
    batch: f64,
    epoch: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, refill_per_sec: u32, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(capacity),
            refill_per_sec: f64::from(refill_per_sec.max(1)),
            tokens: f64::from(capacity),
            updated: now,
            batch: 1.0,
            epoch: now,
        }
    }

    /// Release waiting requests `batch` tokens' worth at a time (1: each as soon as its token
    /// exists).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = f64::from(batch.max(1));
        self
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + dt * self.refill_per_sec).min(self.capacity);
        if now > self.updated {
            self.updated = now;
        }
    }

    /// Tokens available at `now` (negative while requests are queued).
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Take one token; returns how long the caller must wait before sending (zero when a token
    /// was available).
    pub fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        let until_token = -self.tokens / self.refill_per_sec;
        if self.batch <= 1.0 {
            return Duration::from_secs_f64(until_token);
        }
        // The instant the token exists, rounded up onto the release grid.
        let tick = self.batch / self.refill_per_sec;
        let since_epoch = now.saturating_duration_since(self.epoch).as_secs_f64() + until_token;
        // A hair of tolerance so that float error never pushes an exact grid point a tick later.
        let release = (since_epoch / tick - 1e-9).ceil() * tick;
        Duration::from_secs_f64((release - since_epoch).max(0.0) + until_token)
    }

    /// ARM says `remaining` requests are left in its bucket: never believe we have more.
    pub fn resync(&mut self, remaining: u64, now: Instant) {
        self.refill(now);
        let remaining = remaining as f64;
        if remaining < self.tokens {
            self.tokens = remaining;
        }
    }
}

impl TokenBucket {
    /// ARM answered 429 with Retry-After `wait`: hold every request on this bucket until then, so
    /// that concurrent requests do not each collect their own 429.
    pub fn hold(&mut self, wait: Duration, now: Instant) {
        self.refill(now);
        let owed = -wait.as_secs_f64() * self.refill_per_sec;
        if owed < self.tokens {
            self.tokens = owed;
        }
    }
}

/// Bucket sizes; defaults are ARM's subscription limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    pub read_capacity: u32,
    pub read_refill_per_sec: u32,
    pub write_capacity: u32,
    pub write_refill_per_sec: u32,
    /// Tokens' worth of waiting requests released together once a bucket is empty (1: one by
    /// one). The default, 5, is 0.2 s of reads or 0.5 s of writes at ARM's refill rates.
    pub release_batch: u32,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            read_capacity: 250,
            read_refill_per_sec: 25,
            write_capacity: 200,
            write_refill_per_sec: 10,
            release_batch: 5,
        }
    }
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Read,
    Write,
}

/// Per-subscription read and write buckets.
#[derive(Debug)]
pub struct Limiter {
    config: LimiterConfig,
    buckets: Mutex<HashMap<(String, Bucket), TokenBucket>>,
}

impl Limiter {
    pub fn new(config: LimiterConfig) -> Self {
        Limiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> LimiterConfig {
        self.config
    }

    fn with_bucket<R>(
        &self,
        key: &str,
        bucket: Bucket,
        now: Instant,
        f: impl FnOnce(&mut TokenBucket) -> R,
    ) -> R {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (cap, rate) = match bucket {
            Bucket::Read => (self.config.read_capacity, self.config.read_refill_per_sec),
            Bucket::Write => (self.config.write_capacity, self.config.write_refill_per_sec),
        };
        let b = map
            .entry((key.to_ascii_lowercase(), bucket))
            .or_insert_with(|| {
                TokenBucket::new(cap, rate, now).with_batch(self.config.release_batch)
            });
        f(b)
    }

    /// Reserve a token for a request on `subscription` ("" for tenant-level calls); returns the
    /// wait before sending.
    pub fn reserve(&self, subscription: &str, bucket: Bucket, now: Instant) -> Duration {
        self.with_bucket(subscription, bucket, now, |b| b.take(now))
    }

    /// Lower the local count to what ARM reports remaining.
    pub fn resync(&self, subscription: &str, bucket: Bucket, remaining: u64, now: Instant) {
        self.with_bucket(subscription, bucket, now, |b| b.resync(remaining, now));
    }

    /// Hold the bucket for `wait` (after a throttling 429).
    pub fn hold(&self, subscription: &str, bucket: Bucket, wait: Duration, now: Instant) {
        self.with_bucket(subscription, bucket, now, |b| b.hold(wait, now));
    }

    pub fn available(&self, subscription: &str, bucket: Bucket, now: Instant) -> f64 {
        self.with_bucket(subscription, bucket, now, |b| b.available(now))
    }
}

/// The subscription id a request path or URL belongs to ("" when it is not under one).
pub fn subscription_of(path: &str) -> String {
    let resource = super::error::resource_of(path);
    let mut parts = resource.split('/').filter(|s| !s.is_empty());
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("subscriptions") {
            return parts.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

/// ARM's remaining count for `bucket` in a response's headers, if it sent one. Deletes may be
/// reported as `-deletes` (unverified); writes as `-writes`.
pub fn remaining_from_headers<'a>(
    bucket: Bucket,
    header: impl Fn(&str) -> Option<&'a str>,
) -> Option<u64> {
    let names: &[&str] = match bucket {
        Bucket::Read => &["x-ms-ratelimit-remaining-subscription-reads"],
        Bucket::Write => &[
            "x-ms-ratelimit-remaining-subscription-writes",
            "x-ms-ratelimit-remaining-subscription-deletes",
        ],
    };
    names
        .iter()
        .filter_map(|n| header(n).and_then(|v| v.trim().parse::<u64>().ok()))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn full_bucket_serves_capacity_then_waits_by_refill_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(250, 25, t0);
        for _ in 0..250 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        // The 251st waits one refill interval (1/25 s), the 252nd two.
        assert_eq!(b.take(t0), ms(40));
        assert_eq!(b.take(t0), ms(80));
        assert!((b.available(t0) + 2.0).abs() < 1e-9);
    }

    #[test]
    fn refill_is_linear_and_capped() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(200, 10, t0);
        for _ in 0..200 {
            b.take(t0);
        }
        assert!(b.available(t0).abs() < 1e-9);
        assert!((b.available(t0 + ms(500)) - 5.0).abs() < 1e-9);
        assert!((b.available(t0 + Duration::from_secs(3)) - 30.0).abs() < 1e-9);
        assert!((b.available(t0 + Duration::from_secs(3600)) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn time_going_backwards_does_not_mint_tokens() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(10, 1, t0);
        for _ in 0..10 {
            b.take(t0);
        }
        assert!(b.available(t0 - Duration::from_secs(5)).abs() < 1e-9);
    }

    #[test]
    fn resync_only_lowers() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(250, 25, t0);
        b.resync(3, t0);
        assert!((b.available(t0) - 3.0).abs() < 1e-9);
        b.resync(100, t0);
        assert!((b.available(t0) - 3.0).abs() < 1e-9, "never raised");
        for _ in 0..3 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        assert_eq!(b.take(t0), ms(40));
    }

    #[test]
    fn hold_makes_the_next_request_wait_out_retry_after() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(250, 25, t0);
        b.hold(Duration::from_secs(2), t0);
        // The next token exists only after the 2 s hold plus one refill interval.
        assert_eq!(b.take(t0), Duration::from_millis(2040));
        // A shorter hold does not shorten a longer one.
        b.hold(Duration::from_millis(10), t0);
        assert_eq!(b.take(t0), Duration::from_millis(2080));
    }

    #[test]
    fn limiter_keeps_subscriptions_and_buckets_apart() {
        let t0 = Instant::now();
        let l = Limiter::new(LimiterConfig {
            read_capacity: 2,
            read_refill_per_sec: 1,
            write_capacity: 1,
            write_refill_per_sec: 2,
            release_batch: 1,
        });
        assert_eq!(l.reserve("sub-a", Bucket::Read, t0), Duration::ZERO);
        assert_eq!(l.reserve("SUB-A", Bucket::Read, t0), Duration::ZERO);
        assert_eq!(l.reserve("sub-a", Bucket::Read, t0), Duration::from_secs(1));
        assert_eq!(l.reserve("sub-b", Bucket::Read, t0), Duration::ZERO);
        assert_eq!(l.reserve("sub-a", Bucket::Write, t0), Duration::ZERO);
        assert_eq!(l.reserve("sub-a", Bucket::Write, t0), ms(500));
        l.resync("sub-b", Bucket::Read, 0, t0);
        assert_eq!(l.reserve("sub-b", Bucket::Read, t0), Duration::from_secs(1));
    }

    #[test]
    fn subscription_is_found_in_paths_and_urls() {
        assert_eq!(
            subscription_of("/subscriptions/ABC/resourceGroups/rg/providers/X/y/z"),
            "abc"
        );
        assert_eq!(
            subscription_of(
                "https://management.azure.com/subscriptions/s1/providers/Microsoft.CognitiveServices/locations/westus/operationResults/x?api-version=1"
            ),
            "s1"
        );
        assert_eq!(
            subscription_of("/providers/Microsoft.Authorization/roleDefinitions/x"),
            ""
        );
    }

    #[test]
    fn remaining_headers_are_read_per_bucket() {
        let h = |n: &str| match n {
            "x-ms-ratelimit-remaining-subscription-reads" => Some("11999"),
            "x-ms-ratelimit-remaining-subscription-writes" => Some(" 1199 "),
            "x-ms-ratelimit-remaining-subscription-deletes" => Some("14999"),
            _ => None,
        };
        assert_eq!(remaining_from_headers(Bucket::Read, h), Some(11999));
        assert_eq!(remaining_from_headers(Bucket::Write, h), Some(1199));
        assert_eq!(remaining_from_headers(Bucket::Read, |_| Some("x")), None);
    }

    #[test]
    fn batched_release_waits_for_the_grid_and_never_before_the_token() {
        let t0 = Instant::now();
        // 25/s, batches of 5: the grid is every 200 ms from t0.
        let mut b = TokenBucket::new(2, 25, t0).with_batch(5);
        assert_eq!(b.take(t0), Duration::ZERO);
        assert_eq!(b.take(t0), Duration::ZERO);
        // Tokens 3..=7 accrue at 40, 80, 120, 160, 200 ms: all go at 200 ms.
        for _ in 0..5 {
            assert_eq!(b.take(t0), ms(200));
        }
        // The 8th accrues at 240 ms: the next grid point, 400 ms.
        assert_eq!(b.take(t0), ms(400));
        // Asked later, the wait is measured from then, onto the same grid.
        let t1 = t0 + ms(50);
        assert_eq!(b.take(t1), ms(350));
    }

    proptest::proptest! {
        /// Batched or not, a request never leaves before its token exists, and batching adds at
        /// most one batch interval.
        #[test]
        fn batched_release_is_never_early_and_at_most_one_tick_late(
            gaps_ms in proptest::collection::vec(0u64..60, 1..300),
            batch in 1u32..8,
        ) {
            let t0 = Instant::now();
            let mut plain = TokenBucket::new(20, 10, t0);
            let mut batched = TokenBucket::new(20, 10, t0).with_batch(batch);
            let mut now = t0;
            for gap in gaps_ms {
                now += ms(gap);
                let a = plain.take(now);
                let b = batched.take(now);
                proptest::prop_assert!(b + Duration::from_micros(1) >= a);
                let tick = f64::from(batch) / 10.0;
                proptest::prop_assert!(b.as_secs_f64() <= a.as_secs_f64() + tick + 1e-6);
            }
        }
    }

    proptest::proptest! {
        /// Whatever the pattern of requests, the bucket never admits more than capacity plus
        /// what refilled: the property that keeps moat under ARM's limit.
        #[test]
        fn never_admits_more_than_capacity_plus_refill(
            gaps_ms in proptest::collection::vec(0u64..200, 1..400),
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(50, 10, t0);
            let mut now = t0;
            let mut sent_at = Vec::new();
            for gap in gaps_ms {
                now += ms(gap);
                let wait = b.take(now);
                sent_at.push(now + wait);
            }
            sent_at.sort();
            let last = *sent_at.last().unwrap();
            let allowed = 50.0 + last.duration_since(t0).as_secs_f64() * 10.0;
            proptest::prop_assert!(sent_at.len() as f64 <= allowed + 1e-6);
            // And in every window, too: requests sent in [a, b] <= capacity + refill * (b - a).
            for (i, a) in sent_at.iter().enumerate() {
                for (j, z) in sent_at.iter().enumerate().skip(i) {
                    let n = (j - i + 1) as f64;
                    let span = z.duration_since(*a).as_secs_f64();
                    proptest::prop_assert!(n <= 50.0 + span * 10.0 + 1e-6);
                }
            }
        }
    }
}
