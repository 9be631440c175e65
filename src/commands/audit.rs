//! `moat audit`: the I/O around `crate::audit::run` (read-only; the logic is in `src/audit/`).

use crate::audit::{self, Severity};
use crate::cli::{AuditArgs, AuditFormat, FailOn};

use super::{load_blueprint, MoatError, Output};

/// Exit code when an unwaived finding is at or above `--fail-on` (2 is plan's "changes").
pub const EXIT_FINDINGS: i32 = 3;

pub async fn run(args: AuditArgs, out: Output) -> Result<i32, MoatError> {
    let bp = args.file.as_deref().map(load_blueprint).transpose()?;
    let scopes = audit::run::scopes_for(&args.subscriptions, &args.resource_groups, bp.as_ref())
        .map_err(audit_error)?;
    let conn = super::connect::connect(&args.connect, out).await?;
    let progress = super::reads_progress::ReadsProgress::start(conn.api.clone(), "audit", out);
    let vault =
        super::rotate::VaultSettings::new(&conn, args.vault_endpoint.as_deref(), &args.connect);
    let result = audit::run::audit_with(
        conn.api.clone(),
        &scopes,
        bp.as_ref(),
        Some(&vault.options()),
    )
    .await;
    if let Some(p) = progress {
        p.finish().await;
    }
    conn.finish().await;
    let report = result.map_err(audit_error)?;
    let fail_on = severity(args.fail_on);
    let text = match args.format {
        AuditFormat::Table => audit::render::table(&report.findings),
        AuditFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&audit::render::json(&report.findings, fail_on))
                .unwrap_or_default()
        ),
        AuditFormat::Sarif => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let source = args.file.as_deref().map(|f| audit::locate::source(f, &cwd));
            format!(
                "{}\n",
                serde_json::to_string_pretty(&audit::sarif::sarif(
                    &report.findings,
                    source.as_ref()
                ))
                .unwrap_or_default()
            )
        }
        AuditFormat::Junit => audit::junit::junit(&report),
        AuditFormat::Markdown => audit::render::markdown(&report.findings, fail_on),
    };
    super::output::print_stdout(&crate::sanitize::clean_output(&text));
    for a in &report.stale_acknowledgements {
        eprintln!(
            "{}",
            crate::sanitize::clean_output(&format!(
                "warning: {}: the acknowledgement of {} on {} waives no finding\n  hint: the finding is gone (or the id is wrong): delete the entry",
                a.at, a.rule, a.resource
            ))
        );
    }
    eprintln!("{}", audit::render::scanned(&report));
    Ok(if audit::fails(&report.findings, fail_on) {
        EXIT_FINDINGS
    } else {
        0
    })
}

fn severity(f: FailOn) -> Severity {
    match f {
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
    }
}

pub(super) fn audit_error(e: audit::run::AuditError) -> MoatError {
    match e {
        audit::run::AuditError::Usage(m) => MoatError::Usage(m),
        audit::run::AuditError::Arm(e) => MoatError::Arm(e),
        audit::run::AuditError::Observe(e) => MoatError::Observe(e),
    }
}
