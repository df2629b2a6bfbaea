//! The step machine: given a compiled campaign, where an enrolment stands, the account as the
//! engine sees it, the messages it already got and the time, decide what happens. Plain data
//! in, plain data out: the dispatcher tick and the schedule preview both run exactly this, so
//! the preview shows what the ticks will do.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::model::{Action, Caps, Content, Plan, Target, consent_allows};
use super::timing::{Cap, format_duration, local_rfc3339};
use crate::content::context::OfferCtx;
use crate::domain::{Consent, StakeholderRole};
use crate::segments::rules::Facts;

/// Most steps one enrolment runs in one pass (a safety net; activation refuses loops
/// without a wait).
pub const MAX_STEPS_PER_PASS: usize = 32;

/// A stakeholder as recipient selection sees it.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub role: Option<StakeholderRole>,
    pub consent: Consent,
    /// Lowercased email, when known.
    pub email: Option<String>,
    /// Higher first among people of the same role.
    pub influence: i16,
}

/// The account's manager, who gets the tasks.
#[derive(Debug, Clone)]
pub struct Manager {
    pub id: i64,
    pub email: String,
}

/// One account as the machine sees it.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub tz: Tz,
    pub manager: Option<Manager>,
    pub people: Vec<Person>,
}

/// Times of earlier messages (decided, not suppressed), per account and per stakeholder, kept
/// sorted; the machine adds its own decisions so later sends in the same pass see them.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub account: HashMap<i64, Vec<DateTime<Utc>>>,
    pub stakeholder: HashMap<i64, Vec<DateTime<Utc>>>,
}

impl Ledger {
    /// Records a message.
    pub fn add(&mut self, account: i64, stakeholder: Option<i64>, at: DateTime<Utc>) {
        insert_sorted(self.account.entry(account).or_default(), at);
        if let Some(s) = stakeholder {
            insert_sorted(self.stakeholder.entry(s).or_default(), at);
        }
    }
}

fn insert_sorted(v: &mut Vec<DateTime<Utc>>, at: DateTime<Utc>) {
    let i = v.partition_point(|t| *t <= at);
    v.insert(i, at);
}

/// What holds for every decision of a pass.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub caps: Caps,
    pub require_consent: bool,
    /// Lowercased suppressed addresses.
    pub suppressed: &'a HashSet<String>,
}

/// One recipient of a send.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub stakeholder: Option<i64>,
    /// Email address, or `endpoint:<id>` for a webhook.
    pub address: String,
}

/// A message the machine decided to send.
#[derive(Debug, Clone)]
pub struct SendOrder {
    pub step: String,
    pub target: Target,
    pub content: Content,
    pub offer: Option<OfferCtx>,
    /// A defined offer: its code is issued for (enrolment, step) when the message renders.
    pub offer_key: Option<String>,
    pub to: Chosen,
}

/// A manager task the machine decided to create.
#[derive(Debug, Clone)]
pub struct TaskOrder {
    pub step: String,
    /// The step's own title; otherwise the rendered task's first line names it.
    pub title: Option<String>,
    pub content: Content,
    pub manager: Option<Manager>,
}

/// One executed step, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub step: String,
    pub kind: &'static str,
    /// `sent`, `deferred`, `skipped`, `no_recipient`, `task_created`, `waiting`, `then`,
    /// `else`, `exited`, `missing`.
    pub outcome: &'static str,
    pub reason: String,
    /// When the step was due.
    pub due_at: DateTime<Utc>,
    /// When it ran (the pass's time).
    pub at: DateTime<Utc>,
}

/// Where the enrolment goes after the pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Run this step at this time.
    At { step: String, due: DateTime<Utc> },
    /// Ran past its last step.
    Completed,
    /// Left the campaign.
    Exited(String),
}

/// Everything a pass decided for one enrolment.
#[derive(Debug, Clone)]
pub struct Pass {
    pub executions: Vec<Execution>,
    pub sends: Vec<SendOrder>,
    pub tasks: Vec<TaskOrder>,
    pub next: Next,
}

/// Runs an enrolment from `step` (due at `due`) at time `now`: every step that is due runs,
/// until one waits, defers, or the campaign ends for it. `facts` are the account's (needed
/// only when a branch is reached; a branch without them takes `else` and says so).
#[allow(clippy::too_many_arguments)]
pub fn advance(
    plan: &Plan,
    step: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    account: &AccountView,
    facts: Option<&Facts>,
    ledger: &mut Ledger,
    rules: Rules<'_>,
) -> Pass {
    let mut pass = Pass {
        executions: Vec::new(),
        sends: Vec::new(),
        tasks: Vec::new(),
        next: Next::Completed,
    };
    let Some((mut idx, _)) = plan.step(step) else {
        let reason = format!("step `{step}` no longer exists in the campaign");
        pass.executions.push(Execution {
            step: step.to_string(),
            kind: "campaign",
            outcome: "missing",
            reason: reason.clone(),
            due_at: due,
            at: now,
        });
        pass.next = Next::Exited(reason);
        return pass;
    };
    let mut due = due;
    for _ in 0..MAX_STEPS_PER_PASS {
        let s = &plan.steps[idx];
        let mut exec = |outcome: &'static str, reason: String| {
            pass.executions.push(Execution {
                step: s.id.clone(),
                kind: s.action.kind(),
                outcome,
                reason,
                due_at: due,
                at: now,
            })
        };
        let mut goto: Option<usize> = s.next;
        match &s.action {
            Action::Send { .. } | Action::Task { .. } => {
                let late = now - due;
                if late > plan.max_lateness {
                    exec(
                        "skipped",
                        format!(
                            "overdue by {}, more than max_lateness {}: skipped, not sent late",
                            describe_span(late),
                            format_duration(plan.max_lateness)
                        ),
                    );
                } else if let Some(open) = matches!(
                    s.action,
                    Action::Send {
                        target: Target::Email,
                        ..
                    }
                )
                .then(|| window_deferral(plan, account.tz, now))
                .flatten()
                {
                    match open {
                        Some(at) => {
                            exec(
                                "deferred",
                                format!(
                                    "outside the send window {} ({}): deferred to {}",
                                    plan.window,
                                    account.tz.name(),
                                    local_rfc3339(account.tz, at)
                                ),
                            );
                            pass.next = Next::At {
                                step: s.id.clone(),
                                due: at,
                            };
                            return pass;
                        }
                        None => {
                            exec(
                                "deferred",
                                "the send window does not open in the next 400 days".into(),
                            );
                            pass.next = Next::At {
                                step: s.id.clone(),
                                due: now + Duration::days(1),
                            };
                            return pass;
                        }
                    }
                } else if let Action::Send {
                    target,
                    content,
                    offer,
                    offer_key,
                    roles,
                    max,
                    ..
                } = &s.action
                {
                    let (mut chosen, mut left_out) = choose(target, roles, *max, account, rules);
                    if let Some(cap) = rules.caps.account
                        && chosen.len() > cap.max as usize
                    {
                        for c in chosen.drain(cap.max as usize..) {
                            left_out.push(format!(
                                "{}: the account cap {cap} allows {} at once",
                                c.address, cap.max
                            ));
                        }
                    }
                    if chosen.is_empty() {
                        exec("no_recipient", none_reason(&left_out));
                    } else {
                        let caps = match target {
                            Target::Email => rules.caps,
                            // Caps protect the account's people; a webhook goes to our own
                            // sales systems.
                            Target::Webhook(_) => Caps::default(),
                        };
                        match cap_deferral(&chosen, account.id, now, ledger, caps) {
                            Some((at, why)) => {
                                exec(
                                    "deferred",
                                    format!("{why}: deferred to {}", local_rfc3339(account.tz, at)),
                                );
                                pass.next = Next::At {
                                    step: s.id.clone(),
                                    due: at,
                                };
                                return pass;
                            }
                            None => {
                                let names: Vec<String> =
                                    chosen.iter().map(|c| c.address.clone()).collect();
                                let mut reason = format!("to {}", names.join(", "));
                                if !left_out.is_empty() {
                                    reason.push_str("; left out: ");
                                    reason.push_str(&left_out.join("; "));
                                }
                                exec("sent", reason);
                                for to in chosen {
                                    if *target == Target::Email {
                                        ledger.add(account.id, to.stakeholder, now);
                                    }
                                    pass.sends.push(SendOrder {
                                        step: s.id.clone(),
                                        target: target.clone(),
                                        content: content.clone(),
                                        offer: offer.clone(),
                                        offer_key: offer_key.clone(),
                                        to,
                                    });
                                }
                            }
                        }
                    }
                } else if let Action::Task { title, content } = &s.action {
                    let reason = match &account.manager {
                        Some(m) => format!("for the account's manager {}", m.email),
                        None => "the account has no manager: the task is unassigned".into(),
                    };
                    exec("task_created", reason);
                    pass.tasks.push(TaskOrder {
                        step: s.id.clone(),
                        title: title.clone(),
                        content: content.clone(),
                        manager: account.manager.clone(),
                    });
                }
            }
            Action::Wait(w) => {
                let until = w.due_after(account.tz, now);
                exec(
                    "waiting",
                    format!("{w}: until {}", local_rfc3339(account.tz, until)),
                );
                match goto {
                    Some(n) => {
                        pass.next = Next::At {
                            step: plan.steps[n].id.clone(),
                            due: until,
                        };
                    }
                    None => pass.next = Next::Completed,
                }
                return pass;
            }
            Action::Branch {
                rule,
                text,
                then,
                otherwise,
            } => {
                let (holds, why) = match facts {
                    Some(f) => (rule.matches(f), ""),
                    None => (false, " (the account's data could not be read)"),
                };
                if holds {
                    exec("then", format!("`{text}` holds{why}"));
                    goto = Some(*then);
                } else {
                    exec("else", format!("`{text}` does not hold{why}"));
                    goto = Some(*otherwise);
                }
            }
            Action::Exit { reason } => {
                let reason = reason
                    .clone()
                    .unwrap_or_else(|| format!("exit step `{}`", s.id));
                exec("exited", reason.clone());
                pass.next = Next::Exited(reason);
                return pass;
            }
        }
        match goto {
            Some(n) => {
                idx = n;
                due = now;
            }
            None => {
                pass.next = Next::Completed;
                return pass;
            }
        }
    }
    // A safety net only: go on a minute later rather than spin in this tick.
    pass.next = Next::At {
        step: plan.steps[idx].id.clone(),
        due: now + Duration::minutes(1),
    };
    pass
}

/// `None` when the window is open now; otherwise when it opens (or `Some(None)`: never).
fn window_deferral(plan: &Plan, tz: Tz, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
    match plan.window.next_open(tz, &plan.quiet_dates, now) {
        Some(t) if t <= now => None,
        other => Some(other),
    }
}

/// Picks the recipients of a send: stakeholders by role in order (highest influence first
/// within a role), at most `max`, leaving out those who may not be sent to, each with why.
pub fn choose(
    target: &Target,
    roles: &[StakeholderRole],
    max: u32,
    account: &AccountView,
    rules: Rules<'_>,
) -> (Vec<Chosen>, Vec<String>) {
    if let Target::Webhook(endpoint) = target {
        return (
            vec![Chosen {
                stakeholder: None,
                address: format!("endpoint:{endpoint}"),
            }],
            Vec::new(),
        );
    }
    let mut chosen = Vec::new();
    let mut left_out = Vec::new();
    let mut candidates: Vec<&Person> = account
        .people
        .iter()
        .filter(|p| p.role.is_some_and(|r| roles.contains(&r)))
        .collect();
    candidates.sort_by_key(|p| {
        (
            roles
                .iter()
                .position(|r| Some(*r) == p.role)
                .unwrap_or(usize::MAX),
            -p.influence,
            p.id,
        )
    });
    for p in candidates {
        let who = format!("{} (#{})", p.name, p.id);
        let Some(email) = &p.email else {
            left_out.push(format!("{who}: no email address"));
            continue;
        };
        if let Err(why) = consent_allows(p.consent, rules.require_consent) {
            left_out.push(format!("{who}: {why}"));
            continue;
        }
        if rules.suppressed.contains(email) {
            left_out.push(format!("{who}: {email} is on the suppression list"));
            continue;
        }
        if chosen.len() as u32 >= max {
            left_out.push(format!("{who}: over max_per_account {max}"));
            continue;
        }
        chosen.push(Chosen {
            stakeholder: Some(p.id),
            address: email.clone(),
        });
    }
    (chosen, left_out)
}

fn none_reason(left_out: &[String]) -> String {
    if left_out.is_empty() {
        "no stakeholder has one of the step's roles".into()
    } else {
        format!("no one to send to: {}", left_out.join("; "))
    }
}

/// When the chosen recipients fit the caps again, if they do not now, with which cap.
fn cap_deferral(
    chosen: &[Chosen],
    account: i64,
    now: DateTime<Utc>,
    ledger: &Ledger,
    caps: Caps,
) -> Option<(DateTime<Utc>, String)> {
    let mut latest: Option<(DateTime<Utc>, String)> = None;
    let mut consider = |at: DateTime<Utc>, why: String| {
        if latest.as_ref().is_none_or(|(t, _)| at > *t) {
            latest = Some((at, why));
        }
    };
    let empty = Vec::new();
    if let Some(cap) = caps.account {
        let sent = ledger.account.get(&account).unwrap_or(&empty);
        if let Err(at) = cap.check(sent, now, chosen.len() as u32) {
            consider(at, format!("over the account cap {cap}"));
        }
    }
    if let Some(cap) = caps.stakeholder {
        for c in chosen {
            let Some(id) = c.stakeholder else { continue };
            let sent = ledger.stakeholder.get(&id).unwrap_or(&empty);
            if let Err(at) = cap.check(sent, now, 1) {
                consider(at, format!("over the stakeholder cap {cap} for #{id}"));
            }
        }
    }
    latest
}

/// "2 days 3 hours", "45 minutes".
pub fn describe_span(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, minutes) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    let mut parts = Vec::new();
    let mut push = |n: i64, unit: &str| {
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    };
    push(days, "day");
    push(hours, "hour");
    if days == 0 {
        push(minutes, "minute");
    }
    if parts.is_empty() {
        "less than a minute".into()
    } else {
        parts.join(" ")
    }
}

/// A cap as written, for messages.
pub fn describe_cap(c: Option<Cap>) -> String {
    c.map_or_else(|| "off".into(), |c| c.to_string())
}
