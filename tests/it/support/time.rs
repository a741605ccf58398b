//! Chosen local times for tests on a manual clock: [`next_local`] is the first instant after the wall
//! clock's now at which a zone reads a given weekday and time, so a test sets its clock to "a Monday
//! 10:00 in UTC" and asserts a fixed phrase instead of computing hours around the real now.
//!
//! Invariant: the instant is at least [`AHEAD`] after the wall now. Envelopes are stamped at accept by
//! the wall clock and the worker's debounce ends at that stamp plus `DEBOUNCE_MS` by its own clock, so
//! on a clock standing there a debounce shorter than [`AHEAD`] is over at once, and the clock only
//! ever moves forward from where `ManualClock::starting_now` would stand.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How far after the wall now a chosen local time lies at least.
pub const AHEAD: SignedDuration = SignedDuration::from_hours(1);

/// Unix ms of the next `weekday hour:minute` in `zone` at least [`AHEAD`] after now
/// (within the coming eight days).
pub fn next_local(zone: &str, weekday: Weekday, hour: i8, minute: i8) -> i64 {
    let tz = TimeZone::get(zone).expect("a known time zone");
    let now = Timestamp::now();
    let earliest = now.checked_add(AHEAD).expect("a representable time");
    let mut day = now.to_zoned_datetime(tz.clone()).date();
    loop {
        if day.weekday() == weekday {
            let at = day
                .at(hour, minute, 0, 0)
                .to_zoned_datetime(tz.clone())
                .expect("a representable local time")
                .timestamp();
            if at >= earliest {
                return at.as_millisecond();
            }
        }
        day = day.tomorrow().expect("a representable date");
    }
}
