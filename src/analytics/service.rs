//! In-database analysis runs: read accounts and orders, classify every account with the same
//! code as the offline command, store one snapshot per account and the class changes since the
//! previous run, all in one transaction. Only one run at a time per database: runs go through
//! the `analysis` job, whose running row is the lock.
//!
//! Each currency is its own market: accounts are ranked (ABC, pillar) and modelled (BG/NBD)
//! among accounts with the same currency; orders in another currency than their account's are
//! skipped and counted in the run summary.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Utc};
use futures_util::TryStreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};

use super::engine::{self, AccountAgg, AnalyzeOptions, OrderBook, day_number, month_index};
use super::error::AnalyticsError;
use super::run_status::RunStatus;
use crate::clock::Clock;
use crate::config::{AnalyticsSettings, Measure, WinbackSettings};
use crate::domain::Currency;
use crate::entities::{
    account, account_class_event, account_snapshot, analysis_run, order, relationship_event,
    stakeholder, winback_recovery,
};

/// Runs an analysis now (`trigger`: api, cli, schedule…) and returns the finished run. The
/// caller holds the `analysis` job (see `crate::jobs`), which keeps runs one at a time.
/// `AnalyticsError::RunFailed` when the analysis failed (the run is stored as failed).
pub async fn run(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    cfg: &AnalyticsSettings,
    winback: &WinbackSettings,
    trigger: &str,
) -> Result<analysis_run::Model, AnalyticsError> {
    // The caller holds the job, so a run still marked running was cut short (a crash, or
    // shutdown's grace running out) and will never finish: say so.
    analysis_run::Entity::update_many()
        .col_expr(
            analysis_run::Column::Status,
            sea_orm::sea_query::Expr::value(RunStatus::Failed.as_str()),
        )
        .col_expr(
            analysis_run::Column::Error,
            sea_orm::sea_query::Expr::value("interrupted before it finished (the process stopped)"),
        )
        .col_expr(
            analysis_run::Column::FinishedAt,
            sea_orm::sea_query::Expr::value(clock.now()),
        )
        .filter(analysis_run::Column::Status.eq(RunStatus::Running.as_str()))
        .exec(db)
        .await?;
    let run = run_locked(db, clock, cfg, winback, trigger, clock.now()).await?;
    // A run writes a snapshot per account: segments and campaigns read them next.
    crate::db::refresh_statistics(db, &["account_snapshots", "account_class_events"]).await;
    Ok(run)
}

/// Runs the `analysis` job now in the caller's task (recorded as a job run, lease renewed) and
/// returns the analysis run it made. `JobError::Busy` while another analysis runs anywhere.
pub async fn run_now(
    ctx: &std::sync::Arc<crate::context::AppContext>,
    trigger: crate::jobs::Trigger,
) -> Result<analysis_run::Model, crate::jobs::JobError> {
    use crate::jobs::JobError;
    let job = crate::jobs::worker::outcome(
        crate::jobs::worker::run_inline(ctx, crate::jobs::names::ANALYSIS, trigger, None).await?,
    )?;
    let id = job
        .detail
        .as_ref()
        .and_then(|d| d.get("analysis_run_id"))
        .and_then(|v| v.as_i64());
    let missing = || JobError::Failed {
        run_id: job.id,
        message: "the job recorded no analysis run".into(),
    };
    analysis_run::Entity::find_by_id(id.ok_or_else(missing)?)
        .one(&ctx.db)
        .await?
        .ok_or_else(missing)
}

async fn run_locked(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    cfg: &AnalyticsSettings,
    winback: &WinbackSettings,
    trigger: &str,
    now: DateTime<Utc>,
) -> Result<analysis_run::Model, AnalyticsError> {
    let as_of = now.with_timezone(&cfg.month_timezone.0).date_naive();
    // The window is the last `window_months` complete months before the as-of month, so a
    // nightly run never sees a half-finished month as a weak one.
    let window_start_month = month_index(as_of) - cfg.window_months as i32;
    let window_start = chrono::NaiveDate::from_ymd_opt(
        window_start_month.div_euclid(12),
        window_start_month.rem_euclid(12) as u32 + 1,
        1,
    )
    .unwrap_or(as_of);
    let params = serde_json::json!({
        "abc_a": cfg.abc_a, "abc_b": cfg.abc_b, "xyz_x": cfg.xyz_x, "xyz_y": cfg.xyz_y,
        "window_months": cfg.window_months, "month_timezone": cfg.month_timezone.name(),
        "pillar_share": cfg.pillar_share, "prospect_days": cfg.prospect_days,
        "prospect_min_budget": cfg.prospect_min_budget, "churn_policy": format!("{:?}", cfg.churn_policy).to_lowercase(),
        "churn_min_days": cfg.churn_min_days, "churn_k": cfg.churn_k,
        "p_alive_threshold": cfg.p_alive_threshold, "model_unit": format!("{:?}", cfg.model_unit).to_lowercase(),
    });
    let run = analysis_run::ActiveModel {
        trigger: Set(trigger.to_string()),
        status: Set(RunStatus::Running.as_str().into()),
        as_of: Set(as_of),
        window_start: Set(window_start),
        measure: Set(match cfg.measure {
            Measure::Revenue => "revenue".into(),
            Measure::Profit => "profit".into(),
        }),
        params: Set(params),
        started_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    match compute_and_store(db, cfg, winback, &run).await {
        Ok(summary) => {
            let mut done: analysis_run::ActiveModel = run.into();
            done.status = Set(RunStatus::Succeeded.as_str().into());
            done.summary = Set(Some(summary));
            done.finished_at = Set(Some(clock.now()));
            let done = done.update(db).await?;
            Ok(done)
        }
        Err(message) => {
            let run_id = run.id;
            let mut failed: analysis_run::ActiveModel = run.into();
            failed.status = Set(RunStatus::Failed.as_str().into());
            failed.error = Set(Some(message.clone()));
            failed.finished_at = Set(Some(clock.now()));
            failed.update(db).await?;
            Err(AnalyticsError::RunFailed { run_id, message })
        }
    }
}

struct AccountMeta {
    id: i64,
    external_id: String,
    currency: String,
    budget: Option<i64>,
    image_maker: bool,
    expert: bool,
}

async fn compute_and_store(
    db: &DatabaseConnection,
    cfg: &AnalyticsSettings,
    winback: &WinbackSettings,
    run: &analysis_run::Model,
) -> Result<serde_json::Value, String> {
    let err = |e: sea_orm::DbErr| e.to_string();
    let accounts: Vec<AccountMeta> = account::Entity::find()
        .select_only()
        .columns([
            account::Column::Id,
            account::Column::ExternalId,
            account::Column::Currency,
            account::Column::BudgetMinor,
            account::Column::ImageMaker,
            account::Column::Expert,
        ])
        .order_by_asc(account::Column::Id)
        .into_tuple::<(i64, String, String, Option<i64>, bool, bool)>()
        .all(db)
        .await
        .map_err(err)?
        .into_iter()
        .map(
            |(id, external_id, currency, budget, image_maker, expert)| AccountMeta {
                id,
                external_id,
                currency,
                budget,
                image_maker,
                expert,
            },
        )
        .collect();
    let position: HashMap<i64, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id, i))
        .collect();
    let deciders: HashSet<i64> = stakeholder::Entity::find()
        .select_only()
        .column(stakeholder::Column::AccountId)
        .filter(stakeholder::Column::Role.eq("decision_maker"))
        .into_tuple::<i64>()
        .all(db)
        .await
        .map_err(err)?
        .into_iter()
        .collect();
    let needs: HashSet<i64> = relationship_event::Entity::find()
        .select_only()
        .column(relationship_event::Column::AccountId)
        .filter(relationship_event::Column::Outcome.eq("pending"))
        .filter(relationship_event::Column::Kind.is_in(["tender", "proposal"]))
        .into_tuple::<i64>()
        .all(db)
        .await
        .map_err(err)?
        .into_iter()
        .collect();

    // Stream every order up to the end of the as-of day into per-account aggregates.
    let tz = cfg.month_timezone.0;
    let end = (run.as_of + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        // No local midnight that day (a DST gap at 00:00): the UTC end of the day.
        .unwrap_or_else(|| {
            (run.as_of + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
        });
    let mut aggs: Vec<AccountAgg> = vec![AccountAgg::default(); accounts.len()];
    let mut has_margin = vec![false; accounts.len()];
    let mut skipped_currency = 0u64;
    let mut orders_read = 0u64;
    {
        let mut stream = order::Entity::find()
            .select_only()
            .columns([
                order::Column::AccountId,
                order::Column::OrderedAt,
                order::Column::AmountMinor,
                order::Column::MarginMinor,
                order::Column::Currency,
            ])
            .filter(order::Column::OrderedAt.lt(end))
            .into_tuple::<(i64, DateTime<Utc>, i64, Option<i64>, String)>()
            .stream(db)
            .await
            .map_err(err)?;
        while let Some((account_id, at, amount, margin, currency)) =
            stream.try_next().await.map_err(err)?
        {
            let Some(&i) = position.get(&account_id) else {
                continue;
            };
            if currency != accounts[i].currency {
                skipped_currency += 1;
                continue;
            }
            orders_read += 1;
            let local = at.with_timezone(&tz).date_naive();
            aggs[i].add(day_number(local), month_index(local), amount, margin);
            has_margin[i] |= margin.is_some();
        }
    }

    // One book per currency.
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, a) in accounts.iter().enumerate() {
        groups.entry(a.currency.clone()).or_default().push(i);
    }
    let mut group_names: Vec<&String> = groups.keys().collect();
    group_names.sort();
    let opts = AnalyzeOptions {
        as_of: Some(run.as_of),
        window_end: Some(run.as_of.with_day(1).unwrap_or(run.as_of) - Duration::days(1)),
        months: Some(cfg.window_months),
        measure: cfg.measure,
    };
    let mut snapshots = Vec::with_capacity(accounts.len());
    let mut fits = serde_json::Map::new();
    let mut fit_errors = serde_json::Map::new();
    let mut aggs_slots: Vec<Option<AccountAgg>> = aggs.into_iter().map(Some).collect();
    for currency in group_names {
        let members = &groups[currency];
        let names = members
            .iter()
            .map(|&i| accounts[i].external_id.clone())
            .collect();
        let group_aggs = members
            .iter()
            .map(|&i| aggs_slots[i].take().unwrap_or_default())
            .collect();
        let margins = members.iter().any(|&i| has_margin[i]);
        let exponent = Currency::parse(currency).map(|c| c.exponent()).unwrap_or(2);
        let book = OrderBook::from_aggs(names, group_aggs, exponent.min(4), margins);
        let analysis = engine::analyze(&book, &opts, cfg)?;
        if let Some(f) = &analysis.fit {
            fits.insert(
                currency.clone(),
                serde_json::to_value(f).unwrap_or_default(),
            );
        }
        if let Some(e) = &analysis.fit_error {
            fit_errors.insert(
                currency.clone(),
                serde_json::Value::String(format!("{e}; churn uses the rule")),
            );
        }
        // The threshold in the currency's minor units (validated with 4 decimals; extra
        // decimals of a currency with fewer are dropped).
        let min_budget = crate::domain::parse_decimal(&cfg.prospect_min_budget, 4)
            .map(|v| v / 10i64.pow(4 - exponent.min(4)))
            .unwrap_or(0);
        for (r, &i) in analysis.results.into_iter().zip(members) {
            snapshots.push(snapshot(
                run,
                &accounts[i],
                r,
                cfg,
                min_budget,
                &deciders,
                &needs,
            ));
        }
    }

    // Each account's engagement score at the run.
    let scores = crate::tracking::engagement::all_scores(
        db,
        &crate::tracking::engagement::current(),
        run.started_at,
    )
    .await
    .map_err(err)?;
    for s in &mut snapshots {
        s.engagement_score = Some(scores.get(&s.account_id).copied().unwrap_or(0.0));
    }

    // Events: differences from the previous successful run.
    let previous = previous_succeeded(db, run.id).await.map_err(err)?;
    let mut events = Vec::new();
    let mut lifecycle = Vec::new();
    if let Some(prev) = &previous {
        let before: HashMap<i64, account_snapshot::Model> = account_snapshot::Entity::find()
            .filter(account_snapshot::Column::RunId.eq(prev.id))
            .all(db)
            .await
            .map_err(err)?
            .into_iter()
            .map(|s| (s.account_id, s))
            .collect();
        for s in &snapshots {
            match before.get(&s.account_id) {
                Some(b) => {
                    events.extend(changes(run, b, s));
                    lifecycle.extend(lifecycle_event(run, cfg, Some(b), s));
                }
                // New since the previous run: its initial classes are changes too.
                None => {
                    events.extend(changes(run, &blank(s), s));
                    lifecycle.extend(lifecycle_event(run, cfg, None, s));
                }
            }
        }
        // A recovery announced when its order arrived (win-back) is not announced again.
        let recovered: HashSet<i64> = winback_recovery::Entity::find()
            .select_only()
            .column(winback_recovery::Column::AccountId)
            .filter(winback_recovery::Column::RecoveredAt.gte(prev.started_at))
            .into_tuple::<i64>()
            .all(db)
            .await
            .map_err(err)?
            .into_iter()
            .collect();
        lifecycle.retain(|e| {
            !(e.kind.as_ref() == crate::events::EventKind::Recovered.as_str()
                && matches!(e.account_id, sea_orm::ActiveValue::Set(Some(id)) if recovered.contains(&id)))
        });
    } else {
        // A new installation starts its win-back work at once: accounts already lost count as
        // newly lost, unless they left longer ago than `winback.max_age_days`: both the class
        // event (campaign triggers read it) and the lifecycle event (event stream, webhooks).
        for s in snapshots.iter().filter(|s| first_run_lost(winback, s)) {
            let not_lost = account_snapshot::Model {
                lost: false,
                ..s.clone()
            };
            events.extend(changes(run, &not_lost, s));
            lifecycle.extend(lifecycle_event(run, cfg, None, s));
        }
    }

    let lost = snapshots.iter().filter(|s| s.lost).count();
    let summary = serde_json::json!({
        "accounts": snapshots.len(),
        "orders": orders_read,
        "orders_skipped_other_currency": skipped_currency,
        "lost": lost,
        "events": events.len(),
        "previous_run_id": previous.map(|p| p.id),
        "models": fits,
        "model_errors": fit_errors,
    });

    let txn = crate::db::begin_write(db).await.map_err(err)?;
    // Accounts deleted while the run computed get no snapshot and no events.
    let alive: HashSet<i64> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .into_tuple::<i64>()
        .all(&txn)
        .await
        .map_err(err)?
        .into_iter()
        .collect();
    snapshots.retain(|s| alive.contains(&s.account_id));
    events.retain(|e| match &e.account_id {
        sea_orm::ActiveValue::Set(id) => alive.contains(id),
        _ => true,
    });
    let snapshot_models: Vec<account_snapshot::ActiveModel> =
        snapshots.into_iter().map(active).collect();
    for chunk in snapshot_models.chunks(500) {
        account_snapshot::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .map_err(err)?;
    }
    for chunk in events.chunks(500) {
        account_class_event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .map_err(err)?;
    }
    lifecycle.retain(|e| match &e.account_id {
        sea_orm::ActiveValue::Set(Some(id)) => alive.contains(id),
        _ => false,
    });
    crate::events::insert(&txn, lifecycle).await.map_err(err)?;
    txn.commit().await.map_err(err)?;
    Ok(summary)
}

fn snapshot(
    run: &analysis_run::Model,
    meta: &AccountMeta,
    r: engine::AccountResult,
    cfg: &AnalyticsSettings,
    min_budget: i64,
    deciders: &HashSet<i64>,
    needs: &HashSet<i64>,
) -> account_snapshot::Model {
    let mut types: Vec<&str> = r.types.clone();
    let mut reasons = vec![r.types_reason.clone()];
    // Prospect: no orders yet, or the first order within prospect_days, with a budget.
    let new_customer = match r.first_order {
        None => true,
        Some(first) => (run.as_of - first).num_days() <= i64::from(cfg.prospect_days),
    };
    let has_budget = meta.budget.is_some_and(|b| b >= min_budget);
    let prospect = new_customer && has_budget;
    if prospect {
        types.push("prospect");
        reasons.push(format!(
            "prospect: {} and a budget",
            match r.first_order {
                None => "no orders yet".to_string(),
                Some(f) => format!("first order {} days ago", (run.as_of - f).num_days()),
            }
        ));
    }
    if meta.image_maker {
        types.push("image_maker");
        reasons.push("image_maker: set on the account".into());
    }
    if meta.expert {
        types.push("expert");
        reasons.push("expert: set on the account".into());
    }
    // Three P for prospects: need, payment ability (budget), authority (decision maker).
    let (score, missing, qualified) = if prospect || (new_customer && meta.budget.is_none()) {
        let need = r.first_order.is_some() || needs.contains(&meta.id);
        let payment = has_budget;
        let authority = deciders.contains(&meta.id);
        let mut missing = Vec::new();
        if !need {
            missing.push("need");
        }
        if !payment {
            missing.push("payment");
        }
        if !authority {
            missing.push("authority");
        }
        let score = 3 - missing.len() as i16;
        (Some(score), Some(missing.join(",")), Some(score == 3))
    } else {
        (None, None, None)
    };
    let value_at_risk = match r.p_alive {
        Some(p) if !r.lost => ((r.revenue as f64) * (1.0 - p)).round() as i64,
        _ if r.lost => r.revenue,
        _ => 0,
    };
    account_snapshot::Model {
        id: 0,
        run_id: run.id,
        account_id: meta.id,
        as_of: run.as_of,
        currency: meta.currency.clone(),
        revenue: r.revenue,
        profit: r.profit,
        value_share: r.value_share,
        abc: r.abc.map(|a| a.as_str().to_string()),
        abc_share: r.cumulative_share,
        abc_reason: r.abc_reason,
        cv: r.cv,
        xyz: r.xyz.map(|x| x.as_str().to_string()),
        xyz_reason: r.xyz_reason,
        orders: r.orders.min(i32::MAX as u64) as i32,
        first_order_at: r.first_order,
        last_order_at: r.last_order,
        days_since_last_order: r.days_since_last_order.map(|d| d as i32),
        median_interval_days: r.median_interval_days,
        types: types.join(","),
        pillar: r.types.contains(&"pillar"),
        prospect,
        image_maker: meta.image_maker,
        expert: meta.expert,
        types_reason: reasons.join("; "),
        three_p_score: score,
        three_p_missing: missing,
        qualified,
        lost: r.lost,
        lost_reason: r.lost_reason,
        p_alive: r.p_alive,
        expected_purchases: r.expected_purchases,
        value_at_risk,
        engagement_score: None,
    }
}

fn active(m: account_snapshot::Model) -> account_snapshot::ActiveModel {
    // Every field set (for the insert), except the id the database assigns.
    let mut a = m.into_active_model().reset_all();
    a.id = sea_orm::ActiveValue::NotSet;
    a
}

/// The account's lifecycle event of this run, for the event stream and sales webhooks: lost,
/// recovered, or (not lost) P(alive) newly below `analytics.at_risk_p_alive`.
fn lifecycle_event(
    run: &analysis_run::Model,
    cfg: &AnalyticsSettings,
    before: Option<&account_snapshot::Model>,
    after: &account_snapshot::Model,
) -> Option<crate::entities::event::ActiveModel> {
    use crate::events::EventKind;
    let was_lost = before.is_some_and(|b| b.lost);
    let was_at_risk =
        before.is_some_and(|b| b.lost || b.p_alive.is_some_and(|p| p < cfg.at_risk_p_alive));
    let (kind, reason) = if after.lost && !was_lost {
        (EventKind::BecameLost, after.lost_reason.clone())
    } else if was_lost && !after.lost {
        (EventKind::Recovered, recovered_reason(after))
    } else if !after.lost && !was_at_risk && after.p_alive.is_some_and(|p| p < cfg.at_risk_p_alive)
    {
        (
            EventKind::AtRisk,
            format!(
                "P(alive) {:.3} is below {}",
                after.p_alive.unwrap_or_default(),
                cfg.at_risk_p_alive
            ),
        )
    } else {
        return None;
    };
    let mut e = crate::events::new(
        kind,
        run.started_at,
        serde_json::json!({
            "reason": reason,
            "run_id": run.id,
            "p_alive": after.p_alive,
            "value_at_risk": crate::accounts::model::format_money(&after.currency, after.value_at_risk),
            "currency": after.currency,
        }),
    );
    e.account_id = Set(Some(after.account_id));
    Some(e)
}

/// Whether the first run announces `became_lost` for `s`: lost, with its last order no older
/// than `winback.max_age_days` (an account that never ordered has nothing to win back).
fn first_run_lost(winback: &WinbackSettings, s: &account_snapshot::Model) -> bool {
    s.lost
        && s.days_since_last_order
            .is_some_and(|d| i64::from(d) <= i64::from(winback.max_age_days))
}

/// Why a lost account counts as recovered.
fn recovered_reason(after: &account_snapshot::Model) -> String {
    format!(
        "ordered again: last order {}",
        after
            .last_order_at
            .map(|d| d.to_string())
            .unwrap_or_default()
    )
}

/// A snapshot with no classes, to compare a new account's first snapshot against.
fn blank(s: &account_snapshot::Model) -> account_snapshot::Model {
    account_snapshot::Model {
        abc: None,
        xyz: None,
        lost: false,
        pillar: false,
        prospect: false,
        ..s.clone()
    }
}

fn changes(
    run: &analysis_run::Model,
    before: &account_snapshot::Model,
    after: &account_snapshot::Model,
) -> Vec<account_class_event::ActiveModel> {
    let at = run.started_at;
    let mut out = Vec::new();
    let mut push = |kind: &str, from: Option<String>, to: Option<String>, reason: String| {
        out.push(account_class_event::ActiveModel {
            run_id: Set(run.id),
            account_id: Set(after.account_id),
            kind: Set(kind.to_string()),
            from_value: Set(from),
            to_value: Set(to),
            reason: Set(reason),
            occurred_at: Set(at),
            ..Default::default()
        });
    };
    if before.abc != after.abc {
        push(
            "abc_changed",
            before.abc.clone(),
            after.abc.clone(),
            after.abc_reason.clone(),
        );
    }
    if before.xyz != after.xyz {
        push(
            "xyz_changed",
            before.xyz.clone(),
            after.xyz.clone(),
            after.xyz_reason.clone(),
        );
    }
    if !before.lost && after.lost {
        push("became_lost", None, None, after.lost_reason.clone());
    }
    if before.lost && !after.lost {
        push("recovered", None, None, recovered_reason(after));
    }
    if !before.pillar && after.pillar {
        push("became_pillar", None, None, after.types_reason.clone());
    }
    if before.pillar && !after.pillar {
        push("no_longer_pillar", None, None, after.types_reason.clone());
    }
    if !before.prospect && after.prospect {
        push("became_prospect", None, None, after.types_reason.clone());
    }
    out
}

/// Succeeded runs, newest first: the one definition of which runs hold results to show and
/// compare against (a running or failed run has no snapshots).
fn succeeded_runs() -> Select<analysis_run::Entity> {
    analysis_run::Entity::find()
        .filter(analysis_run::Column::Status.eq(RunStatus::Succeeded.as_str()))
        .order_by_desc(analysis_run::Column::Id)
}

/// The latest succeeded analysis run, or run `run_id` if given and it succeeded; `None` when
/// there is no such run.
pub async fn latest_succeeded(
    db: &impl ConnectionTrait,
    run_id: Option<i64>,
) -> Result<Option<analysis_run::Model>, DbErr> {
    let mut q = succeeded_runs();
    if let Some(id) = run_id {
        q = q.filter(analysis_run::Column::Id.eq(id));
    }
    q.one(db).await
}

/// The latest run that succeeded before run `run_id`: what a new run's class changes are
/// measured against.
async fn previous_succeeded(
    db: &impl ConnectionTrait,
    run_id: i64,
) -> Result<Option<analysis_run::Model>, DbErr> {
    succeeded_runs()
        .filter(analysis_run::Column::Id.lt(run_id))
        .one(db)
        .await
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::lifecycle_event;
    use crate::config::{ConfigSource, Settings};
    use crate::entities::{account_snapshot, analysis_run};

    fn snap(lost: bool, p_alive: Option<f64>) -> account_snapshot::Model {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).expect("date");
        account_snapshot::Model {
            id: 1,
            run_id: 1,
            account_id: 7,
            as_of: day,
            currency: "EUR".into(),
            revenue: 100_000,
            profit: None,
            value_share: None,
            abc: Some("A".into()),
            abc_share: None,
            abc_reason: String::new(),
            cv: None,
            xyz: None,
            xyz_reason: String::new(),
            orders: 3,
            first_order_at: Some(day),
            last_order_at: Some(day),
            days_since_last_order: Some(0),
            median_interval_days: None,
            types: String::new(),
            pillar: false,
            prospect: false,
            image_maker: false,
            expert: false,
            types_reason: String::new(),
            three_p_score: None,
            three_p_missing: None,
            qualified: None,
            lost,
            lost_reason: if lost {
                "no order for 200 days".into()
            } else {
                String::new()
            },
            p_alive,
            expected_purchases: None,
            value_at_risk: 40_000,
            engagement_score: None,
        }
    }

    fn kind_of(before: Option<(bool, Option<f64>)>, after: (bool, Option<f64>)) -> Option<String> {
        let cfg = Settings::load_from_pairs(&ConfigSource::default(), &[])
            .expect("defaults")
            .analytics;
        let run = analysis_run::Model {
            id: 2,
            trigger: "api".into(),
            status: "running".into(),
            as_of: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
            window_start: NaiveDate::from_ymd_opt(2025, 3, 1).expect("date"),
            measure: "revenue".into(),
            params: serde_json::json!({}),
            summary: None,
            error: None,
            started_at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            finished_at: None,
        };
        let before = before.map(|(l, p)| snap(l, p));
        lifecycle_event(&run, &cfg, before.as_ref(), &snap(after.0, after.1)).map(|e| {
            let sea_orm::ActiveValue::Set(kind) = e.kind else {
                panic!("kind not set")
            };
            kind
        })
    }

    #[test]
    fn a_run_announces_the_warning_the_loss_and_the_recovery_once_each() {
        // Defaults: at risk below P(alive) 0.50.
        let k = |before, after| kind_of(before, after);
        assert_eq!(
            k(Some((false, Some(0.8))), (false, Some(0.4))).as_deref(),
            Some("at_risk")
        );
        assert_eq!(k(None, (false, Some(0.4))).as_deref(), Some("at_risk"));
        // Already at risk, or no model figure: nothing new.
        assert_eq!(k(Some((false, Some(0.45))), (false, Some(0.4))), None);
        assert_eq!(k(Some((false, Some(0.8))), (false, None)), None);
        assert_eq!(k(Some((false, Some(0.8))), (false, Some(0.5))), None);
        // Lost outranks at risk; staying lost says nothing; ordering again recovers.
        assert_eq!(
            k(Some((false, Some(0.8))), (true, Some(0.1))).as_deref(),
            Some("became_lost")
        );
        assert_eq!(k(Some((true, Some(0.1))), (true, Some(0.1))), None);
        assert_eq!(
            k(Some((true, Some(0.1))), (false, Some(0.9))).as_deref(),
            Some("recovered")
        );
        // Back from lost to merely at risk is a recovery, not a new warning.
        assert_eq!(
            k(Some((true, Some(0.1))), (false, Some(0.4))).as_deref(),
            Some("recovered")
        );
    }
}
