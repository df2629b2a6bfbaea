//! `GET /api/v1/winback` and `POST` / `DELETE /api/v1/winback/{external_id}`.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{MarkView, WinbackAccount, WinbackFilter, check_reason};
use crate::api::extract::{JsonBody, Query};
use crate::api::state::State;
use crate::db::page::Paged;
use crate::error::{ApiError, Problem};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(report)
        .service(add)
        .service(remove);
}

/// Where churn dynamics by direction live (the list links there).
const CHURN_LINK: &str = "</api/v1/analytics/churn?direction=segment>; rel=\"related\"; title=\"churn dynamics by cell\", </api/v1/analytics/churn?direction=industry>; rel=\"related\"; title=\"churn dynamics by industry\", </api/v1/analytics/churn?direction=region>; rel=\"related\"; title=\"churn dynamics by region\", </api/v1/analytics/churn?direction=manager>; rel=\"related\"; title=\"churn dynamics by manager\"";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WinbackQuery {
    /// Currency market to show (default: `defaults.currency`).
    #[param(value_type = Option<crate::domain::Currency>, inline)]
    pub currency: Option<String>,
    /// Only the accounts of this key account manager.
    pub manager_id: Option<i64>,
    /// Accounts per page.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Accounts to skip.
    #[param(maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Currency market to report (default: `defaults.currency`).
    #[param(value_type = Option<crate::domain::Currency>, inline)]
    pub currency: Option<String>,
    /// First day (UTC, default: a year before `to`).
    #[param(value_type = Option<crate::domain::schema::BusinessDate>)]
    pub from: Option<String>,
    /// Last day (UTC, default: today); at most 3,660 days after `from`.
    #[param(value_type = Option<crate::domain::schema::BusinessDate>)]
    pub to: Option<String>,
    /// Split by: the account's ABC-XYZ `cell`, `industry`, `region`, `manager`, or the win-back
    /// `campaign`; nothing for the total.
    #[param(value_type = Option<ReportBy>, inline)]
    pub by: Option<String>,
}

/// The values of the report's `by` parameter (for the OpenAPI document).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ReportBy {
    Cell,
    Industry,
    Region,
    Manager,
    Campaign,
}

/// The win-back report: per month and group, accounts lost (and added by hand), contacted by
/// win-back campaigns, responding, redeeming and recovered; recovered revenue (the recovering
/// order and later ones in the period), discounts given, gift cost, offer cost and return on
/// offers; then each recovery with what it is attributed to and why.
#[utoipa::path(tag = "winback", params(ReportQuery),
    responses((status = 200, body = super::report::WinbackReport), (status = 422, body = Problem)))]
#[get("/winback/report")]
async fn report(state: State, q: Query<ReportQuery>) -> Result<HttpResponse, ApiError> {
    let currency = crate::analytics::routes::market(&state, q.currency.as_deref())?;
    let params = super::report::ReportParams::parse(
        currency,
        q.from.as_deref(),
        q.to.as_deref(),
        q.by.as_deref(),
        state.clock.now().date_naive(),
    )?;
    let r = super::report::report(&state.db, &state.settings.winback, &params).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Lost key accounts of the latest analysis run, largest value at risk first: why each is lost
/// and since when, its classes, types and manager, its latest complaints and lost tenders, and
/// what was tried since (campaigns, responses). Accounts taken out of win-back by hand are left
/// out; accounts added by hand are in. The `Link` header points to the churn dynamics.
#[utoipa::path(tag = "winback", params(WinbackQuery),
    responses((status = 200, body = Paged<WinbackAccount>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/winback")]
async fn list(state: State, q: Query<WinbackQuery>) -> Result<HttpResponse, ApiError> {
    let currency = crate::analytics::routes::market(&state, q.currency.as_deref())?;
    let page = crate::api::extract::PageQuery {
        limit: q.limit,
        offset: q.offset,
        sort: None,
    }
    .validate(&state, &["value_at_risk"], "-value_at_risk")?;
    let filter = WinbackFilter {
        currency,
        manager_id: q.manager_id,
    };
    let items = super::list(&state.db, &filter, &page, state.clock.now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::LINK, CHURN_LINK))
        .json(items))
}

/// Why a manager adds an account to win-back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    /// Why (required; line breaks allowed).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// Add an account to win-back by hand (it need not be lost), with the reason: it is listed
/// from then on. A later mark replaces an earlier one: `201` when new, `200` when replaced.
#[utoipa::path(tag = "winback", request_body = MarkInput,
    responses((status = 201, body = MarkView), (status = 200, body = MarkView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/winback/{external_id}")]
async fn add(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<MarkInput>,
) -> Result<HttpResponse, ApiError> {
    let reason = check_reason("/reason", &body.0.reason)?;
    let (m, created) = super::mark(
        &state.db,
        &state.settings.winback,
        state.clock.now(),
        &external_id,
        true,
        reason,
    )
    .await?;
    Ok(if created {
        HttpResponse::Created().json(m)
    } else {
        HttpResponse::Ok().json(m)
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Why the account is taken out of win-back (required).
    #[param(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub reason: Option<String>,
}

/// Take an account out of win-back by hand, with the reason (`?reason=`): it is no longer
/// listed, even while lost.
#[utoipa::path(tag = "winback", params(RemoveQuery),
    responses((status = 200, body = MarkView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[delete("/winback/{external_id}")]
async fn remove(
    state: State,
    external_id: web::Path<String>,
    q: Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let reason = check_reason("reason", q.reason.as_deref().unwrap_or_default())?;
    let (m, _) = super::mark(
        &state.db,
        &state.settings.winback,
        state.clock.now(),
        &external_id,
        false,
        reason,
    )
    .await?;
    Ok(HttpResponse::Ok().json(m))
}
