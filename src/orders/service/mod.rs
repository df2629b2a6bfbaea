//! Order storage and the operations the API offers on it. Every write goes through
//! [`upsert_rows`] (or, for a create that must not replace, one conflict-checked insert), and
//! every transaction that writes orders checks their accounts still exist before commit.

mod batch;
mod list;
mod single;
mod upsert;

pub use batch::ingest_batch;
pub use list::{ORDER_SORTS, find_order, list_orders};
pub use single::{Put, create_one, create_order, delete_order, prepare_one, put_order, save_one};
pub use upsert::{count_existing, ensure_accounts_exist, resolve_accounts, upsert_rows};
