//! The running emulator: start (bind, install the providers, load state), the handle tests and
//! `moat emulator` hold, seeding, and the in-process views of the emulated world.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use super::config::{EmulatorConfig, FaultConfig};
use super::cx::Cx;
use super::error::ApiError;
use super::ids::{self, Route};
use super::server::{self, RequestLogEntry, Shared};
use super::spec::Cond;
use super::store::State;
use super::{engine, provider, providers, throttle};

/// The emulator as a value (for callers that prefer `Emulator::start`).
pub struct Emulator;

impl Emulator {
    pub async fn start(config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
        EmulatorHandle::start(config).await
    }
}

/// A running emulator.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl EmulatorHandle {
    /// Start on 127.0.0.1:0 (or `config.listen`) in the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
        provider::install(providers::all());
        let addr = config.listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        let mut state = match &config.state_file {
            Some(p) if p.exists() && !config.reset_state => {
                State::load(p).map_err(std::io::Error::other)?
            }
            _ => State::default(),
        };
        let now = config.clock.now();
        for (p, d) in &config.new_principals {
            state
                .new_principals
                .insert(p.to_ascii_lowercase(), (now + *d).as_nanos() as u64);
        }
        let rng = match config.faults.seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let base_url = format!("http://{local}");
        let shared = Arc::new(Shared {
            faults: Mutex::new(config.faults.clone()),
            cfg: config,
            state: Mutex::new(state),
            rng: Mutex::new(rng),
            throttle: Mutex::new(throttle::Throttle::default()),
            log: Mutex::new(Vec::new()),
            base: OnceLock::new(),
        });
        let _ = shared.base.set(base_url.clone());
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("emulator server stopped: {e}");
            }
        });
        Ok(EmulatorHandle {
            shared,
            base_url,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Load ARM resource bodies (same format as `--seed`), filling in server-added fields.
    pub fn seed(&self, resources: &[Value]) -> Result<(), String> {
        seed_shared(&self.shared, resources)
    }

    /// Every request so far, in order of arrival.
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.shared.log.lock().expect("log lock").clone()
    }

    pub fn clear_request_log(&self) {
        self.shared.log.lock().expect("log lock").clear();
    }

    /// The body GET would return now (case-insensitive id).
    pub fn resource(&self, id: &str) -> Option<Value> {
        self.with_cx(|cx| {
            let key = id.to_ascii_lowercase();
            cx.st
                .exists(&key)
                .then(|| provider::render(cx.st, cx.cfg, &key))
        })
    }

    /// An account's two API keys as listKeys would answer (tests: the sentinel values moat must
    /// never show), `None` before the account has keys.
    pub fn account_keys(&self, account_id: &str) -> Option<[String; 2]> {
        self.with_cx(|cx| cx.st.keys.get(&account_id.to_ascii_lowercase()).cloned())
    }

    /// The versions of a Key Vault secret (`{vault host}/{name}`), oldest first, values included.
    pub fn secret_versions(&self, vault_host: &str, name: &str) -> Vec<Value> {
        let key = format!("{vault_host}/{name}").to_ascii_lowercase();
        self.with_cx(|cx| cx.st.secrets.get(&key).cloned().unwrap_or_default())
    }

    /// Every stored resource, rendered.
    pub fn resources(&self) -> Vec<Value> {
        self.with_cx(|cx| {
            let keys: Vec<String> = cx.st.resources.keys().cloned().collect();
            keys.iter()
                .map(|k| provider::render(cx.st, cx.cfg, k))
                .collect()
        })
    }

    /// Soft-deleted accounts (as `deletedAccounts` GET shows them).
    pub fn deleted_accounts(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .expect("state lock")
            .deleted
            .keys()
            .cloned()
            .collect()
    }

    /// Change the injected faults at runtime.
    pub fn set_fault(&self, f: FaultConfig) {
        if let Some(s) = f.seed {
            *self.shared.rng.lock().expect("rng lock") = fastrand::Rng::with_seed(s);
        }
        *self.shared.faults.lock().expect("faults lock") = f;
    }

    /// The directory does not know `principal_id` for `for_how_long` (PrincipalNotFound).
    pub fn mark_principal_new(&self, principal_id: &str, for_how_long: Duration) {
        let until = self.shared.cfg.clock.now() + for_how_long;
        self.shared
            .state
            .lock()
            .expect("state lock")
            .new_principals
            .insert(principal_id.to_ascii_lowercase(), until.as_nanos() as u64);
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    fn with_cx<T>(&self, f: impl FnOnce(&mut Cx) -> T) -> T {
        let now = self.shared.cfg.clock.now();
        self.shared.locked(now, "emulator", "", None, f)
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Seeding order: things referenced before things referencing them.
fn seed_rank(v: &Value) -> (u8, usize) {
    let id = v["id"].as_str().unwrap_or_default();
    let depth = id.matches('/').count();
    let rank = match ids::parse(id) {
        Route::ResourceGroup { .. } => 0,
        Route::Provider(r) => r.ty.map_or(1, |t| t.seed_rank),
        _ => 12,
    };
    (rank, depth)
}

fn seed_shared(shared: &Shared, resources: &[Value]) -> Result<(), String> {
    let mut sorted: Vec<&Value> = resources.iter().collect();
    sorted.sort_by_key(|v| seed_rank(v));
    // Seeds complete at once, whatever the LRO settings.
    let mut cfg = shared.cfg.clone();
    cfg.lro.enabled = false;
    let mut st = shared.state.lock().expect("state lock");
    let mut faults = FaultConfig::default();
    let mut cx = Cx {
        st: &mut st,
        cfg: &cfg,
        faults: &mut faults,
        now: cfg.clock.now(),
        base: shared.base(),
        principal: "seed",
        api_version: "seed",
    };
    let mut result = Ok(());
    for v in sorted {
        if let Err(e) = seed_one(&mut cx, v) {
            result = Err(e);
            break;
        }
    }
    shared.persist(&mut st);
    result
}

/// A seed entry with a `deletedAccounts` id (`/subscriptions/{s}/providers/
/// Microsoft.CognitiveServices/locations/{loc}/resourceGroups/{rg}/deletedAccounts/{name}`, as
/// Microsoft's GetDeletedAccount example names one): a soft-deleted account, deleted now and
/// purged after the configured retention, with nothing under it. `None` for other ids.
fn seed_deleted_account(cx: &mut Cx, id: &str, v: &Value) -> Option<Result<(), String>> {
    let segs: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    let shape = [
        "subscriptions",
        "",
        "providers",
        "Microsoft.CognitiveServices",
        "locations",
        "",
        "resourceGroups",
        "",
        "deletedAccounts",
        "",
    ];
    let matches = segs.len() == shape.len()
        && segs.iter().zip(shape).all(|(s, want)| {
            if want.is_empty() {
                !s.is_empty()
            } else {
                s.eq_ignore_ascii_case(want)
            }
        });
    if !matches {
        return None;
    }
    let (sub, loc, rg, name) = (segs[1], segs[5], segs[7], segs[9]);
    let mut account = v.clone();
    account["id"] = serde_json::json!(format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}"
    ));
    account["name"] = serde_json::json!(name);
    account["type"] = serde_json::json!("Microsoft.CognitiveServices/accounts");
    if account["location"].as_str().is_none() {
        account["location"] = serde_json::json!(loc);
    }
    let now = cx.now_ns();
    cx.st.deleted.insert(
        id.to_ascii_lowercase(),
        crate::emulator::store::DeletedAccount {
            account,
            children: Vec::new(),
            location: loc.to_string(),
            deleted_at_ns: now,
            purge_at_ns: now + cx.cfg.soft_delete_retention.as_nanos() as u64,
        },
    );
    cx.st.dirty = true;
    Some(Ok(()))
}

/// Resource groups and registered types are written as by a caller (PUT, unless the provider
/// seeds otherwise); resources of types the emulator does not model are stored as given.
fn seed_one(cx: &mut Cx, v: &Value) -> Result<(), String> {
    let id = v["id"]
        .as_str()
        .ok_or_else(|| format!("seed entry without an id: {v}"))?;
    if let Some(deleted) = seed_deleted_account(cx, id, v) {
        return deleted;
    }
    if let Some(event) = crate::emulator::providers::activity_log::seed_event(cx, id, v) {
        return event;
    }
    let fail = |e: ApiError| format!("seeding {id}: {} {}: {}", e.status, e.code, e.message);
    let route = ids::parse(id);
    let mut r = match route {
        Route::Provider(r) if r.is_instance() => r,
        Route::ResourceGroup { .. } => {
            let body = v.clone();
            let req = provider::Request {
                method: "PUT",
                path: id,
                route: &route,
                query: &[],
                body: &body,
                cond: &Cond::default(),
            };
            let reply = provider::all().iter().find_map(|p| p.serve(cx, &req));
            return match reply {
                Some(r) => r.map(|_| ()).map_err(fail),
                None => Err(format!("seed entry {id} is not a resource id")),
            };
        }
        _ => return Err(format!("seed entry {id} is not a resource id")),
    };
    let Some(p) = r.ty.and_then(provider::of_type) else {
        let mut body = v.clone();
        body["id"] = Value::String(r.display());
        body["name"] = Value::String(r.name().to_string());
        body["type"] = Value::String(r.full_type.clone());
        cx.st.insert(body);
        return Ok(());
    };
    if let Some(done) = p.seed(cx, &r, v) {
        return done.map_err(fail);
    }
    if r.ty.is_some_and(|t| t.lowercase_name) {
        if let Some(n) = r.names.last_mut() {
            *n = n.to_ascii_lowercase();
        }
    }
    engine::put(cx, &r, v.clone(), &Cond::default())
        .map(|_| ())
        .map_err(fail)
}

/// Read a seed file: a JSON array of ARM resource bodies, each with its full `id`.
/// Largest seed file the emulator reads: 64 MiB (a 500-account benchmark seed is a few MiB);
/// like blueprints, it must be a regular file (no device, FIFO or directory).
pub const MAX_SEED_BYTES: u64 = 64 * 1024 * 1024;

pub fn load_seed_file(path: impl AsRef<Path>) -> Result<Vec<Value>, String> {
    let path = path.as_ref();
    let text = crate::blueprint::source::read_bounded(path, MAX_SEED_BYTES)
        .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("seed file {} is not valid JSON: {e}", path.display()))?;
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.get("id").and_then(Value::as_str).is_none() {
                    return Err(format!(
                        "seed file {}: entry {i} has no \"id\"",
                        path.display()
                    ));
                }
            }
            Ok(items)
        }
        _ => Err(format!(
            "seed file {} must hold a JSON array of resources",
            path.display()
        )),
    }
}
