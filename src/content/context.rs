//! The typed render context. Every key is always present (absent values are `null`, lists may
//! be empty), so Handlebars' strict mode only catches names that do not exist: typos.
//!
//! Contexts are built for a batch of recipients at once ([`prepare`]), with a fixed number of
//! queries per chunk of accounts, so a campaign tick over thousands of accounts does not run
//! queries per account; one preview is a batch of one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use super::error::ContentError;
use crate::entities::{
    account, account_snapshot, competitor, dossier_profile, manager, relationship_event,
    stakeholder,
};
use crate::segments::rules::Facts;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Context {
    pub locale: String,
    pub today: String,
    pub account: AccountCtx,
    pub dossier: DossierCtx,
    pub stakeholder: Option<StakeholderCtx>,
    pub manager: Option<ManagerCtx>,
    pub analytics: AnalyticsCtx,
    pub offer: Option<OfferCtx>,
    pub links: LinksCtx,
    pub event: Option<EventCtx>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountCtx {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub timezone: String,
    pub currency: String,
    pub image_maker: bool,
    pub expert: bool,
    /// Minor units.
    pub budget: Option<i64>,
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProfileCtx {
    pub description: Option<String>,
    pub employees: Option<i32>,
    pub founded_year: Option<i32>,
    pub history: Option<String>,
    pub org_structure: Option<String>,
    pub business_environment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelationshipCtx {
    pub kind: String,
    pub occurred_on: String,
    pub value: Option<i64>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompetitorCtx {
    pub name: String,
    pub products: Option<String>,
    pub strength: Option<i16>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonCtx {
    pub name: String,
    pub title: Option<String>,
    pub role: String,
    pub influence: i16,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DossierCtx {
    pub profile: ProfileCtx,
    /// Newest first, up to 10.
    pub relationships: Vec<RelationshipCtx>,
    pub competitors: Vec<CompetitorCtx>,
    /// Highest influence first.
    pub decision_map: Vec<PersonCtx>,
    pub open_tenders: u32,
    pub last_outcome: Option<String>,
    pub last_outcome_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StakeholderCtx {
    pub name: String,
    pub first_name: String,
    pub title: Option<String>,
    pub email: Option<String>,
    pub role: String,
    pub language: Option<String>,
    pub influence: i16,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerCtx {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AnalyticsCtx {
    pub abc: Option<String>,
    pub xyz: Option<String>,
    pub cell: Option<String>,
    pub types: Vec<String>,
    pub revenue: i64,
    pub profit: Option<i64>,
    pub value_share: Option<f64>,
    pub orders: i32,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
    pub days_since_last_order: Option<i32>,
    #[serde(serialize_with = "whole")]
    pub median_interval_days: Option<f64>,
    pub p_alive: Option<f64>,
    #[serde(serialize_with = "whole")]
    pub expected_purchases: Option<f64>,
    pub lost: bool,
    pub lost_reason: Option<String>,
    pub three_p_score: Option<i16>,
    pub three_p_missing: Vec<String>,
    pub qualified: Option<bool>,
}

/// An offer being made (win-back): given by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferCtx {
    #[serde(default)]
    pub code: Option<String>,
    pub kind: crate::domain::kinds::OfferKind,
    /// From 0 to 100.
    #[serde(default, serialize_with = "whole")]
    #[schema(minimum = 0, maximum = 100)]
    pub discount_percent: Option<f64>,
    /// A fixed discount in the account's currency (a decimal string).
    #[serde(default)]
    #[schema(max_length = 40)]
    pub amount: Option<String>,
    #[serde(default)]
    pub gift: Option<String>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    /// The day an issued code expires (the same as `valid_until` for issued codes).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub expires_on: Option<NaiveDate>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinksCtx {
    pub tracking_pixel: String,
    pub unsubscribe: String,
    pub web_view: String,
    pub cta: String,
}

impl LinksCtx {
    /// Placeholders until tracking fills them in.
    pub fn placeholders() -> Self {
        Self {
            tracking_pixel: "{{tracking_pixel_url}}".into(),
            unsubscribe: "{{unsubscribe_url}}".into(),
            web_view: "{{web_view_url}}".into(),
            cta: "{{cta_url}}".into(),
        }
    }
}

/// A sales event being announced (event notifications).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventCtx {
    pub kind: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// Whole numbers as integers, so that templates show `15`, not `15.0`.
fn whole<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => s.serialize_i64(*f as i64),
        Some(f) => s.serialize_f64(*f),
        None => s.serialize_none(),
    }
}

/// The given name people are greeted by: the last word of a Vietnamese name ("Nguyễn Thị Lan"
/// → "Lan"), the first word otherwise.
pub fn first_name(name: &str, language: Option<&str>) -> String {
    let mut words = name.split_whitespace();
    let pick = if language.is_some_and(|l| l.starts_with("vi")) {
        words.next_back()
    } else {
        words.next()
    };
    pick.unwrap_or(name).to_string()
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

impl From<&account_snapshot::Model> for AnalyticsCtx {
    fn from(s: &account_snapshot::Model) -> Self {
        Self {
            abc: s.abc.clone(),
            xyz: s.xyz.clone(),
            cell: s
                .abc
                .as_ref()
                .zip(s.xyz.as_ref())
                .map(|(a, x)| format!("{a}{x}")),
            types: split_list(&s.types),
            revenue: s.revenue,
            profit: s.profit,
            value_share: s.value_share,
            orders: s.orders,
            first_order_at: s.first_order_at.map(|d| d.to_string()),
            last_order_at: s.last_order_at.map(|d| d.to_string()),
            days_since_last_order: s.days_since_last_order,
            median_interval_days: s.median_interval_days,
            p_alive: s.p_alive,
            expected_purchases: s.expected_purchases,
            lost: s.lost,
            lost_reason: Some(s.lost_reason.clone()).filter(|r| !r.is_empty()),
            three_p_score: s.three_p_score,
            three_p_missing: s
                .three_p_missing
                .as_deref()
                .map(split_list)
                .unwrap_or_default(),
            qualified: s.qualified,
        }
    }
}

impl From<&stakeholder::Model> for StakeholderCtx {
    fn from(s: &stakeholder::Model) -> Self {
        Self {
            name: s.name.clone(),
            first_name: first_name(&s.name, s.language.as_deref()),
            title: s.title.clone(),
            email: s.email.clone(),
            role: s.role.clone(),
            language: s.language.clone(),
            influence: s.influence,
        }
    }
}

/// The account's language: `attributes.language` when set, else by country (VN → vi).
pub fn account_language(a: &account::Model) -> Option<String> {
    if let Some(l) = a.attributes.get("language").and_then(|v| v.as_str()) {
        return Some(l.to_lowercase());
    }
    match a.country.as_deref().map(str::to_uppercase).as_deref() {
        Some("VN" | "VNM") => Some("vi".into()),
        Some("US" | "GB" | "AU" | "NZ" | "IE" | "CA" | "SG") => Some("en".into()),
        _ => None,
    }
}

/// Most ids one `IN (...)` list carries: a batch of recipients is loaded this many accounts at
/// a time.
pub const CHUNK: usize = 500;

/// Which account: by id (campaign steps) or by external id (the API, the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountKey {
    Id(i64),
    External(String),
}

impl std::fmt::Display for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountKey::Id(id) => write!(f, "#{id}"),
            AccountKey::External(e) => f.write_str(e),
        }
    }
}

/// Who content is for: an account and, optionally, one of its stakeholders (none: the account
/// as a whole, e.g. a webhook to the sales system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub account: AccountKey,
    /// A stakeholder id of that account.
    pub stakeholder: Option<i64>,
}

/// Everything selection and rendering read about one recipient.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub account: account::Model,
    pub stakeholder: Option<stakeholder::Model>,
    /// What `when` rules read: the account's facts (as segments see them) and the
    /// stakeholder's; the offer's are added per message.
    pub facts: Facts,
    /// The render context with the stakeholder; `locale`, `offer` and `event` are filled per
    /// message.
    pub context: Context,
}

/// One account's share of a batch, before a stakeholder is chosen.
struct AccountData {
    account: account::Model,
    /// Highest influence first.
    people: Vec<stakeholder::Model>,
    facts: Facts,
    context: Context,
}

/// Builds the facts and render context of every recipient, in order; a recipient whose account
/// does not exist is [`ContentError::AccountNotFound`], one whose stakeholder is not at that
/// account is [`ContentError::Invalid`] on `/stakeholder`.
///
/// The number of queries does not grow with the recipients of a chunk: for `n` distinct
/// accounts it is at most `4 + 14 × ⌈n / CHUNK⌉` — once per batch the latest analysis run and
/// the facts loader's managers, run and run totals; per chunk of [`CHUNK`] accounts one
/// `IN (...)` query each for accounts, profiles, relationship events, competitors,
/// stakeholders, managers and snapshots, and the facts loader's seven (accounts, snapshots,
/// profiles, competitors, history, roles, engagement events). Without an analysis run the snapshot queries and
/// the totals query are skipped, as is the managers query of a chunk whose accounts have none;
/// an empty batch runs no query. 200 accounts with a run: 17 queries, as for one account.
pub async fn prepare(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    recipients: &[Recipient],
) -> Result<Vec<Result<Prepared, ContentError>>, DbErr> {
    prepare_for(db, now, recipients, crate::segments::facts::Needs::all()).await
}

/// [`prepare`] with only the facts `needs` names loaded (every field of the render context is
/// still there): selection reads only what the templates' `when` rules use.
pub async fn prepare_for(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    recipients: &[Recipient],
    needs: crate::segments::facts::Needs,
) -> Result<Vec<Result<Prepared, ContentError>>, DbErr> {
    prepare_chunked_for(db, now, recipients, CHUNK, needs).await
}

/// [`prepare`] with `chunk` accounts per `IN (...)` list (tests use small chunks).
#[cfg(test)]
pub(crate) async fn prepare_chunked(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    recipients: &[Recipient],
    chunk: usize,
) -> Result<Vec<Result<Prepared, ContentError>>, DbErr> {
    prepare_chunked_for(
        db,
        now,
        recipients,
        chunk,
        crate::segments::facts::Needs::all(),
    )
    .await
}

async fn prepare_chunked_for(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    recipients: &[Recipient],
    chunk: usize,
    needs: crate::segments::facts::Needs,
) -> Result<Vec<Result<Prepared, ContentError>>, DbErr> {
    let chunk_size = chunk.max(1);
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<&AccountKey> = Vec::new();
    let mut seen = HashSet::new();
    for r in recipients {
        if seen.insert(&r.account) {
            keys.push(&r.account);
        }
    }
    let mut accounts: HashMap<i64, account::Model> = HashMap::new();
    for chunk in keys.chunks(chunk_size) {
        let ids: Vec<i64> = chunk
            .iter()
            .filter_map(|k| match k {
                AccountKey::Id(id) => Some(*id),
                AccountKey::External(_) => None,
            })
            .collect();
        let externals: Vec<&str> = chunk
            .iter()
            .filter_map(|k| match k {
                AccountKey::External(e) => Some(e.as_str()),
                AccountKey::Id(_) => None,
            })
            .collect();
        let mut wanted = Condition::any();
        if !ids.is_empty() {
            wanted = wanted.add(account::Column::Id.is_in(ids));
        }
        if !externals.is_empty() {
            wanted = wanted.add(account::Column::ExternalId.is_in(externals));
        }
        for a in account::Entity::find().filter(wanted).all(db).await? {
            accounts.insert(a.id, a);
        }
    }
    let by_external: HashMap<String, i64> = accounts
        .values()
        .map(|a| (a.external_id.clone(), a.id))
        .collect();

    let run = crate::segments::facts::latest_run(db).await?;
    let facts_loader = crate::segments::facts::Loader::new(db, now, needs).await?;
    let mut ids: Vec<i64> = accounts.keys().copied().collect();
    ids.sort_unstable();
    let mut loaded: HashMap<i64, AccountData> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(chunk_size) {
        load_chunk(
            db,
            now,
            chunk,
            run.as_ref().map(|r| r.id),
            &facts_loader,
            &mut accounts,
            &mut loaded,
        )
        .await?;
    }

    Ok(recipients
        .iter()
        .map(|r| {
            let id = match &r.account {
                AccountKey::Id(id) => Some(*id),
                AccountKey::External(e) => by_external.get(e).copied(),
            };
            let l = id
                .and_then(|id| loaded.get(&id))
                .ok_or_else(|| ContentError::AccountNotFound(r.account.to_string()))?;
            let person = match r.stakeholder {
                None => None,
                Some(sid) => {
                    let found = l.people.iter().find(|p| p.id == sid).cloned();
                    let missing = || {
                        ContentError::field(
                            "/stakeholder",
                            format!("no stakeholder {sid} at this account"),
                        )
                    };
                    Some(found.ok_or_else(missing)?)
                }
            };
            let mut facts = l.facts.clone();
            let mut context = l.context.clone();
            if let Some(p) = &person {
                facts.set("stakeholder.role", Some(p.role.clone()));
                facts.set("stakeholder.language", p.language.clone());
                facts.set("stakeholder.influence", Some(f64::from(p.influence)));
                facts.set("stakeholder.consent", Some(p.consent.clone()));
                context.stakeholder = Some(StakeholderCtx::from(p));
            }
            Ok(Prepared {
                account: l.account.clone(),
                stakeholder: person,
                facts,
                context,
            })
        })
        .collect())
}

/// Loads one chunk of accounts (ids sorted, at most [`CHUNK`]) into `loaded`.
async fn load_chunk(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    chunk: &[i64],
    run_id: Option<i64>,
    facts_loader: &crate::segments::facts::Loader,
    accounts: &mut HashMap<i64, account::Model>,
    loaded: &mut HashMap<i64, AccountData>,
) -> Result<(), DbErr> {
    let mut facts: HashMap<i64, Facts> = facts_loader
        .load(db, crate::segments::facts::Span::Ids(chunk))
        .await?
        .into_iter()
        .map(|f| (f.account_id, f.facts))
        .collect();
    let ids = || chunk.iter().copied();
    let mut profiles: HashMap<i64, dossier_profile::Model> = dossier_profile::Entity::find()
        .filter(dossier_profile::Column::AccountId.is_in(ids()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.account_id, p))
        .collect();
    let events = group(
        relationship_event::Entity::find()
            .filter(relationship_event::Column::AccountId.is_in(ids()))
            .order_by_desc(relationship_event::Column::OccurredOn)
            .order_by_desc(relationship_event::Column::Id)
            .all(db)
            .await?,
        |e| e.account_id,
    );
    let mut competitors = group(
        competitor::Entity::find()
            .filter(competitor::Column::AccountId.is_in(ids()))
            .order_by_asc(competitor::Column::Id)
            .all(db)
            .await?,
        |c| c.account_id,
    );
    let mut people = group(
        stakeholder::Entity::find()
            .filter(stakeholder::Column::AccountId.is_in(ids()))
            .order_by_desc(stakeholder::Column::Influence)
            .order_by_asc(stakeholder::Column::Id)
            .all(db)
            .await?,
        |p| p.account_id,
    );
    let manager_ids: HashSet<i64> = chunk
        .iter()
        .filter_map(|id| accounts.get(id)?.manager_id)
        .collect();
    let managers: HashMap<i64, manager::Model> = if manager_ids.is_empty() {
        HashMap::new()
    } else {
        manager::Entity::find()
            .filter(manager::Column::Id.is_in(manager_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect()
    };
    let mut snapshots: HashMap<i64, account_snapshot::Model> = HashMap::new();
    if let Some(run_id) = run_id {
        for s in account_snapshot::Entity::find()
            .filter(account_snapshot::Column::RunId.eq(run_id))
            .filter(account_snapshot::Column::AccountId.is_in(ids()))
            .all(db)
            .await?
        {
            snapshots.entry(s.account_id).or_insert(s);
        }
    }

    for &id in chunk {
        // An account deleted between the queries is left out: its recipients are not found.
        let (Some(a), Some(facts)) = (accounts.remove(&id), facts.remove(&id)) else {
            continue;
        };
        let tz: chrono_tz::Tz = a.timezone.parse().unwrap_or(chrono_tz::UTC);
        let today = now.with_timezone(&tz).date_naive();
        let events = events.get(&id).map(Vec::as_slice).unwrap_or_default();
        let rows = Rows {
            profile: profiles.remove(&id),
            events,
            competitors: competitors.remove(&id).unwrap_or_default(),
            people: people.get(&id).map(Vec::as_slice).unwrap_or_default(),
            manager: a.manager_id.and_then(|m| managers.get(&m)),
            snapshot: snapshots.get(&id),
        };
        let context = base_context(&a, today, rows);
        loaded.insert(
            id,
            AccountData {
                people: people.remove(&id).unwrap_or_default(),
                account: a,
                facts,
                context,
            },
        );
    }
    Ok(())
}

/// Rows by account, each list in query order.
fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = HashMap::new();
    for r in rows {
        out.entry(key(&r)).or_default().push(r);
    }
    out
}

/// One account's rows from its chunk's queries.
struct Rows<'a> {
    profile: Option<dossier_profile::Model>,
    /// Newest first.
    events: &'a [relationship_event::Model],
    competitors: Vec<competitor::Model>,
    /// Highest influence first.
    people: &'a [stakeholder::Model],
    manager: Option<&'a manager::Model>,
    snapshot: Option<&'a account_snapshot::Model>,
}

/// The context of one account with no stakeholder, locale, offer or event: plain data in,
/// plain data out.
fn base_context(a: &account::Model, today: NaiveDate, rows: Rows<'_>) -> Context {
    let Rows {
        profile,
        events,
        competitors,
        people,
        manager: mgr,
        snapshot,
    } = rows;
    let open_tenders = events
        .iter()
        .filter(|e| e.kind == "tender" && e.outcome.as_deref().is_none_or(|o| o == "pending"))
        .count() as u32;
    let last_outcome = events.iter().find(|e| e.outcome.is_some());
    let dossier = DossierCtx {
        profile: profile
            .map(|p| ProfileCtx {
                description: p.description,
                employees: p.employees,
                founded_year: p.founded_year,
                history: p.history,
                org_structure: p.org_structure,
                business_environment: p.business_environment,
            })
            .unwrap_or_default(),
        relationships: events
            .iter()
            .take(10)
            .map(|e| RelationshipCtx {
                kind: e.kind.clone(),
                occurred_on: e.occurred_on.to_string(),
                value: e.value_minor,
                outcome: e.outcome.clone(),
                reason: e.reason.clone(),
                notes: e.notes.clone(),
            })
            .collect(),
        competitors: competitors
            .into_iter()
            .map(|c| CompetitorCtx {
                name: c.name,
                products: c.products,
                strength: c.strength,
                notes: c.notes,
            })
            .collect(),
        decision_map: people
            .iter()
            .map(|p| PersonCtx {
                name: p.name.clone(),
                title: p.title.clone(),
                role: p.role.clone(),
                influence: p.influence,
                language: p.language.clone(),
            })
            .collect(),
        open_tenders,
        last_outcome: last_outcome.and_then(|e| e.outcome.clone()),
        last_outcome_reason: last_outcome.and_then(|e| e.reason.clone()),
    };
    Context {
        locale: String::new(),
        today: today.to_string(),
        account: AccountCtx {
            id: a.id,
            external_id: a.external_id.clone(),
            name: a.name.clone(),
            industry: a.industry.clone(),
            region: a.region.clone(),
            country: a.country.clone(),
            timezone: a.timezone.clone(),
            currency: a.currency.clone(),
            image_maker: a.image_maker,
            expert: a.expert,
            budget: a.budget_minor,
            attributes: a.attributes.clone(),
        },
        dossier,
        stakeholder: None,
        manager: mgr.map(|m| ManagerCtx {
            name: m.name.clone(),
            email: m.email.clone(),
            phone: m.phone.clone(),
        }),
        analytics: snapshot.map(AnalyticsCtx::from).unwrap_or_default(),
        offer: None,
        links: LinksCtx::placeholders(),
        event: None,
    }
}

/// Generated contexts for linting: a full one (every optional part present, hostile text
/// included) and a bare one (every optional part null, every list empty), per locale.
pub fn samples(locale: &str) -> Vec<(&'static str, Context)> {
    let full = Context {
        locale: locale.to_string(),
        today: "2026-11-27".into(),
        account: AccountCtx {
            id: 1,
            external_id: "ACME-001".into(),
            name: "Công ty <b>\"Đại Việt\"</b> & Co".into(),
            industry: Some("Manufacturing".into()),
            region: Some("Hà Nội".into()),
            country: Some("VN".into()),
            timezone: "Asia/Ho_Chi_Minh".into(),
            currency: "VND".into(),
            image_maker: true,
            expert: true,
            budget: Some(500_000_000),
            attributes: serde_json::json!({"tier": "gold"}),
        },
        dossier: DossierCtx {
            profile: ProfileCtx {
                description: Some("Steel structures for industrial parks".into()),
                employees: Some(850),
                founded_year: Some(1998),
                history: Some("Customer since 2019".into()),
                org_structure: Some("Board, purchasing, engineering".into()),
                business_environment: Some("Growing demand in the north".into()),
            },
            relationships: vec![RelationshipCtx {
                kind: "tender".into(),
                occurred_on: "2026-09-15".into(),
                value: Some(1_200_000_000),
                outcome: Some("lost".into()),
                reason: Some("price 8 % above the winner".into()),
                notes: Some("Competitor offered 60-day terms".into()),
            }],
            competitors: vec![CompetitorCtx {
                name: "Hòa Phát".into(),
                products: Some("Steel beams".into()),
                strength: Some(4),
                notes: None,
            }],
            decision_map: vec![PersonCtx {
                name: "Nguyễn Thị Lan".into(),
                title: Some("Purchasing director".into()),
                role: "decision_maker".into(),
                influence: 5,
                language: Some("vi".into()),
            }],
            open_tenders: 1,
            last_outcome: Some("lost".into()),
            last_outcome_reason: Some("price".into()),
        },
        stakeholder: Some(StakeholderCtx {
            name: "Nguyễn Thị Lan".into(),
            first_name: "Lan".into(),
            title: Some("Purchasing director".into()),
            email: Some("lan@example.vn".into()),
            role: "decision_maker".into(),
            language: Some(locale.to_string()),
            influence: 5,
        }),
        manager: Some(ManagerCtx {
            name: "Trần \"Minh\" \\ Sales".into(),
            email: "minh@supplier.example".into(),
            phone: Some("+84 90 000 0000".into()),
        }),
        analytics: AnalyticsCtx {
            abc: Some("A".into()),
            xyz: Some("Y".into()),
            cell: Some("AY".into()),
            types: vec!["pillar".into(), "expert".into()],
            revenue: 2_450_000_000,
            profit: Some(610_000_000),
            value_share: Some(0.125),
            orders: 42,
            first_order_at: Some("2019-04-02".into()),
            last_order_at: Some("2026-06-30".into()),
            days_since_last_order: Some(150),
            median_interval_days: Some(21.0),
            p_alive: Some(0.18),
            expected_purchases: Some(0.4),
            lost: true,
            lost_reason: Some(
                "lost: 150 days since last order > 3 × median interval 21 days".into(),
            ),
            three_p_score: Some(1),
            three_p_missing: vec!["need".into(), "payment".into()],
            qualified: Some(false),
        },
        offer: Some(OfferCtx {
            code: Some("WINBACK10".into()),
            kind: crate::domain::kinds::OfferKind::Discount,
            discount_percent: Some(10.0),
            amount: None,
            gift: Some("A site visit by our engineers".into()),
            terms: Some("60-day payment terms".into()),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31),
            expires_on: NaiveDate::from_ymd_opt(2026, 12, 31),
            description: Some("10 % off the next order".into()),
        }),
        links: LinksCtx::placeholders(),
        event: Some(EventCtx {
            kind: "reply".into(),
            occurred_at: chrono::DateTime::from_timestamp(1_795_768_200, 0).unwrap_or_default(),
            summary: Some("Replied: \"Call me next week\"".into()),
            details: serde_json::json!({"channel": "email"}),
        }),
    };
    let mut bare = full.clone();
    bare.account.industry = None;
    bare.account.region = None;
    bare.account.country = None;
    bare.account.budget = None;
    bare.account.image_maker = false;
    bare.account.expert = false;
    bare.account.currency = "USD".into();
    bare.account.attributes = serde_json::json!({});
    bare.dossier = DossierCtx::default();
    bare.stakeholder = None;
    bare.manager = None;
    bare.analytics = AnalyticsCtx::default();
    bare.offer = None;
    bare.event = None;
    vec![("full", full), ("bare", bare)]
}
