//! What the analytics API reads from stored runs: the runs themselves, an account's
//! snapshots, the ABC-XYZ matrix with its drill-down, and the accounts at risk. Plain data
//! out; the HTTP layer shapes it.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::error::AnalyticsError;
use super::matrix::CellTotals;
use super::service::latest_succeeded;
use crate::db::page::{Page, fetch_page};
use crate::entities::{account, account_snapshot, analysis_run};

/// Snapshots an account's history shows: the latest and up to 24 before it.
const HISTORY_SNAPSHOTS: u64 = 25;

/// One page of analysis runs, sorted as `page` asks, with the total count.
pub async fn runs(
    db: &impl ConnectionTrait,
    page: &Page,
) -> Result<(Vec<analysis_run::Model>, u64), AnalyticsError> {
    Ok(fetch_page(
        db,
        analysis_run::Entity::find(),
        page,
        analysis_run::Column::Id,
        analysis_run::Column::Id,
    )
    .await?)
}

/// Analysis run `id`, whatever its status.
pub async fn run(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<analysis_run::Model, AnalyticsError> {
    analysis_run::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AnalyticsError::NotFound(format!("analysis run {id} not found")))
}

/// The run a report shows: run `run_id` if it succeeded, else the latest succeeded run.
/// `NotFound` when `run_id` is not a succeeded run, `NoRunYet` when no run has succeeded.
pub async fn succeeded_run(
    db: &impl ConnectionTrait,
    run_id: Option<i64>,
) -> Result<analysis_run::Model, AnalyticsError> {
    latest_succeeded(db, run_id)
        .await?
        .ok_or_else(|| match run_id {
            Some(id) => AnalyticsError::NotFound(format!("no succeeded analysis run {id}")),
            None => AnalyticsError::NoRunYet,
        })
}

/// An account's snapshots, newest run first: the latest and its history.
pub async fn account_snapshots(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<account_snapshot::Model>, AnalyticsError> {
    Ok(account_snapshot::Entity::find()
        .filter(account_snapshot::Column::AccountId.eq(account_id))
        .order_by_desc(account_snapshot::Column::RunId)
        .limit(HISTORY_SNAPSHOTS)
        .all(db)
        .await?)
}

/// abc, xyz, revenue, profit of one snapshot.
type CellRow = (Option<String>, Option<String>, i64, Option<i64>);

/// The ABC-XYZ matrix of `run` in one currency market, valued by the run's measure.
pub async fn matrix(
    db: &impl ConnectionTrait,
    run: &analysis_run::Model,
    currency: &str,
) -> Result<CellTotals, AnalyticsError> {
    let rows: Vec<CellRow> = account_snapshot::Entity::find()
        .select_only()
        .columns([
            account_snapshot::Column::Abc,
            account_snapshot::Column::Xyz,
            account_snapshot::Column::Revenue,
            account_snapshot::Column::Profit,
        ])
        .filter(account_snapshot::Column::RunId.eq(run.id))
        .filter(account_snapshot::Column::Currency.eq(currency))
        .into_tuple()
        .all(db)
        .await?;
    let profit = run.measure == "profit";
    let mut cells = CellTotals::default();
    for (abc, xyz, revenue, p) in &rows {
        let v = if profit { p.unwrap_or(0) } else { *revenue };
        cells.add(abc.as_deref(), xyz.as_deref(), v);
    }
    Ok(cells)
}

/// A snapshot with its account's external id and name (empty when the account is gone).
#[derive(Debug, Clone)]
pub struct NamedSnapshot {
    pub external_id: String,
    pub name: String,
    pub snapshot: account_snapshot::Model,
}

/// One page of the accounts in matrix cell `cell` (ABC letter, XYZ letter) of a run and
/// currency, by revenue as `page` sorts, with the total count.
pub async fn cell_accounts(
    db: &impl ConnectionTrait,
    run_id: i64,
    currency: &str,
    cell: (char, char),
    page: &Page,
) -> Result<(Vec<NamedSnapshot>, u64), AnalyticsError> {
    let query = account_snapshot::Entity::find()
        .filter(account_snapshot::Column::RunId.eq(run_id))
        .filter(account_snapshot::Column::Currency.eq(currency))
        .filter(account_snapshot::Column::Abc.eq(cell.0.to_string()))
        .filter(account_snapshot::Column::Xyz.eq(cell.1.to_string()));
    let (items, total) = fetch_page(
        db,
        query,
        page,
        account_snapshot::Column::Revenue,
        account_snapshot::Column::AccountId,
    )
    .await?;
    let ids: Vec<i64> = items.iter().map(|s| s.account_id).collect();
    let names: HashMap<i64, (String, String)> = account::Entity::find()
        .select_only()
        .columns([
            account::Column::Id,
            account::Column::ExternalId,
            account::Column::Name,
        ])
        .filter(account::Column::Id.is_in(ids))
        .into_tuple::<(i64, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, e, n)| (id, (e, n)))
        .collect();
    let items = items
        .into_iter()
        .map(|snapshot| {
            let (external_id, name) = names.get(&snapshot.account_id).cloned().unwrap_or_default();
            NamedSnapshot {
                external_id,
                name,
                snapshot,
            }
        })
        .collect();
    Ok((items, total))
}

/// A snapshot with value at risk and its account (`None` when the account is gone).
#[derive(Debug, Clone)]
pub struct AtRisk {
    pub snapshot: account_snapshot::Model,
    pub account: Option<account::Model>,
}

/// One page of a run's accounts in one currency with value at risk, sorted as `page` asks,
/// with the total count.
pub async fn at_risk(
    db: &impl ConnectionTrait,
    run_id: i64,
    currency: &str,
    page: &Page,
) -> Result<(Vec<AtRisk>, u64), AnalyticsError> {
    let query = account_snapshot::Entity::find()
        .filter(account_snapshot::Column::RunId.eq(run_id))
        .filter(account_snapshot::Column::Currency.eq(currency))
        .filter(account_snapshot::Column::ValueAtRisk.gt(0));
    let (items, total) = fetch_page(
        db,
        query,
        page,
        account_snapshot::Column::ValueAtRisk,
        account_snapshot::Column::AccountId,
    )
    .await?;
    let ids: Vec<i64> = items.iter().map(|s| s.account_id).collect();
    let accounts: HashMap<i64, account::Model> = account::Entity::find()
        .filter(account::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let items = items
        .into_iter()
        .map(|snapshot| AtRisk {
            account: accounts.get(&snapshot.account_id).cloned(),
            snapshot,
        })
        .collect();
    Ok((items, total))
}
