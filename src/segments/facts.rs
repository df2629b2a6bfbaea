//! Gathers the facts rules read about accounts: the account row, its dossier, the latest
//! succeeded analysis run's snapshot and the roles of its stakeholders. Loading all accounts
//! reads each table once (selected columns only), so membership for 100,000 accounts is a
//! handful of queries.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::Currency;
use crate::entities::{
    account, account_snapshot, analysis_run, competitor, dossier_profile, manager,
    relationship_event, stakeholder,
};
use crate::rules::{FactValue, Facts};

/// One account's facts, with what lists and previews show of it.
#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub account_id: i64,
    pub external_id: String,
    pub name: String,
    pub facts: Facts,
}

/// Amount in minor units → major units of `currency`.
fn major(minor: i64, currency: &str) -> f64 {
    let exp = Currency::parse(currency).map(|c| c.exponent()).unwrap_or(2);
    minor as f64 / 10f64.powi(exp as i32)
}

/// The latest succeeded analysis run, if any.
pub async fn latest_run(db: &impl ConnectionTrait) -> Result<Option<analysis_run::Model>, DbErr> {
    analysis_run::Entity::find()
        .filter(analysis_run::Column::Status.eq("succeeded"))
        .order_by_desc(analysis_run::Column::Id)
        .one(db)
        .await
}

/// Facts of every account (`only`: just these accounts).
pub async fn load(
    db: &impl ConnectionTrait,
    today: NaiveDate,
    only: Option<&[i64]>,
) -> Result<Vec<AccountFacts>, DbErr> {
    let mut accounts = account::Entity::find().order_by_asc(account::Column::Id);
    if let Some(ids) = only {
        accounts = accounts.filter(account::Column::Id.is_in(ids.iter().copied()));
    }
    let accounts = accounts.all(db).await?;
    let ids: Option<Vec<i64>> = only.map(<[i64]>::to_vec);

    let managers: HashMap<i64, String> = manager::Entity::find()
        .select_only()
        .columns([manager::Column::Id, manager::Column::Email])
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();

    let mut snapshots: HashMap<i64, account_snapshot::Model> = HashMap::new();
    let mut profit_total = 0i128;
    let mut revenue_total = 0i128;
    let mut profits_known = false;
    if let Some(run) = latest_run(db).await? {
        // Totals over the whole run (for shares), even when only some accounts are loaded.
        let totals: Vec<(i64, Option<i64>)> = account_snapshot::Entity::find()
            .filter(account_snapshot::Column::RunId.eq(run.id))
            .select_only()
            .columns([
                account_snapshot::Column::Revenue,
                account_snapshot::Column::Profit,
            ])
            .into_tuple()
            .all(db)
            .await?;
        for (revenue, profit) in totals {
            revenue_total += i128::from(revenue.max(0));
            if let Some(p) = profit {
                profits_known = true;
                profit_total += i128::from(p.max(0));
            }
        }
        let mut q =
            account_snapshot::Entity::find().filter(account_snapshot::Column::RunId.eq(run.id));
        if let Some(ids) = &ids {
            q = q.filter(account_snapshot::Column::AccountId.is_in(ids.iter().copied()));
        }
        for s in q.all(db).await? {
            snapshots.insert(s.account_id, s);
        }
    }

    let mut profiles: HashMap<i64, (Option<i32>, Option<i32>)> = HashMap::new();
    {
        let mut q = dossier_profile::Entity::find().select_only().columns([
            dossier_profile::Column::AccountId,
            dossier_profile::Column::Employees,
            dossier_profile::Column::FoundedYear,
        ]);
        if let Some(ids) = &ids {
            q = q.filter(dossier_profile::Column::AccountId.is_in(ids.iter().copied()));
        }
        for (id, employees, founded) in q
            .into_tuple::<(i64, Option<i32>, Option<i32>)>()
            .all(db)
            .await?
        {
            profiles.insert(id, (employees, founded));
        }
    }

    let mut competitors: HashMap<i64, Vec<String>> = HashMap::new();
    {
        let mut q = competitor::Entity::find()
            .select_only()
            .columns([competitor::Column::AccountId, competitor::Column::Name])
            .order_by_asc(competitor::Column::Id);
        if let Some(ids) = &ids {
            q = q.filter(competitor::Column::AccountId.is_in(ids.iter().copied()));
        }
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
    {
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
        if let Some(ids) = &ids {
            q = q.filter(relationship_event::Column::AccountId.is_in(ids.iter().copied()));
        }
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
    {
        let mut q = stakeholder::Entity::find()
            .select_only()
            .columns([stakeholder::Column::AccountId, stakeholder::Column::Role]);
        if let Some(ids) = &ids {
            q = q.filter(stakeholder::Column::AccountId.is_in(ids.iter().copied()));
        }
        for (id, role) in q.into_tuple::<(i64, String)>().all(db).await? {
            let list = roles.entry(id).or_default();
            if !list.contains(&role) {
                list.push(role);
            }
        }
    }

    let share = |v: Option<i64>, total: i128| -> FactValue {
        match v {
            Some(v) if total > 0 => FactValue::Num(v.max(0) as f64 / total as f64),
            _ => FactValue::Null,
        }
    };
    Ok(accounts
        .into_iter()
        .map(|a| {
            let mut f = Facts::new(today);
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
            f.set("created_at", Some(a.created_at.date_naive()));
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

fn set_snapshot(f: &mut Facts, s: &account_snapshot::Model) {
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
