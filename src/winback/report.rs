//! The win-back report: per month and group, accounts lost (and added by hand), contacted by
//! win-back campaigns, responding, redeeming offers and recovered; the revenue recovered, what
//! the offers cost and their return. One currency market at a time (values are not converted).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Query as SqlQuery;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::model::format_money;
use crate::analytics::report::{ChurnDirection, account_groups};
use crate::campaigns::model::{MessageStatus, TaskStatus};
use crate::config::WinbackSettings;
use crate::entities::{
    account, account_class_event, enrolment, event, message, offer, order, task, winback_recovery,
};
use crate::error::ApiError;
use crate::events::EventKind;

/// What the report is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The account's ABC-XYZ cell in the latest succeeded run.
    Cell,
    Industry,
    Region,
    Manager,
    /// The win-back campaign (`(none)` for work outside one).
    Campaign,
}

impl By {
    /// The `by` parameter; blank means no split.
    pub fn parse(raw: &str) -> Result<Option<By>, String> {
        Ok(Some(match raw.trim() {
            "" => return Ok(None),
            "cell" => By::Cell,
            "industry" => By::Industry,
            "region" => By::Region,
            "manager" => By::Manager,
            "campaign" => By::Campaign,
            other => {
                return Err(format!(
                    "`{}` is not one of: cell, industry, region, manager, campaign",
                    crate::domain::shorten(other, 40)
                ));
            }
        }))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            By::Cell => "cell",
            By::Industry => "industry",
            By::Region => "region",
            By::Manager => "manager",
            By::Campaign => "campaign",
        }
    }
}

/// Which part of the win-back work the report covers.
#[derive(Debug, Clone)]
pub struct ReportParams {
    pub currency: String,
    /// First day (UTC), inclusive.
    pub from: NaiveDate,
    /// Last day (UTC), inclusive.
    pub to: NaiveDate,
    pub by: Option<By>,
}

/// The longest period a report covers, in days.
pub const MAX_DAYS: i64 = 3660;

impl ReportParams {
    /// Reads `from`, `to` (dates; default: the 12 months up to today) and `by`; every bad
    /// parameter named.
    pub fn parse(
        currency: String,
        from: Option<&str>,
        to: Option<&str>,
        by: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, ApiError> {
        let date = |name: &str, raw: Option<&str>| {
            raw.map(|r| crate::domain::parse_date(r).map_err(|e| ApiError::field(name, e)))
                .transpose()
        };
        let to = date("to", to)?.unwrap_or(today);
        let from = match date("from", from)? {
            Some(f) => f,
            None => to
                .checked_sub_months(chrono::Months::new(12))
                .and_then(|d| d.succ_opt())
                .unwrap_or(to),
        };
        if from > to {
            return Err(ApiError::field("from", "must not be after `to`"));
        }
        if (to - from).num_days() > MAX_DAYS {
            return Err(ApiError::field(
                "to",
                format!("a report covers at most {MAX_DAYS} days"),
            ));
        }
        let by = by
            .map(By::parse)
            .transpose()
            .map_err(|e| ApiError::field("by", e))?
            .flatten();
        Ok(ReportParams {
            currency,
            from,
            to,
            by,
        })
    }

    fn start(&self) -> DateTime<Utc> {
        self.from.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    fn end(&self) -> DateTime<Utc> {
        self.to
            .succ_opt()
            .unwrap_or(self.to)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    }
}

/// One month and group of the report (or the total: no month, group `all`).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReportRow {
    /// `YYYY-MM`; `null` in the total.
    pub month: Option<String>,
    /// The group (`all` without `by`).
    pub group: String,
    /// Accounts an analysis run found lost (`became_lost`).
    pub lost: u64,
    /// Accounts a manager added to win-back by hand.
    pub added_by_hand: u64,
    /// Accounts a win-back campaign reached (a message sent or a task done), counted in the
    /// month of their first contact.
    pub contacted: u64,
    /// Accounts that answered a win-back campaign (replied, booked a meeting, took a call,
    /// clicked, redeemed), in the month of their first response.
    pub responded: u64,
    /// Offer codes redeemed.
    pub redeemed: u64,
    /// Accounts recovered (a lost or hand-added account ordered again).
    pub recovered: u64,
    pub recovered_by_offer: u64,
    pub recovered_by_touch: u64,
    /// Orders of the recovered accounts from the recovering order to the end of the period
    /// (decimal string in the report's currency).
    pub recovered_revenue: String,
    /// The part of `recovered_revenue` from recoveries attributed to an offer.
    pub revenue_from_offers: String,
    /// Discounts given by redeemed discount codes.
    pub discounts_given: String,
    /// Cost of the gifts redeemed (each offer's `gift_cost`).
    pub gift_cost: String,
    /// `discounts_given` + `gift_cost`.
    pub offer_cost: String,
    /// (`revenue_from_offers` − `offer_cost`) / `offer_cost`; `null` when nothing was spent.
    pub return_on_offers: Option<f64>,
}

/// A recovery of the period, with what it is attributed to and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoveryView {
    /// The account's external id.
    pub account_id: String,
    pub group: String,
    pub lost_since: DateTime<Utc>,
    pub by_hand: bool,
    pub recovered_at: DateTime<Utc>,
    /// The order that recovered it (its external id) and its amount.
    pub order_id: String,
    pub amount: String,
    /// Orders from the recovering one to the end of the period.
    pub revenue: String,
    /// `offer`, `touch` or `none`.
    pub attributed_to: String,
    /// The win-back campaign (its key), when attributed to one.
    pub campaign: Option<String>,
    /// The offer redeemed (its key).
    pub offer: Option<String>,
    pub reason: String,
}

/// The win-back report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WinbackReport {
    pub currency: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `cell`, `industry`, `region`, `manager`, `campaign`; `null` without a split.
    pub by: Option<String>,
    /// Per month and group, oldest month first.
    pub rows: Vec<ReportRow>,
    pub total: ReportRow,
    /// The recoveries of the period, newest first.
    pub recoveries: Vec<RecoveryView>,
}

/// Sums in minor units while the report is built.
#[derive(Default)]
struct Acc {
    lost: u64,
    added_by_hand: u64,
    contacted: u64,
    responded: u64,
    redeemed: u64,
    recovered: u64,
    by_offer: u64,
    by_touch: u64,
    revenue: i128,
    offer_revenue: i128,
    discounts: i128,
    gifts: i128,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.lost += o.lost;
        self.added_by_hand += o.added_by_hand;
        self.contacted += o.contacted;
        self.responded += o.responded;
        self.redeemed += o.redeemed;
        self.recovered += o.recovered;
        self.by_offer += o.by_offer;
        self.by_touch += o.by_touch;
        self.revenue += o.revenue;
        self.offer_revenue += o.offer_revenue;
        self.discounts += o.discounts;
        self.gifts += o.gifts;
    }

    fn row(&self, currency: &str, month: Option<String>, group: String) -> ReportRow {
        let money = |v: i128| crate::accounts::model::format_total(currency, v);
        let cost = self.discounts + self.gifts;
        ReportRow {
            month,
            group,
            lost: self.lost,
            added_by_hand: self.added_by_hand,
            contacted: self.contacted,
            responded: self.responded,
            redeemed: self.redeemed,
            recovered: self.recovered,
            recovered_by_offer: self.by_offer,
            recovered_by_touch: self.by_touch,
            recovered_revenue: money(self.revenue),
            revenue_from_offers: money(self.offer_revenue),
            discounts_given: money(self.discounts),
            gift_cost: money(self.gifts),
            offer_cost: money(cost),
            return_on_offers: (cost > 0).then(|| {
                let r = (self.offer_revenue - cost) as f64 / cost as f64;
                (r * 10_000.0).round() / 10_000.0
            }),
        }
    }
}

/// Accounts of the currency market, as a subquery.
fn market(currency: &str) -> sea_orm::sea_query::SelectStatement {
    SqlQuery::select()
        .column(account::Column::Id)
        .from(account::Entity)
        .and_where(account::Column::Currency.eq(currency))
        .to_owned()
}

/// Builds the report.
pub async fn report(
    db: &impl ConnectionTrait,
    settings: &WinbackSettings,
    p: &ReportParams,
) -> Result<WinbackReport, DbErr> {
    let (start, end) = (p.start(), p.end());
    let campaigns = super::recovery::winback_campaigns(db, settings).await?;
    let wb_ids: Vec<i64> = campaigns.iter().map(|c| c.id).collect();
    let key_of: HashMap<i64, String> = campaigns.iter().map(|c| (c.id, c.key.clone())).collect();

    // (account, kind, at)
    let entered: Vec<(i64, String, DateTime<Utc>)> = account_class_event::Entity::find()
        .select_only()
        .columns([
            account_class_event::Column::AccountId,
            account_class_event::Column::Kind,
            account_class_event::Column::OccurredAt,
        ])
        .filter(account_class_event::Column::Kind.is_in(["became_lost", "winback_added"]))
        .filter(account_class_event::Column::OccurredAt.gte(start))
        .filter(account_class_event::Column::OccurredAt.lt(end))
        .filter(account_class_event::Column::AccountId.in_subquery(market(&p.currency)))
        .into_tuple()
        .all(db)
        .await?;
    // (account, campaign, at): messages sent and tasks done by win-back campaigns.
    let mut contacts: Vec<(i64, Option<i64>, DateTime<Utc>)> = message::Entity::find()
        .select_only()
        .columns([
            message::Column::AccountId,
            message::Column::CampaignId,
            message::Column::SentAt,
        ])
        .filter(message::Column::CampaignId.is_in(wb_ids.clone()))
        .filter(message::Column::Status.eq(MessageStatus::Sent.as_str()))
        .filter(message::Column::SentAt.gte(start))
        .filter(message::Column::SentAt.lt(end))
        .filter(message::Column::AccountId.in_subquery(market(&p.currency)))
        .into_tuple()
        .all(db)
        .await?;
    contacts.extend(
        task::Entity::find()
            .select_only()
            .columns([
                task::Column::AccountId,
                task::Column::CampaignId,
                task::Column::DoneAt,
            ])
            .filter(task::Column::CampaignId.is_in(wb_ids.clone()))
            .filter(task::Column::Status.eq(TaskStatus::Done.as_str()))
            .filter(task::Column::DoneAt.gte(start))
            .filter(task::Column::DoneAt.lt(end))
            .filter(task::Column::AccountId.in_subquery(market(&p.currency)))
            .into_tuple::<(i64, Option<i64>, DateTime<Utc>)>()
            .all(db)
            .await?,
    );
    let responses: Vec<event::Model> = event::Entity::find()
        .filter(
            event::Column::Kind.is_in(
                [
                    EventKind::Replied,
                    EventKind::MeetingBooked,
                    EventKind::CallLogged,
                    EventKind::Clicked,
                    EventKind::Redeemed,
                ]
                .map(EventKind::as_str),
            ),
        )
        .filter(event::Column::Machine.eq(false))
        // Redemptions, and answers to win-back campaigns: not every click of the period.
        .filter(
            sea_orm::Condition::any()
                .add(event::Column::Kind.eq(EventKind::Redeemed.as_str()))
                .add(event::Column::CampaignId.is_in(wb_ids.clone())),
        )
        .filter(event::Column::OccurredAt.gte(start))
        .filter(event::Column::OccurredAt.lt(end))
        .filter(event::Column::AccountId.in_subquery(market(&p.currency)))
        .all(db)
        .await?;
    let recoveries: Vec<winback_recovery::Model> = winback_recovery::Entity::find()
        .filter(winback_recovery::Column::RecoveredAt.gte(start))
        .filter(winback_recovery::Column::RecoveredAt.lt(end))
        .filter(winback_recovery::Column::Currency.eq(p.currency.as_str()))
        .all(db)
        .await?;

    let mut ids: Vec<i64> = entered.iter().map(|e| e.0).collect();
    ids.extend(contacts.iter().map(|c| c.0));
    ids.extend(responses.iter().filter_map(|e| e.account_id));
    ids.extend(recoveries.iter().map(|r| r.account_id));
    ids.sort_unstable();
    ids.dedup();
    let direction = match p.by {
        Some(By::Cell) => Some(ChurnDirection::Segment),
        Some(By::Industry) => Some(ChurnDirection::Industry),
        Some(By::Region) => Some(ChurnDirection::Region),
        Some(By::Manager) => Some(ChurnDirection::Manager),
        Some(By::Campaign) | None => None,
    };
    let groups = match direction {
        Some(d) => account_groups(db, d, &ids).await?,
        None => HashMap::new(),
    };
    // By campaign, a loss counts for the win-back campaign the account entered after it.
    let entered_campaign: HashMap<i64, Vec<(DateTime<Utc>, i64)>> =
        if p.by == Some(By::Campaign) && !entered.is_empty() {
            let mut m: HashMap<i64, Vec<(DateTime<Utc>, i64)>> = HashMap::new();
            let accounts: Vec<i64> = entered.iter().map(|e| e.0).collect();
            for chunk in accounts.chunks(crate::db::max_bind_params(db) / 2) {
                let rows: Vec<(i64, i64, DateTime<Utc>)> = enrolment::Entity::find()
                    .select_only()
                    .columns([
                        enrolment::Column::AccountId,
                        enrolment::Column::CampaignId,
                        enrolment::Column::EnteredAt,
                    ])
                    .filter(enrolment::Column::CampaignId.is_in(wb_ids.clone()))
                    .filter(enrolment::Column::AccountId.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(db)
                    .await?;
                for (a, c, at) in rows {
                    m.entry(a).or_default().push((at, c));
                }
            }
            for v in m.values_mut() {
                v.sort_unstable();
            }
            m
        } else {
            HashMap::new()
        };
    let campaign_group = |id: Option<i64>| {
        id.and_then(|id| key_of.get(&id).cloned())
            .unwrap_or_else(|| "(none)".into())
    };
    let group = |account: i64, campaign: Option<i64>| match p.by {
        None => "all".to_string(),
        Some(By::Campaign) => campaign_group(campaign),
        Some(_) => groups
            .get(&account)
            .cloned()
            .unwrap_or_else(|| "none".into()),
    };
    let month = |at: DateTime<Utc>| at.format("%Y-%m").to_string();
    let mut acc: BTreeMap<(String, String), Acc> = BTreeMap::new();

    for (a, kind, at) in &entered {
        let campaign = entered_campaign
            .get(a)
            .and_then(|v| v.iter().find(|(t, _)| t >= at).map(|(_, c)| *c));
        let cell = acc.entry((month(*at), group(*a, campaign))).or_default();
        if kind == "became_lost" {
            cell.lost += 1;
        } else {
            cell.added_by_hand += 1;
        }
    }
    // First contact and first response of each account (per group) in the period.
    contacts.sort_by_key(|c| c.2);
    let mut seen: HashSet<(i64, String)> = HashSet::new();
    for (a, c, at) in &contacts {
        let g = group(*a, *c);
        if seen.insert((*a, g.clone())) {
            acc.entry((month(*at), g)).or_default().contacted += 1;
        }
    }
    let mut responded: HashSet<(i64, String)> = HashSet::new();
    for e in &responses {
        let Some(a) = e.account_id else { continue };
        let g = group(a, e.campaign_id);
        let cell_key = (month(e.occurred_at), g.clone());
        if e.kind == EventKind::Redeemed.as_str() {
            let cell = acc.entry(cell_key.clone()).or_default();
            cell.redeemed += 1;
            let cost = e.data.get("cost_minor").and_then(serde_json::Value::as_i64);
            let same_currency =
                e.data.get("currency").and_then(|c| c.as_str()) == Some(p.currency.as_str());
            if let (Some(cost), true) = (cost, same_currency) {
                let kind = e
                    .data
                    .get("value")
                    .and_then(|v| v.get("kind"))
                    .and_then(|k| k.as_str());
                if kind == Some("gift") {
                    cell.gifts += i128::from(cost);
                } else {
                    cell.discounts += i128::from(cost);
                }
            }
        }
        // A response counts for win-back when it answers a win-back campaign.
        if e.campaign_id.is_some_and(|c| wb_ids.contains(&c)) && responded.insert((a, g)) {
            acc.entry(cell_key).or_default().responded += 1;
        }
    }
    let accounts: HashMap<i64, String> =
        crate::campaigns::service::external_ids(db, recoveries.iter().map(|r| r.account_id))
            .await?;
    let offers: HashMap<i64, String> = offer::Entity::find()
        .filter(offer::Column::Id.is_in(recoveries.iter().filter_map(|r| r.offer_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.key))
        .collect();
    let mut views = Vec::with_capacity(recoveries.len());
    for r in &recoveries {
        // Summed here: a SQL sum of bigints is a numeric on PostgreSQL.
        let amounts: Vec<i64> = order::Entity::find()
            .select_only()
            .column(order::Column::AmountMinor)
            .filter(order::Column::AccountId.eq(r.account_id))
            .filter(order::Column::Currency.eq(p.currency.as_str()))
            .filter(order::Column::OrderedAt.gte(r.ordered_at))
            .filter(order::Column::OrderedAt.lt(end))
            .into_tuple()
            .all(db)
            .await?;
        let revenue = if amounts.is_empty() {
            i128::from(r.amount_minor)
        } else {
            amounts.iter().copied().map(i128::from).sum()
        };
        let g = group(r.account_id, r.campaign_id);
        let cell = acc.entry((month(r.recovered_at), g.clone())).or_default();
        cell.recovered += 1;
        cell.revenue += revenue;
        match r.attributed_to.as_str() {
            "offer" => {
                cell.by_offer += 1;
                cell.offer_revenue += revenue;
            }
            "touch" => cell.by_touch += 1,
            _ => {}
        }
        views.push(RecoveryView {
            account_id: accounts.get(&r.account_id).cloned().unwrap_or_default(),
            group: g,
            lost_since: r.lost_since,
            by_hand: r.by_hand,
            recovered_at: r.recovered_at,
            order_id: r.order_id.clone(),
            amount: format_money(&p.currency, r.amount_minor),
            revenue: crate::accounts::model::format_total(&p.currency, revenue),
            attributed_to: r.attributed_to.clone(),
            campaign: r.campaign_id.and_then(|id| key_of.get(&id).cloned()),
            offer: r.offer_id.and_then(|id| offers.get(&id).cloned()),
            reason: r.reason.clone(),
        });
    }
    views.sort_by_key(|v| std::cmp::Reverse(v.recovered_at));
    let mut total = Acc::default();
    let rows = acc
        .into_iter()
        .map(|((m, g), a)| {
            total.add(&a);
            a.row(&p.currency, Some(m), g)
        })
        .collect();
    Ok(WinbackReport {
        total: total.row(&p.currency, None, "all".into()),
        currency: p.currency.clone(),
        from: p.from,
        to: p.to,
        by: p.by.map(|b| b.as_str().to_string()),
        rows,
        recoveries: views,
    })
}

/// The report the analysis workbook carries: the default currency, the 12 months up to `now`,
/// no split.
pub async fn default_report(
    db: &impl ConnectionTrait,
    settings: &crate::config::Settings,
    now: DateTime<Utc>,
) -> Result<WinbackReport, DbErr> {
    let to = now.date_naive();
    let params = ReportParams {
        currency: settings.defaults.currency.code().to_string(),
        from: to
            .checked_sub_months(chrono::Months::new(12))
            .and_then(|d| d.succ_opt())
            .unwrap_or(to),
        to,
        by: None,
    };
    report(db, &settings.winback, &params).await
}

/// Writes the report as sheet "Win-back" of `wb` (per month and group, the total, then the
/// recoveries with their attribution).
pub fn write_sheet(
    wb: &mut rust_xlsxwriter::Workbook,
    r: &WinbackReport,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = wb.add_worksheet().set_name("Win-back")?;
    let money = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    let head = [
        "month",
        "group",
        "lost",
        "added by hand",
        "contacted",
        "responded",
        "redeemed",
        "recovered",
        "by offer",
        "by touch",
        "recovered revenue",
        "revenue from offers",
        "discounts given",
        "gift cost",
        "offer cost",
        "return on offers",
    ];
    sheet.write_string(
        0,
        0,
        format!("Win-back {} to {}, {}", r.from, r.to, r.currency),
    )?;
    for (c, h) in head.iter().enumerate() {
        sheet.write_string_with_format(2, c as u16, *h, &bold)?;
    }
    let mut row = 3u32;
    for x in r.rows.iter().chain(std::iter::once(&r.total)) {
        sheet.write_string(row, 0, x.month.as_deref().unwrap_or("total"))?;
        sheet.write_string(row, 1, &x.group)?;
        let counts = [
            x.lost,
            x.added_by_hand,
            x.contacted,
            x.responded,
            x.redeemed,
            x.recovered,
            x.recovered_by_offer,
            x.recovered_by_touch,
        ];
        for (i, n) in counts.iter().enumerate() {
            sheet.write_number(row, 2 + i as u16, *n as f64)?;
        }
        let sums = [
            &x.recovered_revenue,
            &x.revenue_from_offers,
            &x.discounts_given,
            &x.gift_cost,
            &x.offer_cost,
        ];
        for (i, s) in sums.iter().enumerate() {
            sheet.write_number(row, 10 + i as u16, money(s))?;
        }
        if let Some(roi) = x.return_on_offers {
            sheet.write_number(row, 15, roi)?;
        }
        row += 1;
    }
    row += 1;
    let head = [
        "account",
        "group",
        "lost since",
        "recovered at",
        "order",
        "amount",
        "revenue",
        "attributed to",
        "campaign",
        "offer",
        "reason",
    ];
    for (c, h) in head.iter().enumerate() {
        sheet.write_string_with_format(row, c as u16, *h, &bold)?;
    }
    for v in &r.recoveries {
        row += 1;
        sheet.write_string(row, 0, &v.account_id)?;
        sheet.write_string(row, 1, &v.group)?;
        sheet.write_string(row, 2, v.lost_since.format("%Y-%m-%d").to_string())?;
        sheet.write_string(row, 3, v.recovered_at.format("%Y-%m-%d %H:%M").to_string())?;
        sheet.write_string(row, 4, &v.order_id)?;
        sheet.write_number(row, 5, money(&v.amount))?;
        sheet.write_number(row, 6, money(&v.revenue))?;
        sheet.write_string(row, 7, &v.attributed_to)?;
        sheet.write_string(row, 8, v.campaign.as_deref().unwrap_or(""))?;
        sheet.write_string(row, 9, v.offer.as_deref().unwrap_or(""))?;
        sheet.write_string(row, 10, &v.reason)?;
    }
    Ok(())
}

/// The report alone as a workbook.
pub fn workbook(r: &WinbackReport) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    write_sheet(&mut wb, r)?;
    wb.save_to_buffer()
}
