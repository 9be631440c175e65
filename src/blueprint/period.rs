//! Periods in a blueprint (`90d`, `24h`): a leaf the format checks and `keyRotation` share.

pub const PERIOD_HINT: &str = "a whole number of days or hours, e.g. `90d` or `24h`";
pub const PERIOD_PATTERN: &str = "^[1-9][0-9]{0,5}[dh]$";

pub const HOUR: u64 = 3600;
pub const DAY: u64 = 24 * HOUR;

/// `90d` / `24h` in seconds; `None` for anything else (no zero, no sign, at most six digits).
pub fn parse_period(s: &str) -> Option<u64> {
    let (digits, unit) = match (s.strip_suffix('d'), s.strip_suffix('h')) {
        (Some(d), _) => (d, DAY),
        (_, Some(h)) => (h, HOUR),
        _ => return None,
    };
    if digits.is_empty() || digits.len() > 6 || digits.starts_with('0') {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().map(|n| n * unit)
}

/// A period in the blueprint's own words (`90d`, `36h`).
pub fn show_period(secs: u64) -> String {
    if secs.is_multiple_of(DAY) {
        format!("{}d", secs / DAY)
    } else {
        format!("{}h", secs / HOUR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_period("90d"), Some(90 * DAY));
        assert_eq!(parse_period("24h"), Some(DAY));
        for bad in [
            "", "d", "0d", "07d", "-1d", "1w", "1.5d", "1234567d", "90 d", "९d", "1९",
        ] {
            assert_eq!(parse_period(bad), None, "{bad:?}");
        }
        assert_eq!(show_period(36 * HOUR), "36h");
        assert_eq!(show_period(90 * DAY), "90d");
    }
}
