//! Turn `--cloud` / `--arm-endpoint` / `--emulator` / `MOAT_ACCESS_TOKEN` into an `ArmApi`.

use std::path::PathBuf;
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

/// A live connection; `finish` stops the embedded emulator when there is one.
pub struct Connection {
    pub api: Arc<dyn ArmApi>,
    pub gate_options: GateOptions,
    emulator: Option<EmulatorHandle>,
}

impl Connection {
    pub async fn finish(self) {
        if let Some(e) = self.emulator {
            e.shutdown().await;
        }
    }
}

pub fn emulator_state_path() -> PathBuf {
    PathBuf::from(EMULATOR_DIR).join(EMULATOR_STATE)
}

/// Start the embedded emulator on loopback with its state under `.moat/`, seeding it with the
/// quickstart's brownfield state the first time.
pub async fn start_embedded_emulator() -> Result<EmulatorHandle, MoatError> {
    let state = emulator_state_path();
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
    if first_use {
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
        let handle = start_embedded_emulator().await?;
        opts.arm_endpoint = Some(handle.base_url());
        opts.access_token = Some("moat-embedded-emulator".into());
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
