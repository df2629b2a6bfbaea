//! Gathers the facts rules read about accounts: the account row, its dossier, the latest
//! succeeded analysis run's snapshot and the roles of its stakeholders. Loading all accounts
//! reads each table once (selected columns only), so membership for 100,000 accounts is a
//! handful of queries.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::Currency;
use crate::entities::{
    account, account_snapshot, analysis_run, competitor, dossier_profile, manager,
    relationship_event, stakeholder,
};
use crate::segments::rules::{FactValue, Facts};

/// One account's facts, with what lists and previews show of it.
#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub account_id: i64,
    pub external_id: String,
    pub name: String,
    pub facts: Facts,
}

/// Which tables a set of rules reads: loading for a segment recomputation skips the others
/// (the built-in segments only need the latest snapshots).
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub managers: bool,
    pub profiles: bool,
    pub competitors: bool,
    pub history: bool,
    pub roles: bool,
    pub snapshots: bool,
    /// Events: the engagement score and the latest responses.
    pub engagement: bool,
}

impl Needs {
    /// Everything (one account's preview, template selection).
    pub fn all() -> Self {
        Self {
            managers: true,
            profiles: true,
            competitors: true,
            history: true,
            roles: true,
            snapshots: true,
            engagement: true,
        }
    }

    /// What `rules` read.
    pub fn of<'a>(rules: impl IntoIterator<Item = &'a crate::segments::rules::Rule>) -> Self {
        let mut n = Self::default();
        for field in rules.into_iter().flat_map(|r| r.fields()) {
            match field {
                "manager" => n.managers = true,
                "employees" | "founded_year" => n.profiles = true,
                "competitor_present" | "competitors" => n.competitors = true,
                "last_outcome"
                | "last_outcome_reason"
                | "last_relationship_kind"
                | "last_relationship_at"
                | "open_tenders" => n.history = true,
                "stakeholders" => n.roles = true,
                "engagement_score" | "last_opened_at" | "last_clicked_at" | "last_replied_at" => {
                    n.engagement = true
                }
                f => {
                    if crate::segments::rules::fields::index_of(f).is_some_and(|i| {
                        crate::segments::rules::fields::FIELDS[i].scope
                            == crate::segments::rules::fields::Scope::Analytics
                    }) {
                        n.snapshots = true;
                    }
                }
            }
        }
        n
    }
}

/// The figures of a snapshot that rules read (not the long explanations).
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
struct SnapshotFacts {
    account_id: i64,
    currency: String,
    revenue: i64,
    profit: Option<i64>,
    value_share: Option<f64>,
    abc: Option<String>,
    xyz: Option<String>,
    cv: Option<f64>,
    orders: i32,
    first_order_at: Option<NaiveDate>,
    last_order_at: Option<NaiveDate>,
    days_since_last_order: Option<i32>,
    types: String,
    three_p_score: Option<i16>,
    three_p_missing: Option<String>,
    qualified: Option<bool>,
    lost: bool,
    p_alive: Option<f64>,
    expected_purchases: Option<f64>,
}

/// Amount in minor units → major units of `currency`.
fn major(minor: i64, currency: &str) -> f64 {
    let exp = Currency::parse(currency).map(|c| c.exponent()).unwrap_or(2);
    minor as f64 / 10f64.powi(exp as i32)
}

/// The latest succeeded analysis run, if any: the one whose snapshots rules read (for
/// `content::context`). The query is analytics' own
/// ([`crate::analytics::service::latest_succeeded`]).
pub async fn latest_run(db: &impl ConnectionTrait) -> Result<Option<analysis_run::Model>, DbErr> {
    crate::analytics::service::latest_succeeded(db, None).await
}

/// Which accounts to load.
#[derive(Debug, Clone, Copy)]
pub enum Span<'a> {
    All,
    Ids(&'a [i64]),
    /// Account ids from..=to.
    Range(i64, i64),
}

fn within<C: ColumnTrait>(col: C, span: Span<'_>) -> sea_orm::Condition {
    let c = sea_orm::Condition::all();
    match span {
        Span::All => c,
        Span::Ids(ids) => c.add(col.is_in(ids.iter().copied())),
        Span::Range(from, to) => c.add(col.between(from, to)),
    }
}

/// Ranges of about `size` account ids, to load all accounts a slice at a time.
pub async fn id_ranges(db: &impl ConnectionTrait, size: usize) -> Result<Vec<(i64, i64)>, DbErr> {
    let ids: Vec<i64> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .order_by_asc(account::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids
        .chunks(size.max(1))
        .filter_map(|c| Some((*c.first()?, *c.last()?)))
        .collect())
}

/// Facts of the accounts in `span` (all of them, or a few), from the tables in `needs`.
pub async fn load(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    span: Span<'_>,
    needs: Needs,
) -> Result<Vec<AccountFacts>, DbErr> {
    Loader::new(db, now, needs).await?.load(db, span).await
}

/// What is read once for many slices: managers, the latest run and its totals.
pub struct Loader {
    /// `within_days` counts from this instant's date in each account's timezone.
    now: DateTime<Utc>,
    needs: Needs,
    managers: HashMap<i64, String>,
    run_id: Option<i64>,
    revenue_total: f64,
    profit_total: f64,
    profits_known: bool,
}

impl Loader {
    pub async fn new(
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
        needs: Needs,
    ) -> Result<Self, DbErr> {
        let managers: HashMap<i64, String> = if needs.managers {
            manager::Entity::find()
                .select_only()
                .columns([manager::Column::Id, manager::Column::Email])
                .into_tuple::<(i64, String)>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let mut loader = Self {
            now,
            needs,
            managers,
            run_id: None,
            revenue_total: 0.0,
            profit_total: 0.0,
            profits_known: false,
        };
        if needs.snapshots
            && let Some(run) = crate::analytics::service::latest_succeeded(db, None).await?
        {
            loader.run_id = Some(run.id);
            // Totals over the whole run, for shares (summed by the database; plain SQL that
            // both backends read alike, the run id bound by the query builder). Summed as
            // floating point: SQLite fails a query whose integer SUM overflows, so one
            // account's huge figures would break every account's facts.
            use sea_orm::sea_query::Expr;
            let totals: Option<(f64, f64, i64)> = account_snapshot::Entity::find()
                .filter(account_snapshot::Column::RunId.eq(run.id))
                .select_only()
                .column_as(
                    Expr::cust(
                        "CAST(COALESCE(SUM(CAST(CASE WHEN revenue > 0 THEN revenue ELSE 0 END \
                         AS DOUBLE PRECISION)), 0) AS DOUBLE PRECISION)",
                    ),
                    "revenue_total",
                )
                .column_as(
                    Expr::cust(
                        "CAST(COALESCE(SUM(CAST(CASE WHEN profit > 0 THEN profit ELSE 0 END \
                         AS DOUBLE PRECISION)), 0) AS DOUBLE PRECISION)",
                    ),
                    "profit_total",
                )
                .column_as(Expr::cust("COUNT(profit)"), "profits")
                .into_tuple()
                .one(db)
                .await?;
            if let Some((revenue, profit, profits)) = totals {
                loader.revenue_total = revenue;
                loader.profit_total = profit;
                loader.profits_known = profits > 0;
            }
        }
        Ok(loader)
    }

    /// Facts of the accounts in `span`.
    pub async fn load(
        &self,
        db: &impl ConnectionTrait,
        span: Span<'_>,
    ) -> Result<Vec<AccountFacts>, DbErr> {
        let (now, needs, managers) = (self.now, self.needs, &self.managers);
        let (revenue_total, profit_total, profits_known) =
            (self.revenue_total, self.profit_total, self.profits_known);
        let accounts = account::Entity::find()
            .filter(within(account::Column::Id, span))
            .order_by_asc(account::Column::Id)
            .all(db)
            .await?;
        let mut engagement = if needs.engagement {
            let ids: Vec<i64> = accounts.iter().map(|a| a.id).collect();
            crate::tracking::engagement::summaries(
                db,
                &crate::tracking::engagement::current(),
                &ids,
                now,
            )
            .await?
        } else {
            HashMap::new()
        };
        let mut snapshots: HashMap<i64, SnapshotFacts> = HashMap::new();
        if let Some(run_id) = self.run_id {
            use account_snapshot::Column as C;
            let mut q = account_snapshot::Entity::find()
                .filter(C::RunId.eq(run_id))
                .select_only()
                .columns([
                    C::AccountId,
                    C::Currency,
                    C::Revenue,
                    C::Profit,
                    C::ValueShare,
                    C::Abc,
                    C::Xyz,
                    C::Cv,
                    C::Orders,
                    C::FirstOrderAt,
                    C::LastOrderAt,
                    C::DaysSinceLastOrder,
                    C::Types,
                    C::ThreePScore,
                    C::ThreePMissing,
                    C::Qualified,
                    C::Lost,
                    C::PAlive,
                    C::ExpectedPurchases,
                ]);
            q = q.filter(within(C::AccountId, span));
            for s in q.into_model::<SnapshotFacts>().all(db).await? {
                snapshots.insert(s.account_id, s);
            }
        }

        let mut profiles: HashMap<i64, (Option<i32>, Option<i32>)> = HashMap::new();
        if needs.profiles {
            let mut q = dossier_profile::Entity::find().select_only().columns([
                dossier_profile::Column::AccountId,
                dossier_profile::Column::Employees,
                dossier_profile::Column::FoundedYear,
            ]);
            q = q.filter(within(dossier_profile::Column::AccountId, span));
            for (id, employees, founded) in q
                .into_tuple::<(i64, Option<i32>, Option<i32>)>()
                .all(db)
                .await?
            {
                profiles.insert(id, (employees, founded));
            }
        }

        let mut competitors: HashMap<i64, Vec<String>> = HashMap::new();
        if needs.competitors {
            let mut q = competitor::Entity::find()
                .select_only()
                .columns([competitor::Column::AccountId, competitor::Column::Name])
                .order_by_asc(competitor::Column::Id);
            q = q.filter(within(competitor::Column::AccountId, span));
            for (id, name) in q.into_tuple::<(i64, String)>().all(db).await? {
                competitors.entry(id).or_default().push(name);
            }
        }

        /// Latest entry, latest entry with an outcome, open tenders.
        #[derive(Default)]
        struct History {
            last_kind: Option<String>,
            last_at: Option<NaiveDate>,
            outcome: Option<(String, Option<String>)>,
            open_tenders: u32,
        }
        let mut history: HashMap<i64, History> = HashMap::new();
        if needs.history {
            let mut q = relationship_event::Entity::find()
                .select_only()
                .columns([
                    relationship_event::Column::AccountId,
                    relationship_event::Column::Kind,
                    relationship_event::Column::OccurredOn,
                    relationship_event::Column::Outcome,
                    relationship_event::Column::Reason,
                ])
                .order_by_asc(relationship_event::Column::OccurredOn)
                .order_by_asc(relationship_event::Column::Id);
            q = q.filter(within(relationship_event::Column::AccountId, span));
            let rows = q
                .into_tuple::<(i64, String, NaiveDate, Option<String>, Option<String>)>()
                .all(db)
                .await?;
            for (id, kind, on, outcome, reason) in rows {
                let h = history.entry(id).or_default();
                if kind == "tender" && outcome.as_deref().is_none_or(|o| o == "pending") {
                    h.open_tenders += 1;
                }
                if let Some(o) = outcome {
                    h.outcome = Some((o, reason));
                }
                h.last_kind = Some(kind);
                h.last_at = Some(on);
            }
        }

        let mut roles: HashMap<i64, Vec<String>> = HashMap::new();
        if needs.roles {
            let mut q = stakeholder::Entity::find()
                .select_only()
                .columns([stakeholder::Column::AccountId, stakeholder::Column::Role])
                .distinct();
            q = q.filter(within(stakeholder::Column::AccountId, span));
            for (id, role) in q.into_tuple::<(i64, String)>().all(db).await? {
                let list = roles.entry(id).or_default();
                if !list.contains(&role) {
                    list.push(role);
                }
            }
        }

        let share = |v: Option<i64>, total: f64| -> FactValue {
            match v {
                Some(v) if total > 0.0 => FactValue::Num(v.max(0) as f64 / total),
                _ => FactValue::Null,
            }
        };
        Ok(accounts
            .into_iter()
            .map(|a| {
                let tz: chrono_tz::Tz = a.timezone.parse().unwrap_or(chrono_tz::UTC);
                let mut f = Facts::new(now.with_timezone(&tz).date_naive());
                f.set("name", Some(a.name.clone()));
                f.set("external_id", Some(a.external_id.clone()));
                f.set("industry", a.industry.clone());
                f.set("region", a.region.clone());
                f.set("country", a.country.clone());
                f.set("currency", Some(a.currency.clone()));
                f.set("timezone", Some(a.timezone.clone()));
                f.set(
                    "manager",
                    a.manager_id.and_then(|m| managers.get(&m).cloned()),
                );
                f.set("image_maker", a.image_maker);
                f.set("expert", a.expert);
                f.set("budget", a.budget_minor.map(|b| major(b, &a.currency)));
                f.set(
                    "created_at",
                    Some(a.created_at.with_timezone(&tz).date_naive()),
                );
                if let serde_json::Value::Object(attrs) = &a.attributes {
                    f.attributes = attrs.clone();
                }
                if let Some((employees, founded)) = profiles.get(&a.id) {
                    f.set("employees", employees.map(f64::from));
                    f.set("founded_year", founded.map(f64::from));
                }
                let comps = competitors.remove(&a.id).unwrap_or_default();
                f.set("competitor_present", !comps.is_empty());
                f.set("competitors", FactValue::List(comps));
                let h = history.remove(&a.id).unwrap_or_default();
                f.set("last_relationship_kind", h.last_kind);
                f.set("last_relationship_at", h.last_at);
                f.set("open_tenders", Some(f64::from(h.open_tenders)));
                if let Some((outcome, reason)) = h.outcome {
                    f.set("last_outcome", Some(outcome));
                    f.set("last_outcome_reason", reason);
                }
                f.roles = roles.remove(&a.id).unwrap_or_default();
                if needs.engagement {
                    let e = engagement.remove(&a.id).unwrap_or_default();
                    f.set("engagement_score", Some((e.score * 100.0).round() / 100.0));
                    f.set("last_opened_at", e.last_opened);
                    f.set("last_clicked_at", e.last_clicked);
                    f.set("last_replied_at", e.last_replied);
                }
                if let Some(s) = snapshots.remove(&a.id) {
                    set_snapshot(&mut f, &s);
                    f.set("value_share", s.value_share);
                    f.set(
                        "profit_share",
                        if profits_known {
                            share(s.profit, profit_total)
                        } else {
                            share(Some(s.revenue), revenue_total)
                        },
                    );
                }
                AccountFacts {
                    account_id: a.id,
                    external_id: a.external_id,
                    name: a.name,
                    facts: f,
                }
            })
            .collect())
    }
}

fn set_snapshot(f: &mut Facts, s: &SnapshotFacts) {
    let cur = s.currency.as_str();
    f.set("abc", s.abc.clone());
    f.set("xyz", s.xyz.clone());
    let types: Vec<String> = s
        .types
        .split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    f.set("types", FactValue::List(types));
    f.set("revenue", Some(major(s.revenue, cur)));
    f.set("profit", s.profit.map(|p| major(p, cur)));
    f.set("orders", Some(f64::from(s.orders)));
    f.set("first_order_at", s.first_order_at);
    f.set("last_order_at", s.last_order_at);
    f.set(
        "days_since_last_order",
        s.days_since_last_order.map(f64::from),
    );
    f.set("cv", s.cv);
    f.set("p_alive", s.p_alive);
    f.set("expected_purchases", s.expected_purchases);
    f.set("lost", s.lost);
    f.set("three_p_score", s.three_p_score.map(f64::from));
    let missing: Vec<String> = s
        .three_p_missing
        .as_deref()
        .unwrap_or("")
        .split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    f.set("three_p_missing", FactValue::List(missing));
    f.set(
        "qualified",
        s.qualified.map(FactValue::Bool).unwrap_or_default(),
    );
}
