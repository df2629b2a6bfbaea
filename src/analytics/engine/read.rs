//! Reading an orders CSV (`account_id,ordered_at,amount[,margin]`) into an [`OrderBook`]:
//! the file is split at newlines and read on several threads without the CSV parser when no
//! field is quoted (with it otherwise), each row checked and its errors reported by file line
//! and column. Any bad row fails the load, and nothing is written.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::book::{AccountAgg, MonthAgg, OrderBook, SCALE, date_of, day_number, month_index};
use super::par::par_map;
use crate::domain::{parse_decimal, parse_timestamp};
use crate::import::{Errors, ImportError, RowError};

/// A quick (non-DoS-resistant) hash map for account ids read from a trusted local file.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn decimals_of(raw: &str) -> u32 {
    raw.trim()
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('0').len() as u32)
        .unwrap_or(0)
}

/// Account ids to account numbers. Ids shorter than 24 bytes (nearly all) are kept inline in
/// the table, so that a lookup compares bytes in place instead of following a pointer to
/// each candidate key: with accounts in random order, that pointer is a cache miss per row.
#[derive(Default)]
struct AccountIndex {
    short: FastMap<[u8; 24], u32>,
    long: FastMap<Box<[u8]>, u32>,
}

impl AccountIndex {
    /// The id padded with zeros, its length in the last byte.
    fn short_key(id: &[u8]) -> Option<[u8; 24]> {
        (id.len() < 24).then(|| {
            let mut key = [0u8; 24];
            key[..id.len()].copy_from_slice(id);
            key[23] = id.len() as u8;
            key
        })
    }

    fn get(&self, id: &[u8]) -> Option<u32> {
        match Self::short_key(id) {
            Some(key) => self.short.get(&key),
            None => self.long.get(id),
        }
        .copied()
    }

    fn insert(&mut self, id: &[u8], number: u32) {
        match Self::short_key(id) {
            Some(key) => self.short.insert(key, number),
            None => self.long.insert(id.into(), number),
        };
    }
}

/// Column positions of an orders file.
#[derive(Debug, Clone, Copy)]
struct Cols {
    account: usize,
    at: usize,
    amount: usize,
    margin: Option<usize>,
    width: usize,
}

/// One order as read: its account (numbered within its part), local day, amount and margin
/// ([`NO_MARGIN`] when none). 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    owner: u32,
    day: i32,
    amount: i64,
    margin: i64,
}

impl AccountAgg {
    /// Builds an account's aggregate from its orders sorted by day.
    fn from_sorted(entries: &[Entry]) -> Self {
        // Exact capacities: a hundred thousand half-empty vectors add up.
        let days = 1 + entries.windows(2).filter(|w| w[0].day != w[1].day).count();
        let months = match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => month_index(date_of(l.day)) - month_index(date_of(f.day)) + 1,
            _ => 0,
        };
        let mut agg = AccountAgg {
            months: Vec::with_capacity((months.max(0) as usize).min(days)),
            days: Vec::with_capacity(days),
        };
        let mut month = 0;
        for e in entries {
            if agg.days.last() != Some(&e.day) {
                agg.days.push(e.day);
                month = month_index(date_of(e.day));
            }
            let margin = (e.margin != NO_MARGIN).then_some(e.margin);
            match agg.months.last_mut() {
                Some(m) if m.month == month => {
                    m.amount = m.amount.saturating_add(e.amount);
                    m.orders = m.orders.saturating_add(1);
                    if let Some(v) = margin {
                        m.margin = m.margin.saturating_add(v);
                        m.has_margin = true;
                    }
                }
                _ => agg.months.push(MonthAgg {
                    month,
                    amount: e.amount,
                    margin: margin.unwrap_or(0),
                    orders: 1,
                    has_margin: margin.is_some(),
                }),
            }
        }
        agg
    }
}

/// No margin given (never a parsed value: those stay within ±i64::MAX).
const NO_MARGIN: i64 = i64::MIN;

/// Entries are kept in this many buckets by account number, so that grouping one bucket works
/// within the processor's cache.
const BUCKETS: usize = 64;

/// What one thread read from its part of the file. Orders are kept as read (`buckets`, by
/// account number modulo [`BUCKETS`]) and grouped by account in place once the part is read:
/// appending is cheap however the file is ordered, where per-account structures would be
/// touched at random.
#[derive(Default)]
struct Part {
    index: AccountIndex,
    names: Vec<String>,
    buckets: Vec<Vec<Entry>>,
    /// After [`Part::group`]: account `i`'s entries are `buckets[b][starts[b][k]..starts[b][k + 1]]`
    /// with `b = i % BUCKETS` and `k = i / BUCKETS`.
    starts: Vec<Vec<usize>>,
    errors: Vec<RowError>,
    error_count: u64,
    /// Lines in this part (to number the rows of the parts after it).
    lines: u64,
    rows: u64,
    decimals: u32,
    has_margin: bool,
    /// The account of the previous row, and its id (kept here: `names` is cold).
    last: Option<u32>,
    last_id: Vec<u8>,
}

/// What every row of a part is checked and counted with.
#[derive(Clone, Copy)]
struct RowCtx {
    cols: Cols,
    tz: chrono_tz::Tz,
    utc: bool,
    cut: Option<i32>,
}

impl Part {
    fn bad(&mut self, row: u64, column: &str, message: String) {
        self.error_count += 1;
        if self.errors.len() < 10_000 {
            self.errors.push(RowError {
                row,
                column: Some(column.to_string()),
                message,
            });
        }
    }

    /// Checks and adds one row: `data` holds its fields at `ranges` (`line` is part-local).
    fn add_row(&mut self, line: u64, data: &[u8], ranges: &[std::ops::Range<usize>], ctx: &RowCtx) {
        if ranges
            .iter()
            .all(|r| data[r.clone()].iter().all(u8::is_ascii_whitespace))
        {
            return; // a blank (padding) row
        }
        self.rows += 1;
        let cols = ctx.cols;
        if ranges.len() != cols.width {
            let message = format!(
                "expected {} fields like the header, found {}",
                cols.width,
                ranges.len()
            );
            return self.bad(line, "*", message);
        }
        let field = |i: usize| data[ranges[i].clone()].trim_ascii();
        let acc = field(cols.account);
        let (at, amount) = (field(cols.at), field(cols.amount));
        let margin = cols.margin.map(field).filter(|m| !m.is_empty());
        if acc.is_empty() {
            return self.bad(line, "account_id", "must not be empty".into());
        }
        let day = match fast_date(at).or_else(|| {
            if ctx.utc {
                fast_utc_timestamp(at)
            } else {
                None
            }
        }) {
            Some(d) => day_number(d),
            None => match std::str::from_utf8(at).map(parse_timestamp) {
                Ok(Ok(ts)) => local_day(ts, ctx.tz, ctx.utc).0,
                Ok(Err(e)) => return self.bad(line, "ordered_at", e),
                Err(_) => return self.bad(line, "ordered_at", "is not valid UTF-8".into()),
            },
        };
        let (amount_v, amount_decimals) = match decimal(amount) {
            Ok(v) => v,
            Err(e) => return self.bad(line, "amount", e),
        };
        let margin = match margin.map(decimal) {
            Some(Ok((v, decimals))) => {
                self.has_margin = true;
                self.decimals = self.decimals.max(decimals);
                v
            }
            Some(Err(e)) => return self.bad(line, "margin", e),
            None => NO_MARGIN,
        };
        self.decimals = self.decimals.max(amount_decimals);
        if ctx.cut.is_some_and(|c| day > c) {
            return;
        }
        // Exports usually list an account's orders together: try the last account first.
        let idx = match self.last {
            Some(i) if self.last_id == acc => i as usize,
            _ => match self.index.get(acc) {
                Some(i) => i as usize,
                None => {
                    let Ok(name) = std::str::from_utf8(acc) else {
                        return self.bad(line, "account_id", "is not valid UTF-8".into());
                    };
                    let i = self.names.len();
                    self.index.insert(acc, i as u32);
                    self.names.push(name.to_string());
                    i
                }
            },
        };
        if self.last != Some(idx as u32) {
            self.last = Some(idx as u32);
            self.last_id.clear();
            self.last_id.extend_from_slice(acc);
        }
        if self.buckets.is_empty() {
            self.buckets.resize_with(BUCKETS, Vec::new);
        }
        self.buckets[idx % BUCKETS].push(Entry {
            owner: idx as u32,
            day,
            amount: amount_v,
            margin,
        });
    }

    /// Orders each bucket's entries by account, in place (an American flag sort: every entry
    /// moves at most once, straight to its account's range).
    fn group(&mut self) {
        self.starts = self
            .buckets
            .iter_mut()
            .map(|entries| {
                let owners = entries
                    .iter()
                    .map(|e| e.owner as usize / BUCKETS + 1)
                    .max()
                    .unwrap_or(0);
                let mut starts = vec![0usize; owners + 1];
                for e in entries.iter() {
                    starts[e.owner as usize / BUCKETS + 1] += 1;
                }
                for i in 1..starts.len() {
                    starts[i] += starts[i - 1];
                }
                let mut next = starts.clone();
                for k in 0..owners {
                    while next[k] < starts[k + 1] {
                        let mut e = entries[next[k]];
                        while e.owner as usize / BUCKETS != k {
                            let o = e.owner as usize / BUCKETS;
                            std::mem::swap(&mut e, &mut entries[next[o]]);
                            next[o] += 1;
                        }
                        entries[next[k]] = e;
                        next[k] += 1;
                    }
                }
                starts
            })
            .collect();
    }

    /// Account `local`'s entries (after [`Part::group`]).
    fn entries_of(&self, local: u32) -> &[Entry] {
        let (b, k) = (local as usize % BUCKETS, local as usize / BUCKETS);
        match self.starts.get(b) {
            Some(starts) if k + 1 < starts.len() => &self.buckets[b][starts[k]..starts[k + 1]],
            _ => &[],
        }
    }
}

/// A decimal (read at [`SCALE`]) and its decimals once trailing zeros are dropped; the common
/// `123.45` form is read without the general parser.
#[inline]
fn decimal(raw: &[u8]) -> Result<(i64, u32), String> {
    if let Some(v) = fast_decimal(raw) {
        return Ok(v);
    }
    let s = std::str::from_utf8(raw).map_err(|_| "is not valid UTF-8".to_string())?;
    Ok((parse_decimal(s, SCALE)?, decimals_of(s)))
}

/// `[-]digits[.digits]` with at most 14 integer digits (so that 18 digits always fit an i64)
/// and [`SCALE`] decimals, else `None`.
#[inline]
fn fast_decimal(b: &[u8]) -> Option<(i64, u32)> {
    let (neg, b) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    let (int, frac) = match b.iter().position(|c| *c == b'.') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[b.len()..]),
    };
    if int.is_empty() || int.len() > 14 || frac.len() > SCALE as usize {
        return None;
    }
    let mut v: i64 = 0;
    for c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    v *= 10i64.pow(SCALE - frac.len() as u32);
    let decimals = frac.len() - frac.iter().rev().take_while(|c| **c == b'0').count();
    Some((if neg { -v } else { v }, decimals as u32))
}

/// Reads `[start, end)` of the file without the CSV parser, which is possible when no field is
/// quoted. Returns `None` as soon as a quote (or a lone carriage return) shows up.
fn read_part_plain(
    path: &Path,
    start: u64,
    end: u64,
    ctx: &RowCtx,
) -> Result<Option<Part>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut input = file.take(end - start);
    let mut part = Part::default();
    let mut buf = vec![0u8; 4 << 20];
    let mut filled = 0;
    let mut ranges = Vec::with_capacity(ctx.cols.width + 1);
    let mut line: u64 = 0;
    let mut reserved = false;
    loop {
        let n = input
            .read(&mut buf[filled..])
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let eof = n == 0;
        filled += n;
        if memchr::memchr(b'"', &buf[filled - n..filled]).is_some() {
            return Ok(None);
        }
        let mut pos = 0;
        while pos < filled {
            let stop = match memchr::memchr(b'\n', &buf[pos..filled]) {
                Some(i) => pos + i,
                None if eof => filled,
                None => break,
            };
            let mut row = &buf[pos..stop];
            if let [rest @ .., b'\r'] = row {
                row = rest;
            }
            if memchr::memchr(b'\r', row).is_some() {
                return Ok(None);
            }
            line += 1;
            ranges.clear();
            let mut from = 0;
            for comma in memchr::memchr_iter(b',', row) {
                ranges.push(from..comma);
                from = comma + 1;
            }
            ranges.push(from..row.len());
            part.add_row(line, row, &ranges, ctx);
            pos = stop + 1;
        }
        if !reserved && line > 0 {
            // Room for the rest of the part at the line length seen so far: growing a large
            // vector by copying would double its memory for a moment.
            reserved = true;
            let read = (end - start - input.limit()).max(1);
            let ratio = input.limit() as f64 / read as f64 * 1.05;
            for bucket in &mut part.buckets {
                bucket.reserve((bucket.len() as f64 * ratio) as usize + 64);
            }
        }
        if eof {
            break;
        }
        buf.copy_within(pos..filled, 0);
        filled -= pos.min(filled);
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0); // a line longer than the buffer
        }
    }
    part.lines = line;
    part.group();
    Ok(Some(part))
}

/// Reads `[start, end)` of the file with the CSV parser (quoted fields and all).
fn read_part_csv(path: &Path, start: u64, end: u64, ctx: &RowCtx) -> Result<Part, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut part = Part::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::BufReader::with_capacity(
            1 << 20,
            file.take(end - start),
        ));
    let mut record = csv::ByteRecord::new();
    let mut ranges = Vec::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(format!(
                    "line {line} of its part: the file cannot be parsed as CSV: {e}"
                ));
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        ranges.clear();
        ranges.extend((0..record.len()).filter_map(|i| record.range(i)));
        part.add_row(line, record.as_slice(), &ranges, ctx);
    }
    part.lines = reader.position().line().saturating_sub(1);
    part.group();
    Ok(part)
}

/// Reads and checks the whole file, on several threads for large files; any bad row fails
/// the load with every row error. Orders after `cut` (a day) are checked but not counted.
pub fn load(
    path: &Path,
    tz: chrono_tz::Tz,
    need_margin: bool,
    cut: Option<NaiveDate>,
) -> Result<OrderBook, ImportError> {
    load_in(path, tz, need_margin, cut, None)
}

/// [`load`] in a chosen number of parts (default: one per core for files over 16 MiB).
fn load_in(
    path: &Path,
    tz: chrono_tz::Tz,
    need_margin: bool,
    cut: Option<NaiveDate>,
    threads: Option<usize>,
) -> Result<OrderBook, ImportError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ImportError::File(format!("cannot open {}: {e}", path.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new().from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| ImportError::File(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let data_start = reader.position().byte();
    let header_lines = reader.position().line().saturating_sub(1);
    drop(reader);
    let find = |name: &str| headers.iter().position(|h| h == name);
    let (Some(account), Some(at), Some(amount)) =
        (find("account_id"), find("ordered_at"), find("amount"))
    else {
        let missing: Vec<&str> = ["account_id", "ordered_at", "amount"]
            .into_iter()
            .filter(|c| find(c).is_none())
            .collect();
        return Err(ImportError::File(format!(
            "missing required column(s): {} (the header row has: {})",
            missing.join(", "),
            headers.join(", ")
        )));
    };
    let cols = Cols {
        account,
        at,
        amount,
        margin: find("margin"),
        width: headers.len(),
    };
    if need_margin && cols.margin.is_none() {
        return Err(ImportError::File(
            "--measure profit needs a `margin` column".into(),
        ));
    }
    let threads = if let Some(n) = threads {
        n
    } else if size > 16 << 20 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8)
    } else {
        1
    };
    let ctx = RowCtx {
        cols,
        tz,
        utc: tz == chrono_tz::UTC,
        cut: cut.map(day_number),
    };
    let mut parts = match read_parts(path, data_start, size, threads, &ctx)? {
        Some(parts) => parts,
        // Quoted fields may span lines, so a split at a newline could cut one: read in one go
        // with the CSV parser.
        None => vec![read_part_csv(path, data_start, size, &ctx).map_err(ImportError::File)?],
    };

    // Number rows across parts, then merge the parts' accounts into the first.
    let mut errors = Errors::default();
    let mut lines_before = header_lines;
    let mut book = OrderBook {
        accounts: Vec::new(),
        aggs: Vec::new(),
        decimals: 0,
        has_margin: false,
        rows: 0,
    };
    // Global account numbers: the first part's, then the new names of each later part.
    let mut index = AccountIndex::default();
    // locals[p][g]: account g's number in part p (u32::MAX when the part has none of it).
    let mut locals: Vec<Vec<u32>> = Vec::with_capacity(parts.len());
    for part in &mut parts {
        let kept = part.errors.len() as u64;
        for mut e in std::mem::take(&mut part.errors) {
            e.row += lines_before;
            errors.add(e);
        }
        // Problems beyond the ones kept by the part only count.
        errors.count += part.error_count - kept;
        lines_before += part.lines;
        book.rows += part.rows;
        book.decimals = book.decimals.max(part.decimals);
        book.has_margin |= part.has_margin;
        let mut local = vec![u32::MAX; book.accounts.len()];
        for (l, name) in part.names.iter().enumerate() {
            let g = match index.get(name.as_bytes()) {
                Some(g) => g as usize,
                None => {
                    index.insert(name.as_bytes(), book.accounts.len() as u32);
                    book.accounts.push(name.clone());
                    local.push(u32::MAX);
                    book.accounts.len() - 1
                }
            };
            local[g] = l as u32;
        }
        locals.push(local);
    }
    if !errors.is_empty() {
        return Err(errors.into_error());
    }
    drop(index);
    let parts = &parts;
    let locals = &locals;
    book.aggs = par_map(book.accounts.len(), |g| {
        let mut from = parts.iter().zip(locals).filter_map(|(p, l)| {
            l.get(g)
                .filter(|l| **l != u32::MAX)
                .map(|&l| p.entries_of(l))
        });
        match (from.next(), from.next()) {
            (Some(one), None) if one.is_sorted_by_key(|e| e.day) => AccountAgg::from_sorted(one),
            (first, second) => {
                let mut all: Vec<Entry> = first
                    .into_iter()
                    .chain(second)
                    .chain(from)
                    .flatten()
                    .copied()
                    .collect();
                all.sort_by_key(|e| e.day);
                AccountAgg::from_sorted(&all)
            }
        }
    });
    Ok(book)
}

/// Reads the file in `threads` parts without the CSV parser; `None` when it holds quotes.
fn read_parts(
    path: &Path,
    data_start: u64,
    size: u64,
    threads: usize,
    ctx: &RowCtx,
) -> Result<Option<Vec<Part>>, ImportError> {
    // Split points just after a newline near each equal share of the file.
    let mut bounds = vec![data_start];
    for i in 1..threads as u64 {
        let nominal = data_start + (size - data_start) * i / threads as u64;
        bounds.push(next_line_start(
            path,
            nominal.max(*bounds.last().unwrap_or(&0)),
            size,
        )?);
    }
    bounds.push(size);
    bounds.dedup();
    let results: Vec<Result<Option<Part>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (start, end) = (w[0], w[1]);
                scope.spawn(move || read_part_plain(path, start, end, ctx))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a reader thread failed".into()))
            })
            .collect()
    });
    let mut parts = Vec::with_capacity(results.len());
    for r in results {
        match r.map_err(ImportError::File)? {
            Some(part) => parts.push(part),
            None => return Ok(None),
        }
    }
    Ok(Some(parts))
}

/// The offset just after the first newline at or after `from` (or `size`).
fn next_line_start(path: &Path, from: u64, size: u64) -> Result<u64, ImportError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| ImportError::File(format!("cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = from;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(size);
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

/// `YYYY-MM-DD` without going through the general parser.
#[inline]
fn fast_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let d = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    (crate::domain::MIN_YEAR..=crate::domain::MAX_YEAR)
        .contains(&d.year())
        .then_some(d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (the common UTC form) without the general parser; its UTC date.
#[inline]
fn fast_utc_timestamp(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let two = |i: usize| -> Option<u32> {
        (b[i].is_ascii_digit() && b[i + 1].is_ascii_digit())
            .then(|| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0'))
    };
    if two(11)? > 23 || two(14)? > 59 || two(17)? > 60 {
        return None;
    }
    fast_date(&b[..10])
}

#[inline]
fn local_day(ts: DateTime<Utc>, tz: chrono_tz::Tz, utc: bool) -> (i32, i32) {
    let d = if utc {
        ts.date_naive()
    } else {
        ts.with_timezone(&tz).date_naive()
    };
    (day_number(d), month_index(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The quick decimal reader agrees with the general one on everything it accepts.
        #[test]
        fn fast_decimal_agrees_with_parse_decimal(raw in "[-+]?[0-9]{0,17}(\\.[0-9]{0,6})?") {
            let general = parse_decimal(&raw, SCALE).map(|v| (v, decimals_of(&raw)));
            if let Some(fast) = fast_decimal(raw.as_bytes()) {
                prop_assert_eq!(Ok(fast), general.clone());
            }
            prop_assert_eq!(decimal(raw.as_bytes()), general);
        }
    }

    #[test]
    fn account_index_tells_apart_ids_that_pad_alike() {
        let mut index = AccountIndex::default();
        let ids: [&[u8]; 5] = [b"a", b"a\0", b"", &[b'x'; 23], &[b'x'; 24]];
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), None);
            index.insert(id, n as u32);
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), Some(n as u32));
        }
        assert_eq!(index.get(&[b'x'; 25]), None);
    }

    #[test]
    fn fast_decimal_cases() {
        assert_eq!(fast_decimal(b"12.5"), Some((125_000, 1)));
        assert_eq!(fast_decimal(b"-0.10"), Some((-1_000, 1)));
        assert_eq!(fast_decimal(b"7"), Some((70_000, 0)));
        assert_eq!(fast_decimal(b"1.23456"), None, "too many decimals");
        assert_eq!(fast_decimal(b".5"), None, "left to the general parser");
        assert_eq!(decimal(b".5"), Ok((5_000, 1)));
        assert!(decimal(b"1.23456").is_err());
        assert!(decimal(b"1e5").is_err());
    }

    /// Per account: name, order days and (month, amount, margin, orders).
    type Summary = Vec<(String, Vec<i32>, Vec<(i32, i64, i64, u32)>)>;

    fn book_summary(book: &OrderBook) -> Summary {
        let mut rows: Vec<_> = book
            .accounts
            .iter()
            .zip(&book.aggs)
            .map(|(name, agg)| {
                (
                    name.clone(),
                    agg.days.clone(),
                    agg.months
                        .iter()
                        .map(|m| (m.month, m.amount, m.margin, m.orders))
                        .collect(),
                )
            })
            .collect();
        rows.sort();
        rows
    }

    /// Orders in random account order, written plainly, with CRLF and blank padding rows,
    /// and with quoted fields (which takes the CSV parser): the same book, in any number of parts.
    #[test]
    fn every_reading_path_builds_the_same_book() {
        let dir = tempfile::tempdir().expect("dir");
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut rows = Vec::new();
        for _ in 0..5_000 {
            let acc = rng.random_range(0..300);
            let day = rng.random_range(1..=28);
            let month = rng.random_range(1..=12);
            let cents: i64 = rng.random_range(-500..100_000);
            rows.push(format!(
                "ACC-{acc},2025-{month:02}-{day:02}T10:00:00Z,{}.{:02},{}",
                cents / 100,
                (cents % 100).abs(),
                cents / 300
            ));
        }
        let plain = format!("account_id,ordered_at,amount,margin\n{}\n", rows.join("\n"));
        let crlf = plain
            .replace('\n', "\r\n")
            .replacen("\r\n", "\r\n,,,\r\n", 2);
        let quoted = plain.replace("ACC-1,", "\"ACC-1\",");
        let mut books = Vec::new();
        for (name, text) in [("plain", &plain), ("crlf", &crlf), ("quoted", &quoted)] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            for threads in [1, 2, 3] {
                let book = load_in(&path, chrono_tz::UTC, false, None, Some(threads))
                    .unwrap_or_else(|e| panic!("{name}/{threads}: {e}"));
                assert_eq!(book.rows, 5_000, "{name}/{threads}");
                books.push(book_summary(&book));
            }
        }
        assert!(books.windows(2).all(|w| w[0] == w[1]));
    }

    /// Row numbers in errors are file lines, also when the file is read in parts.
    #[test]
    fn errors_name_file_lines_across_parts() {
        let dir = tempfile::tempdir().expect("dir");
        let mut text = String::from("account_id,ordered_at,amount\n");
        for i in 0..1_000 {
            text.push_str(&format!("A{i},2025-01-01,5\n"));
        }
        text.push_str("B,2025-13-01,5\nC,2025-01-01,5,extra\n");
        let path = dir.path().join("orders.csv");
        std::fs::write(&path, &text).expect("write");
        for threads in [1, 2] {
            let Err(ImportError::Rows { shown, .. }) =
                load_in(&path, chrono_tz::UTC, false, None, Some(threads))
            else {
                panic!("bad rows must fail the load");
            };
            let found: Vec<(u64, Option<String>)> =
                shown.iter().map(|e| (e.row, e.column.clone())).collect();
            assert_eq!(
                found,
                vec![(1002, Some("ordered_at".into())), (1003, Some("*".into()))],
                "{threads} part(s)"
            );
        }
    }
}
