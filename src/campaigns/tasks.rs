//! Manager tasks that `manager_task` steps create: listed for key account managers, marked
//! done (or reopened) by them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::CampaignsError;
use super::model::TaskStatus;
use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{account, campaign, manager, task};

/// Sort fields of the task list.
pub const TASK_SORTS: &[&str] = &["id", "created_at", "status"];
pub const TASK_DEFAULT_SORT: &str = "-id";

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub status: TaskStatus,
    pub title: String,
    /// Rendered from the step's `task` template.
    pub body: String,
    /// The account's external id.
    pub account_id: String,
    /// The manager's email (none: unassigned).
    pub manager: Option<String>,
    /// The campaign's key.
    pub campaign: Option<String>,
    pub step: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

/// What the task list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    /// An account's external id.
    pub account: Option<String>,
    /// A manager's email.
    pub manager: Option<String>,
}

async fn views(ctx: &AppContext, rows: Vec<task::Model>) -> Result<Vec<TaskView>, CampaignsError> {
    let ext = super::service::external_ids(&ctx.db, rows.iter().map(|t| t.account_id)).await?;
    let mut mids: Vec<i64> = rows.iter().filter_map(|t| t.manager_id).collect();
    mids.sort_unstable();
    mids.dedup();
    let managers: std::collections::HashMap<i64, String> = manager::Entity::find()
        .select_only()
        .columns([manager::Column::Id, manager::Column::Email])
        .filter(manager::Column::Id.is_in(mids))
        .into_tuple::<(i64, String)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    let mut cids: Vec<i64> = rows.iter().filter_map(|t| t.campaign_id).collect();
    cids.sort_unstable();
    cids.dedup();
    let keys: std::collections::HashMap<i64, String> = campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Key])
        .filter(campaign::Column::Id.is_in(cids))
        .into_tuple::<(i64, String)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|t| TaskView {
            id: t.id,
            status: TaskStatus::parse(&t.status).unwrap_or(TaskStatus::Open),
            title: t.title,
            body: t.body,
            account_id: ext.get(&t.account_id).cloned().unwrap_or_default(),
            manager: t.manager_id.and_then(|m| managers.get(&m).cloned()),
            campaign: t.campaign_id.and_then(|c| keys.get(&c).cloned()),
            step: t.step,
            created_at: t.created_at,
            done_at: t.done_at,
        })
        .collect())
}

/// Tasks matching `filter`.
pub async fn list(
    ctx: &AppContext,
    filter: &TaskFilter,
    page: &Page,
) -> Result<Paged<TaskView>, CampaignsError> {
    let mut q = task::Entity::find();
    if let Some(s) = filter.status {
        q = q.filter(task::Column::Status.eq(s.as_str()));
    }
    if let Some(ext) = &filter.account {
        let id: Option<i64> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::ExternalId.eq(ext.as_str()))
            .into_tuple()
            .one(&ctx.db)
            .await?;
        q = q.filter(task::Column::AccountId.eq(id.unwrap_or(-1)));
    }
    if let Some(email) = &filter.manager {
        let id: Option<i64> = manager::Entity::find()
            .select_only()
            .column(manager::Column::Id)
            .filter(manager::Column::Email.eq(email.trim()))
            .into_tuple()
            .one(&ctx.db)
            .await?;
        q = q.filter(task::Column::ManagerId.eq(id.unwrap_or(-1)));
    }
    let col = match page.sort_field.as_str() {
        "created_at" => task::Column::CreatedAt,
        "status" => task::Column::Status,
        _ => task::Column::Id,
    };
    let (rows, total) = fetch_page(&ctx.db, q, page, col, task::Column::Id).await?;
    Ok(Paged {
        items: views(ctx, rows).await?,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Marks a task done or open again.
pub async fn set_status(
    ctx: &AppContext,
    id: i64,
    status: TaskStatus,
) -> Result<TaskView, CampaignsError> {
    let done_at = (status == TaskStatus::Done).then(|| ctx.clock.now());
    let updated = task::Entity::update_many()
        .col_expr(task::Column::Status, Expr::value(status.as_str()))
        .col_expr(task::Column::DoneAt, Expr::value(done_at))
        .filter(task::Column::Id.eq(id))
        .exec(&ctx.db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(CampaignsError::Missing("task", id));
    }
    let row = task::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(CampaignsError::Missing("task", id))?;
    views(ctx, vec![row])
        .await?
        .into_iter()
        .next()
        .ok_or(CampaignsError::Missing("task", id))
}
