//! Every emulator option. `Default` is test-friendly (LROs of ~30 ms, throttling on, no faults,
//! every subscription exists); [`EmulatorConfig::azure_like`] approximates Azure's timings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::{Clock, SystemClock};

/// How a write answers. `AsyncBody`: 201/200 with a non-terminal `provisioningState` and an
/// `Azure-AsyncOperation` header (the resource is visible while it runs). `Accepted`: 202 with
/// `Location` + `Azure-AsyncOperation` (a created resource stays invisible until done). `Sync`:
/// finished in the first response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LroStyle {
    Sync,
    AsyncBody,
    Accepted,
}

#[derive(Debug, Clone)]
pub struct LroConfig {
    /// `false`: every write completes in its first response (no operations at all).
    pub enabled: bool,
    /// Duration of operations whose type has no entry in `durations`.
    pub default_duration: Duration,
    /// Per resource type (canonical name, compared case-insensitively).
    pub durations: BTreeMap<String, Duration>,
    /// Retry-After the emulator sends on 202s and while an operation runs.
    pub retry_after: Duration,
    /// Overrides of the documented style, keyed `"PUT Microsoft.Network/privateDnsZones"` (method
    /// + canonical type, case-insensitive). For behaviour ARM-PROTOCOL.md marks unverified.
    pub styles: BTreeMap<String, LroStyle>,
}

impl Default for LroConfig {
    fn default() -> Self {
        LroConfig {
            enabled: true,
            default_duration: Duration::from_millis(30),
            durations: BTreeMap::new(),
            retry_after: Duration::from_millis(10),
            styles: BTreeMap::new(),
        }
    }
}

/// ARM's token buckets, per subscription × principal × operation class.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    pub enabled: bool,
    pub read_capacity: u32,
    pub read_refill_per_sec: u32,
    pub write_capacity: u32,
    pub write_refill_per_sec: u32,
    pub delete_capacity: u32,
    pub delete_refill_per_sec: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            read_capacity: 250,
            read_refill_per_sec: 25,
            write_capacity: 200,
            write_refill_per_sec: 10,
            delete_capacity: 200,
            delete_refill_per_sec: 10,
        }
    }
}

/// The terminal state a matched operation is forced into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailOutcome {
    Failed,
    Canceled,
}

/// Make long-running operations matching `method` (if set) and a substring of the resource id
/// (case-insensitive) end `Failed` or `Canceled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailRule {
    pub method: Option<String>,
    pub path_contains: String,
    pub outcome: FailOutcome,
    pub code: String,
    pub message: String,
    /// How many operations the rule hits; `None` = every one.
    pub times: Option<u32>,
}

/// Injected faults (opt-in; all off by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultConfig {
    /// Added to every request.
    pub latency: Duration,
    /// Fraction (0..1) of requests answered with a random 500 or 503 before being processed.
    pub error_rate: f64,
    /// Fraction (0..1) of requests whose connection is dropped before a response body is sent.
    pub reset_rate: f64,
    /// Seed for the random choices above (deterministic runs).
    pub seed: Option<u64>,
    pub fail_operations: Vec<FailRule>,
}

/// Azure's conflict behaviours; each on by default, each switchable.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictConfig {
    /// 409 RequestConflict for writes on an account or its children while an operation on the
    /// account or one of its children runs.
    pub request_conflict: bool,
    /// 409 AnotherOperationInProgress for subnet/VNet writes while another runs in the VNet.
    pub another_operation_in_progress: bool,
    /// Private endpoints on accounts that are not Succeeded fail (AccountProvisioningStateInvalid).
    pub account_state_check: bool,
    /// HTTP status for AccountProvisioningStateInvalid (unverified; 409 by default).
    pub account_state_status: u16,
    /// Re-creating a soft-deleted account name without `restore: true`: status and code.
    pub restore_required_status: u16,
    pub restore_required_code: String,
    /// PUT of an existing account without `customSubDomainName` (when it has one) fails with
    /// CustomDomainInUse instead of keeping the existing value (unverified either way).
    pub subdomain_must_be_repeated: bool,
    /// Role assignments with `principalType: ServicePrincipal` skip the directory lookup (so are
    /// not refused with PrincipalNotFound), as Microsoft documents.
    pub principal_type_skips_lookup: bool,
}

impl Default for ConflictConfig {
    fn default() -> Self {
        ConflictConfig {
            request_conflict: true,
            another_operation_in_progress: true,
            account_state_check: true,
            account_state_status: 409,
            restore_required_status: 409,
            restore_required_code: "FlagMustBeSetForRestore".into(),
            subdomain_must_be_repeated: false,
            principal_type_skips_lookup: true,
        }
    }
}

/// All options of the emulator.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where to listen; `None` = 127.0.0.1 on a free port.
    pub listen: Option<SocketAddr>,
    /// Persist state here (JSON, written atomically after each change) and load it at start.
    pub state_file: Option<PathBuf>,
    /// Ignore an existing state file at start.
    pub reset_state: bool,
    /// Append one JSON line per request here.
    pub request_log_file: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
    pub lro: LroConfig,
    pub throttle: ThrottleConfig,
    pub faults: FaultConfig,
    pub conflicts: ConflictConfig,
    /// `None`: every well-formed subscription id exists. `Some(list)`: only these.
    pub subscriptions: Option<Vec<String>>,
    pub tenant_id: String,
    /// Accept any api-version (otherwise: the published stable versions per provider).
    pub accept_any_api_version: bool,
    /// Additional api-versions accepted for every provider.
    pub extra_api_versions: Vec<String>,
    /// Principals (object ids) the directory does not know yet, and for how long from start.
    pub new_principals: Vec<(String, Duration)>,
    /// Microsoft.Insights returns diagnostic setting ids lower-cased.
    pub insights_lowercase_ids: bool,
    /// Page size for lists (`nextLink` with `$skipToken`); `None` = one page.
    pub page_size: Option<usize>,
    /// How long soft-deleted accounts are kept before the scheduled purge date.
    pub soft_delete_retention: Duration,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("state_file", &self.state_file)
            .field("request_log_file", &self.request_log_file)
            .field("clock", &self.clock)
            .field("lro", &self.lro)
            .field("throttle", &self.throttle)
            .field("faults", &self.faults)
            .field("conflicts", &self.conflicts)
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: None,
            state_file: None,
            reset_state: false,
            request_log_file: None,
            clock: Arc::new(SystemClock),
            lro: LroConfig::default(),
            throttle: ThrottleConfig::default(),
            faults: FaultConfig::default(),
            conflicts: ConflictConfig::default(),
            subscriptions: None,
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            accept_any_api_version: false,
            extra_api_versions: Vec::new(),
            new_principals: Vec::new(),
            insights_lowercase_ids: true,
            page_size: None,
            soft_delete_retention: Duration::from_secs(48 * 3600),
        }
    }
}

impl EmulatorConfig {
    /// Durations close to Azure's (private endpoint ~60 s, DNS zone ~30 s, VNet link ~30 s,
    /// account ~10 s, others a few seconds) multiplied by `scale` (e.g. 0.01); Retry-After is
    /// scaled the same way and sent as `retry-after-ms` as well as integer-second `Retry-After`.
    pub fn azure_like(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        let s = |secs: f64| Duration::from_secs_f64(secs * scale);
        let mut durations = BTreeMap::new();
        for (t, secs) in [
            ("Microsoft.Network/privateEndpoints", 60.0),
            ("Microsoft.Network/privateDnsZones", 30.0),
            (
                "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                30.0,
            ),
            ("Microsoft.CognitiveServices/accounts", 10.0),
            ("Microsoft.CognitiveServices/accounts/deployments", 5.0),
            (
                "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
                5.0,
            ),
            ("Microsoft.OperationalInsights/workspaces", 5.0),
        ] {
            durations.insert(t.to_string(), s(secs));
        }
        EmulatorConfig {
            lro: LroConfig {
                enabled: true,
                default_duration: s(3.0),
                durations,
                retry_after: s(10.0),
                styles: BTreeMap::new(),
            },
            ..EmulatorConfig::default()
        }
    }

    /// Duration of an operation on a resource of canonical type `full_type`.
    pub fn lro_duration(&self, full_type: &str) -> Duration {
        self.lro
            .durations
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(full_type))
            .map(|(_, d)| *d)
            .unwrap_or(self.lro.default_duration)
    }

    pub fn style_override(&self, method: &str, full_type: &str) -> Option<LroStyle> {
        let key = format!("{method} {full_type}");
        self.lro
            .styles
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, s)| *s)
    }
}
