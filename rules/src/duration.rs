//! Durations as rule files write them: `90s`, `30m`, `12h`, `7d`.

use std::time::Duration;

/// Parses one number and one unit (`s`, `m`, `h`, `d`). `None` for anything
/// else, including zero, which would make every session too old.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(unit_at);
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Renders a duration in the largest unit that divides it (`12h`, `90m`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_units() {
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "12",
            "12x",
            "h",
            "-1h",
            "1.5h",
            "0h",
            "1h30m",
            "99999999999999999999d",
            "12 h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["30m", "12h", "7d", "90s", "90m"] {
            assert_eq!(format_duration(parse_duration(s).expect(s)), s);
        }
    }
}
