//! A campaign's definition as users write it (and as it is stored, one JSON document per
//! version), and its compiled form that the step machine runs. Plain data: no database, no
//! HTTP. Parsing checks the structure and every rule; [`Plan::check_activation`] adds what
//! activation needs (reachability and templates).

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timing::{Cap, SendWindow, Wait, format_duration, parse_duration};
use crate::content::context::OfferCtx;
use crate::domain::kinds::{Channel, Purpose};
use crate::domain::validation::{FieldError, FieldErrors};
use crate::domain::{Consent, StakeholderRole};
use crate::segments::rules::{ACCOUNT_SCOPES, Compiled, Rule, rule_problem};

/// Most accounts an explicit audience may list.
pub const MAX_AUDIENCE_ACCOUNTS: usize = 100_000;
/// Most steps in one campaign.
pub const MAX_STEPS: usize = 200;
/// Default `max_lateness`: a step overdue by more is skipped, not sent late.
pub const DEFAULT_MAX_LATENESS: Duration = Duration::hours(24);
/// Default recipients: by role, in this order.
pub const DEFAULT_ROLES: [StakeholderRole; 3] = [
    StakeholderRole::DecisionMaker,
    StakeholderRole::EconomicBuyer,
    StakeholderRole::Champion,
];
/// Default maximum recipients per account and step.
pub const DEFAULT_MAX_PER_ACCOUNT: u32 = 2;

macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The wire and database name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stored name; `None` for anything else.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum! {
    /// Where a campaign is in its life: draft → active ⇄ paused → archived.
    CampaignStatus {
        Draft => "draft",
        Active => "active",
        Paused => "paused",
        Archived => "archived",
    }
}

word_enum! {
    /// Where an enrolment is: running through the steps, or finished.
    EnrolmentStatus {
        Active => "active",
        /// Ran past its last step.
        Completed => "completed",
        /// Left early: an exit step, an exit condition, a removed step, or the campaign archived.
        Exited => "exited",
    }
}

word_enum! {
    /// A message's state in the outbox.
    MessageStatus {
        Queued => "queued",
        /// Leased by a delivery worker.
        Sending => "sending",
        Sent => "sent",
        Deferred => "deferred",
        Failed => "failed",
        Dead => "dead",
        Suppressed => "suppressed",
    }
}

word_enum! {
    /// A manager task's state.
    TaskStatus {
        Open => "open",
        Done => "done",
    }
}

word_enum! {
    /// Why an address is on the suppression list.
    SuppressionReason {
        Unsubscribed => "unsubscribed",
        Bounced => "bounced",
        Complained => "complained",
        Manual => "manual",
    }
}

word_enum! {
    /// A campaign-wide condition that ends an enrolment at once.
    ExitCondition {
        /// The account placed an order after it was enrolled.
        Ordered => "ordered",
        /// Someone at the account replied or booked a meeting (tracking, `POST /responses`).
        Replied => "replied",
        /// Someone at the account unsubscribed or complained.
        Unsubscribed => "unsubscribed",
    }
}

/// Who enters a campaign: one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Audience {
    /// These accounts, by external id (at most 100,000).
    Accounts(Vec<String>),
    /// The members of this segment (by key).
    Segment(String),
    /// Accounts that go through an event after the campaign is activated.
    Trigger(Trigger),
}

/// An event that enrols the account it happened to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = CampaignTrigger)]
pub enum Trigger {
    /// The account entered this segment.
    EnteredSegment { segment: String },
    /// The account left this segment.
    LeftSegment { segment: String },
    /// An analysis run changed the account's class (`abc` or `xyz`; either when absent),
    /// optionally only to this class.
    ClassChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<ClassKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// An analysis run found the account lost.
    BecameLost,
    /// An order of the account arrived.
    OrderPlaced,
}

word_enum! {
    /// Which classification a `class_changed` trigger watches.
    ClassKind {
        Abc => "abc",
        Xyz => "xyz",
    }
}

/// How stakeholders are chosen: by role, in this order, at most `max_per_account`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<StakeholderRole>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 50)]
    pub max_per_account: Option<u32>,
}

/// When an account may enter again after an earlier enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reentry {
    /// Once per account, ever (the default).
    Never,
    /// Again once the earlier enrolment has finished.
    AfterExit,
    /// Again once the earlier enrolment finished at least this many days ago.
    AfterDays(u32),
}

impl Reentry {
    /// `never`, `after_exit` or `after_days(N)`.
    pub fn describe(self) -> String {
        match self {
            Reentry::Never => "never".into(),
            Reentry::AfterExit => "after_exit".into(),
            Reentry::AfterDays(n) => format!("after {n} days"),
        }
    }
}

/// One step. `id` names it; exactly one of `send`, `wait`, `branch`, `manager_task` or `exit`
/// says what it does. After a step the next one in the list follows unless `next` names
/// another (a branch names its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// 1–64 ASCII letters, digits, `_` and `-`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<SendInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_task: Option<TaskInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInput>,
}

impl StepInput {
    /// What the step does, by the action it names (`None` when it names none).
    pub fn kind(&self) -> Option<&'static str> {
        [
            (self.send.is_some(), "send"),
            (self.wait.is_some(), "wait"),
            (self.branch.is_some(), "branch"),
            (self.manager_task.is_some(), "manager_task"),
            (self.exit.is_some(), "exit"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// Send a message to the chosen stakeholders (email) or to a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    /// `email` or `webhook`.
    pub channel: Channel,
    /// Template selection by purpose (or give `template`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// A fixed template id instead of selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The webhook endpoint id (webhook channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub endpoint: Option<serde_json::Value>,
    /// The offer the message makes, given in full (no code is issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferCtx>,
    /// The key of a defined offer (`/api/v1/offers`): a code is issued per enrolment and step
    /// and the message renders it (`{{offer.code}}`, `{{offer.expires_on}}`, the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::schema::Slug>, max_length = 64)]
    pub offer_key: Option<String>,
    /// Overrides the campaign's recipients for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Recipients>,
    /// Where the email's call to action (`{{links.cta}}`) leads, through a tracked link
    /// (default `tracking.default_cta_url`, else the web view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub cta_url: Option<String>,
}

/// Wait: `{"days": N}` (calendar days in the account's timezone), `{"hours": N}` (elapsed),
/// or `{"until": "mon 09:00"}` (the next such local time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 87600)]
    pub hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Go to `then` when the rule holds for the account, else to `else`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchInput {
    /// The rule over the account as a JSON tree (or give `rule_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::segments::rules::schema::AccountRule>)]
    pub rule: Option<serde_json::Value>,
    /// The rule as text, e.g. `abc = A and lost = false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::segments::rules::schema::AccountRuleText>)]
    pub rule_text: Option<String>,
    pub then: String,
    #[serde(rename = "else")]
    pub otherwise: String,
}

/// A task for the account's manager, rendered from a `task` template and emailed to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ManagerTaskStep)]
pub struct TaskInput {
    /// The task's title (default: the step id and the account's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 300)]
    pub title: Option<String>,
    /// Template selection by purpose (default `manager_task`), or give `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// Leave the campaign here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// Everything about a campaign besides its key, name, goal and status: what a version stores.
///
/// Stored versions are read leniently (no `deny_unknown_fields`): user input arrives through
/// the API's own, strict body type, and this type is flattened into responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = CampaignDefinition)]
pub struct Definition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Recipients>,
    /// `"always"` or `"<days> HH:MM-HH:MM"` in the account's timezone, e.g.
    /// `"mon-fri 09:00-17:00"`; `delivery.default_send_window` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_window: Option<String>,
    /// Local dates on which nothing is sent (holidays), in each account's timezone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, format = Date)]
    pub quiet_dates: Vec<NaiveDate>,
    /// A cron expression with seconds: enrol the audience at each moment, in each account's
    /// timezone (e.g. `"0 0 9 1 * *"`, 09:00 local on the first of each month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// A send or task step overdue by more than this is skipped (`"30m"`, `"6h"`, `"2d"`;
    /// default `"1d"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lateness: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reentry: Option<Reentry>,
    /// Campaign-wide exit conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_on: Vec<ExitCondition>,
    #[serde(default)]
    pub steps: Vec<StepInput>,
}

/// What a send step sends through.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Email,
    /// A webhook endpoint, by id.
    Webhook(String),
}

/// How a step chooses its template.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Purpose(Purpose),
    Template(String),
}

/// A compiled step.
#[derive(Debug, Clone)]
pub enum Action {
    Send {
        target: Target,
        content: Content,
        offer: Option<OfferCtx>,
        /// A defined offer whose code the message carries.
        offer_key: Option<String>,
        roles: Vec<StakeholderRole>,
        max: u32,
        /// The call to action's target.
        cta: Option<String>,
    },
    Wait(Wait),
    Branch {
        rule: Compiled,
        text: String,
        then: usize,
        otherwise: usize,
    },
    Task {
        title: Option<String>,
        content: Content,
    },
    Exit {
        reason: Option<String>,
    },
}

impl Action {
    /// The step kind as stored with each execution.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Send { .. } => "send",
            Action::Wait(_) => "wait",
            Action::Branch { .. } => "branch",
            Action::Task { .. } => "manager_task",
            Action::Exit { .. } => "exit",
        }
    }
}

/// A compiled step with where it goes next (`None`: the campaign is complete).
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub action: Action,
    pub next: Option<usize>,
}

/// A campaign ready to run: parsed once per tick.
#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub index: HashMap<String, usize>,
    pub window: SendWindow,
    pub quiet_dates: Vec<NaiveDate>,
    pub max_lateness: Duration,
    pub reentry: Reentry,
    pub exit_on: Vec<ExitCondition>,
    pub schedule: Option<String>,
}

impl Plan {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<(usize, &Step)> {
        self.index.get(id).map(|&i| (i, &self.steps[i]))
    }

    /// The first step's id.
    pub fn first(&self) -> Option<&str> {
        self.steps.first().map(|s| s.id.as_str())
    }
}

/// Parses a definition into a plan; every problem is reported with its JSON pointer.
/// `default_window` is `delivery.default_send_window`.
pub fn compile(def: &Definition, default_window: &SendWindow) -> Result<Plan, Vec<FieldError>> {
    let mut errors = FieldErrors::default();
    let window = match &def.send_window {
        Some(w) => errors
            .check("send_window", SendWindow::parse(w))
            .unwrap_or(SendWindow::Always),
        None => default_window.clone(),
    };
    if def.quiet_dates.len() > 1000 {
        errors.push("quiet_dates", "at most 1000 dates");
    }
    let max_lateness = match &def.max_lateness {
        Some(s) => errors
            .check("max_lateness", parse_duration(s))
            .unwrap_or(DEFAULT_MAX_LATENESS),
        None => DEFAULT_MAX_LATENESS,
    };
    if let Some(s) = &def.schedule {
        if let Err(m) = crate::jobs::schedule::parse(s) {
            errors.push("schedule", m);
        }
        if matches!(def.audience, Some(Audience::Trigger(_))) {
            errors.push(
                "schedule",
                "a trigger audience enrols on its events; a schedule needs a segment or accounts",
            );
        }
    }
    if let Some(Reentry::AfterDays(n)) = def.reentry
        && !(1..=3650).contains(&n)
    {
        errors.push("reentry/after_days", "must be from 1 to 3650");
    }
    if let Some(a) = &def.audience {
        check_audience(a, &mut errors);
    }
    let default_recipients = def.recipients.clone().unwrap_or_default();
    check_recipients(&default_recipients, "recipients", &mut errors);
    let mut exit_seen = HashSet::new();
    for (i, c) in def.exit_on.iter().enumerate() {
        if !exit_seen.insert(*c) {
            errors.push(&format!("exit_on/{i}"), "is listed twice");
        }
    }

    if def.steps.len() > MAX_STEPS {
        errors.push("steps", format!("at most {MAX_STEPS} steps"));
        return Err(errors.errors);
    }
    let mut index = HashMap::new();
    for (i, s) in def.steps.iter().enumerate() {
        if let Err(m) = check_step_id(&s.id) {
            errors.push(&format!("steps/{i}/id"), m);
        } else if index.insert(s.id.clone(), i).is_some() {
            errors.push(
                &format!("steps/{i}/id"),
                format!("step `{}` is defined twice", s.id),
            );
        }
    }
    let resolve = |errors: &mut FieldErrors, path: &str, id: &str| -> Option<usize> {
        let found = index.get(id).copied();
        if found.is_none() {
            errors.push(path, format!("names no step: `{}`", clip(id)));
        }
        found
    };
    let mut steps = Vec::with_capacity(def.steps.len());
    for (i, s) in def.steps.iter().enumerate() {
        let at = format!("steps/{i}");
        let given = [
            s.send.is_some(),
            s.wait.is_some(),
            s.branch.is_some(),
            s.manager_task.is_some(),
            s.exit.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            errors.push(
                &at,
                "give exactly one of send, wait, branch, manager_task or exit",
            );
            continue;
        }
        let mut next = if i + 1 < def.steps.len() {
            Some(i + 1)
        } else {
            None
        };
        if let Some(n) = &s.next {
            next = resolve(&mut errors, &format!("{at}/next"), n);
        }
        let action = if let Some(send) = &s.send {
            compile_send(
                send,
                &default_recipients,
                &format!("{at}/send"),
                &mut errors,
            )
        } else if let Some(w) = &s.wait {
            compile_wait(w, &format!("{at}/wait"), &mut errors)
        } else if let Some(b) = &s.branch {
            if s.next.is_some() {
                errors.push(&format!("{at}/next"), "a branch goes to `then` or `else`");
            }
            let then = resolve(&mut errors, &format!("{at}/branch/then"), &b.then);
            let otherwise = resolve(&mut errors, &format!("{at}/branch/else"), &b.otherwise);
            let rule = compile_rule(b, &format!("{at}/branch"), &mut errors);
            match (then, otherwise, rule) {
                (Some(then), Some(otherwise), Some(rule)) => Some(Action::Branch {
                    text: rule.to_text(),
                    rule: Compiled::new(&rule),
                    then,
                    otherwise,
                }),
                _ => None,
            }
        } else if let Some(t) = &s.manager_task {
            compile_task(t, &format!("{at}/manager_task"), &mut errors)
        } else {
            let reason = s.exit.as_ref().and_then(|e| e.reason.clone());
            if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
                errors.push(&format!("{at}/exit/reason"), "at most 500 characters");
            }
            if s.next.is_some() {
                errors.push(&format!("{at}/next"), "an exit step has no next step");
            }
            next = None;
            Some(Action::Exit { reason })
        };
        if let Some(action) = action {
            steps.push(Step {
                id: s.id.clone(),
                action,
                next,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors.errors);
    }
    Ok(Plan {
        steps,
        index,
        window,
        quiet_dates: def.quiet_dates.clone(),
        max_lateness,
        reentry: def.reentry.unwrap_or(Reentry::Never),
        exit_on: def.exit_on.clone(),
        schedule: def.schedule.clone(),
    })
}

/// The checks activation adds: an audience and steps exist, every step is reachable from the
/// first, and no loop runs without a wait. `has_template(channel, content)` answers whether
/// at least one template can match. Each problem names the step.
pub fn check_activation(
    def: &Definition,
    plan: &Plan,
    has_template: impl Fn(Channel, &Content) -> Result<(), String>,
) -> Vec<FieldError> {
    let mut errors = FieldErrors::default();
    if def.audience.is_none() {
        errors.push("audience", "a campaign needs an audience to be activated");
    }
    if plan.steps.is_empty() {
        errors.push(
            "steps",
            "a campaign needs at least one step to be activated",
        );
        return errors.errors;
    }
    let mut seen = vec![false; plan.steps.len()];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let s = &plan.steps[i];
        stack.extend(s.next);
        if let Action::Branch {
            then, otherwise, ..
        } = s.action
        {
            stack.push(then);
            stack.push(otherwise);
        }
    }
    for (i, s) in plan.steps.iter().enumerate() {
        if !seen[i] {
            errors.push(
                &format!("steps/{i}"),
                format!("step `{}` can never be reached from the first step", s.id),
            );
        }
        let (channel, content) = match &s.action {
            Action::Send {
                target, content, ..
            } => (
                match target {
                    Target::Email => Channel::Email,
                    Target::Webhook(_) => Channel::Webhook,
                },
                content,
            ),
            Action::Task { content, .. } => (Channel::Task, content),
            _ => continue,
        };
        if let Err(m) = has_template(channel, content) {
            errors.push(&format!("steps/{i}"), format!("step `{}`: {m}", s.id));
        }
    }
    if let Some(cycle) = waitless_cycle(plan) {
        errors.push(
            "steps",
            format!(
                "steps {} form a loop without a wait step",
                cycle
                    .iter()
                    .map(|i| format!("`{}`", plan.steps[*i].id))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        );
    }
    errors.errors
}

/// A cycle of steps none of which waits (it would run forever in one tick), if any.
fn waitless_cycle(plan: &Plan) -> Option<Vec<usize>> {
    let n = plan.steps.len();
    let succ = |i: usize| -> Vec<usize> {
        let s = &plan.steps[i];
        if matches!(s.action, Action::Wait(_)) {
            return Vec::new();
        }
        let mut v: Vec<usize> = s.next.into_iter().collect();
        if let Action::Branch {
            then, otherwise, ..
        } = s.action
        {
            v.push(then);
            v.push(otherwise);
        }
        v
    };
    // Iterative DFS with colours: 0 new, 1 on the path, 2 done.
    let mut colour = vec![0u8; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut path: Vec<(usize, Vec<usize>)> = vec![(start, succ(start))];
        colour[start] = 1;
        while let Some((node, rest)) = path.last_mut() {
            let node = *node;
            match rest.pop() {
                Some(m) if colour[m] == 1 => {
                    let from = path.iter().position(|(p, _)| *p == m).unwrap_or(0);
                    return Some(path[from..].iter().map(|(p, _)| *p).collect());
                }
                Some(m) if colour[m] == 0 => {
                    colour[m] = 1;
                    path.push((m, succ(m)));
                }
                Some(_) => {}
                None => {
                    colour[node] = 2;
                    path.pop();
                }
            }
        }
    }
    None
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out.chars().filter(|c| !c.is_control()).collect()
}

/// The documented pattern of step ids (repeated in `StepInput`'s schema).
pub const STEP_ID: &str = r"^[A-Za-z0-9_-]{1,64}$";

/// Step ids: 1–64 ASCII letters, digits, `_` and `-`.
pub fn check_step_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("may hold only ASCII letters, digits, `_` and `-`".into());
    }
    Ok(())
}

fn check_audience(a: &Audience, errors: &mut FieldErrors) {
    match a {
        Audience::Accounts(list) => {
            if list.is_empty() {
                errors.push("audience/accounts", "list at least one account");
            }
            if list.len() > MAX_AUDIENCE_ACCOUNTS {
                errors.push(
                    "audience/accounts",
                    format!("at most {MAX_AUDIENCE_ACCOUNTS} accounts"),
                );
                return;
            }
            for (i, e) in list.iter().enumerate() {
                if let Err(m) = crate::domain::ExternalId::parse(e) {
                    errors.push(&format!("audience/accounts/{i}"), m);
                    if errors.errors.len() > 50 {
                        return;
                    }
                }
            }
        }
        Audience::Segment(key) => {
            if let Err(m) = crate::domain::check_slug(key) {
                errors.push("audience/segment", m);
            }
        }
        Audience::Trigger(t) => match t {
            Trigger::EnteredSegment { segment } | Trigger::LeftSegment { segment } => {
                if let Err(m) = crate::domain::check_slug(segment) {
                    errors.push("audience/trigger/segment", m);
                }
            }
            Trigger::ClassChanged { class, to } => {
                if let Some(to) = to {
                    let ok = match class {
                        Some(ClassKind::Abc) => ["A", "B", "C"].contains(&to.as_str()),
                        Some(ClassKind::Xyz) => ["X", "Y", "Z"].contains(&to.as_str()),
                        None => ["A", "B", "C", "X", "Y", "Z"].contains(&to.as_str()),
                    };
                    if !ok {
                        errors.push("audience/trigger/to", "must be a class: A, B, C, X, Y or Z");
                    }
                }
            }
            Trigger::BecameLost | Trigger::OrderPlaced => {}
        },
    }
}

fn check_recipients(r: &Recipients, at: &str, errors: &mut FieldErrors) {
    if let Some(roles) = &r.roles {
        if roles.is_empty() || roles.len() > 6 {
            errors.push(&format!("{at}/roles"), "list 1 to 6 roles");
        }
        let mut seen = HashSet::new();
        for (i, role) in roles.iter().enumerate() {
            if !seen.insert(*role) {
                errors.push(&format!("{at}/roles/{i}"), "is listed twice");
            }
        }
    }
    if let Some(m) = r.max_per_account
        && !(1..=50).contains(&m)
    {
        errors.push(&format!("{at}/max_per_account"), "must be from 1 to 50");
    }
}

fn content_of(
    purpose: Option<Purpose>,
    template: &Option<String>,
    default: Option<Purpose>,
    at: &str,
    errors: &mut FieldErrors,
) -> Option<Content> {
    match (purpose.or(default), template) {
        (Some(_), Some(_)) if purpose.is_some() => {
            errors.push(at, "give either `purpose` or `template`, not both");
            None
        }
        (_, Some(t)) => match crate::domain::check_slug(t) {
            Ok(()) => Some(Content::Template(t.clone())),
            Err(m) => {
                errors.push(&format!("{at}/template"), m);
                None
            }
        },
        (Some(p), None) => Some(Content::Purpose(p)),
        (None, None) => {
            errors.push(at, "give a `purpose` or a `template`");
            None
        }
    }
}

fn compile_send(
    s: &SendInput,
    defaults: &Recipients,
    at: &str,
    errors: &mut FieldErrors,
) -> Option<Action> {
    let target = match s.channel {
        Channel::Email => {
            if s.endpoint.is_some() {
                errors.push(
                    &format!("{at}/endpoint"),
                    "only a webhook step has an endpoint",
                );
            }
            Some(Target::Email)
        }
        Channel::Webhook => match &s.endpoint {
            Some(serde_json::Value::String(id))
                if !id.is_empty() && id.len() <= 64 && !id.chars().any(char::is_control) =>
            {
                Some(Target::Webhook(id.clone()))
            }
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
                Some(Target::Webhook(n.to_string()))
            }
            Some(_) => {
                errors.push(
                    &format!("{at}/endpoint"),
                    "must be a webhook endpoint id (1 to 64 characters, or a positive integer)",
                );
                None
            }
            None => {
                errors.push(
                    &format!("{at}/endpoint"),
                    "a webhook step names its endpoint",
                );
                None
            }
        },
        Channel::Task => {
            errors.push(
                &format!("{at}/channel"),
                "must be email or webhook (tasks are manager_task steps)",
            );
            None
        }
    };
    let content = content_of(s.purpose, &s.template, None, at, errors);
    if let Some(o) = &s.offer
        && o.discount_percent
            .is_some_and(|p| !(0.0..=100.0).contains(&p))
    {
        errors.push(
            &format!("{at}/offer/discount_percent"),
            "must be between 0 and 100",
        );
    }
    if let Some(k) = &s.offer_key {
        if s.offer.is_some() {
            errors.push(
                &format!("{at}/offer_key"),
                "give offer or offer_key, not both",
            );
        }
        if k.len() > 64 {
            errors.push(&format!("{at}/offer_key"), "must be 1 to 64 characters");
        } else if let Err(m) = crate::domain::check_slug(k) {
            errors.push(&format!("{at}/offer_key"), m);
        }
    }
    let own = s.recipients.clone().unwrap_or_default();
    check_recipients(&own, &format!("{at}/recipients"), errors);
    let roles = own
        .roles
        .or_else(|| defaults.roles.clone())
        .unwrap_or_else(|| DEFAULT_ROLES.to_vec());
    let max = own
        .max_per_account
        .or(defaults.max_per_account)
        .unwrap_or(DEFAULT_MAX_PER_ACCOUNT);
    if let Some(url) = &s.cta_url
        && let Err(m) = crate::tracking::check_target(url)
    {
        errors.push(&format!("{at}/cta_url"), m);
    }
    Some(Action::Send {
        target: target?,
        content: content?,
        offer: s.offer.clone(),
        offer_key: s.offer_key.clone(),
        roles,
        max,
        cta: s.cta_url.clone(),
    })
}

fn compile_wait(w: &WaitInput, at: &str, errors: &mut FieldErrors) -> Option<Action> {
    let wait = match (w.days, w.hours, &w.until) {
        (Some(d), None, None) => Wait::Days(d),
        (None, Some(h), None) => Wait::Hours(h),
        (None, None, Some(u)) => errors.check(&format!("{at}/until"), Wait::parse_until(u))?,
        _ => {
            errors.push(at, "give exactly one of days, hours or until");
            return None;
        }
    };
    errors.check(at, wait.check())?;
    Some(Action::Wait(wait))
}

fn compile_rule(b: &BranchInput, at: &str, errors: &mut FieldErrors) -> Option<Rule> {
    let parsed = match (&b.rule, &b.rule_text) {
        (Some(json), None) => Rule::from_json_for(json, ACCOUNT_SCOPES),
        (None, Some(text)) => Rule::parse_text_for(text, ACCOUNT_SCOPES),
        _ => {
            errors.push(at, "give either `rule` or `rule_text`");
            return None;
        }
    };
    match parsed {
        Ok(r) => Some(r),
        Err(e) => {
            let (path, message) =
                rule_problem(e, &format!("{at}/rule"), &format!("{at}/rule_text"));
            errors.push(path.trim_start_matches('/'), message);
            None
        }
    }
}

fn compile_task(t: &TaskInput, at: &str, errors: &mut FieldErrors) -> Option<Action> {
    if let Some(title) = &t.title
        && (title.trim().is_empty()
            || title.chars().count() > 300
            || title.chars().any(char::is_control))
    {
        errors.push(
            &format!("{at}/title"),
            "must be one line of 1 to 300 characters",
        );
    }
    let content = content_of(
        t.purpose,
        &t.template,
        Some(Purpose::ManagerTask),
        at,
        errors,
    )?;
    Some(Action::Task {
        title: t.title.clone(),
        content,
    })
}

/// Whether a stakeholder may be sent to, and if not, why.
pub fn consent_allows(consent: Consent, require_consent: bool) -> Result<(), &'static str> {
    match consent {
        Consent::Withdrawn => Err("consent withdrawn"),
        Consent::Unknown if require_consent => {
            Err("consent unknown and delivery.require_consent is on")
        }
        _ => Ok(()),
    }
}

/// Caps for one send decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caps {
    pub account: Option<Cap>,
    pub stakeholder: Option<Cap>,
}

/// The timezone of an account; UTC when the stored name is not a zone (never, for rows the
/// API wrote).
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// `max_lateness` as people write it.
pub fn describe_lateness(d: Duration) -> String {
    format_duration(d)
}
