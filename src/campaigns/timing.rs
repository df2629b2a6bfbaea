//! Time logic for campaigns: send windows, frequency caps, waits and
//! durations.
//!
//! Everything here is pure: no clock is read, no I/O is done, and every
//! function is total (no panics on any input, including user strings with
//! control characters, huge numbers or unicode, and instants at the edges of
//! chrono's range).
//!
//! Local times are always turned into instants through [`resolve_local`], so
//! every part of the engine agrees on what happens around DST changes:
//! a local time skipped by a change (a "gap") means the first instant after
//! the gap, and a local time that happens twice (fall back) means the first,
//! earlier occurrence.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    SecondsFormat, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::{GapInfo, Tz};
use std::fmt;

/// An RFC 3339 instant, or a date as midnight UTC (`2026-12-01`).
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Longest user string any parser here accepts, in characters.
const MAX_INPUT_CHARS: usize = 200;
/// Minutes in a local day; a window end of `MINUTES_PER_DAY` means 24:00.
const MINUTES_PER_DAY: u16 = 1440;
/// Longest duration (and cap window) accepted: 366 days, in minutes.
const MAX_DURATION_MINUTES: u64 = 366 * 1440;
/// `next_open` gives up after this many local days without an opening.
const SEARCH_DAYS: u32 = 400;
/// Day names, index 0 = Monday.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const UNKNOWN_DAY_HINT: &str = "use mon, tue, wed, thu, fri, sat or sun";
const WINDOW_FORMAT_HINT: &str =
    "expected \"always\" or \"<days> HH:MM-HH:MM\", e.g. \"mon-fri 09:00-17:00\"";
const DURATION_HINT: &str =
    "use a number and a unit (m, h, d or w), e.g. \"30m\", \"6h\", \"2d\" or \"1w\"";

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Turns a local wall-clock time in `tz` into an instant, with one rule that
/// the whole campaign engine shares:
///
/// - a local time that exists once maps to that instant;
/// - a local time that exists twice (clocks go back) maps to the **earlier**
///   occurrence;
/// - a local time skipped by a DST change (clocks go forward) maps to the
///   first instant after the gap, i.e. the first instant whose local time is
///   at or after `local` (New York, 2026-03-08 02:30 → 03:00 EDT = 07:00Z).
///
/// Equivalently: the earliest instant whose local time is at or after
/// `local`. The mapping is monotonic (never decreasing) in `local`. It never
/// panics; at the extreme edges of chrono's range it falls back to reading
/// `local` as UTC.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => dt.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => gap_end(tz, local).unwrap_or_else(|| local.and_utc()),
    }
}

/// First instant after the DST gap that swallows `local`.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(end) = GapInfo::new(&local, &tz).and_then(|g| g.end) {
        return Some(end.with_timezone(&Utc));
    }
    gap_end_by_bisection(tz, local)
}

/// Fallback for [`gap_end`]: bisects (on whole seconds) for the earliest
/// instant whose local time is at or after `local`. Offsets are within ±26 h,
/// so the answer lies within ±26 h of `local` read as UTC.
fn gap_end_by_bisection(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let span = Duration::try_hours(26)?;
    let x = local.and_utc();
    let mut lo = x.checked_sub_signed(span)?.timestamp();
    let mut hi = x.checked_add_signed(span)?.timestamp();
    let local_at = |secs: i64| DateTime::from_timestamp(secs, 0).and_then(|u| local_naive(tz, u));
    if local_at(lo)? >= local || local_at(hi)? < local {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Local wall-clock time of `at` in `tz`; `None` only at the very edges of
/// chrono's range where the local time is not representable.
fn local_naive(tz: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = at.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset)
}

/// Formats `at` as RFC 3339 with `tz`'s offset at that instant and whole
/// seconds, e.g. `2026-03-09T09:00:00-04:00` (UTC is written `+00:00`).
/// Sub-second parts are dropped. Never panics: at the extreme edges of
/// chrono's range, where the local time cannot be represented, it formats
/// the instant in UTC instead.
pub fn local_rfc3339(tz: Tz, at: DateTime<Utc>) -> String {
    if local_naive(tz, at).is_some() {
        at.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    } else {
        at.to_rfc3339_opts(SecondsFormat::Secs, false)
    }
}

/// Quotes user input for an error message: escaped (control characters are
/// shown as escapes) and cut to a readable length.
fn quote(s: &str) -> String {
    const KEEP: usize = 40;
    let mut escaped = s.chars().flat_map(|c| {
        // Like `{:?}` for strings: escape everything but the apostrophe.
        let apostrophe = (c == '\'').then_some(c);
        apostrophe
            .into_iter()
            .chain(c.escape_debug().filter(move |_| c != '\''))
    });
    let cut: String = escaped.by_ref().take(KEEP).collect();
    if escaped.next().is_some() {
        format!("\"{cut}\"…")
    } else {
        format!("\"{cut}\"")
    }
}

/// Rejects inputs longer than [`MAX_INPUT_CHARS`].
fn check_length(s: &str, what: &str) -> Result<(), String> {
    if s.len() > MAX_INPUT_CHARS && s.chars().count() > MAX_INPUT_CHARS {
        Err(format!(
            "{what} is too long: at most {MAX_INPUT_CHARS} characters"
        ))
    } else {
        Ok(())
    }
}

/// Parses a three-letter day name (case-insensitive) into 0 = Monday … 6.
fn parse_day(s: &str) -> Result<usize, String> {
    let lower = s.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|name| *name == lower)
        .ok_or_else(|| format!("unknown day {}: {UNKNOWN_DAY_HINT}", quote(s)))
}

fn weekday_from_index(i: usize) -> Weekday {
    match i {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

fn day_name(w: Weekday) -> &'static str {
    DAY_NAMES
        .get(w.num_days_from_monday() as usize)
        .copied()
        .unwrap_or("mon")
}

/// Parses `H:MM` or `HH:MM` (24-hour) into minutes after midnight, without
/// range checks beyond "minutes < 60". Returns `None` for anything else.
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let digits =
        |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(h, &[1, 2]) || !digits(m, &[2]) {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m >= 60 {
        return None;
    }
    Some(h * 60 + m)
}

/// Formats minutes after midnight as `HH:MM` (1440 → `24:00`).
fn format_hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Parses a time of day `HH:MM` from 00:00 to 23:59.
fn parse_time_of_day(s: &str, what: &str) -> Result<u16, String> {
    match parse_hhmm(s) {
        Some(m) if m < MINUTES_PER_DAY => Ok(m),
        Some(_) => Err(format!(
            "{what} {} is out of range: use 00:00 to 23:59",
            quote(s)
        )),
        None => Err(format!(
            "invalid {what} {}: use 24-hour HH:MM, e.g. \"09:00\"",
            quote(s)
        )),
    }
}

/// A set of quiet dates that answers membership quickly even for long lists.
struct QuietDates<'a> {
    sorted: std::borrow::Cow<'a, [NaiveDate]>,
}

impl<'a> QuietDates<'a> {
    fn new(quiet: &'a [NaiveDate]) -> Self {
        if quiet.is_sorted() {
            Self {
                sorted: std::borrow::Cow::Borrowed(quiet),
            }
        } else {
            let mut v = quiet.to_vec();
            v.sort_unstable();
            Self {
                sorted: std::borrow::Cow::Owned(v),
            }
        }
    }

    fn contains(&self, d: NaiveDate) -> bool {
        self.sorted.binary_search(&d).is_ok()
    }
}

// ---------------------------------------------------------------------------
// Send windows
// ---------------------------------------------------------------------------

/// When sends may go out, in the account's local time.
///
/// A `Days` window is open, on each enabled local day, from the instant
/// `resolve_local(day + start)` (inclusive) to `resolve_local(day + end)`
/// (exclusive); see [`resolve_local`] for the DST rule. So a start skipped by
/// spring-forward opens at the end of the gap, a start repeated by fall-back
/// opens once, at its first occurrence, and a window lying wholly inside a
/// gap is closed that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendWindow {
    /// Open at every instant, except on quiet dates.
    Always,
    /// Open on the enabled days between two local times of day.
    ///
    /// Values made by [`SendWindow::parse`] always satisfy
    /// `days` has a `true`, `start_minute < end_minute <= 1440`. A value built
    /// by hand that breaks this is never open (it does not panic).
    Days {
        /// Enabled local weekdays: index 0 = Monday … 6 = Sunday.
        days: [bool; 7],
        /// Opening time, in minutes after local midnight (0..=1439).
        start_minute: u16,
        /// Closing time (exclusive), in minutes after local midnight
        /// (1..=1440, where 1440 means 24:00, the end of the day).
        end_minute: u16,
    },
}

impl SendWindow {
    /// Parses `"always"` or `"<days> HH:MM-HH:MM"`.
    ///
    /// Days are a range (`mon-fri`, wrapping ranges like `fri-mon` allowed),
    /// a comma list (`mon,wed,fri`) or a mix (`mon-wed,fri`); names are
    /// `mon tue wed thu fri sat sun`, case-insensitive. Times are 24-hour
    /// `HH:MM`; the start is 00:00–23:59, the end 00:01–24:00 and must be
    /// after the start (overnight windows are not supported). Surrounding
    /// whitespace is ignored; input over 200 characters is rejected. Errors
    /// are short English sentences naming what is wrong. Never panics.
    pub fn parse(s: &str) -> Result<SendWindow, String> {
        check_length(s, "send window")?;
        let s = s.trim();
        if s.eq_ignore_ascii_case("always") {
            return Ok(SendWindow::Always);
        }
        let mut parts = s.split_whitespace();
        let (Some(days_part), Some(times_part), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(WINDOW_FORMAT_HINT.to_string());
        };
        let days = parse_days(days_part)?;
        let Some((start_s, end_s)) = times_part.split_once('-') else {
            return Err(format!(
                "invalid time range {}: use HH:MM-HH:MM, e.g. \"09:00-17:00\"",
                quote(times_part)
            ));
        };
        let start_minute = parse_time_of_day(start_s, "start time")?;
        let end_minute = match parse_hhmm(end_s) {
            Some(m) if m <= MINUTES_PER_DAY => m,
            Some(_) => {
                return Err(format!(
                    "end time {} is out of range: use 00:00 to 24:00",
                    quote(end_s)
                ));
            }
            None => {
                return Err(format!(
                    "invalid end time {}: use 24-hour HH:MM, e.g. \"17:00\"",
                    quote(end_s)
                ));
            }
        };
        if end_minute <= start_minute {
            return Err(format!(
                "end time {} must be after start time {}: overnight windows are not supported",
                format_hhmm(end_minute),
                format_hhmm(start_minute)
            ));
        }
        Ok(SendWindow::Days {
            days,
            start_minute,
            end_minute,
        })
    }

    /// The open interval `[open, close)` on local `date`, or `None` when the
    /// window is closed all that day (day not enabled, quiet date, invalid
    /// hand-built window, or a window wholly inside a DST gap).
    fn interval_on(
        &self,
        tz: Tz,
        quiet: &QuietDates<'_>,
        date: NaiveDate,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (start, end) = match self {
            SendWindow::Always => (0, MINUTES_PER_DAY),
            SendWindow::Days {
                days,
                start_minute,
                end_minute,
            } => {
                let enabled = days
                    .get(date.weekday().num_days_from_monday() as usize)
                    .copied()
                    .unwrap_or(false);
                if !enabled || start_minute >= end_minute || *end_minute > MINUTES_PER_DAY {
                    return None;
                }
                (*start_minute, *end_minute)
            }
        };
        if quiet.contains(date) {
            return None;
        }
        let midnight = date.and_time(NaiveTime::MIN);
        let open = midnight.checked_add_signed(Duration::try_minutes(i64::from(start))?)?;
        let close = midnight.checked_add_signed(Duration::try_minutes(i64::from(end))?)?;
        let (open, close) = (resolve_local(tz, open), resolve_local(tz, close));
        (open < close).then_some((open, close))
    }

    fn is_open_in(&self, tz: Tz, quiet: &QuietDates<'_>, at: DateTime<Utc>) -> bool {
        let Some(local) = local_naive(tz, at) else {
            return false;
        };
        let d = local.date();
        [d.pred_opt(), Some(d), d.succ_opt()]
            .into_iter()
            .flatten()
            .filter_map(|date| self.interval_on(tz, quiet, date))
            .any(|(open, close)| open <= at && at < close)
    }

    /// Whether a send may go out at `at`, for an account in `tz` whose quiet
    /// dates (local calendar dates with no sends, e.g. holidays) are `quiet`.
    ///
    /// `Always` is open except on quiet dates. A `Days` window is open inside
    /// the per-day interval described on [`SendWindow`]. Agrees exactly with
    /// [`SendWindow::next_open`]. Never panics.
    pub fn is_open(&self, tz: Tz, quiet: &[NaiveDate], at: DateTime<Utc>) -> bool {
        self.is_open_in(tz, &QuietDates::new(quiet), at)
    }

    /// The first instant at or after `at` at which the window is open:
    /// `Some(at)` when it is open at `at`. The answer is exact (computed per
    /// local day, not by scanning) and follows the DST rule on
    /// [`SendWindow`]. `None` only when the window is not open at all within
    /// the next 400 local days (e.g. quiet dates covering everything, or an
    /// invalid hand-built window). Never panics.
    pub fn next_open(
        &self,
        tz: Tz,
        quiet: &[NaiveDate],
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let quiet = QuietDates::new(quiet);
        if self.is_open_in(tz, &quiet, at) {
            return Some(at);
        }
        let today = local_naive(tz, at)?.date();
        let mut date = today.pred_opt().unwrap_or(today);
        for _ in 0..=SEARCH_DAYS + 1 {
            if let Some((open, close)) = self.interval_on(tz, &quiet, date)
                && close > at
            {
                return Some(open.max(at));
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// Parses the days part of a window: ranges, lists and mixes.
fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for item in s.split(',') {
        if item.is_empty() {
            return Err(format!("missing day name in {}", quote(s)));
        }
        match item.split_once('-') {
            None => {
                if let Some(slot) = days.get_mut(parse_day(item)?) {
                    *slot = true;
                }
            }
            Some((a, b)) => {
                if a.is_empty() || b.is_empty() || b.contains('-') {
                    return Err(format!(
                        "invalid day range {}: use two day names, e.g. \"mon-fri\"",
                        quote(item)
                    ));
                }
                let (from, to) = (parse_day(a)?, parse_day(b)?);
                let mut i = from;
                loop {
                    if let Some(slot) = days.get_mut(i) {
                        *slot = true;
                    }
                    if i == to {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
        }
    }
    Ok(days)
}

/// Canonical form: `always`, or days then times, e.g. `mon-fri 09:00-17:00`,
/// `mon,wed,fri 10:00-12:00`, `mon-wed,fri 08:00-24:00`. Runs of three or
/// more consecutive days (Monday to Sunday, not wrapping) are written as
/// ranges. For every value [`SendWindow::parse`] returns, the output parses
/// back to an equal value.
impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendWindow::Always => f.write_str("always"),
            SendWindow::Days {
                days,
                start_minute,
                end_minute,
            } => {
                let mut items: Vec<String> = Vec::new();
                let mut i = 0;
                while i < 7 {
                    if !days[i] {
                        i += 1;
                        continue;
                    }
                    let mut j = i;
                    while j + 1 < 7 && days[j + 1] {
                        j += 1;
                    }
                    if j - i >= 2 {
                        items.push(format!("{}-{}", DAY_NAMES[i], DAY_NAMES[j]));
                    } else {
                        items.extend((i..=j).map(|k| DAY_NAMES[k].to_string()));
                    }
                    i = j + 1;
                }
                write!(
                    f,
                    "{} {}-{}",
                    items.join(","),
                    format_hhmm(*start_minute),
                    format_hhmm(*end_minute)
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Frequency caps
// ---------------------------------------------------------------------------

/// At most `max` messages in any rolling `window`.
///
/// A message sent at `s` counts at time `t` when `t - window < s <= t`: a
/// message exactly `window` old no longer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// Most messages allowed in any rolling window (1..=10000 when parsed).
    pub max: u32,
    /// Length of the rolling window (1 minute to 366 days when parsed).
    pub window: Duration,
}

impl Cap {
    /// Parses `"<max>/<window>"`, e.g. `"3/7d"` = at most 3 per 7 days.
    /// Window units: `m` (minutes), `h`, `d`, `w`. An empty or
    /// whitespace-only string means "no cap" and gives `Ok(None)`. `max` must
    /// be 1..=10000 and the window 1 minute to 366 days. Never panics (huge
    /// digit strings are reported as out of range).
    pub fn parse(s: &str) -> Result<Option<Cap>, String> {
        check_length(s, "cap")?;
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let Some((max_s, window_s)) = s.split_once('/') else {
            return Err(format!(
                "invalid cap {}: use <max>/<window>, e.g. \"3/7d\"",
                quote(s)
            ));
        };
        let max_s = max_s.trim();
        if max_s.is_empty() || !max_s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "invalid cap limit {}: use a whole number from 1 to 10000",
                quote(max_s)
            ));
        }
        let max = match max_s.parse::<u32>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => return Err("cap limit must be between 1 and 10000".to_string()),
        };
        let window = parse_duration_as(window_s.trim(), "cap window")?;
        Ok(Some(Cap { max, window }))
    }

    /// Whether `want` more messages may be sent at `now`, given the send
    /// times of earlier messages in `sent`.
    ///
    /// `sent` should be sorted ascending, but any order works. Times older
    /// than the window are ignored; times after `now` (clock skew, queued
    /// sends) are counted as in the window until they age out.
    ///
    /// Returns `Ok(())` when `count(now) + want <= max`. Otherwise `Err(t)`
    /// with the earliest `t > now` at which `count(t) + want <= max`, i.e.
    /// `s + window` of the right in-window message `s`, oldest first.
    ///
    /// If `want > max` the batch can never fit; the result is then
    /// `Err(last in-window message + window)`, the moment the window is
    /// completely empty (`Err(now)` when it already is). Callers should trim
    /// `want` to `max` first. Never panics.
    pub fn check(
        &self,
        sent: &[DateTime<Utc>],
        now: DateTime<Utc>,
        want: u32,
    ) -> Result<(), DateTime<Utc>> {
        let cutoff = now.checked_sub_signed(self.window);
        let mut live: Vec<DateTime<Utc>> = sent
            .iter()
            .copied()
            .filter(|s| cutoff.is_none_or(|c| *s > c))
            .collect();
        let count = live.len() as u64;
        let (want, max) = (u64::from(want), u64::from(self.max));
        if count + want <= max {
            return Ok(());
        }
        live.sort_unstable();
        // How many of the oldest in-window messages must age out.
        let must_go = (count + want - max).min(count);
        let Some(last_to_go) = usize::try_from(must_go)
            .ok()
            .and_then(|k| k.checked_sub(1))
            .and_then(|i| live.get(i))
        else {
            return Err(now);
        };
        let frees = last_to_go
            .checked_add_signed(self.window)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Err(frees.max(now))
    }
}

/// Canonical form `<max>/<window>` with the window written by
/// [`format_duration`] (largest of days, hours, minutes that divides it
/// exactly), e.g. `3/7d`, `10/14d`, `5/90m`. Parses back to an equal
/// value for every cap [`Cap::parse`] returns.
impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.max, format_duration(self.window))
    }
}

// ---------------------------------------------------------------------------
// Waits
// ---------------------------------------------------------------------------

/// A `wait` step: how long a contact waits before the next campaign step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Calendar days in the account's local time, keeping the time of day.
    Days(u32),
    /// Elapsed hours.
    Hours(u32),
    /// Until the next local weekday and time of day.
    Until {
        /// Local weekday.
        weekday: Weekday,
        /// Local time of day (whole minutes).
        time: NaiveTime,
    },
}

impl Wait {
    /// Parses `"<day> HH:MM"`, e.g. `"mon 09:00"` (day names as for send
    /// windows, case-insensitive; 24-hour time 00:00–23:59), into
    /// [`Wait::Until`]. A leading `until` is accepted, so the `Display` form
    /// parses back. Never panics.
    pub fn parse_until(s: &str) -> Result<Wait, String> {
        check_length(s, "wait")?;
        let mut parts = s.split_whitespace();
        let mut first = parts.next();
        if first.is_some_and(|p| p.eq_ignore_ascii_case("until")) {
            first = parts.next();
        }
        let (Some(day_s), Some(time_s), None) = (first, parts.next(), parts.next()) else {
            return Err("expected \"<day> HH:MM\", e.g. \"mon 09:00\"".to_string());
        };
        let weekday = weekday_from_index(parse_day(day_s)?);
        let minutes = parse_time_of_day(time_s, "time")?;
        let time = NaiveTime::from_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)
            .unwrap_or(NaiveTime::MIN);
        Ok(Wait::Until { weekday, time })
    }

    /// Parses the [`Display`](fmt::Display) form of any wait: `"3 days"`,
    /// `"1 day"`, `"12 hours"`, `"1 hour"` or `"until mon 09:00"`
    /// (case-insensitive), and validates it with [`Wait::check`]. Never
    /// panics.
    pub fn parse(s: &str) -> Result<Wait, String> {
        check_length(s, "wait")?;
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("until") {
            return Wait::parse_until(t);
        }
        let mut parts = t.split_whitespace();
        let hint = "expected \"<n> days\", \"<n> hours\" or \"until <day> HH:MM\"";
        let (Some(n_s), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(hint.to_string());
        };
        if n_s.is_empty() || !n_s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid number {} in wait: {hint}", quote(n_s)));
        }
        let n = n_s.parse::<u32>().unwrap_or(u32::MAX);
        let wait = match unit.to_ascii_lowercase().as_str() {
            "day" | "days" => Wait::Days(n),
            "hour" | "hours" => Wait::Hours(n),
            _ => return Err(format!("unknown wait unit {}: {hint}", quote(unit))),
        };
        wait.check()?;
        Ok(wait)
    }

    /// Validates limits: `Days` 1..=3650, `Hours` 1..=87600, and an `Until`
    /// time in whole minutes (so its `Display` form is exact).
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Wait::Days(n) if !(1..=3650).contains(&n) => {
                Err("wait must be between 1 and 3650 days".to_string())
            }
            Wait::Hours(n) if !(1..=87_600).contains(&n) => {
                Err("wait must be between 1 and 87600 hours".to_string())
            }
            Wait::Until { time, .. } if time.second() != 0 || time.nanosecond() != 0 => {
                Err("wait time must be a whole minute".to_string())
            }
            _ => Ok(()),
        }
    }

    /// When a wait that starts at `from` is over, for an account in `tz`.
    ///
    /// - `Days(n)`: `n` local calendar days later at the same local time of
    ///   day, so one day across a DST change is 23 or 25 elapsed hours. A
    ///   result in a DST gap or repeated hour follows [`resolve_local`].
    ///   Never earlier than `from`.
    /// - `Hours(n)`: exactly `from + n` elapsed hours.
    /// - `Until`: the first occurrence strictly after `from` of that local
    ///   weekday and time (resolved with [`resolve_local`], so a repeated
    ///   time counts once, at its first occurrence).
    ///
    /// Never panics; results that would leave chrono's range saturate.
    pub fn due_after(&self, tz: Tz, from: DateTime<Utc>) -> DateTime<Utc> {
        match *self {
            Wait::Days(n) => {
                let by_calendar = local_naive(tz, from)
                    .and_then(|l| l.checked_add_days(chrono::Days::new(u64::from(n))))
                    .map(|l| resolve_local(tz, l));
                match by_calendar {
                    Some(t) => t.max(from),
                    None => add_saturating(from, Duration::try_days(i64::from(n))),
                }
            }
            Wait::Hours(n) => add_saturating(from, Duration::try_hours(i64::from(n))),
            Wait::Until { weekday, time } => {
                let fallback = add_saturating(from, Duration::try_days(7));
                let Some(start) = local_naive(tz, from).map(|l| l.date()) else {
                    return fallback;
                };
                let mut date = start;
                for _ in 0..=8 {
                    if date.weekday() == weekday {
                        let due = resolve_local(tz, date.and_time(time));
                        if due > from {
                            return due;
                        }
                    }
                    match date.succ_opt() {
                        Some(d) => date = d,
                        None => break,
                    }
                }
                fallback
            }
        }
    }
}

/// `at + d`, saturating at chrono's range limits (and treating `None` as an
/// infinitely long duration).
fn add_saturating(at: DateTime<Utc>, d: Option<Duration>) -> DateTime<Utc> {
    d.and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Human form: `1 day`, `3 days`, `1 hour`, `12 hours`, `until mon 09:00`.
/// [`Wait::parse`] reads it back.
impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Wait::Days(1) => f.write_str("1 day"),
            Wait::Days(n) => write!(f, "{n} days"),
            Wait::Hours(1) => f.write_str("1 hour"),
            Wait::Hours(n) => write!(f, "{n} hours"),
            Wait::Until { weekday, time } => {
                write!(f, "until {} {}", day_name(weekday), time.format("%H:%M"))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

/// Parses a duration: a whole number and a unit, `m` (minutes), `h`, `d` or
/// `w`, e.g. `"30m"`, `"6h"`, `"2d"`, `"1w"`. The result is at least 1 minute
/// and at most 366 days; anything else is an error. Surrounding whitespace is
/// ignored. Never panics (huge numbers are reported as too long).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    check_length(s, "duration")?;
    parse_duration_as(s.trim(), "duration")
}

/// [`parse_duration`] with `what` naming the value in error messages.
fn parse_duration_as(s: &str, what: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err(format!("{what} is empty: {DURATION_HINT}"));
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() {
        return Err(format!("invalid {what} {}: {DURATION_HINT}", quote(s)));
    }
    let all_zero = num.bytes().all(|b| b == b'0');
    let per_unit: u64 = match unit {
        "m" => 1,
        "h" => 60,
        "d" => 1440,
        "w" => 7 * 1440,
        "" if all_zero => return Err(format!("{what} must be at least 1 minute")),
        "" => {
            return Err(format!(
                "missing unit in {what} {}: use m, h, d or w",
                quote(s)
            ));
        }
        _ => {
            return Err(format!(
                "unknown unit {} in {what} {}: use m, h, d or w",
                quote(unit),
                quote(s)
            ));
        }
    };
    let too_long = || format!("{what} must be at most 366 days");
    // `num` is all ASCII digits, so parsing fails only on overflow.
    let n: u64 = num.parse().map_err(|_| too_long())?;
    let minutes = n.checked_mul(per_unit).ok_or_else(too_long)?;
    if minutes == 0 {
        return Err(format!("{what} must be at least 1 minute"));
    }
    if minutes > MAX_DURATION_MINUTES {
        return Err(too_long());
    }
    i64::try_from(minutes)
        .ok()
        .and_then(Duration::try_minutes)
        .ok_or_else(too_long)
}

/// Formats a duration in the largest of days, hours and minutes that divides
/// it exactly: `7d`, `2d`, `6h`, `90m`; the inverse of [`parse_duration`] for
/// every value it returns. Weeks are never written (`1w` comes back as
/// `7d`), since "3 per 7 days" reads better than "3 per 1 week". Other
/// durations are written in whole minutes (sub-minute parts dropped toward
/// zero, negatives with a leading `-`, zero as `0m`).
pub fn format_duration(d: Duration) -> String {
    let minutes = d.num_minutes();
    if minutes == 0 {
        return "0m".to_string();
    }
    for (per, unit) in [(1440, "d"), (60, "h")] {
        if minutes % per == 0 {
            return format!("{}{unit}", minutes / per);
        }
    }
    format!("{minutes}m")
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn win(s: &str) -> SendWindow {
        SendWindow::parse(s).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    const NY: Tz = Tz::America__New_York;
    const BERLIN: Tz = Tz::Europe__Berlin;

    // ----- parsing: send windows -------------------------------------------

    #[test]
    fn window_parses_good_inputs() {
        let mon_fri = [true, true, true, true, true, false, false];
        assert_eq!(
            win("mon-fri 09:00-17:00"),
            SendWindow::Days {
                days: mon_fri,
                start_minute: 540,
                end_minute: 1020
            }
        );
        assert_eq!(win("  ALWAYS \n"), SendWindow::Always);
        assert_eq!(win("Mon-FRI   09:00-17:00"), win("mon-fri 09:00-17:00"));
        assert_eq!(
            win("fri-mon 00:00-24:00"),
            SendWindow::Days {
                days: [true, false, false, false, true, true, true],
                start_minute: 0,
                end_minute: 1440
            }
        );
        assert_eq!(
            win("mon-wed,fri 9:30-10:00"),
            SendWindow::Days {
                days: [true, true, true, false, true, false, false],
                start_minute: 570,
                end_minute: 600
            }
        );
        assert_eq!(
            win("mon,wed,fri,mon 10:00-12:00").to_string(),
            "mon,wed,fri 10:00-12:00"
        );
        assert_eq!(win("sun-sun 00:00-00:01").to_string(), "sun 00:00-00:01");
        assert_eq!(
            win("sat-fri 08:00-20:00").to_string(),
            "mon-sun 08:00-20:00"
        );
    }

    #[test]
    fn window_error_messages() {
        let err = |s: &str| SendWindow::parse(s).unwrap_err();
        assert_eq!(
            err("mnd 09:00-17:00"),
            "unknown day \"mnd\": use mon, tue, wed, thu, fri, sat or sun"
        );
        let format = "expected \"always\" or \"<days> HH:MM-HH:MM\", e.g. \"mon-fri 09:00-17:00\"";
        assert_eq!(err(""), format);
        assert_eq!(err("sometimes"), format);
        assert_eq!(err("mon-fri 09:00 -17:00"), format);
        assert_eq!(
            err("mon-fri 17:00-09:00"),
            "end time 09:00 must be after start time 17:00: overnight windows are not supported"
        );
        assert_eq!(
            err("mon 09:00-09:00"),
            "end time 09:00 must be after start time 09:00: overnight windows are not supported"
        );
        assert_eq!(
            err("mon 25:00-26:00"),
            "start time \"25:00\" is out of range: use 00:00 to 23:59"
        );
        assert_eq!(
            err("mon 24:00-24:00"),
            "start time \"24:00\" is out of range: use 00:00 to 23:59"
        );
        assert_eq!(
            err("mon 09:00-24:01"),
            "end time \"24:01\" is out of range: use 00:00 to 24:00"
        );
        assert_eq!(
            err("mon 9am-5pm"),
            "invalid start time \"9am\": use 24-hour HH:MM, e.g. \"09:00\""
        );
        assert_eq!(
            err("mon 09:00-5pm"),
            "invalid end time \"5pm\": use 24-hour HH:MM, e.g. \"17:00\""
        );
        assert_eq!(
            err("mon 09:00"),
            "invalid time range \"09:00\": use HH:MM-HH:MM, e.g. \"09:00-17:00\""
        );
        assert_eq!(
            err("mon,,fri 09:00-10:00"),
            "missing day name in \"mon,,fri\""
        );
        assert_eq!(err("mon, 09:00-10:00"), "missing day name in \"mon,\"");
        assert_eq!(
            err("mon-tue-wed 09:00-10:00"),
            "invalid day range \"mon-tue-wed\": use two day names, e.g. \"mon-fri\""
        );
        assert_eq!(
            err("-fri 09:00-10:00"),
            "invalid day range \"-fri\": use two day names, e.g. \"mon-fri\""
        );
        assert_eq!(
            err("mon 09:60-10:00"),
            "invalid start time \"09:60\": use 24-hour HH:MM, e.g. \"09:00\""
        );
        assert_eq!(
            err("mon 009:00-10:00"),
            "invalid start time \"009:00\": use 24-hour HH:MM, e.g. \"09:00\""
        );
        assert_eq!(
            err("mon +9:00-10:00"),
            "invalid start time \"+9:00\": use 24-hour HH:MM, e.g. \"09:00\""
        );
        assert_eq!(
            err(&format!("mon 09:00-10:00{}", " ".repeat(200))),
            "send window is too long: at most 200 characters"
        );
        // Control characters are escaped in messages, long input is cut.
        assert_eq!(
            err("m\u{0}n 09:00-10:00"),
            "unknown day \"m\\0n\": use mon, tue, wed, thu, fri, sat or sun"
        );
        let long_day = "x".repeat(100);
        assert_eq!(
            err(&format!("{long_day} 09:00-10:00")),
            format!(
                "unknown day \"{}\"…: use mon, tue, wed, thu, fri, sat or sun",
                "x".repeat(40)
            )
        );
        assert!(err("mön 09:00-10:00").starts_with("unknown day \"mön\""));
    }

    #[test]
    fn quoting_user_input() {
        assert_eq!(quote("don't\n\u{7}é"), "\"don't\\n\\u{7}é\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(&"y".repeat(41)), format!("\"{}\"…", "y".repeat(40)));
    }

    #[test]
    fn window_display_examples() {
        assert_eq!(SendWindow::Always.to_string(), "always");
        for s in [
            "mon-fri 09:00-17:00",
            "mon,wed,fri 10:00-12:00",
            "mon-wed,fri 08:00-24:00",
            "mon,tue 00:00-00:01",
            "mon,tue,thu-sun 23:59-24:00",
            "mon-sun 02:30-04:00",
        ] {
            assert_eq!(win(s).to_string(), s);
        }
    }

    // ----- is_open / next_open ---------------------------------------------

    #[test]
    fn simple_window_utc() {
        let w = win("mon-fri 09:00-17:00");
        let tz = Tz::UTC;
        // 2026-03-06 is a Friday.
        assert!(!w.is_open(tz, &[], utc("2026-03-06T08:59:59Z")));
        assert!(w.is_open(tz, &[], utc("2026-03-06T09:00:00Z")));
        assert!(w.is_open(tz, &[], utc("2026-03-06T16:59:59Z")));
        assert!(!w.is_open(tz, &[], utc("2026-03-06T17:00:00Z")));
        assert_eq!(
            w.next_open(tz, &[], utc("2026-03-06T17:00:00Z")),
            Some(utc("2026-03-09T09:00:00Z"))
        );
        assert_eq!(
            w.next_open(tz, &[], utc("2026-03-06T12:34:56Z")),
            Some(utc("2026-03-06T12:34:56Z"))
        );
        // Quiet Monday pushes to Tuesday.
        assert_eq!(
            w.next_open(tz, &[date("2026-03-09")], utc("2026-03-06T17:00:00Z")),
            Some(utc("2026-03-10T09:00:00Z"))
        );
    }

    #[test]
    fn window_in_account_time_and_rfc3339() {
        let w = win("mon-fri 09:00-17:00");
        let t = w.next_open(NY, &[], utc("2026-03-07T12:00:00Z")).unwrap();
        assert_eq!(t, utc("2026-03-09T13:00:00Z"));
        assert_eq!(local_rfc3339(NY, t), "2026-03-09T09:00:00-04:00");
        assert_eq!(local_rfc3339(Tz::UTC, t), "2026-03-09T13:00:00+00:00");
        assert_eq!(
            local_rfc3339(Tz::Asia__Kolkata, utc("2026-03-09T13:00:00.999Z")),
            "2026-03-09T18:30:00+05:30"
        );
        assert_eq!(
            local_rfc3339(Tz::Pacific__Chatham, utc("2026-01-01T00:00:00Z")),
            "2026-01-01T13:45:00+13:45"
        );
    }

    #[test]
    fn always_and_quiet_dates() {
        let a = SendWindow::Always;
        let q = [date("2026-12-25")];
        assert!(a.is_open(NY, &[], utc("2026-12-25T12:00:00Z")));
        assert!(!a.is_open(NY, &q, utc("2026-12-25T12:00:00Z")));
        // 2026-12-25T04:59Z is still the 24th in New York.
        assert!(a.is_open(NY, &q, utc("2026-12-25T04:59:00Z")));
        assert!(!a.is_open(NY, &q, utc("2026-12-25T05:00:00Z")));
        assert_eq!(
            a.next_open(NY, &q, utc("2026-12-25T12:00:00Z")),
            Some(utc("2026-12-26T05:00:00Z"))
        );
        // Unsorted quiet lists work too.
        let q2 = [date("2026-12-26"), date("2026-12-25")];
        assert_eq!(
            a.next_open(NY, &q2, utc("2026-12-25T12:00:00Z")),
            Some(utc("2026-12-27T05:00:00Z"))
        );
    }

    #[test]
    fn never_open_within_400_days_is_none() {
        let at = utc("2026-01-01T12:00:00Z");
        let start = date("2025-12-01");
        let quiet: Vec<NaiveDate> = start.iter_days().take(500).collect();
        assert_eq!(SendWindow::Always.next_open(Tz::UTC, &quiet, at), None);
        assert!(!SendWindow::Always.is_open(Tz::UTC, &quiet, at));
        // Mondays only, every Monday for 500 days quiet.
        let mondays: Vec<NaiveDate> = quiet
            .iter()
            .copied()
            .filter(|d| d.weekday() == Weekday::Mon)
            .collect();
        assert_eq!(
            win("mon 09:00-10:00").next_open(Tz::UTC, &mondays, at),
            None
        );
        // But a quiet stretch shorter than 400 days is jumped over exactly.
        let short: Vec<NaiveDate> = start.iter_days().take(300).collect();
        assert_eq!(
            SendWindow::Always.next_open(Tz::UTC, &short, at),
            Some(utc("2026-09-27T00:00:00Z"))
        );
    }

    #[test]
    fn invalid_hand_built_windows_are_never_open() {
        let at = utc("2026-01-05T10:00:00Z");
        for w in [
            SendWindow::Days {
                days: [false; 7],
                start_minute: 0,
                end_minute: 1440,
            },
            SendWindow::Days {
                days: [true; 7],
                start_minute: 600,
                end_minute: 600,
            },
            SendWindow::Days {
                days: [true; 7],
                start_minute: 0,
                end_minute: 5000,
            },
        ] {
            assert!(!w.is_open(Tz::UTC, &[], at));
            assert_eq!(w.next_open(Tz::UTC, &[], at), None);
        }
    }

    #[test]
    fn dst_new_york_spring_forward() {
        // 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z.
        let w = win("mon-sun 02:30-04:00");
        let at = utc("2026-03-08T00:00:00Z");
        assert_eq!(w.next_open(NY, &[], at), Some(utc("2026-03-08T07:00:00Z")));
        assert!(!w.is_open(NY, &[], utc("2026-03-08T06:59:59Z")));
        assert!(w.is_open(NY, &[], utc("2026-03-08T07:00:00Z")));
        assert!(w.is_open(NY, &[], utc("2026-03-08T07:59:59Z")));
        assert!(!w.is_open(NY, &[], utc("2026-03-08T08:00:00Z")));
        // The day before: 02:30 EST = 07:30Z to 04:00 EST = 09:00Z.
        assert_eq!(
            w.next_open(NY, &[], utc("2026-03-07T00:00:00Z")),
            Some(utc("2026-03-07T07:30:00Z"))
        );
        assert!(!w.is_open(NY, &[], utc("2026-03-07T09:00:00Z")));
        // A window wholly inside the gap is closed that day.
        let inside = win("sun 02:10-02:40");
        assert_eq!(
            inside.next_open(NY, &[], at),
            Some(utc("2026-03-15T06:10:00Z"))
        );
        // A window ending inside the gap ends at the end of the gap.
        let ends = win("sun 01:00-02:30");
        assert_eq!(
            ends.next_open(NY, &[], at),
            Some(utc("2026-03-08T06:00:00Z"))
        );
        assert!(ends.is_open(NY, &[], utc("2026-03-08T06:59:59Z")));
        assert!(!ends.is_open(NY, &[], utc("2026-03-08T07:00:00Z")));
        // Sunday 09:00 on the change day is 09:00 EDT = 13:00Z (a week
        // before it was 09:00 EST = 14:00Z).
        let sun = win("sun 09:00-17:00");
        assert_eq!(
            sun.next_open(NY, &[], utc("2026-02-28T00:00:00Z")),
            Some(utc("2026-03-01T14:00:00Z"))
        );
        assert_eq!(
            sun.next_open(NY, &[], utc("2026-03-02T00:00:00Z")),
            Some(utc("2026-03-08T13:00:00Z"))
        );
        assert!(sun.is_open(NY, &[], utc("2026-03-08T20:59:00Z")));
        assert!(!sun.is_open(NY, &[], utc("2026-03-08T21:00:00Z")));
    }

    #[test]
    fn dst_new_york_fall_back() {
        // 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z; 01:xx happens twice.
        let w = win("mon-sun 02:30-04:00");
        assert_eq!(
            w.next_open(NY, &[], utc("2026-11-01T00:00:00Z")),
            Some(utc("2026-11-01T07:30:00Z"))
        );
        assert!(w.is_open(NY, &[], utc("2026-11-01T08:59:00Z")));
        assert!(!w.is_open(NY, &[], utc("2026-11-01T09:00:00Z")));
        // A window in the repeated hour opens once, at the first occurrence.
        let rep = win("sun 01:00-01:30");
        assert_eq!(
            rep.next_open(NY, &[], utc("2026-11-01T00:00:00Z")),
            Some(utc("2026-11-01T05:00:00Z"))
        );
        assert!(rep.is_open(NY, &[], utc("2026-11-01T05:29:00Z")));
        assert!(!rep.is_open(NY, &[], utc("2026-11-01T05:30:00Z")));
        // 01:10 EST (the second 01:10) is closed.
        assert!(!rep.is_open(NY, &[], utc("2026-11-01T06:10:00Z")));
        assert_eq!(
            rep.next_open(NY, &[], utc("2026-11-01T05:30:00Z")),
            Some(utc("2026-11-08T06:00:00Z"))
        );
        // A window that ends in the repeated hour ends at its first
        // occurrence.
        let ends = win("sun 00:30-01:30");
        assert!(ends.is_open(NY, &[], utc("2026-11-01T05:29:00Z")));
        assert!(!ends.is_open(NY, &[], utc("2026-11-01T05:30:00Z")));
        // Sunday 09:00 is 09:00 EST = 14:00Z; the week before 13:00Z.
        let sun = win("sun 09:00-17:00");
        assert_eq!(
            sun.next_open(NY, &[], utc("2026-10-24T00:00:00Z")),
            Some(utc("2026-10-25T13:00:00Z"))
        );
        assert_eq!(
            sun.next_open(NY, &[], utc("2026-10-26T00:00:00Z")),
            Some(utc("2026-11-01T14:00:00Z"))
        );
        assert!(!sun.is_open(NY, &[], utc("2026-11-01T13:59:00Z")));
        assert!(sun.is_open(NY, &[], utc("2026-11-01T21:59:00Z")));
        assert!(!sun.is_open(NY, &[], utc("2026-11-01T22:00:00Z")));
    }

    #[test]
    fn dst_berlin() {
        let w = win("mon-sun 02:30-04:00");
        // 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z.
        assert_eq!(
            w.next_open(BERLIN, &[], utc("2026-03-28T22:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert!(w.is_open(BERLIN, &[], utc("2026-03-29T01:59:00Z")));
        assert!(!w.is_open(BERLIN, &[], utc("2026-03-29T02:00:00Z")));
        // 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z; 02:30 first occurs
        // at 00:30Z; 04:00 CET is 03:00Z.
        assert_eq!(
            w.next_open(BERLIN, &[], utc("2026-10-24T22:00:00Z")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert!(w.is_open(BERLIN, &[], utc("2026-10-25T01:30:00Z")));
        assert!(w.is_open(BERLIN, &[], utc("2026-10-25T02:59:00Z")));
        assert!(!w.is_open(BERLIN, &[], utc("2026-10-25T03:00:00Z")));
        let sun = win("sun 09:00-17:00");
        assert_eq!(
            sun.next_open(BERLIN, &[], utc("2026-03-28T00:00:00Z")),
            Some(utc("2026-03-29T07:00:00Z"))
        );
        assert_eq!(
            sun.next_open(BERLIN, &[], utc("2026-03-21T00:00:00Z")),
            Some(utc("2026-03-22T08:00:00Z"))
        );
        assert_eq!(
            sun.next_open(BERLIN, &[], utc("2026-10-24T00:00:00Z")),
            Some(utc("2026-10-25T08:00:00Z"))
        );
        assert_eq!(
            sun.next_open(BERLIN, &[], utc("2026-10-17T00:00:00Z")),
            Some(utc("2026-10-18T07:00:00Z"))
        );
    }

    #[test]
    fn dst_half_hour_and_midnight_changes() {
        // Lord Howe 2026-10-04: 02:00 (+10:30) -> 02:30 (+11) at 15:30Z.
        let lh = Tz::Australia__Lord_Howe;
        let w = win("sun 02:10-03:00");
        assert_eq!(
            w.next_open(lh, &[], utc("2026-10-03T00:00:00Z")),
            Some(utc("2026-10-03T15:30:00Z"))
        );
        assert_eq!(
            resolve_local(lh, local("2026-10-04T02:15:00")),
            utc("2026-10-03T15:30:00Z")
        );
        // Santiago 2026-09-06: 00:00 (-04) -> 01:00 (-03) at 04:00Z, so
        // Sunday starts at 01:00 and midnight does not exist.
        let scl = Tz::America__Santiago;
        assert_eq!(
            resolve_local(scl, local("2026-09-06T00:00:00")),
            utc("2026-09-06T04:00:00Z")
        );
        let sun_all_day = win("sun 00:00-24:00");
        assert_eq!(
            sun_all_day.next_open(scl, &[], utc("2026-09-05T12:00:00Z")),
            Some(utc("2026-09-06T04:00:00Z"))
        );
        // A Saturday window running to 24:00 ends when Sunday begins.
        let sat_late = win("sat 23:00-24:00");
        assert!(sat_late.is_open(scl, &[], utc("2026-09-06T03:59:59Z")));
        assert!(!sat_late.is_open(scl, &[], utc("2026-09-06T04:00:00Z")));
    }

    #[test]
    fn resolve_local_rule() {
        assert_eq!(
            resolve_local(NY, local("2026-03-08T02:30:00")),
            utc("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            resolve_local(NY, local("2026-11-01T01:30:00")),
            utc("2026-11-01T05:30:00Z")
        );
        assert_eq!(
            resolve_local(NY, local("2026-07-01T12:00:00")),
            utc("2026-07-01T16:00:00Z")
        );
        // Samoa skipped the whole of 2011-12-30.
        assert_eq!(
            resolve_local(Tz::Pacific__Apia, local("2011-12-30T12:00:00")),
            utc("2011-12-30T10:00:00Z")
        );
        // The bisection fallback agrees with the tz database's gap info.
        for (tz, l) in [
            (NY, "2026-03-08T02:30:00"),
            (Tz::Australia__Lord_Howe, "2026-10-04T02:00:00"),
            (Tz::America__Santiago, "2026-09-06T00:59:00"),
            (Tz::Pacific__Apia, "2011-12-30T00:00:00"),
        ] {
            let l = local(l);
            assert_eq!(gap_end_by_bisection(tz, l), Some(resolve_local(tz, l)));
        }
    }

    // ----- waits ------------------------------------------------------------

    #[test]
    fn wait_days_across_dst() {
        // Noon to noon across spring forward: 23 h.
        let from = utc("2026-03-07T17:00:00Z");
        let due = Wait::Days(1).due_after(NY, from);
        assert_eq!(due, utc("2026-03-08T16:00:00Z"));
        assert_eq!(due - from, Duration::hours(23));
        // Across fall back: 25 h.
        let from = utc("2026-10-31T16:00:00Z");
        let due = Wait::Days(1).due_after(NY, from);
        assert_eq!(due, utc("2026-11-01T17:00:00Z"));
        assert_eq!(due - from, Duration::hours(25));
        // Berlin.
        let from = utc("2026-03-28T11:00:00Z");
        assert_eq!(
            Wait::Days(1).due_after(BERLIN, from) - from,
            Duration::hours(23)
        );
        let from = utc("2026-10-24T10:00:00Z");
        assert_eq!(
            Wait::Days(1).due_after(BERLIN, from) - from,
            Duration::hours(25)
        );
        // Landing in the gap: 02:30 EST -> 03:00 EDT next day.
        assert_eq!(
            Wait::Days(1).due_after(NY, utc("2026-03-07T07:30:00Z")),
            utc("2026-03-08T07:00:00Z")
        );
        // Landing in the repeated hour: the earlier 01:30 (EDT).
        assert_eq!(
            Wait::Days(1).due_after(NY, utc("2026-10-31T05:30:00Z")),
            utc("2026-11-01T05:30:00Z")
        );
        // Several days keep the local time of day.
        assert_eq!(
            Wait::Days(10).due_after(NY, utc("2026-03-01T14:00:00Z")),
            utc("2026-03-11T13:00:00Z")
        );
    }

    #[test]
    fn wait_hours_is_elapsed_time() {
        let from = utc("2026-03-07T17:00:00Z");
        assert_eq!(
            Wait::Hours(24).due_after(NY, from),
            utc("2026-03-08T17:00:00Z")
        );
        assert_eq!(
            Wait::Hours(1).due_after(Tz::UTC, from),
            utc("2026-03-07T18:00:00Z")
        );
    }

    #[test]
    fn wait_until() {
        let sun9 = Wait::Until {
            weekday: Weekday::Sun,
            time: hm(9, 0),
        };
        // Saturday noon EST -> Sunday 09:00 EDT on the change day.
        assert_eq!(
            sun9.due_after(NY, utc("2026-03-07T17:00:00Z")),
            utc("2026-03-08T13:00:00Z")
        );
        // Exactly at the time: strictly after, so next week.
        assert_eq!(
            sun9.due_after(NY, utc("2026-03-08T13:00:00Z")),
            utc("2026-03-15T13:00:00Z")
        );
        // One minute before: same day.
        assert_eq!(
            sun9.due_after(NY, utc("2026-03-08T12:59:00Z")),
            utc("2026-03-08T13:00:00Z")
        );
        // Fall-back Sunday: 09:00 EST = 14:00Z.
        assert_eq!(
            sun9.due_after(NY, utc("2026-10-31T17:00:00Z")),
            utc("2026-11-01T14:00:00Z")
        );
        // A time in the gap -> end of the gap.
        let sun230 = Wait::Until {
            weekday: Weekday::Sun,
            time: hm(2, 30),
        };
        assert_eq!(
            sun230.due_after(NY, utc("2026-03-07T17:00:00Z")),
            utc("2026-03-08T07:00:00Z")
        );
        // A repeated time counts once: from between the two 01:30s, the
        // next one is a week later.
        let sun130 = Wait::Until {
            weekday: Weekday::Sun,
            time: hm(1, 30),
        };
        assert_eq!(
            sun130.due_after(NY, utc("2026-11-01T05:00:00Z")),
            utc("2026-11-01T05:30:00Z")
        );
        assert_eq!(
            sun130.due_after(NY, utc("2026-11-01T06:00:00Z")),
            utc("2026-11-08T06:30:00Z")
        );
        // Berlin Monday 09:00 from a Monday afternoon.
        let mon9 = Wait::parse_until("mon 09:00").unwrap();
        assert_eq!(
            mon9.due_after(BERLIN, utc("2026-03-23T12:00:00Z")),
            utc("2026-03-30T07:00:00Z")
        );
    }

    #[test]
    fn wait_parse_check_display() {
        assert_eq!(
            Wait::parse_until("Mon 09:00"),
            Ok(Wait::Until {
                weekday: Weekday::Mon,
                time: hm(9, 0)
            })
        );
        assert_eq!(
            Wait::parse_until(" until sun 23:59 "),
            Ok(Wait::Until {
                weekday: Weekday::Sun,
                time: hm(23, 59)
            })
        );
        assert_eq!(
            Wait::parse_until("mnd 09:00"),
            Err("unknown day \"mnd\": use mon, tue, wed, thu, fri, sat or sun".to_string())
        );
        assert_eq!(
            Wait::parse_until("mon"),
            Err("expected \"<day> HH:MM\", e.g. \"mon 09:00\"".to_string())
        );
        assert_eq!(
            Wait::parse_until("mon 24:00"),
            Err("time \"24:00\" is out of range: use 00:00 to 23:59".to_string())
        );
        assert_eq!(
            Wait::parse_until("mon 9"),
            Err("invalid time \"9\": use 24-hour HH:MM, e.g. \"09:00\"".to_string())
        );
        assert_eq!(Wait::Days(1).to_string(), "1 day");
        assert_eq!(Wait::Days(3).to_string(), "3 days");
        assert_eq!(Wait::Hours(12).to_string(), "12 hours");
        assert_eq!(Wait::Hours(1).to_string(), "1 hour");
        assert_eq!(
            Wait::Until {
                weekday: Weekday::Mon,
                time: hm(9, 0)
            }
            .to_string(),
            "until mon 09:00"
        );
        assert_eq!(Wait::parse("3 days"), Ok(Wait::Days(3)));
        assert_eq!(Wait::parse("1 Day"), Ok(Wait::Days(1)));
        assert_eq!(Wait::parse("12 hours"), Ok(Wait::Hours(12)));
        assert_eq!(
            Wait::parse("0 days"),
            Err("wait must be between 1 and 3650 days".to_string())
        );
        assert_eq!(
            Wait::parse("99999999999999999999 hours"),
            Err("wait must be between 1 and 87600 hours".to_string())
        );
        assert!(
            Wait::parse("3 weeks")
                .unwrap_err()
                .starts_with("unknown wait unit \"weeks\"")
        );
        assert_eq!(
            Wait::Days(0).check(),
            Err("wait must be between 1 and 3650 days".into())
        );
        assert_eq!(Wait::Days(3650).check(), Ok(()));
        assert!(Wait::Days(3651).check().is_err());
        assert_eq!(Wait::Hours(87_600).check(), Ok(()));
        assert!(Wait::Hours(87_601).check().is_err());
        assert!(Wait::Hours(0).check().is_err());
        assert_eq!(
            Wait::Until {
                weekday: Weekday::Mon,
                time: NaiveTime::from_hms_opt(9, 0, 1).unwrap()
            }
            .check(),
            Err("wait time must be a whole minute".to_string())
        );
    }

    // ----- caps ---------------------------------------------------------------

    #[test]
    fn cap_parse_and_display() {
        assert_eq!(
            Cap::parse("3/7d"),
            Ok(Some(Cap {
                max: 3,
                window: Duration::days(7)
            }))
        );
        assert_eq!(Cap::parse(""), Ok(None));
        assert_eq!(Cap::parse(" \t\n"), Ok(None));
        assert_eq!(
            Cap::parse(" 10 / 90m ").unwrap().unwrap().to_string(),
            "10/90m"
        );
        assert_eq!(Cap::parse("3/7d").unwrap().unwrap().to_string(), "3/7d");
        assert_eq!(Cap::parse("3/2w").unwrap().unwrap().to_string(), "3/14d");
        assert_eq!(Cap::parse("5/48h").unwrap().unwrap().to_string(), "5/2d");
        assert_eq!(
            Cap::parse("10000/366d").unwrap().unwrap().to_string(),
            "10000/366d"
        );
        assert_eq!(Cap::parse("1/1m").unwrap().unwrap().to_string(), "1/1m");
        let err = |s: &str| Cap::parse(s).unwrap_err();
        assert_eq!(
            err("3/7x"),
            "unknown unit \"x\" in cap window \"7x\": use m, h, d or w"
        );
        assert_eq!(err("0/7d"), "cap limit must be between 1 and 10000");
        assert_eq!(err("10001/7d"), "cap limit must be between 1 and 10000");
        assert_eq!(
            err("99999999999999999999/7d"),
            "cap limit must be between 1 and 10000"
        );
        assert_eq!(
            err("3/99999999999999999999d"),
            "cap window must be at most 366 days"
        );
        assert_eq!(err("3/367d"), "cap window must be at most 366 days");
        assert_eq!(err("3/53w"), "cap window must be at most 366 days");
        assert_eq!(err("3/0m"), "cap window must be at least 1 minute");
        assert_eq!(err("3/0"), "cap window must be at least 1 minute");
        assert_eq!(
            err("3/7"),
            "missing unit in cap window \"7\": use m, h, d or w"
        );
        assert_eq!(
            err("abc"),
            "invalid cap \"abc\": use <max>/<window>, e.g. \"3/7d\""
        );
        assert_eq!(
            err("-1/7d"),
            "invalid cap limit \"-1\": use a whole number from 1 to 10000"
        );
        assert_eq!(
            err("3/"),
            "cap window is empty: use a number and a unit (m, h, d or w), e.g. \"30m\", \"6h\", \"2d\" or \"1w\""
        );
        assert_eq!(
            err("3/d"),
            "invalid cap window \"d\": use a number and a unit (m, h, d or w), e.g. \"30m\", \"6h\", \"2d\" or \"1w\""
        );
        assert!(err("3/7d/2").starts_with("unknown unit \"d/2\""));
    }

    fn minutes_after(base: DateTime<Utc>, m: &[i64]) -> Vec<DateTime<Utc>> {
        m.iter().map(|m| base + Duration::minutes(*m)).collect()
    }

    #[test]
    fn cap_check_exact() {
        let now = utc("2026-05-10T12:00:00Z");
        let cap = Cap {
            max: 3,
            window: Duration::days(7),
        };
        let day = 24 * 60;
        // Two in window (and one 8 days old): one more fits.
        let sent = minutes_after(now, &[-8 * day, -3 * day, -day]);
        assert_eq!(cap.check(&sent, now, 1), Ok(()));
        // Want 2: the oldest in-window (3 days ago) must age out: in 4 days.
        assert_eq!(cap.check(&sent, now, 2), Err(now + Duration::days(4)));
        // Want 3: both must go.
        assert_eq!(cap.check(&sent, now, 3), Err(now + Duration::days(6)));
        // Full: three in window, frees when the oldest ages out.
        let sent = minutes_after(now, &[-6 * day, -2 * day, -60]);
        assert_eq!(cap.check(&sent, now, 1), Err(now + Duration::days(1)));
        assert_eq!(cap.check(&sent, now, 0), Ok(()));
        // Boundary: a message exactly `window` ago no longer counts.
        let sent = minutes_after(now, &[-7 * day, -2 * day, -60]);
        assert_eq!(cap.check(&sent, now, 1), Ok(()));
        // ... but one a minute younger does, until exactly window after it.
        let sent = minutes_after(now, &[-7 * day + 1, -2 * day, -60]);
        assert_eq!(cap.check(&sent, now, 1), Err(now + Duration::minutes(1)));
        // Duplicates count separately.
        let sent = minutes_after(now, &[-day, -day, -day]);
        assert_eq!(cap.check(&sent, now, 1), Err(now + Duration::days(6)));
        // want > max: when the window is completely empty.
        let sent = minutes_after(now, &[-3 * day, -day]);
        assert_eq!(cap.check(&sent, now, 5), Err(now + Duration::days(6)));
        assert_eq!(cap.check(&[], now, 5), Err(now));
        assert_eq!(cap.check(&[], now, 3), Ok(()));
    }

    #[test]
    fn cap_check_future_and_unsorted() {
        let now = utc("2026-05-10T12:00:00Z");
        let cap = Cap {
            max: 2,
            window: Duration::hours(1),
        };
        // A message 10 minutes in the future counts as in window.
        let sent = minutes_after(now, &[10, -30]);
        assert_eq!(cap.check(&sent, now, 1), Err(now + Duration::minutes(30)));
        // Unsorted input gives the same answer.
        let sent = minutes_after(now, &[-5, 10, -50]);
        assert_eq!(cap.check(&sent, now, 1), Err(now + Duration::minutes(55)));
        // Future messages age out `window` after their own time.
        assert_eq!(cap.check(&sent, now, 2), Err(now + Duration::minutes(70)));
        assert_eq!(cap.check(&sent, now, 3), Err(now + Duration::minutes(70)));
        let sorted = minutes_after(now, &[-50, -5, 10]);
        for want in 0..4 {
            assert_eq!(cap.check(&sent, now, want), cap.check(&sorted, now, want));
        }
        // Far future timestamps near the end of time do not overflow.
        let sent = [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC];
        assert_eq!(cap.check(&sent, now, 1), Err(DateTime::<Utc>::MAX_UTC));
    }

    // ----- durations ----------------------------------------------------------

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_duration(" 6h "), Ok(Duration::hours(6)));
        assert_eq!(parse_duration("2d"), Ok(Duration::days(2)));
        assert_eq!(parse_duration("1w"), Ok(Duration::weeks(1)));
        assert_eq!(parse_duration("366d"), Ok(Duration::days(366)));
        assert_eq!(parse_duration("0007m"), Ok(Duration::minutes(7)));
        assert_eq!(
            parse_duration("0"),
            Err("duration must be at least 1 minute".to_string())
        );
        assert_eq!(
            parse_duration("0h"),
            Err("duration must be at least 1 minute".to_string())
        );
        assert_eq!(
            parse_duration("367d"),
            Err("duration must be at most 366 days".to_string())
        );
        assert_eq!(
            parse_duration("527041m"),
            Err("duration must be at most 366 days".to_string())
        );
        assert_eq!(
            parse_duration("99999999999999999999999w"),
            Err("duration must be at most 366 days".to_string())
        );
        assert_eq!(
            parse_duration("5s"),
            Err("unknown unit \"s\" in duration \"5s\": use m, h, d or w".to_string())
        );
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("1 h").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(Duration::minutes(30)), "30m");
        assert_eq!(format_duration(Duration::minutes(90)), "90m");
        assert_eq!(format_duration(Duration::hours(6)), "6h");
        assert_eq!(format_duration(Duration::hours(48)), "2d");
        assert_eq!(format_duration(Duration::days(14)), "14d");
        assert_eq!(format_duration(Duration::weeks(1)), "7d");
        assert_eq!(format_duration(Duration::days(366)), "366d");
        assert_eq!(format_duration(Duration::zero()), "0m");
        assert_eq!(format_duration(Duration::seconds(90)), "1m");
        assert_eq!(format_duration(Duration::hours(-3)), "-3h");
        assert_eq!(
            format_duration(Duration::MAX),
            format!("{}m", Duration::MAX.num_minutes())
        );
    }

    // ----- property tests -----------------------------------------------------

    const ZONES: [Tz; 7] = [
        Tz::America__New_York,
        Tz::Europe__Berlin,
        Tz::Australia__Lord_Howe,
        Tz::America__Santiago,
        Tz::Asia__Ho_Chi_Minh,
        Tz::UTC,
        Tz::Pacific__Chatham,
    ];

    fn ts(s: &str) -> i64 {
        utc(s).timestamp()
    }

    /// Every offset change of the test zones in 2025–2027, to the second.
    fn transitions() -> &'static [i64] {
        static T: OnceLock<Vec<i64>> = OnceLock::new();
        T.get_or_init(|| {
            let offset = |tz: Tz, t: i64| {
                tz.offset_from_utc_datetime(&DateTime::from_timestamp(t, 0).unwrap().naive_utc())
                    .fix()
            };
            let mut out = Vec::new();
            for tz in ZONES {
                let mut t = ts("2025-01-01T00:00:00Z");
                while t < ts("2028-01-01T00:00:00Z") {
                    let next = t + 3600;
                    if offset(tz, t) != offset(tz, next) {
                        let (mut lo, mut hi) = (t, next);
                        while hi - lo > 1 {
                            let mid = (lo + hi) / 2;
                            if offset(tz, mid) == offset(tz, t) {
                                lo = mid;
                            } else {
                                hi = mid;
                            }
                        }
                        out.push(hi);
                    }
                    t = next;
                }
            }
            assert!(out.len() > 20, "expected DST changes, got {}", out.len());
            out
        })
    }

    fn window_strategy() -> impl Strategy<Value = SendWindow> {
        let days = (any::<[bool; 7]>(), 0usize..7).prop_map(|(mut d, i)| {
            d[i] = true;
            d
        });
        let times = (0u16..1440).prop_flat_map(|s| (Just(s), (s + 1)..=1440));
        // Bias toward small-night windows near DST change times.
        let night = (0u16..240).prop_flat_map(|s| (Just(s), (s + 1)..=(s + 120)));
        prop_oneof![
            1 => Just(SendWindow::Always),
            4 => (days.clone(), times).prop_map(|(days, (start_minute, end_minute))| {
                SendWindow::Days { days, start_minute, end_minute }
            }),
            3 => (days, night).prop_map(|(days, (start_minute, end_minute))| {
                SendWindow::Days { days, start_minute, end_minute }
            }),
        ]
    }

    fn instant_strategy() -> impl Strategy<Value = DateTime<Utc>> {
        let anywhere = ts("2025-01-01T00:00:00Z")..ts("2028-01-01T00:00:00Z");
        let near_change = (any::<prop::sample::Index>(), -3 * 86_400i64..3 * 86_400);
        prop_oneof![
            anywhere.prop_map(|t| DateTime::from_timestamp(t, 0).unwrap()),
            near_change.prop_map(|(i, d)| {
                let t = transitions();
                DateTime::from_timestamp(t[i.index(t.len())] + d, 0).unwrap()
            }),
            // Within three hours of a change.
            (any::<prop::sample::Index>(), -3 * 3600i64..3 * 3600).prop_map(|(i, d)| {
                let t = transitions();
                DateTime::from_timestamp(t[i.index(t.len())] + d, 0).unwrap()
            }),
            // Whole minutes near a change, to hit window edges exactly.
            (any::<prop::sample::Index>(), -3 * 1440i64..3 * 1440).prop_map(|(i, m)| {
                let t = transitions();
                DateTime::from_timestamp(t[i.index(t.len())] / 60 * 60 + m * 60, 0).unwrap()
            }),
        ]
    }

    /// Reference `is_open` for instants with no offset change within 26 h
    /// either side: plain local-time comparison.
    fn simple_is_open(w: &SendWindow, tz: Tz, quiet: &[NaiveDate], at: DateTime<Utc>) -> bool {
        let l = at.with_timezone(&tz);
        if quiet.contains(&l.date_naive()) {
            return false;
        }
        match w {
            SendWindow::Always => true,
            SendWindow::Days {
                days,
                start_minute,
                end_minute,
            } => {
                let m = (l.hour() * 60 + l.minute()) as u16;
                days[l.weekday().num_days_from_monday() as usize]
                    && *start_minute <= m
                    && m < *end_minute
            }
        }
    }

    fn no_change_near(tz: Tz, at: DateTime<Utc>) -> bool {
        let off = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        let span = Duration::hours(26);
        off(at - span) == off(at) && off(at) == off(at + span)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn next_open_is_first_open_instant(
            w in window_strategy(),
            tz in prop::sample::select(ZONES.to_vec()),
            at in instant_strategy(),
            quiet_offsets in prop::collection::vec(-3i64..40, 0..6),
        ) {
            let today = at.with_timezone(&tz).date_naive();
            let quiet: Vec<NaiveDate> =
                quiet_offsets.iter().map(|d| today + Duration::days(*d)).collect();
            let t = w.next_open(tz, &quiet, at);
            prop_assert!(t.is_some(), "never open: {w} in {tz} at {at}");
            let t = t.unwrap();
            prop_assert!(t >= at);
            prop_assert!(t <= at + Duration::days(400));
            prop_assert!(w.is_open(tz, &quiet, t), "{w} {tz} at {at}: {t} not open");
            prop_assert_eq!(w.next_open(tz, &quiet, t), Some(t));
            if t != at {
                prop_assert!(!w.is_open(tz, &quiet, at));
                prop_assert!(
                    !w.is_open(tz, &quiet, t - Duration::minutes(1)),
                    "{w} {tz} at {at}: open a minute before {t}"
                );
                let gap = (t - at).num_seconds();
                for i in 0..50i64 {
                    let s = at + Duration::seconds(gap * i / 50);
                    prop_assert!(!w.is_open(tz, &quiet, s), "{w} {tz}: open at {s} before {t}");
                }
            }
        }

        #[test]
        fn is_open_matches_local_time_away_from_changes(
            w in window_strategy(),
            tz in prop::sample::select(ZONES.to_vec()),
            at in instant_strategy(),
            quiet_offsets in prop::collection::vec(-2i64..3, 0..3),
        ) {
            let today = at.with_timezone(&tz).date_naive();
            let quiet: Vec<NaiveDate> =
                quiet_offsets.iter().map(|d| today + Duration::days(*d)).collect();
            if no_change_near(tz, at) {
                prop_assert_eq!(w.is_open(tz, &quiet, at), simple_is_open(&w, tz, &quiet, at));
            }
        }

        #[test]
        fn resolve_local_is_earliest_instant_at_or_after(
            tz in prop::sample::select(ZONES.to_vec()),
            at in instant_strategy(),
        ) {
            let l = at.with_timezone(&tz).naive_local();
            let r = resolve_local(tz, l);
            // Its local time is at/after l, and one second earlier is before l.
            prop_assert!(r.with_timezone(&tz).naive_local() >= l);
            prop_assert!((r - Duration::seconds(1)).with_timezone(&tz).naive_local() < l);
            prop_assert!(r <= at);
            // And in any case the instant of `at`'s local time never moves by
            // more than the size of one change.
            prop_assert!(at - r <= Duration::hours(1));
        }

        #[test]
        fn wait_days_keeps_local_time(
            tz in prop::sample::select(ZONES.to_vec()),
            from in instant_strategy(),
            n in 1u32..400,
        ) {
            let due = Wait::Days(n).due_after(tz, from);
            let lf = from.with_timezone(&tz).naive_local();
            let target = lf + Duration::days(i64::from(n));
            prop_assert_eq!(due, resolve_local(tz, target));
            prop_assert!(due > from);
            let elapsed = due - from - Duration::days(i64::from(n));
            prop_assert!(elapsed.abs() <= Duration::hours(2), "{elapsed}");
        }

        #[test]
        fn wait_until_is_next_occurrence(
            tz in prop::sample::select(ZONES.to_vec()),
            from in instant_strategy(),
            day in 0usize..7,
            minute in 0u32..1440,
        ) {
            let weekday = weekday_from_index(day);
            let time = hm(minute / 60, minute % 60);
            let due = Wait::Until { weekday, time }.due_after(tz, from);
            prop_assert!(due > from);
            prop_assert!(due - from <= Duration::days(8));
            // `due` is that time on its own local date, and the same time one
            // week earlier was not after `from`.
            let d = due.with_timezone(&tz).date_naive();
            prop_assert_eq!(d.weekday(), weekday);
            prop_assert_eq!(resolve_local(tz, d.and_time(time)), due);
            let week_before = resolve_local(tz, (d - Duration::days(7)).and_time(time));
            prop_assert!(week_before <= from);
        }

        #[test]
        fn cap_check_matches_brute_force(
            max in 1u32..6,
            window_min in 1i64..600,
            offsets in prop::collection::vec(-1200i64..60, 0..12),
            want in 0u32..8,
        ) {
            let now = utc("2026-05-10T12:00:00Z");
            let cap = Cap { max, window: Duration::minutes(window_min) };
            // Shuffled on purpose: order must not matter.
            let sent = minutes_after(now, &offsets);
            let count_at = |t: DateTime<Utc>| {
                sent.iter().filter(|s| **s > t - cap.window).count() as u32
            };
            match cap.check(&sent, now, want) {
                Ok(()) => prop_assert!(count_at(now) + want <= max),
                Err(t) => {
                    prop_assert!(count_at(now) + want > max);
                    if want <= max {
                        prop_assert!(t > now);
                        prop_assert!(count_at(t) + want <= max);
                        prop_assert!(count_at(t - Duration::seconds(1)) + want > max);
                    } else {
                        prop_assert_eq!(count_at(t), 0);
                        prop_assert!(t == now || count_at(t - Duration::seconds(1)) > 0);
                    }
                }
            }
        }

        #[test]
        fn window_display_round_trips(w in window_strategy()) {
            prop_assert_eq!(SendWindow::parse(&w.to_string()), Ok(w.clone()));
            prop_assert_eq!(SendWindow::parse(&w.to_string().to_uppercase()), Ok(w));
        }

        #[test]
        fn cap_display_round_trips(max in 1u32..=10_000, minutes in 1i64..=366 * 1440) {
            let cap = Cap { max, window: Duration::minutes(minutes) };
            prop_assert_eq!(Cap::parse(&cap.to_string()), Ok(Some(cap)));
            prop_assert_eq!(parse_duration(&format_duration(cap.window)), Ok(cap.window));
        }

        #[test]
        fn wait_display_round_trips(
            kind in 0u8..3,
            n in 1u32..=87_600,
            day in 0usize..7,
            minute in 0u32..1440,
        ) {
            let wait = match kind {
                0 => Wait::Days(n % 3650 + 1),
                1 => Wait::Hours(n),
                _ => Wait::Until { weekday: weekday_from_index(day), time: hm(minute / 60, minute % 60) },
            };
            prop_assert_eq!(wait.check(), Ok(()));
            prop_assert_eq!(Wait::parse(&wait.to_string()), Ok(wait));
            if let Wait::Until { .. } = wait {
                prop_assert_eq!(Wait::parse_until(&wait.to_string()), Ok(wait));
            }
        }

        #[test]
        fn parsers_never_panic(s in prop_oneof![
            ".*",
            "\\PC*",
            "[\\x00-\\x1f\\x7f]{0,10}",
            "[0-9]{0,30}/[0-9]{0,30}[mhdwxM ]{0,2}",
            "[0-9]{0,40}[mhdw]?",
            "[a-zA-Z,\\- ]{0,20} [0-9:\\-]{0,15}",
            "(until )?[a-z]{0,4} [0-9]{0,3}:[0-9]{0,3}",
            "[0-9]{0,25} (days?|hours?|x)",
            "[a-z0-9 ,:\\-/]{195,210}",
        ]) {
            if let Ok(w) = SendWindow::parse(&s) {
                prop_assert_eq!(SendWindow::parse(&w.to_string()), Ok(w));
            }
            if let Ok(Some(c)) = Cap::parse(&s) {
                prop_assert_eq!(Cap::parse(&c.to_string()), Ok(Some(c)));
            }
            if let Ok(w) = Wait::parse_until(&s) {
                prop_assert_eq!(Wait::parse_until(&w.to_string()), Ok(w));
            }
            if let Ok(w) = Wait::parse(&s) {
                prop_assert_eq!(Wait::parse(&w.to_string()), Ok(w));
            }
            if let Ok(d) = parse_duration(&s) {
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
            for e in [
                SendWindow::parse(&s).err(),
                Cap::parse(&s).err(),
                Wait::parse_until(&s).err(),
                Wait::parse(&s).err(),
                parse_duration(&s).err(),
            ].into_iter().flatten() {
                prop_assert!(e.chars().count() < 200, "long error: {e}");
                prop_assert!(!e.chars().any(|c| c.is_control()), "control char in error: {e:?}");
            }
        }

        #[test]
        fn extreme_instants_never_panic(
            secs in DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            edge in 0u8..3,
            tz in prop::sample::select(vec![
                Tz::Pacific__Kiritimati, Tz::Etc__GMTPlus12, Tz::America__New_York, Tz::UTC,
                Tz::Asia__Manila, Tz::Pacific__Apia,
            ]),
            w in window_strategy(),
            n in any::<u32>(),
        ) {
            let at = match edge {
                0 => DateTime::from_timestamp(secs, 0).unwrap(),
                1 => DateTime::<Utc>::MAX_UTC - Duration::seconds(secs.rem_euclid(200_000)),
                _ => DateTime::<Utc>::MIN_UTC + Duration::seconds(secs.rem_euclid(200_000)),
            };
            let quiet = [at.date_naive()];
            let _ = w.is_open(tz, &quiet, at);
            if let Some(t) = w.next_open(tz, &quiet, at) {
                prop_assert!(t >= at);
            }
            let _ = local_rfc3339(tz, at);
            let _ = resolve_local(tz, at.naive_utc());
            for wait in [
                Wait::Days(n),
                Wait::Hours(n),
                Wait::Until { weekday: weekday_from_index(n as usize % 7), time: hm(n % 24, n % 60) },
            ] {
                prop_assert!(wait.due_after(tz, at) >= at);
            }
            let cap = Cap { max: n % 5, window: Duration::days(i64::from(n % 1000)) };
            let _ = cap.check(&[DateTime::<Utc>::MIN_UTC, at, DateTime::<Utc>::MAX_UTC], at, n % 7);
        }
    }
}
