//! HTTP routes of the analytics: runs, an account's classes and their history, and the
//! ABC-XYZ matrix with drill-down. Handlers parse the request, call a service
//! (`super::queries`, `super::report`, `super::service`) and shape the response; the one
//! mapping of [`AnalyticsError`] to HTTP statuses is here.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::AnalyticsError;
use super::report::{ChurnDirection, ChurnRow};
use super::run_status::RunStatus;
use super::{queries, report, service};
use crate::accounts::model::{format_money, format_total};
use crate::api::extract::{PageQuery, Paged, Query};
use crate::api::openapi::ListSorts;
use crate::api::state::State;
use crate::domain::Currency;
use crate::entities::{account_snapshot, analysis_run};
use crate::error::{ApiError, Problem};

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Invalid(errors) => ApiError::Validation(errors),
            AnalyticsError::NotFound(detail) => ApiError::NotFound(detail),
            AnalyticsError::NoRunYet => {
                ApiError::NotFound("no analysis has run yet (POST /api/v1/analytics/runs)".into())
            }
            AnalyticsError::RunFailed { .. } | AnalyticsError::Report(_) => ApiError::internal(e),
            AnalyticsError::Database(e) => ApiError::from(e),
        }
    }
}

/// A cell of the matrix as `cell` is documented (repeated in its `#[param]`).
#[cfg(test)]
pub(crate) const CELL: &str = r"^[ABCabc][XYZxyz]$";

/// A month as `from` is documented (repeated in its `#[param]`).
#[cfg(test)]
pub(crate) const MONTH: &str = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$";

/// Sort fields of the run list.
const RUN_SORTS: &[&str] = &["id"];

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[("/analytics/runs", RUN_SORTS)];

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(start_run)
        .service(list_runs)
        .service(get_run)
        .service(account_analytics)
        .service(abc_xyz)
        .service(at_risk)
        .service(churn)
        .service(workbook);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: i64,
    pub trigger: String,
    pub status: RunStatus,
    pub as_of: NaiveDate,
    pub window_start: NaiveDate,
    pub measure: String,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<analysis_run::Model> for RunView {
    fn from(r: analysis_run::Model) -> Self {
        Self {
            id: r.id,
            trigger: r.trigger,
            status: RunStatus::parse(&r.status),
            as_of: r.as_of,
            window_start: r.window_start,
            measure: r.measure,
            params: r.params,
            summary: r.summary,
            error: r.error,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// An account's figures in one run, each class with its reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    pub run_id: i64,
    pub as_of: NaiveDate,
    pub currency: String,
    pub revenue: String,
    pub profit: Option<String>,
    pub value_share: Option<f64>,
    pub abc: Option<String>,
    pub abc_cumulative_share: Option<f64>,
    pub abc_reason: String,
    pub cv: Option<f64>,
    pub xyz: Option<String>,
    pub xyz_reason: String,
    pub orders: i32,
    pub first_order_at: Option<NaiveDate>,
    pub last_order_at: Option<NaiveDate>,
    pub days_since_last_order: Option<i32>,
    pub median_interval_days: Option<f64>,
    /// pillar, prospect, image_maker, expert.
    pub types: Vec<String>,
    pub types_reason: String,
    /// Three P (need, payment ability, authority) for prospects: 0–3.
    pub three_p_score: Option<i16>,
    /// Which of need, payment, authority are missing.
    pub three_p_missing: Vec<String>,
    pub qualified: Option<bool>,
    pub lost: bool,
    pub lost_reason: String,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    /// Window revenue × (1 − P(alive)); the whole revenue when lost.
    pub value_at_risk: String,
    /// The account's engagement score at the run (`null` for runs before scores were kept).
    pub engagement_score: Option<f64>,
}

impl From<account_snapshot::Model> for SnapshotView {
    fn from(s: account_snapshot::Model) -> Self {
        let split = |v: &str| -> Vec<String> {
            v.split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        Self {
            revenue: format_money(&s.currency, s.revenue),
            profit: s.profit.map(|p| format_money(&s.currency, p)),
            value_at_risk: format_money(&s.currency, s.value_at_risk),
            engagement_score: s.engagement_score,
            types: split(&s.types),
            three_p_missing: s.three_p_missing.as_deref().map(split).unwrap_or_default(),
            run_id: s.run_id,
            as_of: s.as_of,
            currency: s.currency,
            value_share: s.value_share,
            abc: s.abc,
            abc_cumulative_share: s.abc_share,
            abc_reason: s.abc_reason,
            cv: s.cv,
            xyz: s.xyz,
            xyz_reason: s.xyz_reason,
            orders: s.orders,
            first_order_at: s.first_order_at,
            last_order_at: s.last_order_at,
            days_since_last_order: s.days_since_last_order,
            median_interval_days: s.median_interval_days,
            types_reason: s.types_reason,
            three_p_score: s.three_p_score,
            qualified: s.qualified,
            lost: s.lost,
            lost_reason: s.lost_reason,
            p_alive: s.p_alive,
            expected_purchases: s.expected_purchases,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartRun {
    /// Wait for the run to finish and answer with it (201); otherwise queue it for a worker
    /// and answer 202 at once.
    pub wait: Option<bool>,
}

/// Start an analysis run: the `analysis` job, one at a time per database (409 while another
/// is queued or runs). When it succeeds it queues the segment recompute.
#[utoipa::path(tag = "analytics", params(StartRun),
    responses((status = 201, body = RunView), (status = 202, body = crate::jobs::RunView), (status = 409, body = Problem)))]
#[post("/analytics/runs")]
async fn start_run(state: State, q: Query<StartRun>) -> Result<HttpResponse, ApiError> {
    use crate::jobs::{JobError, Trigger, names::ANALYSIS};
    let map = |e: JobError| match e {
        JobError::Busy(_) | JobError::AlreadyActive(_) => ApiError::Conflict {
            code: "run_in_progress",
            detail: "another analysis run is in progress".into(),
        },
        other => ApiError::from(other),
    };
    let ctx = state.into_inner();
    if q.wait.unwrap_or(false) {
        let run = service::run_now(&ctx, Trigger::Api).await.map_err(map)?;
        return Ok(HttpResponse::Created().json(RunView::from(run)));
    }
    let queued = crate::jobs::trigger(&ctx, ANALYSIS, Trigger::Api)
        .await
        .map_err(map)?;
    Ok(HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            "/api/v1/jobs/analysis/runs".to_string(),
        ))
        .json(crate::jobs::RunView::from(queued)))
}

/// Analysis runs, newest first.
#[utoipa::path(tag = "analytics", params(PageQuery),
    responses((status = 200, body = Paged<RunView>), (status = 422, body = Problem)))]
#[get("/analytics/runs")]
async fn list_runs(state: State, page: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, RUN_SORTS, "-id")?;
    let (items, total) = queries::runs(&state.db, &page).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: items.into_iter().map(RunView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// One analysis run with its summary.
#[utoipa::path(tag = "analytics", responses((status = 200, body = RunView), (status = 404, body = Problem)))]
#[get("/analytics/runs/{id}")]
async fn get_run(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let run = queries::run(&state.db, *id).await?;
    Ok(HttpResponse::Ok().json(RunView::from(run)))
}

/// The currency market asked for (`currency` parameter), or the default currency.
pub(crate) fn market(state: &State, currency: Option<&str>) -> Result<String, ApiError> {
    Ok(match currency {
        Some(c) => crate::domain::Currency::parse(c)
            .map_err(|e| ApiError::field("currency", e))?
            .code()
            .to_string(),
        None => state.settings.defaults.currency.code().to_string(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountAnalytics {
    pub external_id: String,
    /// The latest snapshot (null before the first run).
    pub latest: Option<SnapshotView>,
    /// Earlier classes, newest first (up to 24 runs).
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub run_id: i64,
    pub as_of: NaiveDate,
    pub abc: Option<String>,
    pub xyz: Option<String>,
    pub types: String,
    pub lost: bool,
}

/// An account's current classes with their reasons, and their history.
#[utoipa::path(tag = "analytics", responses((status = 200, body = AccountAnalytics), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/analytics")]
async fn account_analytics(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = crate::accounts::service::find_account(&state.db, &external_id).await?;
    let snapshots = queries::account_snapshots(&state.db, a.id).await?;
    let history = snapshots
        .iter()
        .skip(1)
        .map(|s| HistoryEntry {
            run_id: s.run_id,
            as_of: s.as_of,
            abc: s.abc.clone(),
            xyz: s.xyz.clone(),
            types: s.types.clone(),
            lost: s.lost,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AccountAnalytics {
        external_id: a.external_id,
        latest: snapshots.into_iter().next().map(SnapshotView::from),
        history,
    }))
}

/// A cell of the matrix (`AX` … `CZ`, any case) as its ABC and XYZ letters; `None` for
/// anything else, whatever its characters.
fn parse_cell(raw: &str) -> Option<(char, char)> {
    let mut chars = raw.chars().map(|c| c.to_ascii_uppercase());
    match (chars.next(), chars.next(), chars.next()) {
        (Some(a @ 'A'..='C'), Some(x @ 'X'..='Z'), None) => Some((a, x)),
        _ => None,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MatrixQuery {
    /// Run to show (default: the latest succeeded run).
    pub run_id: Option<i64>,
    /// Currency market to show (default: `defaults.currency`).
    #[param(value_type = Option<Currency>, inline)]
    pub currency: Option<String>,
    /// Drill down into one cell, e.g. `AX`, `BZ` (any case).
    #[param(pattern = r"^[ABCabc][XYZxyz]$")]
    pub cell: Option<String>,
    /// Accounts per page of the drill-down (read only with `cell`).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Accounts of the drill-down to skip.
    #[param(maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixCell {
    pub abc: String,
    pub xyz: String,
    pub accounts: u64,
    pub value: String,
    /// Share of the classified accounts' value.
    pub share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CellAccount {
    pub external_id: String,
    pub name: String,
    pub revenue: String,
    pub abc_reason: String,
    pub xyz_reason: String,
    pub lost: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Matrix {
    pub run_id: i64,
    pub as_of: NaiveDate,
    pub currency: String,
    pub measure: String,
    /// Nine cells, AX to CZ.
    pub cells: Vec<MatrixCell>,
    pub unclassified: u64,
    /// The accounts of `cell`, by value descending (only with `cell`).
    pub drill_down: Option<Paged<CellAccount>>,
}

/// The 3×3 ABC-XYZ matrix: accounts, value and share per cell, with a drill-down list.
#[utoipa::path(tag = "analytics", params(MatrixQuery),
    responses((status = 200, body = Matrix), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/analytics/abc-xyz")]
async fn abc_xyz(state: State, q: Query<MatrixQuery>) -> Result<HttpResponse, ApiError> {
    let run = queries::succeeded_run(&state.db, q.run_id).await?;
    let currency = market(&state, q.currency.as_deref())?;
    let cell = match q.cell.as_deref() {
        None => None,
        Some(raw) => Some(parse_cell(raw).ok_or_else(|| {
            ApiError::field("cell", format!("`{raw}` is not a cell like AX or CZ"))
        })?),
    };
    let totals = queries::matrix(&state.db, &run, &currency).await?;
    let mut cells = Vec::new();
    for (ai, a) in ["A", "B", "C"].iter().enumerate() {
        for (xi, x) in ["X", "Y", "Z"].iter().enumerate() {
            cells.push(MatrixCell {
                abc: a.to_string(),
                xyz: x.to_string(),
                accounts: totals.counts[ai][xi],
                value: format_total(&currency, totals.values[ai][xi]),
                share: totals.share(ai, xi),
            });
        }
    }
    let drill_down = match cell {
        None => None,
        Some(c) => {
            let page = PageQuery {
                limit: q.limit,
                offset: q.offset,
                sort: None,
            }
            .validate(&state, &["revenue"], "-revenue")?;
            let (items, total) =
                queries::cell_accounts(&state.db, run.id, &currency, c, &page).await?;
            Some(Paged {
                items: items
                    .into_iter()
                    .map(|n| CellAccount {
                        external_id: n.external_id,
                        name: n.name,
                        revenue: format_money(&n.snapshot.currency, n.snapshot.revenue),
                        abc_reason: n.snapshot.abc_reason,
                        xyz_reason: n.snapshot.xyz_reason,
                        lost: n.snapshot.lost,
                    })
                    .collect(),
                total,
                limit: page.limit,
                offset: page.offset,
            })
        }
    };
    Ok(HttpResponse::Ok().json(Matrix {
        run_id: run.id,
        as_of: run.as_of,
        currency,
        measure: run.measure,
        cells,
        unclassified: totals.unclassified,
        drill_down,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtRiskQuery {
    /// Run to show (default: the latest succeeded run).
    pub run_id: Option<i64>,
    /// Currency market to show (default: `defaults.currency`).
    #[param(value_type = Option<Currency>, inline)]
    pub currency: Option<String>,
    /// Accounts per page.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Accounts to skip.
    #[param(maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AtRiskAccount {
    pub external_id: String,
    pub name: String,
    pub manager_id: Option<i64>,
    pub value_at_risk: String,
    pub revenue: String,
    pub abc: Option<String>,
    pub lost: bool,
    pub p_alive: Option<f64>,
    pub why: String,
}

/// Key accounts ranked by value at risk (window revenue × (1 − P(alive)); all of it when lost).
#[utoipa::path(tag = "analytics", params(AtRiskQuery),
    responses((status = 200, body = Paged<AtRiskAccount>), (status = 404, body = Problem)))]
#[get("/analytics/at-risk")]
async fn at_risk(state: State, q: Query<AtRiskQuery>) -> Result<HttpResponse, ApiError> {
    let run = queries::succeeded_run(&state.db, q.run_id).await?;
    let currency = market(&state, q.currency.as_deref())?;
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
        sort: None,
    }
    .validate(&state, &["value_at_risk"], "-value_at_risk")?;
    let (items, total) = queries::at_risk(&state.db, run.id, &currency, &page).await?;
    let items = items
        .into_iter()
        .map(
            |queries::AtRisk {
                 snapshot: s,
                 account: a,
             }| AtRiskAccount {
                external_id: a
                    .as_ref()
                    .map(|a| a.external_id.clone())
                    .unwrap_or_default(),
                name: a.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
                manager_id: a.as_ref().and_then(|a| a.manager_id),
                value_at_risk: format_money(&s.currency, s.value_at_risk),
                revenue: format_money(&s.currency, s.revenue),
                abc: s.abc,
                lost: s.lost,
                p_alive: s.p_alive,
                why: if s.lost {
                    s.lost_reason
                } else {
                    format!("P(alive) {:.2}", s.p_alive.unwrap_or(1.0))
                },
            },
        )
        .collect();
    Ok(HttpResponse::Ok().json(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChurnQuery {
    /// Split by: `segment` (the account's ABC-XYZ cell in its latest snapshot), `manager`,
    /// `industry`, `region`, or nothing for the total.
    #[param(value_type = Option<ChurnDirection>, inline)]
    pub direction: Option<String>,
    /// First month shown (`YYYY-MM`, years 1900 to 2100; default: 12 months ago).
    #[param(pattern = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")]
    pub from: Option<String>,
}

/// Churn dynamics: accounts that became lost and that recovered, per month, split by a
/// direction.
#[utoipa::path(tag = "analytics", params(ChurnQuery),
    responses((status = 200, body = Vec<ChurnRow>), (status = 422, body = Problem)))]
#[get("/analytics/churn")]
async fn churn(state: State, q: Query<ChurnQuery>) -> Result<HttpResponse, ApiError> {
    let direction = match q.direction.as_deref() {
        Some(raw) => ChurnDirection::parse(raw)?,
        None => None,
    };
    let from = q
        .from
        .as_deref()
        .map(report::parse_from_month)
        .transpose()?;
    let rows = report::churn_rows(&state.db, state.clock.now(), direction, from).await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkbookQuery {
    /// Run to export (default: the latest succeeded run).
    pub run_id: Option<i64>,
}

/// The Excel workbook of a run: ABC-XYZ matrix, every account's figures with reasons, churn,
/// and the win-back report of the last 12 months (default currency).
#[utoipa::path(tag = "analytics", params(WorkbookQuery),
    responses((status = 200, description = "XLSX workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 404, body = Problem)))]
#[get("/analytics/abc-xyz.xlsx")]
async fn workbook(state: State, q: Query<WorkbookQuery>) -> Result<HttpResponse, ApiError> {
    let run = queries::succeeded_run(&state.db, q.run_id).await?;
    let churn_rows = report::churn_rows(&state.db, state.clock.now(), None, None).await?;
    let winback =
        crate::winback::report::default_report(&state.db, &state.settings, state.clock.now())
            .await?;
    let bytes = report::workbook(&state.db, &run, &churn_rows, Some(&winback)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"abm-abc-xyz-run-{}.xlsx\"", run.id),
        ))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::parse_cell;
    use crate::domain::schema::matching;

    proptest! {
        #[test]
        fn documented_cells_and_months_are_accepted(
            cell in matching(super::CELL),
            month in matching(super::MONTH),
        ) {
            prop_assert!(parse_cell(&cell).is_some());
            prop_assert!(super::report::parse_from_month(&month).is_ok());
        }
    }

    #[test]
    fn cells_are_two_letters_of_any_case_and_other_text_is_refused_without_panicking() {
        assert_eq!(parse_cell("AX"), Some(('A', 'X')));
        assert_eq!(parse_cell("cz"), Some(('C', 'Z')));
        for bad in ["", "A", "AXX", "XA", "DX", "¾", "Aé", "éA", "A¾", "ÀX"] {
            assert_eq!(parse_cell(bad), None, "{bad}");
        }
    }
}
