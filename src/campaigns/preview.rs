//! The schedule preview: "when will this go out, and to whom?" before anything is sent. It
//! runs the dispatcher's own step machine ([`super::machine::advance`]) over simulated ticks
//! that come exactly when each step is due, with the same account data, windows, caps (the
//! messages already sent count) and suppression list. Nothing is written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;

use super::dispatch::{load_batch, load_facts};
use super::error::CampaignsError;
use super::machine::{self, Next, Rules};
use super::model::{Audience, CampaignStatus, EnrolmentStatus, Plan, Reentry};
use super::service::{definition_of, find, plan_of, status_of};
use super::timing::local_rfc3339;
use crate::context::AppContext;
use crate::entities::enrolment;

/// Most lines one preview returns (`truncated` says when more would follow).
pub const MAX_ITEMS: usize = 5000;
/// Most accounts one preview simulates.
pub const MAX_ACCOUNTS: usize = 2000;
/// Longest previewed span.
pub const MAX_SPAN_DAYS: i64 = 366;

/// One line of the preview: a step of one account's run, at its time.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PreviewItem {
    /// The account's external id.
    pub account_id: String,
    /// The stakeholder a send goes to (none for other steps and webhooks).
    pub stakeholder_id: Option<i64>,
    pub step: String,
    /// `send`, `wait`, `branch`, `manager_task`, `exit`, or `enrolment` for accounts left out.
    pub kind: String,
    /// What the step would do: `sent`, `skipped`, `no_recipient`, `task_created`, `waiting`,
    /// `then`, `else`, `exited`, `left_out`, or `deferred` when it is still waiting for its
    /// window or cap at the end of the span.
    pub outcome: String,
    /// When (UTC).
    pub due_at: DateTime<Utc>,
    /// The same instant with the account's offset.
    pub local_time: String,
    /// The account's timezone (IANA).
    pub timezone: String,
    /// Why: the deferrals that moved it, whom it goes to, who is left out and why.
    pub reason: String,
}

/// The preview of a campaign between `from` and `to`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchedulePreview {
    pub campaign: String,
    pub status: CampaignStatus,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Accounts simulated.
    pub accounts: usize,
    /// Lines, by account and then time.
    pub items: Vec<PreviewItem>,
    /// More lines (or accounts) than one preview shows.
    pub truncated: bool,
    /// What the preview cannot foresee (e.g. trigger audiences enrol on future events).
    pub notes: Vec<String>,
}

/// Where an enrolment stands: the step and when it is due.
type Position = (String, DateTime<Utc>);

/// Previews campaign `key` (a draft as if activated at `from`; an active or paused one as it
/// stands) from `from` (default now) to `to` (default 30 days later).
pub async fn schedule(
    ctx: &AppContext,
    key: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<SchedulePreview, CampaignsError> {
    let c = find(&ctx.db, key).await?;
    let status = status_of(&c);
    let from = from.unwrap_or_else(|| ctx.clock.now());
    let to = to.unwrap_or(from + Duration::days(30));
    if to <= from {
        return Err(CampaignsError::field("/to", "must be after `from`"));
    }
    if to - from > Duration::days(MAX_SPAN_DAYS) {
        return Err(CampaignsError::field(
            "/to",
            format!("the span may be at most {MAX_SPAN_DAYS} days"),
        ));
    }
    if status == CampaignStatus::Archived {
        return Err(CampaignsError::WrongStatus {
            key: key.into(),
            status,
            action: "a schedule preview",
            needs: "a draft, active or paused campaign",
        });
    }
    let def = definition_of(&c);
    let plan = plan_of(ctx, &def)?;
    let mut notes = Vec::new();
    // Starting points: (account, step, due, ended earlier at) per account.
    let mut starts: Vec<(i64, Option<Position>)> = Vec::new();
    let mut enrolled_before: HashMap<i64, Option<DateTime<Utc>>> = HashMap::new();
    if status != CampaignStatus::Draft {
        for e in enrolment::Entity::find()
            .filter(enrolment::Column::CampaignId.eq(c.id))
            .all(&ctx.db)
            .await?
        {
            if e.status == EnrolmentStatus::Active.as_str() {
                if let (Some(step), Some(due)) = (e.step.clone(), e.due_at) {
                    starts.push((e.account_id, Some((step, due))));
                }
                enrolled_before.insert(e.account_id, None);
            } else {
                enrolled_before.entry(e.account_id).or_insert(e.finished_at);
            }
        }
        if status == CampaignStatus::Paused {
            notes
                .push("the campaign is paused: its steps run only after it is resumed".to_string());
        }
    }
    let audience = def.audience.clone();
    match &audience {
        Some(Audience::Trigger(_)) => notes.push(
            "a trigger audience enrols accounts when their events happen; only existing \
             enrolments are previewed"
                .into(),
        ),
        None => notes.push("the campaign has no audience yet".into()),
        Some(a) => {
            let members = super::enrol::audience_members(&ctx.db, a).await?;
            match a {
                Audience::Segment(key) if members.is_empty() => {
                    let exists = crate::entities::segment::Entity::find()
                        .filter(crate::entities::segment::Column::Key.eq(key.as_str()))
                        .one(&ctx.db)
                        .await?
                        .is_some();
                    notes.push(if exists {
                        format!("the segment `{key}` has no members")
                    } else {
                        format!("there is no segment `{key}`")
                    });
                }
                Audience::Accounts(list) => {
                    let listed: HashSet<&String> = list.iter().collect();
                    if members.len() < listed.len() {
                        notes.push(format!(
                            "{} of the {} listed accounts do not exist",
                            listed.len() - members.len(),
                            listed.len()
                        ));
                    }
                }
                _ => {}
            }
            let started: HashSet<i64> = starts.iter().map(|(a, _)| *a).collect();
            starts.extend(
                members
                    .into_iter()
                    .filter(|id| !started.contains(id))
                    .map(|id| (id, None)),
            );
        }
    }
    starts.sort_by_key(|(a, _)| *a);
    let mut truncated = false;
    if starts.len() > MAX_ACCOUNTS {
        starts.truncate(MAX_ACCOUNTS);
        truncated = true;
    }
    let accounts: Vec<i64> = starts.iter().map(|(a, _)| *a).collect();
    let now = ctx.clock.now();
    let mut data = load_batch(ctx, &accounts, now).await?;
    let facts = load_facts(ctx, &accounts, now).await?;
    let rules = Rules {
        caps: ctx.settings.delivery.caps(),
        require_consent: ctx.settings.delivery.require_consent,
        suppressed: &data.suppressed,
    };
    let mut items = Vec::new();
    let mut fired_by_zone: HashMap<chrono_tz::Tz, Vec<DateTime<Utc>>> = HashMap::new();
    for (account, start) in &starts {
        let Some(view) = data.views.get(account) else {
            continue;
        };
        let line = |step: &str, kind: &str, outcome: &str, at: DateTime<Utc>, reason: String| {
            PreviewItem {
                account_id: view.external_id.clone(),
                stakeholder_id: None,
                step: step.to_string(),
                kind: kind.to_string(),
                outcome: outcome.to_string(),
                due_at: at,
                local_time: local_rfc3339(view.tz, at),
                timezone: view.tz.name().to_string(),
                reason,
            }
        };
        // Enrolment moments of this account within the span.
        let mut moments: Vec<(String, DateTime<Utc>)> = Vec::new();
        match start {
            Some((step, due)) => moments.push((step.clone(), *due)),
            None => {
                let Some(first) = plan.first() else { continue };
                if let Some(&ended) = enrolled_before.get(account) {
                    let allowed = match (plan.reentry, ended) {
                        (_, None) => None,
                        (Reentry::Never, _) => None,
                        (Reentry::AfterExit, Some(_)) => Some(from),
                        (Reentry::AfterDays(n), Some(f)) => {
                            Some(from.max(f + Duration::days(i64::from(n))))
                        }
                    };
                    match allowed {
                        Some(t) if t <= to => moments.push((first.to_string(), t)),
                        _ => {
                            items.push(line(
                                "-",
                                "enrolment",
                                "left_out",
                                from,
                                format!(
                                    "enrolled before; re-entry policy {}",
                                    plan.reentry.describe()
                                ),
                            ));
                            continue;
                        }
                    }
                } else if let Some(expr) = &plan.schedule {
                    // The schedule's moments in the span, computed once per timezone.
                    let fired = fired_by_zone.entry(view.tz).or_insert_with(|| {
                        let mut out = Vec::new();
                        let Ok(cron) = crate::jobs::schedule::parse(expr) else {
                            return out;
                        };
                        let mut at = from;
                        while let Some(m) = crate::jobs::schedule::next_of(&cron, view.tz, at) {
                            if m > to || out.len() >= 400 {
                                break;
                            }
                            out.push(m);
                            at = m;
                        }
                        out
                    });
                    moments.extend(fired.iter().map(|m| (first.to_string(), *m)));
                    if moments.is_empty() {
                        items.push(line(
                            "-",
                            "enrolment",
                            "left_out",
                            from,
                            format!("the schedule `{expr}` does not fire in the span"),
                        ));
                    }
                } else {
                    moments.push((first.to_string(), from));
                }
            }
        }
        let mut busy_until: Option<DateTime<Utc>> = None;
        for (step, enrol_at) in moments {
            if busy_until.is_some_and(|b| b > enrol_at) {
                continue;
            }
            if items.len() >= MAX_ITEMS {
                truncated = true;
                break;
            }
            let finished = simulate(
                &plan,
                &step,
                enrol_at,
                from,
                to,
                view,
                facts.get(account),
                &mut data.ledger,
                rules,
                &mut items,
            );
            match (plan.reentry, finished) {
                (_, None) => break,
                (Reentry::Never, _) => break,
                (Reentry::AfterExit, Some(f)) => busy_until = Some(f),
                (Reentry::AfterDays(n), Some(f)) => {
                    busy_until = Some(f + Duration::days(i64::from(n)));
                }
            }
        }
    }
    if items.len() > MAX_ITEMS {
        items.truncate(MAX_ITEMS);
        truncated = true;
    }
    Ok(SchedulePreview {
        campaign: c.key,
        status,
        from,
        to,
        accounts: starts.len(),
        items,
        truncated,
        notes,
    })
}

/// Runs one enrolment from `step` due at `due` through simulated ticks until it ends or its
/// next step falls after `to`; returns when it ended (`None`: still running at `to`).
#[allow(clippy::too_many_arguments)]
fn simulate(
    plan: &Plan,
    step: &str,
    due: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    view: &machine::AccountView,
    facts: Option<&crate::segments::rules::Facts>,
    ledger: &mut machine::Ledger,
    rules: Rules<'_>,
    items: &mut Vec<PreviewItem>,
) -> Option<DateTime<Utc>> {
    let mut step = step.to_string();
    let mut due = due;
    // Deferrals of the current step, told on the line where it finally runs.
    let mut moved: Vec<String> = Vec::new();
    for _ in 0..1000 {
        let now = due.max(from);
        if now > to || items.len() >= MAX_ITEMS {
            return None;
        }
        let pass = machine::advance(plan, &step, due, now, view, facts, ledger, rules);
        let mut sends = pass.sends.iter().peekable();
        for x in &pass.executions {
            if x.outcome == "deferred" {
                moved.push(x.reason.clone());
                continue;
            }
            let mut reason = String::new();
            if !moved.is_empty() {
                reason = format!("{}; ", moved.join("; "));
                moved.clear();
            }
            let base = PreviewItem {
                account_id: view.external_id.clone(),
                stakeholder_id: None,
                step: x.step.clone(),
                kind: x.kind.to_string(),
                outcome: x.outcome.to_string(),
                due_at: x.at,
                local_time: local_rfc3339(view.tz, x.at),
                timezone: view.tz.name().to_string(),
                reason: format!("{reason}{}", x.reason),
            };
            if x.outcome == "sent" {
                while let Some(s) = sends.next_if(|s| s.step == x.step) {
                    items.push(PreviewItem {
                        stakeholder_id: s.to.stakeholder,
                        reason: format!("{reason}to {}", s.to.address),
                        ..base.clone()
                    });
                }
            } else {
                items.push(base);
            }
        }
        match pass.next {
            Next::At { step: s, due: d } => {
                if d > to {
                    if !moved.is_empty() {
                        items.push(PreviewItem {
                            account_id: view.external_id.clone(),
                            stakeholder_id: None,
                            step: s.clone(),
                            kind: "send".into(),
                            outcome: "deferred".into(),
                            due_at: d,
                            local_time: local_rfc3339(view.tz, d),
                            timezone: view.tz.name().to_string(),
                            reason: moved.join("; "),
                        });
                    }
                    return None;
                }
                step = s;
                due = d;
            }
            Next::Completed | Next::Exited(_) => return Some(now),
        }
    }
    None
}
