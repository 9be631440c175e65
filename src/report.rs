//! Error rendering for the terminal: `error:` with the top message, an indented `Caused by:` per
//! source, ARM's request and correlation ids when the chain holds an ARM error (what Azure support
//! asks for), and a `hint:` when one is known.
//!
//! Also the tracing setup that `-v` / `-vv` select, so that the log levels are decided in one place.

use std::error::Error;

use crate::arm::ArmError;

/// Render `err` and its `source()` chain:
///
/// ```text
/// error: PUT /subscriptions/…/accounts/a failed after 3 retries in 12.4s: 503 ServerBusy: …
///   Caused by: …
///   ARM request id: …, correlation id: …
/// hint: …
/// ```
///
/// The report is [`clean_output`](crate::sanitize::clean_output)ed: secrets (the bearer token, URL
/// userinfo, JWTs, secret query parameters) redacted and control characters escaped, whatever
/// part of the chain a server or the blueprint supplied.
pub fn render_error(err: &(dyn Error + 'static)) -> String {
    crate::sanitize::clean_output(&render_error_raw(err)).into_owned()
}

fn render_error_raw(err: &(dyn Error + 'static)) -> String {
    let mut out = format!("error: {}\n", indent_continuation(&err.to_string(), "  "));
    let mut shown: Vec<String> = vec![err.to_string()];
    let command = err.downcast_ref::<crate::commands::MoatError>();
    // `MoatError::Arm` is transparent: its own `source()` skips the ARM error it holds.
    let mut arm: Option<&ArmError> = err.downcast_ref::<ArmError>().or(match command {
        Some(crate::commands::MoatError::Arm(a)) => Some(a.as_ref()),
        _ => None,
    });
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        // Wrappers often repeat their source's text; print each message once.
        if !shown.iter().any(|s| s.contains(&text)) {
            out.push_str(&format!(
                "  Caused by: {}\n",
                indent_continuation(&text, "    ")
            ));
            shown.push(text);
        }
        if arm.is_none() {
            arm = e.downcast_ref::<ArmError>();
        }
        cur = e.source();
    }
    if let Some(a) = arm {
        for d in a.details() {
            if d.code.is_empty() && d.message.is_empty() {
                continue;
            }
            let line = format!(
                "{}: {}",
                crate::sanitize::escape_controls(&d.code),
                crate::sanitize::escape_controls(&d.message)
            );
            if !shown.iter().any(|s| s.contains(&line)) {
                out.push_str(&format!(
                    "  Caused by: {}\n",
                    indent_continuation(&line, "    ")
                ));
            }
        }
        match (a.request_id(), a.correlation_id()) {
            (Some(r), Some(c)) => {
                out.push_str(&format!("  ARM request id: {r}, correlation id: {c}\n"))
            }
            (Some(r), None) => out.push_str(&format!("  ARM request id: {r}\n")),
            (None, Some(c)) => out.push_str(&format!("  ARM correlation id: {c}\n")),
            (None, None) => {}
        }
        if let Some(h) = a.hint() {
            out.push_str(&format!("hint: {h}\n"));
        }
    } else if let Some(h) = command.and_then(crate::commands::MoatError::hint) {
        out.push_str(&format!("hint: {h}\n"));
    }
    out
}

/// Multi-line messages stay indented under their first line.
fn indent_continuation(text: &str, indent: &str) -> String {
    text.lines()
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

/// The `tracing` filter for a verbosity (`-v` count): warnings by default, moat's info at `-v`,
/// every ARM exchange (debug) at `-vv`, and the SDK's own debug lines from `-vvv`. `RUST_LOG`
/// overrides, as usual.
pub fn log_filter(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "warn",
        1 => "warn,moat=info",
        2 => "warn,moat=debug",
        _ => "debug,hyper=info,hyper_util=info,rustls=info",
    }
}

/// Install a stderr subscriber for `verbosity`. Safe to call more than once (later calls are
/// no-ops). moat logs no tokens, `Authorization` headers or bodies at any level, and every line
/// passes through [`CleanWriter`](crate::sanitize::CleanWriter) (what a library logs included):
/// secrets redacted, control characters escaped. Hence no ANSI colours in logs: the writer could
/// not tell the formatter's escape sequences from a server's.
pub fn init_logging(verbosity: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(verbosity)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(|| crate::sanitize::CleanWriter(std::io::stderr()))
        .with_target(verbosity >= 2)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::{ArmRequest, ArmResponse, Method};
    use serde_json::json;
    use std::time::Duration;

    #[derive(Debug, thiserror::Error)]
    #[error("applying step `account a`")]
    struct Step(#[source] ArmError);

    #[derive(Debug, thiserror::Error)]
    #[error("apply failed")]
    struct Top(#[source] Step);

    fn forbidden() -> ArmError {
        let mut resp = ArmResponse {
            status: 403,
            body: Some(json!({"error": {"code": "AuthorizationFailed", "message":
                "The client 'c' with object id 'o' does not have authorization to perform action \
                 'Microsoft.Authorization/roleAssignments/write' over scope '/subscriptions/s' or \
                 the scope is invalid."}})),
            ..Default::default()
        };
        resp.headers
            .insert("x-ms-request-id".into(), "req-9".into());
        resp.headers
            .insert("x-ms-correlation-request-id".into(), "corr-7".into());
        ArmError::from_response_after(
            &ArmRequest::new(Method::Put, "/subscriptions/s/ra", "2022-04-01"),
            &resp,
            2,
            Duration::from_millis(1500),
        )
    }

    #[test]
    fn a_command_error_wrapping_an_arm_error_keeps_its_ids_and_hint() {
        let err = crate::commands::MoatError::from(forbidden());
        let out = render_error(&err);
        assert!(out.contains("ARM request id: req-9"), "{out}");
        assert!(out.contains("\nhint: "), "{out}");
    }

    #[test]
    fn a_stale_plan_ends_with_the_plan_again_hint() {
        let err =
            crate::commands::MoatError::StalePlan("  i/a/1: p: saved plan 1 → 2, now 3 → 2".into());
        let out = render_error(&err);
        assert_eq!(
            out.lines().last(),
            Some("hint: run `moat plan` again (with `--out`), review the new plan, and apply that one")
        );
    }

    #[test]
    fn renders_chain_ids_and_hint() {
        let err = Top(Step(forbidden()));
        let out = render_error(&err);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "error: apply failed");
        assert_eq!(lines[1], "  Caused by: applying step `account a`");
        assert!(lines[2].starts_with(
            "  Caused by: PUT /subscriptions/s/ra failed after 2 retries in 1.5s: 403 AuthorizationFailed: "
        ), "{out}");
        assert_eq!(lines[3], "  ARM request id: req-9, correlation id: corr-7");
        assert!(lines[4].starts_with("hint: "), "{out}");
        assert!(lines[4].contains("Microsoft.Authorization/roleAssignments/write"));
        assert!(lines[4].contains("Role Based Access Control Administrator"));
        assert_eq!(lines.len(), 5, "{out}");
    }

    #[test]
    fn top_level_arm_error_and_details() {
        let err = ArmError::OperationFailed {
            method: Method::Put,
            resource: "/subscriptions/s/subnets/x".into(),
            status: "Failed".into(),
            code: "InternalServerError".into(),
            message: "it broke\nsecond line".into(),
            details: vec![crate::arm::error::ErrorDetail {
                code: "Inner".into(),
                message: "why".into(),
            }],
            request_id: Some("r1".into()),
        };
        let out = render_error(&err);
        assert_eq!(
            out,
            "error: PUT /subscriptions/s/subnets/x: operation ended Failed: InternalServerError: \
             it broke\\nsecond line\n  Caused by: Inner: why\n  ARM request id: r1\n",
            "ARM's own line breaks are escaped: only moat's break the report"
        );
    }

    #[test]
    fn server_text_cannot_drive_the_terminal_or_leak_a_token() {
        crate::sanitize::register_secret("report-test-token-31337");
        let err = ArmError::Response {
            method: Method::Get,
            resource: "/subscriptions/s/x".into(),
            status: 400,
            code: "Bad\u{1b}[2J".into(),
            message: "token report-test-token-31337 \u{1b}]0;pwned\u{7}".into(),
            details: vec![crate::arm::error::ErrorDetail {
                code: "In\u{1b}ner".into(),
                message: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abc\r".into(),
            }],
            request_id: None,
            correlation_id: None,
            retries: 0,
            elapsed: Duration::ZERO,
        };
        let out = render_error(&err);
        assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
        assert!(
            !out.contains("report-test-token-31337") && !out.contains("eyJhbGci"),
            "{out}"
        );
        assert!(
            out.contains("Bad\\x1b[2J") && out.contains("In\\x1bner: [redacted]\\r"),
            "{out}"
        );
    }

    #[test]
    fn plain_errors_have_no_hint() {
        let err = std::io::Error::new(std::io::ErrorKind::NotFound, "blueprint.yaml not found");
        assert_eq!(render_error(&err), "error: blueprint.yaml not found\n");
    }

    #[test]
    fn duplicate_source_text_is_printed_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("could not get an access token: {0}")]
        struct Wrap(#[source] std::io::Error);
        let err = Wrap(std::io::Error::other("az not found"));
        assert_eq!(
            render_error(&err),
            "error: could not get an access token: az not found\n"
        );
        let cred = ArmError::Credential(crate::arm::error::CredentialError::single(
            "Azure CLI",
            crate::arm::error::AttemptFailure::Failed("az not found on PATH".into()),
        ));
        let out = render_error(&cred);
        assert!(
            out.contains("hint: moat signs in with the first of"),
            "{out}"
        );
        assert!(out.contains("Azure CLI: az not found on PATH"), "{out}");
    }

    #[test]
    fn log_levels_by_verbosity() {
        assert_eq!(log_filter(0), "warn");
        assert!(log_filter(1).contains("moat=info"));
        assert!(log_filter(2).contains("moat=debug"));
        assert!(log_filter(3).starts_with("debug"));
    }
}
