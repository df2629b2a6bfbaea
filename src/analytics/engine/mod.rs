//! The analytics engine over an order book, shared by the offline commands (`abm analyze`,
//! `abm churn fit|predict`, which read an orders CSV and need no database) and the in-database
//! analysis run (`super::service`, which builds the book from stored orders).
//!
//! `read` turns a file into an [`OrderBook`] (`book`), `analyze` classifies every account of a
//! book, and `output` writes the offline commands' results.

mod analyze;
mod book;
mod output;
mod par;
mod read;

pub use analyze::{AccountResult, Analysis, AnalyzeOptions, analyze, customers};
pub use book::{AccountAgg, OrderBook, date_of, day_number, month_index};
pub use output::{matrix_text, write_analysis, write_predictions};
pub use read::load;
