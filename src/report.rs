//! `error:` / `Caused by:` / `hint:` rendering of an error chain.

use crate::arm::ArmError;

pub fn render_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("error: {err}");
    let mut hint = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut first = true;
    while let Some(e) = cur {
        if !first {
            out.push_str(&format!("\n  Caused by: {e}"));
        }
        first = false;
        if let Some(a) = e.downcast_ref::<ArmError>() {
            if hint.is_none() {
                hint = a.hint();
            }
        }
        cur = e.source();
    }
    if let Some(h) = hint {
        out.push_str(&format!("\nhint: {h}"));
    }
    out
}
