//! Numbers and times as people read them.

use moat_core::EventTime;

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage with one decimal.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The day of `micros` since the Unix epoch: `2026-04-22`.
pub fn day(micros: i64) -> String {
    rfc3339(micros).get(..10).unwrap_or_default().to_owned()
}

/// The hour of `micros`: `04-22 13:00`.
pub fn hour(micros: i64) -> String {
    let t = rfc3339(micros);
    match (t.get(5..10), t.get(11..16)) {
        (Some(d), Some(h)) => format!("{d} {h}"),
        _ => t,
    }
}

/// A moment to the minute, in UTC: `2026-04-22 13:07 UTC`.
pub fn moment(t: EventTime) -> String {
    let s = t.to_string();
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(h)) => format!("{d} {h} UTC"),
        _ => s,
    }
}

fn rfc3339(micros: i64) -> String {
    EventTime::from_unix_micros(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(28_800_000), "28,800,000");
    }

    #[test]
    fn times_read_as_days_and_hours() {
        let t = EventTime::parse_rfc3339("2026-04-22T13:07:09Z").unwrap();
        assert_eq!(day(t.as_unix_micros()), "2026-04-22");
        assert_eq!(hour(t.as_unix_micros()), "04-22 13:07");
        assert_eq!(moment(t), "2026-04-22 13:07 UTC");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "–");
    }
}
