//! Turn `--cloud` / `--arm-endpoint` / `--emulator` / `MOAT_ACCESS_TOKEN` into an `ArmApi`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::apply::GateOptions;
use crate::arm::{ArmApi, ConnectOptions, LroOptions};
use crate::cli::ConnectArgs;
use crate::emulator::{EmulatorConfig, EmulatorHandle};

use super::{MoatError, Output};

/// Where `--emulator` keeps its state, relative to the current directory.
pub const EMULATOR_DIR: &str = ".moat";
pub const EMULATOR_STATE: &str = "emulator-state.json";
/// The brownfield starting point of the quickstart (also `moat emulator --seed`).
pub const QUICKSTART_SEED_PATH: &str = "examples/quickstart-seed.json";
const QUICKSTART_SEED: &str = include_str!("../../examples/quickstart-seed.json");

/// The bearer token moat sends to its embedded emulator.
const EMBEDDED_TOKEN: &str = "moat-embedded-emulator";

/// A live connection; `finish` stops the embedded emulator when there is one.
pub struct Connection {
    pub api: Arc<dyn ArmApi>,
    pub gate_options: GateOptions,
    emulator: Option<EmulatorHandle>,
}

impl Connection {
    /// With `--emulator`: the embedded emulator's origin and token, which also serve the Key
    /// Vault data planes of the vaults it holds (`moat rotate`).
    pub fn vault_endpoint(&self) -> Option<(String, String)> {
        self.emulator
            .as_ref()
            .map(|h| (h.base_url(), EMBEDDED_TOKEN.to_string()))
    }

    pub async fn finish(self) {
        if let Some(e) = self.emulator {
            e.shutdown().await;
        }
    }
}

pub fn emulator_state_path() -> PathBuf {
    PathBuf::from(EMULATOR_DIR).join(EMULATOR_STATE)
}

/// The state file of `--emulator --seed FILE`: one per seed file (named after its stem and a
/// digest of its absolute path), so trying two blueprints never mixes their states.
pub fn seeded_state_path(seed: &Path) -> PathBuf {
    use sha2::Digest;
    let absolute = std::path::absolute(seed).unwrap_or_else(|_| seed.to_path_buf());
    let digest = hex::encode(&sha2::Sha256::digest(absolute.as_os_str().as_encoded_bytes())[..4]);
    let stem: String = seed
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    PathBuf::from(EMULATOR_DIR).join(format!("emulator-state-{stem}-{digest}.json"))
}

/// Every state file `--emulator` may have written under `.moat/` (the quickstart's and one per
/// `--seed`), for `moat emulator --reset`.
pub fn emulator_state_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(EMULATOR_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("emulator-state") && n.ends_with(".json"))
        })
        .collect();
    out.sort();
    out
}

/// Start the embedded emulator on loopback with its state under `.moat/`, seeding it the first
/// time with `seed` (`--seed FILE`), else with the quickstart's brownfield state.
pub async fn start_embedded_emulator(seed: Option<&Path>) -> Result<EmulatorHandle, MoatError> {
    let state = seed.map_or_else(emulator_state_path, seeded_state_path);
    std::fs::create_dir_all(EMULATOR_DIR).map_err(|source| MoatError::Io {
        what: "could not create",
        path: EMULATOR_DIR.into(),
        source,
    })?;
    let first_use = !state.exists();
    let config = EmulatorConfig {
        state_file: Some(state.clone()),
        ..EmulatorConfig::default()
    };
    let handle = EmulatorHandle::start(config)
        .await
        .map_err(|e| MoatError::Emulator(format!("could not start the embedded emulator: {e}")))?;
    if let (true, Some(path)) = (first_use, seed) {
        let resources = crate::emulator::load_seed_file(path).map_err(MoatError::Emulator)?;
        handle.seed(&resources).map_err(MoatError::Emulator)?;
        eprintln!(
            "Started the embedded ARM emulator from {} ({}; `moat emulator --reset` or deleting {EMULATOR_DIR}/ starts over).",
            crate::sanitize::clean(&path.display().to_string()),
            state.display()
        );
    } else if first_use {
        // Prefer the file on disk (so an edited seed is used), else the copy built into moat.
        let seed: Vec<serde_json::Value> = match std::fs::read_to_string(QUICKSTART_SEED_PATH) {
            Ok(text) => serde_json::from_str(&text),
            Err(_) => serde_json::from_str(QUICKSTART_SEED),
        }
        .map_err(|e| {
            MoatError::Emulator(format!(
                "{QUICKSTART_SEED_PATH} is not a JSON list of resources: {e}"
            ))
        })?;
        handle.seed(&seed).map_err(MoatError::Emulator)?;
        eprintln!(
            "Started the embedded ARM emulator with the quickstart's brownfield state ({}; `moat emulator --reset` or deleting {EMULATOR_DIR}/ starts over).",
            state.display()
        );
    }
    Ok(handle)
}

pub async fn connect(args: &ConnectArgs, _out: Output) -> Result<Connection, MoatError> {
    let mut opts = ConnectOptions {
        cloud: args.cloud,
        arm_endpoint: args.arm_endpoint.clone(),
        allow_custom_endpoint: args.allow_custom_endpoint,
        access_token: std::env::var("MOAT_ACCESS_TOKEN").ok(),
        parallelism: args.parallelism,
        ..ConnectOptions::default()
    };
    let mut gate_options = GateOptions::default();
    let mut emulator = None;
    if args.emulator {
        let handle = start_embedded_emulator(args.seed.as_deref()).await?;
        opts.arm_endpoint = Some(handle.base_url());
        opts.access_token = Some(EMBEDDED_TOKEN.into());
        // The emulator's operations take milliseconds; poll at the pace it asks for.
        opts.lro = LroOptions {
            default_interval: Duration::from_millis(20),
            min_interval: Duration::from_millis(5),
            ..LroOptions::default()
        };
        gate_options = GateOptions {
            budget: Duration::from_secs(60),
            interval: Duration::from_millis(20),
        };
        emulator = Some(handle);
    }
    let api = crate::arm::connect(&opts)?;
    Ok(Connection {
        api,
        gate_options,
        emulator,
    })
}
