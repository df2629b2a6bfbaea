//! The typed render context. Every key is always present (absent values are `null`, lists may
//! be empty), so Handlebars' strict mode only catches names that do not exist: typos.

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::entities::{
    account, account_snapshot, competitor, dossier_profile, manager, relationship_event,
    stakeholder,
};

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileCtx {
    pub description: Option<String>,
    pub employees: Option<i32>,
    pub founded_year: Option<i32>,
    pub history: Option<String>,
    pub org_structure: Option<String>,
    pub business_environment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelationshipCtx {
    pub kind: String,
    pub occurred_on: String,
    pub value: Option<i64>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompetitorCtx {
    pub name: String,
    pub products: Option<String>,
    pub strength: Option<i16>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PersonCtx {
    pub name: String,
    pub title: Option<String>,
    pub role: String,
    pub influence: i16,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct StakeholderCtx {
    pub name: String,
    pub first_name: String,
    pub title: Option<String>,
    pub email: Option<String>,
    pub role: String,
    pub language: Option<String>,
    pub influence: i16,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagerCtx {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferCtx {
    #[serde(default)]
    pub code: Option<String>,
    /// `discount`, `gift` or `terms`.
    pub kind: String,
    #[serde(default, serialize_with = "whole")]
    pub discount_percent: Option<f64>,
    #[serde(default)]
    pub gift: Option<String>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Builds the context for one account (and stakeholder) from the database.
pub async fn build(
    db: &DatabaseConnection,
    a: &account::Model,
    person: Option<&stakeholder::Model>,
    today: NaiveDate,
) -> Result<Context, sea_orm::DbErr> {
    let profile = dossier_profile::Entity::find_by_id(a.id).one(db).await?;
    let events = relationship_event::Entity::find()
        .filter(relationship_event::Column::AccountId.eq(a.id))
        .order_by_desc(relationship_event::Column::OccurredOn)
        .order_by_desc(relationship_event::Column::Id)
        .all(db)
        .await?;
    let competitors = competitor::Entity::find()
        .filter(competitor::Column::AccountId.eq(a.id))
        .order_by_asc(competitor::Column::Id)
        .all(db)
        .await?;
    let people = stakeholder::Entity::find()
        .filter(stakeholder::Column::AccountId.eq(a.id))
        .order_by_desc(stakeholder::Column::Influence)
        .order_by_asc(stakeholder::Column::Id)
        .all(db)
        .await?;
    let mgr = match a.manager_id {
        Some(id) => manager::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let snapshot = match crate::segments::facts::latest_run(db).await? {
        Some(run) => {
            account_snapshot::Entity::find()
                .filter(account_snapshot::Column::RunId.eq(run.id))
                .filter(account_snapshot::Column::AccountId.eq(a.id))
                .limit(1)
                .one(db)
                .await?
        }
        None => None,
    };
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
    Ok(Context {
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
        stakeholder: person.map(StakeholderCtx::from),
        manager: mgr.map(|m| ManagerCtx {
            name: m.name,
            email: m.email,
            phone: m.phone,
        }),
        analytics: snapshot
            .as_ref()
            .map(AnalyticsCtx::from)
            .unwrap_or_default(),
        offer: None,
        links: LinksCtx::placeholders(),
        event: None,
    })
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
            kind: "discount".into(),
            discount_percent: Some(10.0),
            gift: Some("A site visit by our engineers".into()),
            terms: Some("60-day payment terms".into()),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31),
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
