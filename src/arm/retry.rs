//! Which failures moat retries, and how long it waits: a value type with no I/O, so that the
//! decisions can be tested exhaustively and the HTTP client only carries them out.
//!
//! Classes, after ARM's RPC addendum (ARM-PROTOCOL.md §1.8/§1.9):
//! - transient: 408, 5xx (not 501/505, which will not change), connection failures and timeouts;
//! - throttled: 429 from ARM's request limits (Retry-After governs the wait);
//! - conflict: 409 `RequestConflict` / `AnotherOperationInProgress` and 429 `RetryableError*`:
//!   another operation holds the resource; these clear when it finishes, which takes minutes, so
//!   they get their own, longer budget;
//! - principal not found: 400 `PrincipalNotFound` while a new identity replicates through Entra;
//!   bounded by its own budget (minutes, configurable).
//!
//! Everything else fails fast.

use std::time::Duration;

/// Why a response (or transport failure) may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    Transient,
    Throttled,
    Conflict,
    PrincipalNotFound,
}

/// ARM codes that mean "another operation holds this resource; try again later".
pub const CONFLICT_CODES: &[&str] = &[
    "RequestConflict",
    "AnotherOperationInProgress",
    "RetryableError",
    "RetryableErrorDueToAnotherOperation",
];

/// The LRO cancellation reason that means "re-send the write" (Microsoft.Network superseding a
/// subnet operation with a VNet one).
pub const SUPERSEDED_CODE: &str = "CanceledAndSupersededDueToAnotherOperation";

/// Decide whether an HTTP status plus ARM error code is worth another attempt.
pub fn classify(status: u16, code: Option<&str>) -> Option<RetryClass> {
    let is = |c: &str| code.is_some_and(|x| x.eq_ignore_ascii_case(c));
    let conflict = CONFLICT_CODES.iter().any(|c| is(c));
    match status {
        408 => Some(RetryClass::Transient),
        429 if conflict => Some(RetryClass::Conflict),
        429 => Some(RetryClass::Throttled),
        409 if conflict => Some(RetryClass::Conflict),
        400 if is("PrincipalNotFound") => Some(RetryClass::PrincipalNotFound),
        501 | 505 => None,
        500..=599 => Some(RetryClass::Transient),
        _ => None,
    }
}

/// The retry policy of one client. All durations are per request (one logical ARM call,
/// including its retries).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries for transient failures and throttling.
    pub max_retries: u32,
    /// First backoff step; doubles each retry.
    pub base_delay: Duration,
    /// Cap on one backoff step (a server's Retry-After may ask for more, within the budget).
    pub max_delay: Duration,
    /// Total time one request may spend retrying transient failures and throttling.
    pub budget: Duration,
    /// Retries for conflicts (another operation in progress).
    pub conflict_retries: u32,
    /// Total time one request may wait for conflicting operations to finish.
    pub conflict_budget: Duration,
    /// Retries while a principal replicates (400 PrincipalNotFound).
    pub principal_retries: u32,
    /// First backoff step for PrincipalNotFound (replication takes seconds to minutes).
    pub principal_delay: Duration,
    /// Total time one request may wait for a principal to replicate.
    pub principal_budget: Duration,
    /// How often a write whose operation was `Canceled` as superseded is re-sent.
    pub superseded_retries: u32,
    /// Test switch: every wait is zero (counts and budgets still apply).
    pub zero_delay: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(30),
            budget: Duration::from_secs(5 * 60),
            conflict_retries: 30,
            conflict_budget: Duration::from_secs(15 * 60),
            principal_retries: 20,
            principal_delay: Duration::from_secs(5),
            principal_budget: Duration::from_secs(5 * 60),
            superseded_retries: 3,
            zero_delay: false,
        }
    }
}

impl RetryPolicy {
    /// The same policy with every wait zero: for tests.
    pub fn zero_delays(mut self) -> Self {
        self.zero_delay = true;
        self
    }

    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            conflict_retries: 0,
            principal_retries: 0,
            superseded_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Exponential step `attempt` (0-based) from `base`, capped at `max_delay`, before jitter.
    pub fn backoff(&self, base: Duration, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        base.saturating_mul(factor).min(self.max_delay)
    }

    /// "Equal jitter": a uniform draw in [step/2, step], so that clients that failed together do
    /// not retry together, while the wait never collapses to zero.
    pub fn jittered(&self, step: Duration, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        step / 2 + step.mul_f64(0.5 * unit)
    }

    /// Start tracking one request's retries.
    pub fn start(&self) -> RetryState {
        RetryState {
            policy: self.clone(),
            transient: 0,
            conflict: 0,
            principal: 0,
        }
    }
}

/// Why the policy stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The class's retry count is used up.
    Retries,
    /// Waiting would overrun the class's time budget.
    Budget,
}

/// Retry bookkeeping for one request.
#[derive(Debug, Clone)]
pub struct RetryState {
    policy: RetryPolicy,
    transient: u32,
    conflict: u32,
    principal: u32,
}

impl RetryState {
    /// Retries made so far, all classes.
    pub fn retries(&self) -> u32 {
        self.transient + self.conflict + self.principal
    }

    /// The wait before the next attempt, or why not to retry. `elapsed` is the time since the
    /// request's first attempt; `retry_after` the server's requested delay; `unit` a random draw
    /// in [0, 1] for jitter (passed in so tests are deterministic).
    pub fn next_delay(
        &mut self,
        class: RetryClass,
        retry_after: Option<Duration>,
        elapsed: Duration,
        unit: f64,
    ) -> Result<Duration, GiveUp> {
        let p = &self.policy;
        let (count, max, budget, base) = match class {
            RetryClass::Transient | RetryClass::Throttled => {
                (self.transient, p.max_retries, p.budget, p.base_delay)
            }
            RetryClass::Conflict => (
                self.conflict,
                p.conflict_retries,
                p.conflict_budget,
                p.base_delay,
            ),
            RetryClass::PrincipalNotFound => (
                self.principal,
                p.principal_retries,
                p.principal_budget,
                p.principal_delay,
            ),
        };
        if count >= max {
            return Err(GiveUp::Retries);
        }
        let wait = if p.zero_delay {
            Duration::ZERO
        } else {
            match retry_after {
                // The server's interval governs: retrying earlier only earns another 429.
                Some(ra) => ra,
                None => p.jittered(p.backoff(base, count), unit),
            }
        };
        if elapsed.saturating_add(wait) > budget {
            return Err(GiveUp::Budget);
        }
        match class {
            RetryClass::Transient | RetryClass::Throttled => self.transient += 1,
            RetryClass::Conflict => self.conflict += 1,
            RetryClass::PrincipalNotFound => self.principal += 1,
        }
        Ok(wait)
    }
}

/// "failed after 3 retries in 12.4s" (empty when there were no retries).
pub fn retry_note(retries: u32, elapsed: Duration) -> String {
    match retries {
        0 => String::new(),
        1 => format!(" after 1 retry in {:.1}s", elapsed.as_secs_f64()),
        n => format!(" after {n} retries in {:.1}s", elapsed.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn which_statuses_and_codes_retry() {
        use RetryClass::*;
        assert_eq!(classify(408, None), Some(Transient));
        for s in [500, 502, 503, 504, 599] {
            assert_eq!(
                classify(s, Some("InternalServerError")),
                Some(Transient),
                "{s}"
            );
        }
        assert_eq!(classify(501, None), None);
        assert_eq!(classify(505, None), None);
        assert_eq!(
            classify(429, Some("SubscriptionRequestsThrottled")),
            Some(Throttled)
        );
        assert_eq!(classify(429, None), Some(Throttled));
        assert_eq!(classify(429, Some("RetryableError")), Some(Conflict));
        assert_eq!(
            classify(429, Some("RetryableErrorDueToAnotherOperation")),
            Some(Conflict)
        );
        assert_eq!(classify(409, Some("RequestConflict")), Some(Conflict));
        assert_eq!(
            classify(409, Some("anotheroperationinprogress")),
            Some(Conflict)
        );
        assert_eq!(
            classify(400, Some("PrincipalNotFound")),
            Some(PrincipalNotFound)
        );
        // Fail fast on everything else.
        assert_eq!(classify(409, Some("RoleAssignmentExists")), None);
        assert_eq!(classify(409, None), None);
        assert_eq!(
            classify(400, Some("RoleAssignmentUpdateNotPermitted")),
            None
        );
        assert_eq!(classify(400, Some("CustomDomainInUse")), None);
        assert_eq!(classify(403, Some("AuthorizationFailed")), None);
        assert_eq!(classify(401, None), None);
        assert_eq!(classify(404, None), None);
        assert_eq!(classify(412, None), None);
        assert_eq!(classify(200, None), None);
        assert_eq!(classify(202, None), None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: S(5),
            ..Default::default()
        };
        let steps: Vec<_> = (0..6).map(|i| p.backoff(p.base_delay, i)).collect();
        assert_eq!(
            steps,
            vec![Duration::from_millis(500), S(1), S(2), S(4), S(5), S(5)]
        );
        assert_eq!(p.backoff(p.base_delay, 10_000), S(5), "no overflow");
    }

    #[test]
    fn jitter_stays_within_half_to_full_step() {
        let p = RetryPolicy::default();
        assert_eq!(p.jittered(S(4), 0.0), S(2));
        assert_eq!(p.jittered(S(4), 1.0), S(4));
        assert_eq!(p.jittered(S(4), 0.5), S(3));
        assert_eq!(p.jittered(S(4), 7.0), S(4), "draw is clamped");
    }

    #[test]
    fn retry_after_governs_the_wait() {
        let mut st = RetryPolicy::default().start();
        let d = st
            .next_delay(RetryClass::Throttled, Some(S(17)), S(0), 0.0)
            .unwrap();
        assert_eq!(
            d,
            S(17),
            "longer than max_delay, but the server asked for it"
        );
        let d = st
            .next_delay(
                RetryClass::Transient,
                Some(Duration::from_millis(10)),
                S(0),
                1.0,
            )
            .unwrap();
        assert_eq!(d, Duration::from_millis(10));
    }

    #[test]
    fn retry_after_beyond_budget_gives_up_instead_of_sleeping() {
        let p = RetryPolicy {
            budget: S(60),
            ..Default::default()
        };
        let mut st = p.start();
        assert_eq!(
            st.next_delay(RetryClass::Throttled, Some(S(61)), S(0), 0.0),
            Err(GiveUp::Budget)
        );
        assert_eq!(
            st.next_delay(RetryClass::Throttled, Some(S(30)), S(31), 0.0),
            Err(GiveUp::Budget)
        );
        assert_eq!(st.retries(), 0);
    }

    #[test]
    fn transient_retries_are_counted_and_capped() {
        let p = RetryPolicy {
            max_retries: 3,
            ..Default::default()
        }
        .zero_delays();
        let mut st = p.start();
        for _ in 0..3 {
            assert_eq!(
                st.next_delay(RetryClass::Transient, Some(S(30)), S(0), 0.5),
                Ok(Duration::ZERO)
            );
        }
        assert_eq!(
            st.next_delay(RetryClass::Throttled, None, S(0), 0.5),
            Err(GiveUp::Retries),
            "throttling shares the transient count"
        );
        assert_eq!(st.retries(), 3);
    }

    #[test]
    fn classes_have_separate_budgets() {
        let p = RetryPolicy {
            max_retries: 1,
            conflict_retries: 2,
            principal_retries: 4,
            budget: S(10),
            conflict_budget: S(100),
            principal_budget: S(1000),
            ..Default::default()
        };
        let mut st = p.start();
        assert!(st
            .next_delay(RetryClass::Transient, None, S(0), 0.0)
            .is_ok());
        assert_eq!(
            st.next_delay(RetryClass::Transient, None, S(0), 0.0),
            Err(GiveUp::Retries)
        );
        // A conflict at 50s is outside the transient budget but inside its own.
        assert!(st
            .next_delay(RetryClass::Conflict, Some(S(10)), S(50), 0.0)
            .is_ok());
        assert_eq!(
            st.next_delay(RetryClass::Conflict, Some(S(60)), S(50), 0.0),
            Err(GiveUp::Budget)
        );
        // PrincipalNotFound: minutes allowed, longer base step.
        let d = st
            .next_delay(RetryClass::PrincipalNotFound, None, S(300), 1.0)
            .unwrap();
        assert_eq!(d, p.principal_delay);
        let d = st
            .next_delay(RetryClass::PrincipalNotFound, None, S(300), 1.0)
            .unwrap();
        assert_eq!(d, p.principal_delay * 2);
        assert_eq!(st.retries(), 4);
    }

    #[test]
    fn principal_budget_is_configurable() {
        let p = RetryPolicy {
            principal_budget: S(20),
            principal_delay: S(8),
            ..Default::default()
        };
        let mut st = p.start();
        assert_eq!(
            st.next_delay(RetryClass::PrincipalNotFound, None, S(0), 1.0),
            Ok(S(8))
        );
        assert_eq!(
            st.next_delay(RetryClass::PrincipalNotFound, None, S(8), 1.0),
            Err(GiveUp::Budget),
            "8s + 16s > 20s"
        );
    }

    #[test]
    fn none_never_retries() {
        let mut st = RetryPolicy::none().start();
        for c in [
            RetryClass::Transient,
            RetryClass::Throttled,
            RetryClass::Conflict,
            RetryClass::PrincipalNotFound,
        ] {
            assert_eq!(st.next_delay(c, None, S(0), 0.0), Err(GiveUp::Retries));
        }
    }

    #[test]
    fn note_reads_naturally() {
        assert_eq!(retry_note(0, S(3)), "");
        assert_eq!(
            retry_note(1, Duration::from_millis(1500)),
            " after 1 retry in 1.5s"
        );
        assert_eq!(
            retry_note(3, Duration::from_millis(12_440)),
            " after 3 retries in 12.4s"
        );
    }

    proptest::proptest! {
        /// Retries stop within each class's count and time budget, whatever the server says.
        #[test]
        fn retries_respect_counts_and_budgets(
            events in proptest::collection::vec((0u8..4, proptest::option::of(0u64..120_000), 0.0f64..=1.0), 1..80),
        ) {
            let p = RetryPolicy::default();
            let mut st = p.start();
            let mut elapsed = Duration::ZERO;
            let mut per_class = [0u32; 4];
            for (c, ra, unit) in events {
                let class = [RetryClass::Transient, RetryClass::Throttled, RetryClass::Conflict,
                    RetryClass::PrincipalNotFound][c as usize];
                if let Ok(wait) = st.next_delay(class, ra.map(Duration::from_millis), elapsed, unit) {
                    elapsed += wait;
                    let (idx, budget) = match class {
                        RetryClass::Transient | RetryClass::Throttled => (0, p.budget),
                        RetryClass::Conflict => (2, p.conflict_budget),
                        RetryClass::PrincipalNotFound => (3, p.principal_budget),
                    };
                    per_class[idx] += 1;
                    proptest::prop_assert!(elapsed <= budget);
                    if ra.is_none() {
                        proptest::prop_assert!(wait <= p.max_delay.max(p.principal_delay));
                    }
                }
            }
            proptest::prop_assert!(per_class[0] <= p.max_retries);
            proptest::prop_assert!(per_class[2] <= p.conflict_retries);
            proptest::prop_assert!(per_class[3] <= p.principal_retries);
            proptest::prop_assert_eq!(st.retries(), per_class.iter().sum::<u32>());
        }
    }
}
