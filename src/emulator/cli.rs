//! `moat emulator`: run the emulator as a server until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::config::EmulatorConfig;
use super::config::{FailOutcome, FailRule};
use super::handle::{load_seed_file, EmulatorHandle};

/// What `moat emulator` does besides serving.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum EmulatorAction {
    /// Print a brownfield seed for a blueprint (JSON array of ARM bodies): its accounts as teams
    /// leave them (public, keys on) and what `existing:` names, for `--emulator --seed FILE`.
    Seed {
        /// The blueprint.
        file: PathBuf,
        /// Write the seed here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EmulatorArgs {
    #[command(subcommand)]
    pub action: Option<EmulatorAction>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    pub listen: SocketAddr,
    /// Persist state to this JSON file (loaded at start, written after each change).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Ignore an existing state file and start empty (plus the seed).
    #[arg(long)]
    pub reset: bool,
    /// Load this JSON array of ARM resources at start (applied on top of the state).
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Append one JSON line per request (time, method, path, api-version, status, duration).
    #[arg(long)]
    pub request_log: Option<PathBuf>,
    /// Operation durations and Retry-After close to Azure's, multiplied by this factor
    /// (e.g. 0.01). Without it, operations take about 30 ms.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Complete every write in its first response (no long-running operations).
    #[arg(long)]
    pub sync: bool,
    /// Turn ARM's request throttling off.
    #[arg(long)]
    pub no_throttle: bool,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction (0..1) of requests answered with a random 500/503.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Fraction (0..1) of requests whose connection is reset.
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Seed for the random faults.
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// Make matching operations fail: `METHOD:SUBSTRING[:CODE]` (METHOD may be `*`).
    #[arg(long = "fail-operation")]
    pub fail_operation: Vec<String>,
    /// Make matching operations end Canceled: `METHOD:SUBSTRING[:CODE]`.
    #[arg(long = "cancel-operation")]
    pub cancel_operation: Vec<String>,
    /// Only these subscriptions exist (default: every well-formed id).
    #[arg(long = "subscription")]
    pub subscriptions: Vec<String>,
    /// Accept any api-version.
    #[arg(long)]
    pub any_api_version: bool,
    /// Principal object id unknown to the directory for N seconds: `ID:SECONDS`.
    #[arg(long = "new-principal")]
    pub new_principals: Vec<String>,
    /// Page size of list responses (nextLink paging); default one page.
    #[arg(long)]
    pub page_size: Option<usize>,
}

fn rule(spec: &str, outcome: FailOutcome) -> Result<FailRule, String> {
    let mut parts = spec.splitn(3, ':');
    let method = parts
        .next()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| format!("bad rule '{spec}'"))?;
    let path = parts
        .next()
        .ok_or_else(|| format!("bad rule '{spec}': expected METHOD:SUBSTRING[:CODE]"))?;
    let code = parts
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| match outcome {
            FailOutcome::Failed => "InternalServerError".into(),
            FailOutcome::Canceled => "CanceledAndSupersededDueToAnotherOperation".into(),
        });
    Ok(FailRule {
        method: (method != "*").then(|| method.to_string()),
        path_contains: path.to_string(),
        outcome,
        message: format!("Operation forced to end {outcome:?} by the emulator ({spec})."),
        code,
        times: None,
    })
}

impl EmulatorArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<EmulatorConfig, String> {
        let mut cfg = match self.time_scale {
            Some(s) => EmulatorConfig::azure_like(s),
            None => EmulatorConfig::default(),
        };
        cfg.listen = Some(self.listen);
        cfg.state_file = self.state.clone();
        cfg.reset_state = self.reset;
        cfg.request_log_file = self.request_log.clone();
        cfg.lro.enabled = !self.sync;
        cfg.throttle.enabled = !self.no_throttle;
        cfg.faults.latency = Duration::from_millis(self.latency_ms);
        cfg.faults.error_rate = self.error_rate.clamp(0.0, 1.0);
        cfg.faults.reset_rate = self.reset_rate.clamp(0.0, 1.0);
        cfg.faults.seed = self.fault_seed;
        for s in &self.fail_operation {
            cfg.faults
                .fail_operations
                .push(rule(s, FailOutcome::Failed)?);
        }
        for s in &self.cancel_operation {
            cfg.faults
                .fail_operations
                .push(rule(s, FailOutcome::Canceled)?);
        }
        if !self.subscriptions.is_empty() {
            cfg.subscriptions = Some(self.subscriptions.clone());
        }
        cfg.accept_any_api_version = self.any_api_version;
        for p in &self.new_principals {
            let (id, secs) = p
                .rsplit_once(':')
                .ok_or_else(|| format!("bad --new-principal '{p}': expected ID:SECONDS"))?;
            let secs: f64 = secs
                .parse()
                .map_err(|_| format!("bad seconds in --new-principal '{p}'"))?;
            cfg.new_principals
                .push((id.to_string(), Duration::from_secs_f64(secs.max(0.0))));
        }
        cfg.page_size = self.page_size;
        Ok(cfg)
    }
}

/// Serve until Ctrl-C.
pub async fn run(args: EmulatorArgs) -> Result<(), String> {
    let cfg = args.config()?;
    let seed = args.seed.as_ref().map(load_seed_file).transpose()?;
    let handle = EmulatorHandle::start(cfg)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    if let Some(seed) = seed {
        handle.seed(&seed)?;
    }
    eprintln!("moat ARM emulator listening on {}", handle.base_url());
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fail_rules() {
        let r = rule("PUT:privateEndpoints/pe1", FailOutcome::Failed).unwrap();
        assert_eq!(r.method.as_deref(), Some("PUT"));
        assert_eq!(r.path_contains, "privateEndpoints/pe1");
        assert_eq!(r.code, "InternalServerError");
        let r = rule("*:subnets:Boom", FailOutcome::Canceled).unwrap();
        assert_eq!(r.method, None);
        assert_eq!(r.code, "Boom");
        assert!(rule("PUT", FailOutcome::Failed).is_err());
    }
}
