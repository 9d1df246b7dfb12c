//! Event time: when an exchange happened, as its log says, never the wall clock.

use std::fmt;
use std::str::FromStr;

/// A point in event time, in microseconds since the Unix epoch (UTC).
///
/// Every decision the engine takes is stamped with an `EventTime` taken from the input,
/// so that a replay of old logs gives the same results however fast it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(i64);

/// Why a text could not be read as an [`EventTime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTimeError(String);

impl fmt::Display for EventTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventTimeError {}

/// The earliest and latest instants an [`EventTime`] accepts: years 0001 to 9999, as RFC 3339 allows.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl EventTime {
    /// The event time `micros` microseconds after the Unix epoch.
    ///
    /// Returns `None` outside the years 0001 to 9999.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        (MIN_MICROS..=MAX_MICROS)
            .contains(&micros)
            .then_some(Self(micros))
    }

    /// The event time `secs` (fractional) seconds after the Unix epoch, as many log formats
    /// write it; `None` if it is not finite or out of range.
    pub fn from_unix_secs_f64(secs: f64) -> Option<Self> {
        let micros = (secs * 1e6).round();
        if !micros.is_finite() || micros < MIN_MICROS as f64 || micros > MAX_MICROS as f64 {
            return None;
        }
        Self::from_unix_micros(micros as i64)
    }

    /// The event time `nanos` nanoseconds after the Unix epoch (OpenTelemetry's unit),
    /// truncated to the microsecond.
    pub fn from_unix_nanos(nanos: i128) -> Option<Self> {
        i64::try_from(nanos.div_euclid(1000))
            .ok()
            .and_then(Self::from_unix_micros)
    }

    /// Microseconds since the Unix epoch.
    pub fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// Reads an RFC 3339 timestamp such as `2026-04-22T03:14:07.123Z` or
    /// `2026-04-22T11:14:07+08:00`. Digits beyond the microsecond are dropped.
    pub fn parse_rfc3339(text: &str) -> Result<Self, EventTimeError> {
        let ts = jiff::Timestamp::from_str(text)
            .map_err(|e| EventTimeError(format!("not an RFC 3339 timestamp ({e})")))?;
        Self::from_unix_micros(ts.as_microsecond())
            .ok_or_else(|| EventTimeError("timestamp out of range".to_owned()))
    }
}

impl fmt::Display for EventTime {
    /// Writes RFC 3339 in UTC with as many fractional digits as needed (none, 3 or 6).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_microsecond(self.0) {
            Ok(ts) => write!(f, "{ts}"),
            Err(_) => write!(f, "@{}us", self.0),
        }
    }
}

impl FromStr for EventTime {
    type Err = EventTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl serde::Serialize for EventTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EventTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_rfc3339() {
        let t = EventTime::parse_rfc3339("2026-04-22T03:14:07.123Z").unwrap();
        assert_eq!(t.as_unix_micros(), 1_776_827_647_123_000);
        assert_eq!(t.to_string(), "2026-04-22T03:14:07.123Z");
        let offset = EventTime::parse_rfc3339("2026-04-22T11:14:07.123+08:00").unwrap();
        assert_eq!(offset, t);
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "yesterday",
            "2026-04-22",
            "2026-13-01T00:00:00Z",
            "1714000000",
        ] {
            assert!(
                EventTime::parse_rfc3339(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn converts_unix_units() {
        let t = EventTime::from_unix_secs_f64(1_714_000_000.25).unwrap();
        assert_eq!(t.as_unix_micros(), 1_714_000_000_250_000);
        let n = EventTime::from_unix_nanos(1_714_000_000_250_000_999).unwrap();
        assert_eq!(n, t);
        assert!(EventTime::from_unix_secs_f64(f64::NAN).is_none());
        assert!(EventTime::from_unix_secs_f64(1e300).is_none());
        assert!(EventTime::from_unix_nanos(i128::MAX).is_none());
    }
}
