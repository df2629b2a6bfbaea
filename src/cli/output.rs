//! Output shared by the commands that read an input file without a database (`analyze
//! --orders`, `churn`).

use std::path::Path;
use std::process::ExitCode;

use crate::import::ImportError;

/// Prints an input file's problems (row, column, reason) and returns the failure exit code.
pub fn report_input_error(file: &Path, e: ImportError) -> ExitCode {
    match e {
        ImportError::Rows { rows, count, shown } => {
            for e in &shown {
                eprintln!("{}: {e}", file.display());
            }
            if count > shown.len() as u64 {
                eprintln!("… and {} more", count - shown.len() as u64);
            }
            eprintln!("error: {rows} invalid row(s) in {}", file.display());
        }
        other => eprintln!("error: {}: {other}", file.display()),
    }
    ExitCode::FAILURE
}
