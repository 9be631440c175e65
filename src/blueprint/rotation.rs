//! `keyRotation` (issue 20): the periods and the rule that rotation is only allowed where keys
//! are: `controls.localAuth.disabled: false`, which itself needs a `local-auth` exception.

use super::context::{at, text, val, Ctx};
use super::resolved::{Instance, KeyRotation};
use super::schema::{INSTANCE, KEY_ROTATION};
use super::yaml::Node;

use super::period::{parse_period, show_period, DAY, HOUR};

/// Bounds on `every` and `overlap` (seconds).
const MIN_EVERY: u64 = DAY;
const MAX_EVERY: u64 = 3650 * DAY;
const MIN_OVERLAP: u64 = HOUR;

pub fn resolve(ctx: &mut Ctx, inst: &mut Instance, m: &Node) {
    let Some(node) = val(m, &INSTANCE, "keyRotation") else {
        return;
    };
    let keys_on = inst
        .controls
        .local_auth
        .as_ref()
        .is_some_and(|c| !c.spec.disabled);
    if !keys_on {
        ctx.error(
            &at(m, "keyRotation"),
            format!(
                "instance `{}` rotates API keys (`keyRotation`), but its keys are not kept on",
                ctx.instance
            ),
            Some("rotation is only for instances that must keep keys: set `controls: {localAuth: {disabled: false}}` with `exceptions: [{allows: local-auth, reason: \"...\"}]`, or remove `keyRotation` (key auth off is the goal)".into()),
        );
        return;
    }
    let (Some(vault), Some(secret)) = (
        text(node, &KEY_ROTATION, "vault"),
        text(node, &KEY_ROTATION, "secret"),
    ) else {
        return; // reported as missing required fields
    };
    let period = |key: &str, default: u64| {
        text(node, &KEY_ROTATION, key)
            .and_then(|s| parse_period(&s))
            .unwrap_or(default)
    };
    let every = period("every", 90 * DAY);
    let overlap = period("overlap", DAY);
    if !(MIN_EVERY..=MAX_EVERY).contains(&every) {
        ctx.error(
            &at(node, "every"),
            format!("`every: {}` is out of bounds", show_period(every)),
            Some("rotate at least every 3650 days and at most once a day (`1d` to `3650d`)".into()),
        );
        return;
    }
    if overlap < MIN_OVERLAP || overlap >= every {
        ctx.error(
            &at(node, "overlap"),
            format!(
                "`overlap: {}` must be at least 1h and shorter than `every: {}`",
                show_period(overlap),
                show_period(every)
            ),
            Some("the overlap is how long clients get to pick up the new key before the old one is regenerated; e.g. `every: 90d, overlap: 24h`".into()),
        );
        return;
    }
    inst.key_rotation = Some(KeyRotation {
        vault,
        secret,
        every_secs: every,
        overlap_secs: overlap,
    });
}
