//! Streaming readers for CSV and XLSX import files, and the error report shared by every
//! importer. A reader runs on its own thread and hands rows over in chunks, so parsing overlaps
//! with database writes and memory stays flat however large the file is.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

pub mod seen;

/// One problem with one row of an import file. Rows are numbered as in a spreadsheet:
/// the header is row 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: u64,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}, column `{c}`: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// Why an import did not write anything.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read at all (missing, wrong type, missing columns).
    #[error("{0}")]
    File(String),
    /// Some rows are invalid; the list holds every problem found (up to 10,000).
    #[error("{} invalid row(s); nothing was imported", .rows)]
    Rows {
        /// Rows with at least one problem.
        rows: u64,
        /// Problems in all (a row may have several).
        count: u64,
        shown: Vec<RowError>,
    },
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// The outcome of an import that was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: u64,
    /// Rows inserted or changed.
    pub written: u64,
    /// Rows already stored with the same values.
    pub unchanged: u64,
    /// Accounts created on the way (`--create-accounts`) or managers created by an account import.
    pub created_related: u64,
}

/// One data row: its spreadsheet row number and its cells (empty string for an empty cell).
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<String>,
}

/// What a reader thread sends.
#[derive(Debug)]
pub enum Chunk {
    Rows(Vec<Row>),
    Bad(RowError),
    Fatal(String),
}

/// An open import file: its header and a stream of row chunks.
pub struct Source {
    pub headers: Vec<String>,
    pub rx: mpsc::Receiver<Chunk>,
    /// Total size in bytes (for the progress bar).
    pub size: u64,
    /// Bytes read so far, updated by the reader thread (CSV only; XLSX reports 0).
    pub progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

const CHUNK_ROWS: usize = 1024;

/// Opens a `.csv` or `.xlsx` file. `sheet` selects an XLSX worksheet (default: the first).
pub fn open(path: &Path, sheet: Option<&str>) -> Result<Source, ImportError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ImportError::File(format!("cannot read {}: {e}", path.display())))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Chunk>(8);
    let headers = match ext.as_str() {
        "csv" | "txt" => open_csv(path.to_path_buf(), tx, progress.clone())?,
        "xlsx" | "xlsm" => open_xlsx(path.to_path_buf(), sheet.map(str::to_string), tx)?,
        _ => {
            return Err(ImportError::File(format!(
                "{}: unsupported file type; use .csv or .xlsx",
                path.display()
            )));
        }
    };
    Ok(Source {
        headers,
        rx,
        size: meta.len(),
        progress,
    })
}

fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()
}

fn check_headers(headers: &[String]) -> Result<(), ImportError> {
    if headers.iter().all(|h| h.is_empty()) {
        return Err(ImportError::File("the file has no header row".into()));
    }
    let mut seen = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(h.as_str(), i) {
            return Err(ImportError::File(format!(
                "column `{h}` appears twice in the header (columns {} and {})",
                first + 1,
                i + 1
            )));
        }
    }
    Ok(())
}

fn open_csv(
    path: PathBuf,
    tx: mpsc::Sender<Chunk>,
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Vec<String>, ImportError> {
    let file = std::fs::File::open(&path)
        .map_err(|e| ImportError::File(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let header = reader
        .byte_headers()
        .map_err(|e| ImportError::File(format!("cannot read the header row: {e}")))?
        .clone();
    let mut headers = Vec::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        let h = std::str::from_utf8(h).map_err(|_| {
            ImportError::File(format!(
                "row 1, column {}: the header is not valid UTF-8 (save the file as UTF-8)",
                i + 1
            ))
        })?;
        headers.push(normalise_header(h));
    }
    check_headers(&headers)?;
    let width = headers.len();
    let names = headers.clone();
    std::thread::spawn(move || {
        let mut record = csv::ByteRecord::new();
        let mut rows = Vec::with_capacity(CHUNK_ROWS);
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map(|p| p.line()).unwrap_or(0);
                    if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                        continue; // blank line, or a spreadsheet's padding row of commas
                    }
                    if record.len() != width {
                        let bad = RowError {
                            row: line,
                            column: None,
                            message: format!(
                                "expected {width} fields like the header, found {} (truncated or misquoted row?)",
                                record.len()
                            ),
                        };
                        if tx.blocking_send(Chunk::Bad(bad)).is_err() {
                            return;
                        }
                        continue;
                    }
                    let mut cells = Vec::with_capacity(width);
                    let mut utf8_error = None;
                    for (i, f) in record.iter().enumerate() {
                        match std::str::from_utf8(f) {
                            Ok(s) => cells.push(s.to_string()),
                            Err(_) => {
                                utf8_error = Some(i);
                                break;
                            }
                        }
                    }
                    if let Some(i) = utf8_error {
                        let bad = RowError {
                            row: line,
                            column: Some(names[i].clone()),
                            message: "is not valid UTF-8 (save the file as UTF-8)".into(),
                        };
                        if tx.blocking_send(Chunk::Bad(bad)).is_err() {
                            return;
                        }
                        continue;
                    }
                    rows.push(Row { line, cells });
                    if rows.len() == CHUNK_ROWS {
                        progress.store(
                            record.position().map(|p| p.byte()).unwrap_or(0),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        let full = std::mem::replace(&mut rows, Vec::with_capacity(CHUNK_ROWS));
                        if tx.blocking_send(Chunk::Rows(full)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    let _ = tx.blocking_send(Chunk::Fatal(format!(
                        "row {line}: the file cannot be parsed as CSV: {e}"
                    )));
                    return;
                }
            }
        }
        if !rows.is_empty() {
            let _ = tx.blocking_send(Chunk::Rows(rows));
        }
    });
    Ok(headers)
}

fn cell_text(v: &calamine::DataRef<'_>) -> Result<String, String> {
    use calamine::DataRef as D;
    Ok(match v {
        D::Empty => String::new(),
        D::String(s) => s.clone(),
        D::SharedString(s) => (*s).to_string(),
        D::Int(i) => i.to_string(),
        D::Float(f) => {
            // Spreadsheets store binary floats (=100*1.1 is 110.00000000000001); keep the 15
            // significant digits Excel itself shows, then print the shortest form.
            let shown: f64 = format!("{f:.14e}").parse().unwrap_or(*f);
            if shown.fract() == 0.0 && shown.abs() < 1e15 {
                format!("{}", shown as i64)
            } else {
                format!("{shown}")
            }
        }
        D::Bool(b) => b.to_string(),
        D::DateTime(dt) => match dt.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => {
                t.date().format("%Y-%m-%d").to_string()
            }
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => return Err("is not a valid date".into()),
        },
        D::DateTimeIso(s) | D::DurationIso(s) => s.clone(),
        D::Error(e) => return Err(format!("holds a spreadsheet error ({e})")),
    })
}

fn open_xlsx(
    path: PathBuf,
    sheet: Option<String>,
    tx: mpsc::Sender<Chunk>,
) -> Result<Vec<String>, ImportError> {
    use calamine::Reader;
    let (htx, hrx) = std::sync::mpsc::sync_channel::<Result<Vec<String>, String>>(1);
    std::thread::spawn(move || {
        let mut wb: calamine::Xlsx<_> = match calamine::open_workbook(&path) {
            Ok(wb) => wb,
            Err(e) => {
                let _ = htx.send(Err(format!(
                    "{}: not a readable XLSX file: {e}",
                    path.display()
                )));
                return;
            }
        };
        let name = match sheet {
            Some(s) => s,
            None => match wb.sheet_names().first() {
                Some(s) => s.clone(),
                None => {
                    let _ = htx.send(Err("the workbook has no worksheet".into()));
                    return;
                }
            },
        };
        let mut cells = match wb.worksheet_cells_reader(&name) {
            Ok(c) => c,
            Err(e) => {
                let _ = htx.send(Err(format!("worksheet `{name}`: {e}")));
                return;
            }
        };
        let mut headers: Option<Vec<String>> = None;
        let mut current: Option<(u32, Vec<String>, Option<RowError>)> = None;
        let mut rows = Vec::with_capacity(CHUNK_ROWS);
        let mut header_row = None;
        loop {
            let next = match cells.next_cell() {
                Ok(c) => c,
                Err(e) => {
                    let msg = format!("the worksheet cannot be read: {e}");
                    if headers.is_none() {
                        let _ = htx.send(Err(msg));
                    } else {
                        let _ = tx.blocking_send(Chunk::Fatal(msg));
                    }
                    return;
                }
            };
            let pos = next.as_ref().map(|c| c.get_position());
            // Flush the finished row when the row number changes or the sheet ends.
            let flush = match (&current, pos) {
                (Some((r, _, _)), Some((nr, _))) => *r != nr,
                (Some(_), None) => true,
                _ => false,
            };
            if flush && let Some((r, vals, bad)) = current.take() {
                if headers.is_none() {
                    let h: Vec<String> = vals.iter().map(|v| normalise_header(v)).collect();
                    header_row = Some(r);
                    if htx.send(Ok(h.clone())).is_err() {
                        return;
                    }
                    headers = Some(h);
                } else if let Some(bad) = bad {
                    if tx.blocking_send(Chunk::Bad(bad)).is_err() {
                        return;
                    }
                } else if vals.iter().any(|v| !v.trim().is_empty()) {
                    let width = headers.as_ref().map(Vec::len).unwrap_or(0);
                    let mut vals = vals;
                    vals.resize(width.max(vals.len()), String::new());
                    if vals[width..].iter().any(|v| !v.trim().is_empty()) {
                        let bad = RowError {
                            row: u64::from(r) + 1,
                            column: None,
                            message: format!("has values beyond the {width} header columns"),
                        };
                        if tx.blocking_send(Chunk::Bad(bad)).is_err() {
                            return;
                        }
                    } else {
                        vals.truncate(width);
                        rows.push(Row {
                            line: u64::from(r) + 1,
                            cells: vals,
                        });
                        if rows.len() == CHUNK_ROWS {
                            let full = std::mem::replace(&mut rows, Vec::with_capacity(CHUNK_ROWS));
                            if tx.blocking_send(Chunk::Rows(full)).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            let Some(cell) = next else { break };
            let (r, c) = cell.get_position();
            let entry = current.get_or_insert_with(|| (r, Vec::new(), None));
            let c = c as usize;
            if entry.1.len() <= c {
                entry.1.resize(c + 1, String::new());
            }
            match cell_text(cell.get_value()) {
                Ok(t) => entry.1[c] = t,
                Err(msg) => {
                    if entry.2.is_none() {
                        let column = headers
                            .as_ref()
                            .and_then(|h| h.get(c).cloned())
                            .unwrap_or_else(|| format!("#{}", c + 1));
                        entry.2 = Some(RowError {
                            row: u64::from(r) + 1,
                            column: Some(column),
                            message: msg,
                        });
                    }
                }
            }
        }
        if headers.is_none() {
            let _ = htx.send(Err("the worksheet is empty (no header row)".into()));
            return;
        }
        let _ = header_row;
        if !rows.is_empty() {
            let _ = tx.blocking_send(Chunk::Rows(rows));
        }
    });
    let headers = hrx
        .recv()
        .map_err(|_| ImportError::File("the XLSX reader stopped unexpectedly".into()))?
        .map_err(ImportError::File)?;
    check_headers(&headers)?;
    Ok(headers)
}

/// Maps header names to positions and checks required columns.
pub struct Columns {
    index: HashMap<String, usize>,
}

impl Columns {
    /// Fails listing every missing required column; returns unknown columns for a warning.
    pub fn new(
        headers: &[String],
        required: &[&str],
        optional: &[&str],
        prefix_ok: &[&str],
    ) -> Result<(Columns, Vec<String>), ImportError> {
        let index: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !index.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::File(format!(
                "missing required column(s): {} (the header row has: {})",
                missing.join(", "),
                headers.join(", ")
            )));
        }
        let unknown = headers
            .iter()
            .filter(|h| {
                !h.is_empty()
                    && !required.contains(&h.as_str())
                    && !optional.contains(&h.as_str())
                    && !prefix_ok.iter().any(|p| h.starts_with(p))
            })
            .cloned()
            .collect();
        Ok((Columns { index }, unknown))
    }

    /// The cell of `column` in `row`, if the file has that column.
    pub fn get<'r>(&self, row: &'r Row, column: &str) -> Option<&'r str> {
        self.index
            .get(column)
            .and_then(|&i| row.cells.get(i))
            .map(String::as_str)
    }

    /// Whether the file has this column.
    pub fn has(&self, column: &str) -> bool {
        self.index.contains_key(column)
    }
}

/// Collects row errors during an import, keeping at most `keep` for the final report.
#[derive(Debug, Default)]
pub struct Errors {
    pub count: u64,
    pub shown: Vec<RowError>,
    rows: std::collections::BTreeSet<u64>,
}

impl Errors {
    const KEEP: usize = 10_000;

    pub fn add(&mut self, e: RowError) {
        self.count += 1;
        if self.rows.len() < Self::KEEP {
            self.rows.insert(e.row);
        }
        if self.shown.len() < Self::KEEP {
            self.shown.push(e);
        }
    }

    /// Adds field errors of one row; paths like `/amount` become column names.
    pub fn add_fields(&mut self, row: u64, fields: Vec<crate::error::FieldError>) {
        for f in fields {
            self.add(RowError {
                row,
                column: Some(f.path.trim_start_matches('/').to_string()),
                message: f.message,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The final report, in file order (errors found by a second pass are merged in).
    pub fn into_error(mut self) -> ImportError {
        self.shown.sort_by_key(|e| e.row);
        // Past the kept problems, count each further problem as its own row (an upper bound).
        let extra = self.count.saturating_sub(self.shown.len() as u64);
        ImportError::Rows {
            rows: self.rows.len() as u64 + extra,
            count: self.count,
            shown: self.shown,
        }
    }
}

/// Progress reporting hook, so the CLI can show a bar while the library stays UI-free.
pub trait Progress: Send + Sync {
    fn rows(&self, rows: u64, bytes: u64);
}

/// No progress output (tests, API).
pub struct NoProgress;

impl Progress for NoProgress {
    fn rows(&self, _: u64, _: u64) {}
}
