//! [`StreamClock`]: the engine's event time, robust to records whose clocks are wrong.
//!
//! Rounds of linking and scoring fall due on the event time of the stream. Taken naively
//! (the newest timestamp seen), one record dated years ahead would move the stream's time
//! there, and no round would fall due again. The clock follows the bulk of the stream
//! instead:
//!
//! - a record within `max_lead` ahead of the clock moves it forward;
//! - a record further ahead is read *at the clock's time* (clamped), unless it is the
//!   `confirm`-th of a run of such records in a row: the stream itself has moved on (logs
//!   resumed after an outage), and the clock jumps to it;
//! - a record behind the clock is read at its own time (late records are normal when logs
//!   are merged); `confirm` of them in a row, further behind than `max_lead`, move the clock
//!   back to them (the next file of a set read one after another), so that rounds fall due
//!   through their time too.
//!
//! No run of fewer than `confirm` records, whatever their timestamps, can stop rounds.

use serde::{Deserialize, Serialize};

use crate::time::MICROS_PER_MINUTE;

/// How the engine's clock treats timestamps far from the stream's time (`[detect.clock]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Minutes a record may lie ahead of the stream's time and still move it.
    pub max_lead_minutes: u32,
    /// Records in a row, all further than `max_lead_minutes` from the stream's time (ahead,
    /// or behind), that move the stream's time to them.
    pub confirm_records: u32,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            max_lead_minutes: 60,
            confirm_records: 16,
        }
    }
}

/// Where a record was placed in event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The time it is read at (µs): its own, or the clock's if it was clamped.
    pub ts: i64,
    /// It lay too far ahead of the stream and was read at the stream's time.
    pub clamped: bool,
    /// The clock moved back (a run of records far behind it): rounds are scheduled anew.
    pub rewound: bool,
}

/// A run of records in a row, all far from the clock on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Run {
    None,
    /// This many records far ahead; the earliest of them.
    Ahead(u32, i64),
    /// This many records far behind; the latest of them.
    Behind(u32, i64),
}

/// The stream's event time.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StreamClock {
    now: Option<i64>,
    lead: i64,
    confirm: u32,
    run: Run,
    clamped: u64,
}

impl StreamClock {
    /// A clock that has seen nothing yet.
    pub fn new(config: &ClockConfig) -> Self {
        Self {
            now: None,
            lead: i64::from(config.max_lead_minutes) * MICROS_PER_MINUTE,
            confirm: config.confirm_records.max(1),
            run: Run::None,
            clamped: 0,
        }
    }

    /// The stream's time (µs), once a record was placed.
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// How many records were read at the clock's time instead of their own.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Places a record stamped `ts` and moves the clock as the rules say.
    pub fn place(&mut self, ts: i64) -> Placed {
        let own = Placed {
            ts,
            clamped: false,
            rewound: false,
        };
        let Some(now) = self.now else {
            self.now = Some(ts);
            return own;
        };
        if ts > now.saturating_add(self.lead) {
            let (count, earliest) = match self.run {
                Run::Ahead(n, t) => (n + 1, t.min(ts)),
                _ => (1, ts),
            };
            if count >= self.confirm {
                self.run = Run::None;
                self.now = Some(earliest.max(now));
                return own;
            }
            self.run = Run::Ahead(count, earliest);
            self.clamped += 1;
            return Placed {
                ts: now,
                clamped: true,
                rewound: false,
            };
        }
        if ts < now.saturating_sub(self.lead) {
            let (count, latest) = match self.run {
                Run::Behind(n, t) => (n + 1, t.max(ts)),
                _ => (1, ts),
            };
            if count >= self.confirm {
                self.run = Run::None;
                self.now = Some(latest);
                return Placed {
                    rewound: true,
                    ..own
                };
            }
            self.run = Run::Behind(count, latest);
            return own;
        }
        self.run = Run::None;
        self.now = Some(now.max(ts));
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = crate::time::MICROS_PER_HOUR;

    fn clock() -> StreamClock {
        StreamClock::new(&ClockConfig::default())
    }

    #[test]
    fn one_record_far_ahead_is_clamped_and_does_not_move_the_clock() {
        let mut c = clock();
        c.place(100 * HOUR);
        let p = c.place(1_000_000 * HOUR);
        assert!(p.clamped);
        assert_eq!(p.ts, 100 * HOUR);
        assert_eq!(c.now(), Some(100 * HOUR));
        assert!(!c.place(101 * HOUR).clamped);
        assert_eq!(c.now(), Some(101 * HOUR));
        assert_eq!(c.clamped(), 1);
    }

    #[test]
    fn a_run_ahead_is_the_stream_moving_on() {
        let mut c = clock();
        c.place(0);
        for k in 0..15 {
            assert!(c.place(72 * HOUR + k).clamped);
        }
        let p = c.place(72 * HOUR + 15);
        assert!(!p.clamped);
        assert_eq!(c.now(), Some(72 * HOUR));
    }

    #[test]
    fn a_bad_first_record_is_left_behind_by_the_stream() {
        let mut c = clock();
        c.place(1_000_000 * HOUR);
        for k in 0..16 {
            let p = c.place(10 * HOUR + k);
            assert!(!p.clamped);
            assert_eq!(p.rewound, k == 15);
        }
        assert_eq!(c.now(), Some(10 * HOUR + 15));
    }

    #[test]
    fn late_records_keep_their_time_and_interrupt_a_run() {
        let mut c = clock();
        c.place(100 * HOUR);
        for _ in 0..100 {
            assert!(c.place(1_000_000 * HOUR).clamped);
            assert_eq!(c.place(100 * HOUR - 1).ts, 100 * HOUR - 1);
        }
        assert_eq!(c.now(), Some(100 * HOUR));
    }
}
