//! Campaign services: create, change (each change a new version), the status moves, and the
//! lists of campaigns, versions, enrolments and their step executions. Everything takes an
//! [`AppContext`] and returns [`CampaignsError`].

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::CampaignsError;
use super::model::{
    Audience, CampaignStatus, Content, Definition, EnrolmentStatus, ExitCondition, Plan,
    Recipients, Reentry, StepInput, Trigger, check_activation, compile,
};
use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
use crate::domain::kinds::Channel;
use crate::domain::validation::{FieldError, FieldErrors};
use crate::entities::{account, campaign, campaign_version, enrolment, step_execution};

/// Sort fields of the campaign list.
pub const CAMPAIGN_SORTS: &[&str] = &["key", "name", "status", "created_at", "updated_at"];
pub const CAMPAIGN_DEFAULT_SORT: &str = "key";
/// Sort fields of the enrolment list.
pub const ENROLMENT_SORTS: &[&str] = &["id", "entered_at", "due_at", "status"];
pub const ENROLMENT_DEFAULT_SORT: &str = "id";

/// A campaign as given by a user: on create `name` is required (the key is derived from it
/// when absent); on change every field is optional and replaces the stored one (`null`
/// clears an optional one).
#[derive(Debug, Clone, Default)]
pub struct CampaignDraft {
    pub key: Option<String>,
    pub name: Option<String>,
    pub goal: Option<Option<String>>,
    pub audience: Option<Option<Audience>>,
    pub recipients: Option<Option<Recipients>>,
    pub send_window: Option<Option<String>>,
    pub quiet_dates: Option<Vec<NaiveDate>>,
    pub schedule: Option<Option<String>>,
    pub max_lateness: Option<Option<String>>,
    pub reentry: Option<Option<Reentry>>,
    pub exit_on: Option<Vec<ExitCondition>>,
    pub steps: Option<Vec<StepInput>>,
}

impl CampaignDraft {
    /// `def` with this draft's fields replacing its own.
    fn apply(self, mut def: Definition) -> Definition {
        if let Some(v) = self.audience {
            def.audience = v;
        }
        if let Some(v) = self.recipients {
            def.recipients = v;
        }
        if let Some(v) = self.send_window {
            def.send_window = v;
        }
        if let Some(v) = self.quiet_dates {
            def.quiet_dates = v;
        }
        if let Some(v) = self.schedule {
            def.schedule = v;
        }
        if let Some(v) = self.max_lateness {
            def.max_lateness = v;
        }
        if let Some(v) = self.reentry {
            def.reentry = v;
        }
        if let Some(v) = self.exit_on {
            def.exit_on = v;
        }
        if let Some(v) = self.steps {
            def.steps = v;
        }
        def
    }
}

/// A campaign as the API shows it: its definition's fields beside its own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignView {
    pub key: String,
    pub name: String,
    pub goal: Option<String>,
    pub status: CampaignStatus,
    /// Each change is a new version.
    pub version: i32,
    #[serde(flatten)]
    pub definition: Definition,
    pub activated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a campaign's definition.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CampaignVersionView)]
pub struct VersionView {
    pub version: i32,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub definition: Definition,
}

/// The stored definition of a row (an unreadable one, written by a newer version, reads empty).
pub fn definition_of(m: &campaign::Model) -> Definition {
    serde_json::from_value(m.definition.clone()).unwrap_or_default()
}

/// The campaign's status (unknown text reads as archived: it does nothing).
pub fn status_of(m: &campaign::Model) -> CampaignStatus {
    CampaignStatus::parse(&m.status).unwrap_or(CampaignStatus::Archived)
}

impl From<&campaign::Model> for CampaignView {
    fn from(m: &campaign::Model) -> Self {
        Self {
            key: m.key.clone(),
            name: m.name.clone(),
            goal: m.goal.clone(),
            status: status_of(m),
            version: m.version,
            definition: definition_of(m),
            activated_at: m.activated_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Compiles `def` with the configured default window.
pub fn plan_of(ctx: &AppContext, def: &Definition) -> Result<Plan, CampaignsError> {
    compile(def, &ctx.settings.delivery.window()).map_err(CampaignsError::Invalid)
}

/// A schedule that parses must also fire, soon enough and not too often (the parse error
/// itself comes from `compile`).
fn check_schedule(def: &Definition, now: DateTime<Utc>, errors: &mut FieldErrors) {
    if let Some(expr) = &def.schedule
        && crate::jobs::schedule::parse(expr).is_ok()
        && let Err(m) = crate::jobs::schedule::check_campaign_schedule(expr, now)
    {
        errors.push("schedule", m);
    }
}

fn check_name(name: Option<&str>, errors: &mut FieldErrors) {
    match name.map(str::trim) {
        None | Some("") => errors.push("name", "is required"),
        Some(n) if n.chars().count() > 200 => errors.push("name", "at most 200 characters"),
        Some(n) => {
            if let Err(m) = crate::domain::one_line(n) {
                errors.push("name", m);
            }
        }
    }
}

fn check_goal(goal: Option<&str>, errors: &mut FieldErrors) {
    if let Some(g) = goal {
        if g.chars().count() > 2000 {
            errors.push("goal", "at most 2000 characters");
        }
        if g.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            errors.push("goal", "must not hold control characters");
        }
    }
}

/// Creates a draft campaign at version 1.
pub async fn create(
    ctx: &AppContext,
    draft: CampaignDraft,
) -> Result<CampaignView, CampaignsError> {
    let mut errors = FieldErrors::default();
    check_name(draft.name.as_deref(), &mut errors);
    let key = draft
        .key
        .clone()
        .or_else(|| draft.name.as_deref().map(crate::segments::draft::slug))
        .unwrap_or_default();
    if let Err(m) = crate::domain::check_slug(&key) {
        errors.push("key", m);
    } else if key.len() > 64 {
        errors.push("key", "must be at most 64 characters");
    }
    let goal = draft
        .goal
        .clone()
        .flatten()
        .filter(|g| !g.trim().is_empty());
    check_goal(goal.as_deref(), &mut errors);
    let name = draft.name.clone().unwrap_or_default().trim().to_string();
    let def = draft.apply(Definition::default());
    if let Err(e) = compile(&def, &ctx.settings.delivery.window()) {
        errors.errors.extend(e);
    }
    check_schedule(&def, ctx.clock.now(), &mut errors);
    if !errors.is_empty() {
        return Err(CampaignsError::Invalid(errors.errors));
    }
    let now = ctx.clock.now();
    let json = serde_json::to_value(&def).map_err(|e| internal(e.to_string()))?;
    let txn = crate::db::begin_write(&ctx.db).await?;
    let row = campaign::ActiveModel {
        key: Set(key.clone()),
        name: Set(name),
        goal: Set(goal),
        status: Set(CampaignStatus::Draft.as_str().into()),
        version: Set(1),
        definition: Set(json.clone()),
        activated_at: Set(None),
        cursors: Set(None),
        schedule_checked_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            CampaignsError::AlreadyExists(key.clone())
        }
        _ => e.into(),
    })?;
    save_version(&txn, row.id, 1, json, now).await?;
    txn.commit().await?;
    Ok(CampaignView::from(&row))
}

fn internal(m: String) -> CampaignsError {
    CampaignsError::Database(sea_orm::DbErr::Custom(m))
}

async fn save_version(
    db: &impl ConnectionTrait,
    campaign_id: i64,
    version: i32,
    definition: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    campaign_version::ActiveModel {
        campaign_id: Set(campaign_id),
        version: Set(version),
        definition: Set(definition),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The campaign `key`.
pub async fn find(db: &impl ConnectionTrait, key: &str) -> Result<campaign::Model, CampaignsError> {
    campaign::Entity::find()
        .filter(campaign::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| CampaignsError::NotFound(key.to_string()))
}

/// The campaign `key` as the API shows it.
pub async fn get(ctx: &AppContext, key: &str) -> Result<CampaignView, CampaignsError> {
    Ok(CampaignView::from(&find(&ctx.db, key).await?))
}

/// Campaigns, by `page`'s sort.
pub async fn list(
    ctx: &AppContext,
    page: &Page,
    status: Option<CampaignStatus>,
) -> Result<Paged<CampaignView>, CampaignsError> {
    let col = match page.sort_field.as_str() {
        "name" => campaign::Column::Name,
        "status" => campaign::Column::Status,
        "created_at" => campaign::Column::CreatedAt,
        "updated_at" => campaign::Column::UpdatedAt,
        _ => campaign::Column::Key,
    };
    let (items, total) = fetch_page(
        &ctx.db,
        campaign::Entity::find().apply_if(status, |q, s| {
            q.filter(campaign::Column::Status.eq(s.as_str()))
        }),
        page,
        col,
        campaign::Column::Id,
    )
    .await?;
    Ok(Paged {
        items: items.iter().map(CampaignView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Every version of a campaign, newest first.
pub async fn versions(ctx: &AppContext, key: &str) -> Result<Vec<VersionView>, CampaignsError> {
    let c = find(&ctx.db, key).await?;
    let rows = campaign_version::Entity::find()
        .filter(campaign_version::Column::CampaignId.eq(c.id))
        .order_by_desc(campaign_version::Column::Version)
        .all(&ctx.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|v| VersionView {
            version: v.version,
            created_at: v.created_at,
            definition: serde_json::from_value(v.definition).unwrap_or_default(),
        })
        .collect())
}

/// Changes a draft or paused campaign: stored as its next version. Enrolments waiting at a
/// step the new version no longer has leave the campaign, with that reason, in the same
/// transaction.
pub async fn update(
    ctx: &AppContext,
    key: &str,
    draft: CampaignDraft,
) -> Result<CampaignView, CampaignsError> {
    let current = find(&ctx.db, key).await?;
    let status = status_of(&current);
    if !matches!(status, CampaignStatus::Draft | CampaignStatus::Paused) {
        return Err(CampaignsError::WrongStatus {
            key: key.into(),
            status,
            action: "a change",
            needs: "a draft or paused campaign (pause it first)",
        });
    }
    let mut errors = FieldErrors::default();
    if draft.key.as_deref().is_some_and(|k| k != key) {
        errors.push("key", "cannot be changed");
    }
    if let Some(n) = &draft.name {
        check_name(Some(n), &mut errors);
    }
    let goal = match draft.goal.clone() {
        Some(g) => g.filter(|g| !g.trim().is_empty()),
        None => current.goal.clone(),
    };
    check_goal(goal.as_deref(), &mut errors);
    let name = draft
        .name
        .clone()
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| current.name.clone());
    let def = draft.apply(definition_of(&current));
    check_schedule(&def, ctx.clock.now(), &mut errors);
    let plan = match compile(&def, &ctx.settings.delivery.window()) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.errors.extend(e);
            None
        }
    };
    if !errors.is_empty() {
        return Err(CampaignsError::Invalid(errors.errors));
    }
    if name == current.name && goal == current.goal && def == definition_of(&current) {
        // Nothing changes: no new version.
        return Ok(CampaignView::from(&current));
    }
    let now = ctx.clock.now();
    let version = current.version + 1;
    let json = serde_json::to_value(&def).map_err(|e| internal(e.to_string()))?;
    let txn = crate::db::begin_write(&ctx.db).await?;
    let updated = campaign::Entity::update_many()
        .col_expr(campaign::Column::Name, Expr::value(name))
        .col_expr(campaign::Column::Goal, Expr::value(goal))
        .col_expr(campaign::Column::Definition, Expr::value(json.clone()))
        .col_expr(campaign::Column::Version, Expr::value(version))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(now))
        .filter(campaign::Column::Id.eq(current.id))
        .filter(campaign::Column::Version.eq(current.version))
        .filter(campaign::Column::Status.eq(current.status.clone()))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(CampaignsError::Conflict(key.into()));
    }
    save_version(&txn, current.id, version, json, now).await?;
    if let Some(plan) = plan {
        exit_removed_steps(&txn, current.id, &plan, version, now).await?;
    }
    txn.commit().await?;
    Ok(CampaignView::from(&find(&ctx.db, key).await?))
}

/// Ends the active enrolments of `campaign` waiting at a step `plan` does not have.
async fn exit_removed_steps(
    txn: &impl ConnectionTrait,
    campaign_id: i64,
    plan: &Plan,
    version: i32,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let waiting: Vec<(Option<String>,)> = enrolment::Entity::find()
        .select_only()
        .column(enrolment::Column::Step)
        .distinct()
        .filter(enrolment::Column::CampaignId.eq(campaign_id))
        .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
        .into_tuple()
        .all(txn)
        .await?;
    for (step,) in waiting {
        let Some(step) = step else { continue };
        if plan.index.contains_key(&step) {
            continue;
        }
        let reason = format!("step `{step}` was removed in version {version}");
        let ids: Vec<(i64, i64)> = enrolment::Entity::find()
            .select_only()
            .columns([enrolment::Column::Id, enrolment::Column::AccountId])
            .filter(enrolment::Column::CampaignId.eq(campaign_id))
            .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
            .filter(enrolment::Column::Step.eq(step.clone()))
            .into_tuple()
            .all(txn)
            .await?;
        finish(
            txn,
            campaign_id,
            &ids,
            version,
            &step,
            "missing",
            &reason,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Marks enrolments `(id, account_id)` exited with `reason`, recording the execution that
/// ended them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish(
    txn: &impl ConnectionTrait,
    campaign_id: i64,
    ids: &[(i64, i64)],
    version: i32,
    step: &str,
    outcome: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    for chunk in ids.chunks(500) {
        enrolment::Entity::update_many()
            .col_expr(
                enrolment::Column::Status,
                Expr::value(EnrolmentStatus::Exited.as_str()),
            )
            .col_expr(enrolment::Column::Step, Expr::value(Option::<String>::None))
            .col_expr(
                enrolment::Column::DueAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(enrolment::Column::FinishedAt, Expr::value(now))
            .col_expr(enrolment::Column::ExitReason, Expr::value(reason))
            .col_expr(
                enrolment::Column::Claim,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                enrolment::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(enrolment::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
            .exec(txn)
            .await?;
        let rows = chunk
            .iter()
            .map(|(id, account)| step_execution::ActiveModel {
                enrolment_id: Set(*id),
                campaign_id: Set(campaign_id),
                account_id: Set(*account),
                version: Set(version),
                step: Set(step.to_string()),
                kind: Set("campaign".into()),
                outcome: Set(outcome.to_string()),
                reason: Set(reason.to_string()),
                due_at: Set(None),
                executed_at: Set(now),
                ..Default::default()
            });
        step_execution::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Moves `draft → active`: the definition must pass the activation checks (every step
/// reachable, a template for every send, the audience's segment or accounts exist).
pub async fn activate(ctx: &AppContext, key: &str) -> Result<CampaignView, CampaignsError> {
    transition(ctx, key, Move::Activate).await
}

/// Moves `active → paused`: its enrolments wait where they are.
pub async fn pause(ctx: &AppContext, key: &str) -> Result<CampaignView, CampaignsError> {
    transition(ctx, key, Move::Pause).await
}

/// Moves `paused → active`, checked again like an activation (it may have been changed).
/// Steps that became overdue by more than `max_lateness` while paused are skipped by the
/// next tick, with that reason.
pub async fn resume(ctx: &AppContext, key: &str) -> Result<CampaignView, CampaignsError> {
    transition(ctx, key, Move::Resume).await
}

/// Archives a campaign: its active enrolments leave it.
pub async fn archive(ctx: &AppContext, key: &str) -> Result<CampaignView, CampaignsError> {
    transition(ctx, key, Move::Archive).await
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Move {
    Activate,
    Pause,
    Resume,
    Archive,
}

async fn transition(ctx: &AppContext, key: &str, m: Move) -> Result<CampaignView, CampaignsError> {
    let c = find(&ctx.db, key).await?;
    let status = status_of(&c);
    let (from, to, action, needs): (&[CampaignStatus], _, _, _) = match m {
        Move::Activate => (
            &[CampaignStatus::Draft],
            CampaignStatus::Active,
            "activation",
            "a draft",
        ),
        Move::Pause => (
            &[CampaignStatus::Active],
            CampaignStatus::Paused,
            "pausing",
            "an active campaign",
        ),
        Move::Resume => (
            &[CampaignStatus::Paused],
            CampaignStatus::Active,
            "resuming",
            "a paused campaign",
        ),
        Move::Archive => (
            &[
                CampaignStatus::Draft,
                CampaignStatus::Active,
                CampaignStatus::Paused,
            ],
            CampaignStatus::Archived,
            "archiving",
            "a campaign that is not archived",
        ),
    };
    if !from.contains(&status) {
        return Err(CampaignsError::WrongStatus {
            key: key.into(),
            status,
            action,
            needs,
        });
    }
    let now = ctx.clock.now();
    let mut cursors = c.cursors.clone();
    if matches!(m, Move::Activate | Move::Resume) {
        let def = definition_of(&c);
        let plan = plan_of(ctx, &def)?;
        let errors = activation_problems(ctx, &def, &plan).await?;
        if !errors.is_empty() {
            return Err(CampaignsError::NotActivatable(errors));
        }
        if m == Move::Activate {
            cursors = Some(super::enrol::cursors_now(&ctx.db).await?);
        }
    }
    let txn = crate::db::begin_write(&ctx.db).await?;
    let mut update = campaign::Entity::update_many()
        .col_expr(campaign::Column::Status, Expr::value(to.as_str()))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(now))
        .col_expr(campaign::Column::Cursors, Expr::value(cursors))
        .filter(campaign::Column::Id.eq(c.id))
        .filter(campaign::Column::Status.eq(c.status.clone()))
        .filter(campaign::Column::Version.eq(c.version));
    if m == Move::Activate {
        update = update
            .col_expr(campaign::Column::ActivatedAt, Expr::value(now))
            .col_expr(campaign::Column::ScheduleCheckedAt, Expr::value(now));
    }
    if update.exec(&txn).await?.rows_affected == 0 {
        return Err(CampaignsError::Conflict(key.into()));
    }
    if m == Move::Archive {
        let ids: Vec<(i64, i64)> = enrolment::Entity::find()
            .select_only()
            .columns([enrolment::Column::Id, enrolment::Column::AccountId])
            .filter(enrolment::Column::CampaignId.eq(c.id))
            .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
            .into_tuple()
            .all(&txn)
            .await?;
        finish(
            &txn,
            c.id,
            &ids,
            c.version,
            "-",
            "exited",
            "the campaign was archived",
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(CampaignView::from(&find(&ctx.db, key).await?))
}

/// What stops `def` from running: each problem names the step (or the audience) and why.
pub async fn activation_problems(
    ctx: &AppContext,
    def: &Definition,
    plan: &Plan,
) -> Result<Vec<FieldError>, CampaignsError> {
    let lib = ctx.templates.library(&ctx.db).await?;
    let mut errors = check_activation(
        def,
        plan,
        |channel: Channel, content: &Content| match content {
            Content::Template(id) => match lib.get(id) {
                None => Err(format!("template `{id}` does not exist")),
                Some(t) if t.channel != channel => Err(format!(
                    "template `{id}` is a {} template; the step needs a {channel} one",
                    t.channel
                )),
                Some(_) => Ok(()),
            },
            Content::Purpose(p) => {
                if lib
                    .templates
                    .iter()
                    .any(|t| t.purpose == *p && t.channel == channel)
                {
                    Ok(())
                } else {
                    Err(format!("no {channel} template has purpose {p}"))
                }
            }
        },
    );
    let segment = match &def.audience {
        Some(Audience::Segment(s)) => Some(("audience/segment", s)),
        Some(Audience::Trigger(
            Trigger::EnteredSegment { segment } | Trigger::LeftSegment { segment },
        )) => Some(("audience/trigger/segment", segment)),
        _ => None,
    };
    if let Some((path, key)) = segment
        && crate::segments::service::find(ctx, key).await.is_err()
    {
        errors.push(FieldError::new(
            format!("/{path}"),
            format!("no segment `{key}`"),
        ));
    }
    if let Some(Audience::Accounts(list)) = &def.audience {
        let known = super::enrol::account_ids(&ctx.db, list).await?;
        let mut missing = 0;
        for (i, e) in list.iter().enumerate() {
            if !known.contains_key(e.trim()) {
                missing += 1;
                if missing <= 20 {
                    errors.push(FieldError::new(
                        format!("/audience/accounts/{i}"),
                        format!("no account `{}`", e.trim()),
                    ));
                }
            }
        }
        if missing > 20 {
            errors.push(FieldError::new(
                "/audience/accounts",
                format!("{missing} accounts do not exist (the first 20 are listed)"),
            ));
        }
    }
    Ok(errors)
}

// ------------------------------------------------------------------------ enrolments

/// One enrolment as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrolmentView {
    pub id: i64,
    /// The account's external id.
    pub account_id: String,
    pub status: EnrolmentStatus,
    /// The step it runs next (active enrolments).
    pub step: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// What enrolled it.
    pub source: String,
    pub entered_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_reason: Option<String>,
}

/// One executed step.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionView {
    pub step: String,
    /// `send`, `wait`, `branch`, `manager_task`, `exit`, or `campaign` for campaign-wide exits.
    pub kind: String,
    /// `sent`, `deferred`, `skipped`, `no_recipient`, `not_rendered`, `task_created`,
    /// `waiting`, `then`, `else`, `exited`, `missing`.
    pub outcome: String,
    pub reason: String,
    pub version: i32,
    pub due_at: Option<DateTime<Utc>>,
    pub executed_at: DateTime<Utc>,
}

/// An enrolment with every step it executed, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrolmentDetail {
    #[serde(flatten)]
    pub enrolment: EnrolmentView,
    pub executions: Vec<ExecutionView>,
}

/// External ids of accounts by id.
pub(crate) async fn external_ids(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, String>, sea_orm::DbErr> {
    let ids: Vec<i64> = ids.into_iter().collect();
    super::enrol::account_texts(db, &ids, account::Column::ExternalId).await
}

fn enrolment_view(e: enrolment::Model, ext: &HashMap<i64, String>) -> EnrolmentView {
    EnrolmentView {
        id: e.id,
        account_id: ext.get(&e.account_id).cloned().unwrap_or_default(),
        status: EnrolmentStatus::parse(&e.status).unwrap_or(EnrolmentStatus::Exited),
        step: e.step,
        due_at: e.due_at,
        source: e.source,
        entered_at: e.entered_at,
        finished_at: e.finished_at,
        exit_reason: e.exit_reason,
    }
}

/// The enrolments of a campaign (optionally only those in `status`).
pub async fn enrolments(
    ctx: &AppContext,
    key: &str,
    status: Option<EnrolmentStatus>,
    page: &Page,
) -> Result<Paged<EnrolmentView>, CampaignsError> {
    let c = find(&ctx.db, key).await?;
    let col = match page.sort_field.as_str() {
        "entered_at" => enrolment::Column::EnteredAt,
        "due_at" => enrolment::Column::DueAt,
        "status" => enrolment::Column::Status,
        _ => enrolment::Column::Id,
    };
    let mut q = enrolment::Entity::find().filter(enrolment::Column::CampaignId.eq(c.id));
    if let Some(s) = status {
        q = q.filter(enrolment::Column::Status.eq(s.as_str()));
    }
    let (items, total) = fetch_page(&ctx.db, q, page, col, enrolment::Column::Id).await?;
    let ext = external_ids(&ctx.db, items.iter().map(|e| e.account_id)).await?;
    Ok(Paged {
        items: items.into_iter().map(|e| enrolment_view(e, &ext)).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// One enrolment of campaign `key` with its executions.
pub async fn enrolment(
    ctx: &AppContext,
    key: &str,
    id: i64,
) -> Result<EnrolmentDetail, CampaignsError> {
    let c = find(&ctx.db, key).await?;
    let e = enrolment::Entity::find_by_id(id)
        .filter(enrolment::Column::CampaignId.eq(c.id))
        .one(&ctx.db)
        .await?
        .ok_or(CampaignsError::Missing("enrolment", id))?;
    let executions = step_execution::Entity::find()
        .filter(step_execution::Column::EnrolmentId.eq(e.id))
        .order_by_asc(step_execution::Column::Id)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|x| ExecutionView {
            step: x.step,
            kind: x.kind,
            outcome: x.outcome,
            reason: x.reason,
            version: x.version,
            due_at: x.due_at,
            executed_at: x.executed_at,
        })
        .collect();
    let ext = external_ids(&ctx.db, [e.account_id]).await?;
    Ok(EnrolmentDetail {
        enrolment: enrolment_view(e, &ext),
        executions,
    })
}

/// The hook events call: ends the active enrolments of `account` in every active or paused
/// campaign whose `exit_on` lists `condition`, with `reason`. Orders are checked by the tick;
/// response tracking calls this when a reply or an unsubscribe arrives. Returns how many ended.
pub async fn exit_on_event(
    ctx: &AppContext,
    account: i64,
    condition: ExitCondition,
    reason: &str,
) -> Result<u64, CampaignsError> {
    let campaigns = campaign::Entity::find()
        .filter(campaign::Column::Status.is_in([
            CampaignStatus::Active.as_str(),
            CampaignStatus::Paused.as_str(),
        ]))
        .all(&ctx.db)
        .await?;
    let now = ctx.clock.now();
    let mut ended = 0;
    let txn = crate::db::begin_write(&ctx.db).await?;
    for c in campaigns
        .iter()
        .filter(|c| definition_of(c).exit_on.contains(&condition))
    {
        let ids: Vec<(i64, i64)> = enrolment::Entity::find()
            .select_only()
            .columns([enrolment::Column::Id, enrolment::Column::AccountId])
            .filter(enrolment::Column::CampaignId.eq(c.id))
            .filter(enrolment::Column::AccountId.eq(account))
            .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
            .into_tuple()
            .all(&txn)
            .await?;
        let why = format!("exit condition `{condition}`: {reason}");
        finish(&txn, c.id, &ids, c.version, "-", "exited", &why, now).await?;
        ended += ids.len() as u64;
    }
    txn.commit().await?;
    Ok(ended)
}
