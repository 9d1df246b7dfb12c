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
        if let Some(t) = Self::parse_utc(text) {
            return Ok(t);
        }
        // The parser's own message quotes the text; a reject never carries content.
        let ts = jiff::Timestamp::from_str(text)
            .map_err(|_| EventTimeError("not an RFC 3339 timestamp".to_owned()))?;
        Self::from_unix_micros(ts.as_microsecond())
            .ok_or_else(|| EventTimeError("timestamp out of range".to_owned()))
    }
}

impl fmt::Display for EventTime {
    /// Writes RFC 3339 in UTC with as many fractional digits as needed (none to six).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; RFC3339_MAX];
        f.write_str(self.rfc3339(&mut buf))
    }
}

/// The longest RFC 3339 text an [`EventTime`] prints: `9999-12-31T23:59:59.999999Z`.
const RFC3339_MAX: usize = 27;

/// Microseconds in a minute, the unit of event times ([`EventTime::as_unix_micros`]).
pub const MICROS_PER_MINUTE: i64 = 60_000_000;
/// Microseconds in an hour.
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
/// Microseconds in a day (UTC days: no leap seconds in Unix time).
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

impl EventTime {
    /// This time as RFC 3339 in UTC, written into `buf` without allocating (every log
    /// writer prints one per record).
    fn rfc3339(self, buf: &mut [u8; RFC3339_MAX]) -> &str {
        fn digits(out: &mut [u8], mut value: i64) {
            for slot in out.iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        let (year, month, day) = civil_from_days(self.0.div_euclid(MICROS_PER_DAY));
        let of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let secs = of_day / 1_000_000;
        let mut fraction = of_day % 1_000_000;
        *buf = *b"0000-00-00T00:00:00.000000Z";
        digits(&mut buf[0..4], year);
        digits(&mut buf[5..7], month);
        digits(&mut buf[8..10], day);
        digits(&mut buf[11..13], secs / 3600);
        digits(&mut buf[14..16], secs / 60 % 60);
        digits(&mut buf[17..19], secs % 60);
        let mut len = 19;
        if fraction > 0 {
            let mut places = 6;
            while fraction % 10 == 0 {
                fraction /= 10;
                places -= 1;
            }
            digits(&mut buf[20..20 + places], fraction);
            len = 20 + places;
        }
        buf[len] = b'Z';
        std::str::from_utf8(&buf[..=len]).expect("ASCII digits")
    }
}

impl EventTime {
    /// The form nearly every log writes, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (up to six
    /// fractional digits), read without the general parser (every record has one or two);
    /// `None` for anything else, which [`EventTime::parse_rfc3339`] leaves to it.
    fn parse_utc(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20
            || b.len() > 27
            || [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
                .iter()
                .any(|&(at, sep)| b[at] != sep)
            || b[b.len() - 1] != b'Z'
        {
            return None;
        }
        let number = |digits: &[u8]| {
            digits.iter().try_fold(0i64, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        let (year, month, day) = (number(&b[0..4])?, number(&b[5..7])?, number(&b[8..10])?);
        let (hour, minute, second) = (
            number(&b[11..13])?,
            number(&b[14..16])?,
            number(&b[17..19])?,
        );
        if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        if civil_from_days(days) != (year, month, day) {
            return None;
        }
        let mut micros = 0;
        if b.len() > 20 {
            let fraction = b[19..b.len() - 1].strip_prefix(b".")?;
            micros = number(fraction)? * 10i64.pow(6 - fraction.len() as u32);
        }
        Self::from_unix_micros(
            days * MICROS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros,
        )
    }
}

/// The days from 1970-01-01 to `year-month-day` in the proleptic Gregorian calendar (H.
/// Hinnant's `days_from_civil`); a day past the month's end runs into the next month.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The year, month and day of the `days`-th day after 1970-01-01 in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl FromStr for EventTime {
    type Err = EventTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl serde::Serialize for EventTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; RFC3339_MAX];
        serializer.serialize_str(self.rfc3339(&mut buf))
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

    proptest::proptest! {
        #[test]
        fn prints_what_jiff_prints(micros in MIN_MICROS..=JIFF_MAX) {
            let t = EventTime::from_unix_micros(micros).unwrap();
            let jiff = jiff::Timestamp::from_microsecond(micros).unwrap().to_string();
            proptest::prop_assert_eq!(t.to_string(), jiff);
        }

        #[test]
        fn prints_round_times_as_jiff_does(secs in MIN_MICROS / 1_000_000..JIFF_MAX / 1_000_000, ms in 0i64..1000) {
            let micros = secs * 1_000_000 + ms * 1000;
            let t = EventTime::from_unix_micros(micros).unwrap();
            let jiff = jiff::Timestamp::from_microsecond(micros).unwrap().to_string();
            proptest::prop_assert_eq!(t.to_string(), jiff);
        }
    }

    /// jiff's timestamps end a day short of the year 9999 (room for offsets).
    const JIFF_MAX: i64 = 253_402_207_200_000_000;

    proptest::proptest! {
        #[test]
        fn reads_utc_times_as_jiff_does(text in "[0-9]{4}-(0[0-9]|1[0-3])-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{1,9})?Z") {
            let jiff = jiff::Timestamp::from_str(&text)
                .ok()
                .and_then(|t| EventTime::from_unix_micros(t.as_microsecond()));
            match EventTime::parse_utc(&text) {
                // jiff's last day ends at 22:00; times after it are read here only.
                Some(t) if t.as_unix_micros() > JIFF_MAX => proptest::prop_assert!(jiff.is_none()),
                Some(t) => proptest::prop_assert_eq!(Some(t), jiff),
                None => {
                    let fraction = text.len() - "2026-01-01T00:00:00Z".len();
                    proptest::prop_assert!(jiff.is_none() || fraction > 7 || text[17..19] == *"60", "{text}");
                }
            }
        }

        #[test]
        fn reads_every_time_it_prints(micros in MIN_MICROS..=MAX_MICROS) {
            let t = EventTime::from_unix_micros(micros).unwrap();
            proptest::prop_assert_eq!(EventTime::parse_utc(&t.to_string()), Some(t));
        }
    }

    #[test]
    fn prints_the_ends_of_its_range() {
        for micros in [
            MIN_MICROS,
            JIFF_MAX,
            0,
            -1,
            951_782_400_000_000,
            1_776_827_647_000_100,
        ] {
            let t = EventTime::from_unix_micros(micros).unwrap();
            let jiff = jiff::Timestamp::from_microsecond(micros)
                .unwrap()
                .to_string();
            assert_eq!(t.to_string(), jiff);
        }
        let last = EventTime::from_unix_micros(MAX_MICROS).unwrap();
        assert_eq!(last.to_string(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(EventTime::parse_rfc3339(&last.to_string()), Ok(last));
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
