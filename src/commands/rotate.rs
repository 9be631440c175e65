//! `moat rotate`: the key swap of every selected instance with `keyRotation`, one after the
//! other (each instance's steps are ordered; instances are few).

use crate::arm::vault::VaultOptions;
use crate::cli::{ConnectArgs, RotateArgs, Selectors};
use crate::sanitize::clean_output;

use super::{load_blueprint, select, MoatError, Output};

pub async fn run(args: RotateArgs, out: Output) -> Result<i32, MoatError> {
    let bp = load_blueprint(&args.file)?;
    let sel = Selectors {
        instances: args.instances.clone(),
        subscriptions: Vec::new(),
    };
    let bp = select(bp, &sel)?;
    let with: Vec<_> = bp
        .instances
        .iter()
        .filter_map(|i| i.key_rotation.as_ref().map(|k| (i, k)))
        .collect();
    if with.is_empty() {
        if !args.instances.is_empty() {
            return Err(MoatError::Usage(
                "none of the selected instances has `keyRotation`; nothing to rotate".into(),
            ));
        }
        println!(
            "No instance of {} has `keyRotation`; nothing to rotate.",
            bp.source.display()
        );
        return Ok(0);
    }
    let conn = super::connect::connect(&args.connect, out).await?;
    let settings = VaultSettings::new(&conn, args.vault_endpoint.as_deref(), &args.connect);
    let opts = crate::rotate::Options {
        force: args.force,
        vault: settings.options(),
    };
    let mut failed = Vec::new();
    for (inst, kr) in with {
        match crate::rotate::rotate(conn.api.as_ref(), inst, kr, &opts).await {
            Ok(o) => println!("{}", clean_output(&format!("{}: {}", o.instance, o.done))),
            Err(e) => {
                eprintln!("{}", clean_output(&format!("error: {}: {e}", inst.name)));
                failed.push(inst.name.clone());
            }
        }
    }
    conn.finish().await;
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(MoatError::Rotate(failed.join(", ")))
    }
}

/// Where Key Vault data planes are and with which token, owned (`moat rotate` and `moat plan`).
pub(crate) struct VaultSettings {
    cloud: crate::arm::Cloud,
    endpoint_override: Option<String>,
    static_token: Option<String>,
    vault_token: Option<String>,
}

impl VaultSettings {
    pub(crate) fn new(
        conn: &super::connect::Connection,
        vault_endpoint: Option<&str>,
        connect: &ConnectArgs,
    ) -> Self {
        let static_token = std::env::var("MOAT_ACCESS_TOKEN").ok();
        let (endpoint_override, static_token) = match (vault_endpoint, conn.vault_endpoint()) {
            (Some(e), _) => (Some(e.to_string()), static_token),
            // The embedded emulator serves the vaults it holds on its own origin.
            (None, Some((e, t))) => (Some(e), Some(t)),
            (None, None) => (None, static_token),
        };
        VaultSettings {
            cloud: connect.cloud,
            endpoint_override,
            static_token,
            vault_token: std::env::var("MOAT_VAULT_ACCESS_TOKEN").ok(),
        }
    }

    pub(crate) fn options(&self) -> VaultOptions<'_> {
        VaultOptions {
            cloud: self.cloud,
            endpoint_override: self.endpoint_override.as_deref(),
            static_token: self.static_token.as_deref(),
            vault_token: self.vault_token.as_deref(),
        }
    }
}
