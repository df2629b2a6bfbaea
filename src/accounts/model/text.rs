//! Checks shared by every free-text field of the accounts part: trimmed, bounded in length,
//! and free of control characters (one-line fields) or of all but line breaks and tabs.

use crate::domain::validation::FieldErrors;
use crate::domain::{multi_line, one_line};

/// Trimmed text of at most `max` characters. One-line fields (names, titles, phones) refuse
/// every control character; multi-line ones (notes, reasons, products) keep line breaks and tabs.
pub(super) fn text(
    errors: &mut FieldErrors,
    field: &str,
    raw: &str,
    max: usize,
    lines: Lines,
) -> Option<String> {
    let s = raw.trim();
    if s.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
        return None;
    }
    let checked = match lines {
        Lines::One => one_line(s),
        Lines::Many => multi_line(s),
    };
    errors.check(field, checked)?;
    Some(s.to_string())
}

/// Whether a text field may hold line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lines {
    One,
    Many,
}

/// Optional text: empty means "no value".
pub(super) fn opt_text(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    max: usize,
    lines: Lines,
) -> Option<String> {
    text(errors, field, raw?, max, lines).filter(|s| !s.is_empty())
}

/// A required one-line field.
pub(super) fn required_text(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Option<String> {
    match raw.map(str::trim) {
        None | Some("") => {
            errors.push(field, "is required");
            None
        }
        Some(s) => text(errors, field, s, max, Lines::One),
    }
}
