//! The dispatcher tick: enrol what is due, end enrolments whose exit condition came true, then
//! advance every due enrolment in batches. A batch is claimed with a lease (a conditional
//! update, `SKIP LOCKED` on PostgreSQL), run through the step machine, rendered in one call
//! to the content service, and written in one transaction: the messages, the tasks, the step
//! executions and the enrolments' new positions together. A message row's unique idempotency
//! key (campaign, enrolment, step, recipient) means no step is ever decided into two rows,
//! and the enrolment update checks the claim, so a batch whose lease was taken over writes
//! nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use serde::Serialize;

use super::error::CampaignsError;
use super::machine::{
    self, AccountView, Chosen, Ledger, Manager, Next, Pass, Person, Rules, SendOrder,
};
use super::model::{
    Action, CampaignStatus, Content, EnrolmentStatus, ExitCondition, MessageStatus, Plan, Target,
    TaskStatus, zone,
};
use super::service::{definition_of, plan_of};
use crate::content::context::{AccountKey, Recipient};
use crate::content::service::{RenderRequest, Rendition, select_and_render};
use crate::context::AppContext;
use crate::delivery::outbox::MessageValues;
use crate::domain::kinds::{Channel, Purpose};
use crate::domain::{Consent, StakeholderRole};
use crate::entities::{
    account, campaign, enrolment, manager, message, order, stakeholder, step_execution,
    suppression, task,
};
use crate::segments::rules::Facts;

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TickReport {
    /// Accounts enrolled, over all campaigns.
    pub enrolled: u64,
    /// Enrolments that ended because an exit condition came true.
    pub exited_by_condition: u64,
    /// Enrolments advanced.
    pub advanced: u64,
    /// Messages written to the outbox.
    pub messages: u64,
    /// Manager tasks created.
    pub tasks: u64,
    /// Step executions recorded.
    pub executions: u64,
    /// Batches that lost their claim to another tick (their work is done there).
    pub lost_batches: u64,
}

/// Active campaigns with their compiled plans, by id (a definition that no longer compiles
/// is left out, with a warning).
pub async fn active_plans(
    ctx: &AppContext,
) -> Result<HashMap<i64, (campaign::Model, Plan)>, CampaignsError> {
    let rows = campaign::Entity::find()
        .filter(campaign::Column::Status.eq(CampaignStatus::Active.as_str()))
        .all(&ctx.db)
        .await?;
    let mut out = HashMap::new();
    for c in rows {
        match plan_of(ctx, &definition_of(&c)) {
            Ok(plan) => {
                out.insert(c.id, (c, plan));
            }
            Err(e) => tracing::warn!(campaign = %c.key, error = ?e, "campaign does not compile"),
        }
    }
    Ok(out)
}

/// One tick at the clock's time.
pub async fn tick(ctx: &AppContext) -> Result<TickReport, CampaignsError> {
    let now = ctx.clock.now();
    let plans = active_plans(ctx).await?;
    let mut report = TickReport::default();
    if plans.is_empty() {
        return Ok(report);
    }
    let t0 = std::time::Instant::now();
    report.enrolled = super::enrol::enrol_all(ctx, now, &plans)
        .await?
        .values()
        .sum();
    tracing::debug!(took = ?t0.elapsed(), enrolled = report.enrolled, "campaign enrolment");
    for (c, plan) in plans.values() {
        if plan.exit_on.contains(&ExitCondition::Ordered) {
            report.exited_by_condition += exit_ordered(&ctx.db, c, now).await?;
        }
    }
    let ids: Vec<i64> = plans.keys().copied().collect();
    let seen: std::sync::Mutex<HashSet<i64>> = std::sync::Mutex::new(HashSet::new());
    // `campaigns.workers` workers (2 by default), each claiming its own batches: while one
    // renders (CPU), another reads or writes (database), so both cores stay busy. On SQLite
    // their writes take turns.
    let worker = || async {
        let token = claim_token();
        let mut done = TickReport::default();
        loop {
            let batch = claim(ctx, &ids, &token, now).await?;
            if batch.is_empty() {
                break;
            }
            let fresh = {
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                // Every id is recorded, so no short-circuit here.
                batch.iter().filter(|e| seen.insert(e.id)).count() > 0
            };
            if !fresh {
                release(&ctx.db, &token).await?;
                break;
            }
            match process(ctx, &plans, batch, &token, now).await {
                Ok(d) => {
                    done.advanced += d.advanced;
                    done.messages += d.messages;
                    done.tasks += d.tasks;
                    done.executions += d.executions;
                }
                Err(CampaignsError::Conflict(_)) => done.lost_batches += 1,
                Err(e) => {
                    let _ = release(&ctx.db, &token).await;
                    return Err(e);
                }
            }
        }
        Ok::<TickReport, CampaignsError>(done)
    };
    let workers = std::cmp::max(ctx.settings.campaigns.workers, 1) as usize;
    let results = futures_util::future::join_all((0..workers).map(|_| worker())).await;
    for d in results {
        let d = d?;
        report.advanced += d.advanced;
        report.messages += d.messages;
        report.tasks += d.tasks;
        report.executions += d.executions;
        report.lost_batches += d.lost_batches;
    }
    Ok(report)
}

fn claim_token() -> String {
    let n: u64 = rand::rng().random();
    format!("tick-{n:016x}")
}

/// Claims up to `campaigns.batch_size` due enrolments of active campaigns for this tick.
async fn claim(
    ctx: &AppContext,
    campaigns: &[i64],
    token: &str,
    now: DateTime<Utc>,
) -> Result<Vec<enrolment::Model>, DbErr> {
    let db = &ctx.db;
    let lease = now + Duration::seconds(i64::from(ctx.settings.campaigns.lease_seconds));
    let free = || {
        sea_orm::Condition::any()
            .add(enrolment::Column::LeaseUntil.is_null())
            .add(enrolment::Column::LeaseUntil.lt(now))
    };
    let mut pick = Query::select();
    pick.column(enrolment::Column::Id)
        .from(enrolment::Entity)
        .and_where(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
        .and_where(enrolment::Column::DueAt.lte(now))
        .and_where(enrolment::Column::CampaignId.is_in(campaigns.iter().copied()))
        .cond_where(free())
        .order_by(enrolment::Column::DueAt, sea_orm::Order::Asc)
        .order_by(enrolment::Column::Id, sea_orm::Order::Asc)
        .limit(u64::from(ctx.settings.campaigns.batch_size));
    if crate::db::is_postgres(db) {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    enrolment::Entity::update_many()
        .col_expr(enrolment::Column::Claim, Expr::value(token))
        .col_expr(enrolment::Column::LeaseUntil, Expr::value(lease))
        .filter(enrolment::Column::Id.in_subquery(pick))
        // Checked again on the row itself: a racing tick that claimed it first wins.
        .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
        .filter(free())
        .exec(db)
        .await?;
    enrolment::Entity::find()
        .filter(enrolment::Column::Claim.eq(token))
        .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
        .all(db)
        .await
}

async fn release(db: &impl ConnectionTrait, token: &str) -> Result<(), DbErr> {
    enrolment::Entity::update_many()
        .col_expr(
            enrolment::Column::Claim,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            enrolment::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(enrolment::Column::Claim.eq(token))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the active enrolments of `c` whose account ordered after it entered.
async fn exit_ordered(
    db: &sea_orm::DatabaseConnection,
    c: &campaign::Model,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut sub = Query::select();
    sub.expr(Expr::val(1))
        .from(order::Entity)
        .and_where(
            Expr::col((order::Entity, order::Column::AccountId))
                .equals((enrolment::Entity, enrolment::Column::AccountId)),
        )
        .and_where(
            Expr::col((order::Entity, order::Column::CreatedAt))
                .gt(Expr::col((enrolment::Entity, enrolment::Column::EnteredAt))),
        );
    let ids: Vec<(i64, i64)> = enrolment::Entity::find()
        .select_only()
        .columns([enrolment::Column::Id, enrolment::Column::AccountId])
        .filter(enrolment::Column::CampaignId.eq(c.id))
        .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
        .filter(Expr::exists(sub))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let txn = crate::db::begin_write(db).await?;
    super::service::finish(
        &txn,
        c.id,
        &ids,
        c.version,
        "-",
        "exited",
        "exit condition `ordered`: the account placed an order",
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(ids.len() as u64)
}

/// What the engine knows of a batch of accounts: their views, the suppressed addresses among
/// their people, and their recent messages for the caps.
pub struct BatchData {
    pub views: HashMap<i64, AccountView>,
    pub suppressed: HashSet<String>,
    pub ledger: Ledger,
}

/// Reads [`BatchData`] for `accounts` with a fixed number of queries per 900 accounts.
pub async fn load_batch(
    ctx: &AppContext,
    accounts: &[i64],
    now: DateTime<Utc>,
) -> Result<BatchData, DbErr> {
    let db = &ctx.db;
    let mut views = HashMap::with_capacity(accounts.len());
    let mut managers_wanted = HashSet::new();
    let mut emails = HashSet::new();
    let mut ledger = Ledger::default();
    let caps = ctx.settings.delivery.caps();
    let horizon = [caps.account, caps.stakeholder]
        .iter()
        .flatten()
        .map(|c| c.window)
        .max();
    let mut manager_of: HashMap<i64, i64> = HashMap::new();
    for chunk in accounts.chunks(900) {
        let rows = account::Entity::find()
            .filter(account::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for a in rows {
            if let Some(m) = a.manager_id {
                managers_wanted.insert(m);
                manager_of.insert(a.id, m);
            }
            views.insert(
                a.id,
                AccountView {
                    id: a.id,
                    external_id: a.external_id,
                    name: a.name,
                    tz: zone(&a.timezone),
                    manager: None,
                    people: Vec::new(),
                },
            );
        }
        let people = stakeholder::Entity::find()
            .filter(stakeholder::Column::AccountId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for p in people {
            let email = p.email.as_ref().map(|e| e.trim().to_lowercase());
            if let Some(e) = &email {
                emails.insert(e.clone());
            }
            if let Some(v) = views.get_mut(&p.account_id) {
                v.people.push(Person {
                    id: p.id,
                    name: p.name,
                    role: StakeholderRole::parse(&p.role).ok(),
                    consent: Consent::parse(&p.consent).unwrap_or(Consent::Unknown),
                    email,
                    influence: p.influence,
                });
            }
        }
        if let Some(h) = horizon {
            let sent: Vec<(i64, Option<i64>, DateTime<Utc>)> = message::Entity::find()
                .select_only()
                .columns([
                    message::Column::AccountId,
                    message::Column::StakeholderId,
                    message::Column::CreatedAt,
                ])
                .filter(message::Column::AccountId.is_in(chunk.iter().copied()))
                .filter(message::Column::CreatedAt.gt(now - h))
                .filter(message::Column::Channel.eq(Channel::Email.as_str()))
                .filter(message::Column::TaskId.is_null())
                .filter(message::Column::Status.ne(MessageStatus::Suppressed.as_str()))
                .into_tuple()
                .all(db)
                .await?;
            for (a, s, at) in sent {
                ledger.add(a, s, at);
            }
        }
    }
    let managers_wanted: Vec<i64> = managers_wanted.into_iter().collect();
    let mut managers = HashMap::new();
    for chunk in managers_wanted.chunks(900) {
        for m in manager::Entity::find()
            .filter(manager::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            managers.insert(
                m.id,
                Manager {
                    id: m.id,
                    email: m.email,
                },
            );
        }
    }
    for (a, m) in manager_of {
        if let (Some(v), Some(m)) = (views.get_mut(&a), managers.get(&m)) {
            v.manager = Some(m.clone());
        }
    }
    let emails: Vec<String> = emails.into_iter().collect();
    let mut suppressed = HashSet::new();
    for chunk in emails.chunks(900) {
        let rows: Vec<String> = suppression::Entity::find()
            .select_only()
            .column(suppression::Column::Address)
            .filter(suppression::Column::Address.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        suppressed.extend(rows);
    }
    Ok(BatchData {
        views,
        suppressed,
        ledger,
    })
}

/// The facts branch rules read, for the accounts of `enrolments` whose campaign branches.
pub async fn load_facts(
    ctx: &AppContext,
    accounts: &[i64],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, Facts>, DbErr> {
    if accounts.is_empty() {
        return Ok(HashMap::new());
    }
    let recipients: Vec<Recipient> = accounts
        .iter()
        .map(|a| Recipient {
            account: AccountKey::Id(*a),
            stakeholder: None,
        })
        .collect();
    let prepared = crate::content::context::prepare(&ctx.db, now, &recipients).await?;
    Ok(accounts
        .iter()
        .zip(prepared)
        .filter_map(|(a, p)| p.ok().map(|p| (*a, p.facts)))
        .collect())
}

fn has_branch(plan: &Plan) -> bool {
    plan.steps
        .iter()
        .any(|s| matches!(s.action, Action::Branch { .. }))
}

#[derive(Debug, Default)]
struct Done {
    advanced: u64,
    messages: u64,
    tasks: u64,
    executions: u64,
}

/// Runs, renders and writes one claimed batch.
async fn process(
    ctx: &AppContext,
    plans: &HashMap<i64, (campaign::Model, Plan)>,
    batch: Vec<enrolment::Model>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Done, CampaignsError> {
    let accounts: Vec<i64> = {
        let mut v: Vec<i64> = batch.iter().map(|e| e.account_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let t0 = std::time::Instant::now();
    let mut data = load_batch(ctx, &accounts, now).await?;
    let t1 = t0.elapsed();
    let branching: Vec<i64> = {
        let mut v: Vec<i64> = batch
            .iter()
            .filter(|e| {
                plans
                    .get(&e.campaign_id)
                    .is_some_and(|(_, p)| has_branch(p))
            })
            .map(|e| e.account_id)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let facts = load_facts(ctx, &branching, now).await?;
    let rules = Rules {
        caps: ctx.settings.delivery.caps(),
        require_consent: ctx.settings.delivery.require_consent,
        suppressed: &data.suppressed,
    };
    let mut passes: Vec<(enrolment::Model, Pass)> = Vec::with_capacity(batch.len());
    for e in batch {
        let Some((_, plan)) = plans.get(&e.campaign_id) else {
            continue;
        };
        let Some(view) = data.views.get(&e.account_id) else {
            let gone = Pass {
                executions: Vec::new(),
                sends: Vec::new(),
                tasks: Vec::new(),
                next: Next::Exited("the account no longer exists".into()),
            };
            passes.push((e, gone));
            continue;
        };
        let step = e.step.clone().unwrap_or_default();
        let due = e.due_at.unwrap_or(now);
        let pass = machine::advance(
            plan,
            &step,
            due,
            now,
            view,
            facts.get(&e.account_id),
            &mut data.ledger,
            rules,
        );
        passes.push((e, pass));
    }
    let t2 = t0.elapsed();
    let rendered = render(ctx, &passes).await?;
    let t3 = t0.elapsed();
    let r = write(ctx, plans, &data, passes, rendered, token, now).await;
    tracing::debug!(
        load = ?t1,
        machine = ?(t2 - t1),
        render = ?(t3 - t2),
        write = ?(t0.elapsed() - t3),
        "campaign batch"
    );
    r
}

/// What one order rendered to: the parts and the template, or why not.
type RenderOutcome = Result<(String, crate::content::render::Rendered), String>;

/// Renders every send and task of the batch in one call to the content service; results
/// follow the orders (sends, then tasks, per pass).
async fn render(
    ctx: &AppContext,
    passes: &[(enrolment::Model, Pass)],
) -> Result<Vec<RenderOutcome>, CampaignsError> {
    let mut requests = Vec::new();
    // Sends whose offer could not be issued fail with the reason instead of rendering.
    let mut refused: HashMap<usize, String> = HashMap::new();
    let mut offers: HashMap<String, Option<crate::entities::offer::Model>> = HashMap::new();
    for (e, pass) in passes {
        for s in &pass.sends {
            let mut request = send_request(e.account_id, s);
            if let Some(key) = &s.offer_key {
                match issue_offer(ctx, &mut offers, e, s, key).await? {
                    Ok(offer) => request.offer = Some(offer),
                    Err(why) => {
                        refused.insert(requests.len(), why);
                    }
                }
            }
            requests.push(request);
        }
        for t in &pass.tasks {
            requests.push(content_request(
                e.account_id,
                None,
                Channel::Task,
                &t.content,
                None,
            ));
        }
    }
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let results = select_and_render(ctx, &requests).await?;
    Ok(results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match (refused.remove(&i), r) {
            (Some(why), _) => Err(why),
            (
                None,
                Ok(Rendition {
                    template: Some(t),
                    rendered: Some(parts),
                    ..
                }),
            ) => Ok((t.id, parts)),
            (None, Ok(Rendition { selection, .. })) => Err(selection.explanation),
            (None, Err(e)) => Err(e.to_string()),
        })
        .collect())
}

/// Stores on each offer code the message that carries it (the first one of its enrolment
/// and step: a send to several people carries the same code).
async fn link_codes(
    txn: &impl sea_orm::ConnectionTrait,
    offered: &[(i64, String)],
) -> Result<(), sea_orm::DbErr> {
    use crate::entities::{message, offer_code};
    for (enrolment, step) in offered {
        let first: Option<i64> = message::Entity::find()
            .select_only()
            .column_as(message::Column::Id.min(), "first")
            .filter(message::Column::EnrolmentId.eq(*enrolment))
            .filter(message::Column::Step.eq(step.as_str()))
            .into_tuple::<Option<i64>>()
            .one(txn)
            .await?
            .flatten();
        if let Some(id) = first {
            offer_code::Entity::update_many()
                .col_expr(offer_code::Column::MessageId, Expr::value(id))
                .filter(offer_code::Column::EnrolmentId.eq(*enrolment))
                .filter(offer_code::Column::Step.eq(step.as_str()))
                .filter(offer_code::Column::MessageId.is_null())
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// The code of send `s`'s offer for its enrolment and step (issued now if it has none), as
/// the template sees it; `Ok(Err(why))` when the offer is not defined.
async fn issue_offer(
    ctx: &AppContext,
    offers: &mut HashMap<String, Option<crate::entities::offer::Model>>,
    e: &enrolment::Model,
    s: &SendOrder,
    key: &str,
) -> Result<Result<crate::content::context::OfferCtx, String>, CampaignsError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !offers.contains_key(key) {
        let found = crate::entities::offer::Entity::find()
            .filter(crate::entities::offer::Column::Key.eq(key))
            .one(&ctx.db)
            .await?;
        offers.insert(key.to_string(), found);
    }
    let Some(Some(offer)) = offers.get(key) else {
        return Ok(Err(format!(
            "the offer `{key}` is not defined (POST /api/v1/offers)"
        )));
    };
    let code = crate::offers::codes::issue(
        &ctx.db,
        crate::offers::codes::Issue {
            offer,
            account_id: e.account_id,
            campaign_id: Some(e.campaign_id),
            enrolment_id: Some(e.id),
            step: Some(s.step.clone()),
        },
        ctx.clock.now(),
    )
    .await?;
    Ok(Ok(crate::offers::codes::context(&code)))
}

fn send_request(account: i64, s: &SendOrder) -> RenderRequest {
    let channel = match s.target {
        Target::Email => Channel::Email,
        Target::Webhook(_) => Channel::Webhook,
    };
    content_request(
        account,
        s.to.stakeholder,
        channel,
        &s.content,
        s.offer.clone(),
    )
}

fn content_request(
    account: i64,
    stakeholder: Option<i64>,
    channel: Channel,
    content: &Content,
    offer: Option<crate::content::context::OfferCtx>,
) -> RenderRequest {
    let (purpose, template) = match content {
        Content::Purpose(p) => (*p, None),
        Content::Template(t) => (Purpose::ManagerTask, Some(t.clone())),
    };
    RenderRequest {
        recipient: Recipient {
            account: AccountKey::Id(account),
            stakeholder,
        },
        purpose,
        channel,
        template,
        offer,
        event: None,
    }
}

/// A new RFC 5322 Message-ID (email) or webhook-id (webhook): random, stored with the row so
/// every retry carries the same one.
pub fn new_message_id(channel: Channel, domain: &str) -> String {
    let bytes: [u8; 16] = rand::rng().random();
    match channel {
        Channel::Webhook => format!("msg_{}", hex::encode(bytes)),
        _ => format!("<{}@{domain}>", hex::encode(bytes)),
    }
}

fn parts_json(parts: &crate::content::render::Rendered) -> serde_json::Value {
    serde_json::Value::Object(
        parts
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// The email a manager gets for a task.
fn task_email(title: &str, body: &str, account: &AccountView) -> serde_json::Value {
    let text = format!(
        "{title}\n\nAccount: {} ({})\n\n{body}\n",
        account.name, account.external_id
    );
    let html = format!(
        "<h1>{}</h1><p>Account: {} ({})</p><pre>{}</pre>",
        handlebars::html_escape(title),
        handlebars::html_escape(&account.name),
        handlebars::html_escape(&account.external_id),
        handlebars::html_escape(body)
    );
    serde_json::json!({ "subject": format!("Task: {title}"), "text": text, "html": html })
}

/// Where a group of enrolments moves: status, step, due time and exit reason.
type Move = (
    EnrolmentStatus,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// Writes a batch in one transaction; a lost claim rolls it all back.
#[allow(clippy::too_many_arguments)]
async fn write(
    ctx: &AppContext,
    plans: &HashMap<i64, (campaign::Model, Plan)>,
    data: &BatchData,
    passes: Vec<(enrolment::Model, Pass)>,
    rendered: Vec<RenderOutcome>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Done, CampaignsError> {
    let domain = ctx.settings.email.message_id_domain().to_string();
    let links = crate::tracking::Links::of(ctx).await?;
    let mut rendered = rendered.into_iter();
    let mut messages: Vec<MessageValues> = Vec::new();
    let mut tasks: Vec<(task::ActiveModel, Option<(String, String)>)> = Vec::new();
    let mut executions: Vec<step_execution::ActiveModel> = Vec::new();
    // (status, step, due, reason) → enrolment ids.
    let mut moves: HashMap<Move, Vec<i64>> = HashMap::new();
    let mut done = Done::default();
    // (enrolment, step) of sends that carry an offer code: the code is linked to its message.
    let mut offered: Vec<(i64, String)> = Vec::new();
    for (e, pass) in &passes {
        let Some((c, plan)) = plans.get(&e.campaign_id) else {
            continue;
        };
        let view = data.views.get(&e.account_id);
        let mut extra: Vec<(String, &'static str, String)> = Vec::new();
        for s in &pass.sends {
            let outcome = rendered
                .next()
                .unwrap_or_else(|| Err("not rendered".into()));
            let (template, parts) = match outcome {
                Ok(v) => v,
                Err(why) => {
                    extra.push((
                        s.step.clone(),
                        "not_rendered",
                        format!("nothing rendered for {}: {why}", s.to.address),
                    ));
                    continue;
                }
            };
            let (channel, who) = match &s.target {
                Target::Email => (
                    Channel::Email,
                    format!("p{}", s.to.stakeholder.unwrap_or(0)),
                ),
                Target::Webhook(ep) => (Channel::Webhook, format!("w{ep}")),
            };
            let message_id = new_message_id(channel, &domain);
            let mut parts = parts_json(&parts);
            if channel == Channel::Email
                && let serde_json::Value::Object(map) = &mut parts
            {
                let cta = plan.step(&s.step).and_then(|(_, step)| match &step.action {
                    Action::Send { cta, .. } => cta.as_deref(),
                    _ => None,
                });
                links.rewrite(map, &message_id, cta);
            }
            messages.push(MessageValues {
                idempotency_key: format!("c{}:e{}:s{}:{who}", c.id, e.id, s.step),
                message_id,
                campaign_id: Some(c.id),
                enrolment_id: Some(e.id),
                step: Some(s.step.clone()),
                account_id: e.account_id,
                stakeholder_id: s.to.stakeholder,
                task_id: None,
                channel: channel.as_str().into(),
                recipient: recipient_of(&s.to),
                template_id: Some(template),
                subject: parts
                    .get("subject")
                    .and_then(|v| v.as_str())
                    .map(String::from),
                parts,
                reason: Some(format!("campaign {} step {}", c.key, s.step)),
            });
            if s.offer_key.is_some() {
                offered.push((e.id, s.step.clone()));
            }
        }
        for t in &pass.tasks {
            let outcome = rendered
                .next()
                .unwrap_or_else(|| Err("not rendered".into()));
            let body = match outcome {
                Ok((_, parts)) => parts.get("task").cloned().unwrap_or_default(),
                Err(why) => {
                    extra.push((
                        t.step.clone(),
                        "not_rendered",
                        format!("the task template did not render ({why}); the task has no body"),
                    ));
                    String::new()
                }
            };
            let title: String = t
                .title
                .clone()
                .or_else(|| {
                    body.lines()
                        .map(|l| l.trim().trim_start_matches('#').trim())
                        .find(|l| !l.is_empty())
                        .map(String::from)
                })
                .unwrap_or_else(|| {
                    format!(
                        "{}: {}",
                        t.step,
                        view.map(|v| v.name.as_str()).unwrap_or("account")
                    )
                })
                .chars()
                .take(300)
                .collect();
            let key = format!("c{}:e{}:s{}", c.id, e.id, t.step);
            let email = t
                .manager
                .as_ref()
                .map(|m: &Manager| (m.email.clone(), format!("{key}:m{}", m.id)));
            let email_parts = email
                .as_ref()
                .zip(view)
                .map(|(_, v)| task_email(&title, &body, v));
            tasks.push((
                task::ActiveModel {
                    idempotency_key: Set(key),
                    campaign_id: Set(Some(c.id)),
                    enrolment_id: Set(Some(e.id)),
                    step: Set(Some(t.step.clone())),
                    account_id: Set(e.account_id),
                    manager_id: Set(t.manager.as_ref().map(|m| m.id)),
                    title: Set(title),
                    body: Set(body),
                    status: Set(TaskStatus::Open.as_str().into()),
                    created_at: Set(now),
                    done_at: Set(None),
                    ..Default::default()
                },
                email,
            ));
            if let (Some(parts), Some((to, key))) =
                (email_parts, tasks.last().and_then(|t| t.1.clone()))
            {
                messages.push(MessageValues {
                    idempotency_key: key,
                    message_id: new_message_id(Channel::Email, &domain),
                    campaign_id: Some(c.id),
                    enrolment_id: Some(e.id),
                    step: Some(t.step.clone()),
                    account_id: e.account_id,
                    stakeholder_id: None,
                    task_id: None,
                    channel: Channel::Email.as_str().into(),
                    recipient: to,
                    template_id: None,
                    subject: parts
                        .get("subject")
                        .and_then(|s| s.as_str())
                        .map(String::from),
                    parts,
                    reason: Some(format!("task of campaign {} step {}", c.key, t.step)),
                });
            }
        }
        for x in &pass.executions {
            executions.push(step_execution::ActiveModel {
                enrolment_id: Set(e.id),
                campaign_id: Set(c.id),
                account_id: Set(e.account_id),
                version: Set(c.version),
                step: Set(x.step.clone()),
                kind: Set(x.kind.into()),
                outcome: Set(x.outcome.into()),
                reason: Set(x.reason.clone()),
                due_at: Set(Some(x.due_at)),
                executed_at: Set(x.at),
                ..Default::default()
            });
        }
        for (step, outcome, reason) in extra {
            let kind = plans
                .get(&e.campaign_id)
                .and_then(|(_, p)| p.step(&step).map(|(_, s)| s.action.kind()))
                .unwrap_or("send");
            executions.push(step_execution::ActiveModel {
                enrolment_id: Set(e.id),
                campaign_id: Set(c.id),
                account_id: Set(e.account_id),
                version: Set(c.version),
                step: Set(step),
                kind: Set(kind.into()),
                outcome: Set(outcome.into()),
                reason: Set(reason),
                due_at: Set(Some(now)),
                executed_at: Set(now),
                ..Default::default()
            });
        }
        let key = match &pass.next {
            Next::At { step, due } => (
                EnrolmentStatus::Active,
                Some(step.clone()),
                Some(*due),
                None,
            ),
            Next::Completed => (EnrolmentStatus::Completed, None, None, None),
            Next::Exited(r) => (EnrolmentStatus::Exited, None, None, Some(r.clone())),
        };
        moves.entry(key).or_default().push(e.id);
    }

    let txn = crate::db::begin_write(&ctx.db).await?;
    let per = (crate::db::max_bind_params(&txn) / 26).clamp(1, 1000);
    // Tasks first: their emails point at them.
    if !tasks.is_empty() {
        let keys: Vec<String> = tasks
            .iter()
            .filter_map(|(t, _)| match &t.idempotency_key {
                sea_orm::ActiveValue::Set(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        let rows: Vec<task::ActiveModel> = tasks.into_iter().map(|(t, _)| t).collect();
        fn set<T: Clone + Into<sea_orm::Value>>(v: &sea_orm::ActiveValue<T>) -> Option<T> {
            match v {
                sea_orm::ActiveValue::Set(x) | sea_orm::ActiveValue::Unchanged(x) => {
                    Some(x.clone())
                }
                sea_orm::ActiveValue::NotSet => None,
            }
        }
        let about: Vec<(i64, Option<i64>, Option<String>, String)> = rows
            .iter()
            .map(|t| {
                (
                    set(&t.account_id).unwrap_or_default(),
                    set(&t.campaign_id).flatten(),
                    set(&t.step).flatten(),
                    set(&t.title).unwrap_or_default(),
                )
            })
            .collect();
        for range in crate::db::statement_sizes(rows.len(), per) {
            done.tasks += task::Entity::insert_many(rows[range].to_vec())
                .on_conflict(
                    OnConflict::column(task::Column::IdempotencyKey)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let mut ids: HashMap<String, i64> = HashMap::new();
        for chunk in keys.chunks(900) {
            let found: Vec<(i64, String)> = task::Entity::find()
                .select_only()
                .columns([task::Column::Id, task::Column::IdempotencyKey])
                .filter(task::Column::IdempotencyKey.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&txn)
                .await?;
            ids.extend(found.into_iter().map(|(id, k)| (k, id)));
        }
        // A `task_created` event per task (sales systems hear of it as `task.created`).
        let events: Vec<crate::entities::event::ActiveModel> = keys
            .iter()
            .zip(&about)
            .filter_map(|(k, (account, campaign, step, title))| {
                let id = *ids.get(k)?;
                Some(crate::entities::event::ActiveModel {
                    account_id: Set(Some(*account)),
                    campaign_id: Set(*campaign),
                    step: Set(step.clone()),
                    ..crate::events::new(
                        crate::events::EventKind::TaskCreated,
                        now,
                        serde_json::json!({ "task_id": id, "title": title }),
                    )
                })
            })
            .collect();
        crate::events::insert(&txn, events).await?;
        for m in &mut messages {
            if let Some((task_key, _)) = m.idempotency_key.rsplit_once(":m")
                && let Some(id) = ids.get(task_key)
            {
                m.task_id = Some(*id);
            }
        }
    }
    done.messages += crate::delivery::outbox::enqueue(&txn, &messages, now).await?;
    link_codes(&txn, &offered).await?;
    for range in crate::db::statement_sizes(executions.len(), per) {
        done.executions += range.len() as u64;
        step_execution::Entity::insert_many(executions[range].to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for ((status, step, due, reason), ids) in moves {
        for chunk in ids.chunks(900) {
            let finished = (status != EnrolmentStatus::Active).then_some(now);
            let moved = enrolment::Entity::update_many()
                .col_expr(enrolment::Column::Status, Expr::value(status.as_str()))
                .col_expr(enrolment::Column::Step, Expr::value(step.clone()))
                .col_expr(enrolment::Column::DueAt, Expr::value(due))
                .col_expr(enrolment::Column::ExitReason, Expr::value(reason.clone()))
                .col_expr(enrolment::Column::FinishedAt, Expr::value(finished))
                .col_expr(
                    enrolment::Column::Claim,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    enrolment::Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(enrolment::Column::Id.is_in(chunk.iter().copied()))
                .filter(enrolment::Column::Claim.eq(token))
                .exec(&txn)
                .await?;
            if moved.rows_affected != chunk.len() as u64 {
                // Another tick took these over after our lease ran out: it does the work.
                txn.rollback().await?;
                return Err(CampaignsError::Conflict("enrolments".into()));
            }
            done.advanced += moved.rows_affected;
        }
    }
    txn.commit().await?;
    Ok(done)
}

fn recipient_of(c: &Chosen) -> String {
    c.address.clone()
}
