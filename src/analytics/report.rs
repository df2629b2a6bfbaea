//! Reports over the stored analytics: churn dynamics and the Excel workbook (matrix sheet,
//! per-account sheet, churn sheet) that the API serves and `abm report abc-xyz` writes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::error::AnalyticsError;
use super::matrix::CellTotals;
use super::service::latest_succeeded;
use crate::accounts::model::{format_money, format_total};
use crate::entities::{account, account_class_event, account_snapshot, analysis_run};

/// Lost and recovered accounts of one month and group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChurnRow {
    /// `YYYY-MM` of the run that found the change.
    pub month: String,
    /// The group (cell, manager id, industry, region; `all` without a direction).
    pub group: String,
    pub lost: u64,
    pub recovered: u64,
}

/// What churn is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ChurnDirection {
    /// The account's ABC-XYZ cell in the latest succeeded run.
    Segment,
    Manager,
    Industry,
    Region,
}

impl ChurnDirection {
    /// The `direction` parameter; blank means no split (`None`).
    pub fn parse(raw: &str) -> Result<Option<Self>, AnalyticsError> {
        Ok(match raw.trim() {
            "" => None,
            "segment" => Some(ChurnDirection::Segment),
            "manager" => Some(ChurnDirection::Manager),
            "industry" => Some(ChurnDirection::Industry),
            "region" => Some(ChurnDirection::Region),
            other => {
                return Err(AnalyticsError::field(
                    "direction",
                    format!("`{other}` is not one of: segment, manager, industry, region"),
                ));
            }
        })
    }
}

/// The `from` parameter (`YYYY-MM`) as the first day of that month.
pub fn parse_from_month(raw: &str) -> Result<NaiveDate, AnalyticsError> {
    month_of(raw)
        .and_then(|(y, m)| {
            NaiveDate::from_ymd_opt(y, m, 1)
                .ok_or_else(|| format!("`{raw}` is not a month (YYYY-MM)"))
        })
        .map_err(|e| AnalyticsError::field("from", e))
}

fn month_of(s: &str) -> Result<(i32, u32), String> {
    let (y, m) = s
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("`{s}` is not a month (YYYY-MM)"))?;
    let y: i32 = y
        .parse()
        .map_err(|_| format!("`{s}` is not a month (YYYY-MM)"))?;
    let m: u32 = m
        .parse()
        .map_err(|_| format!("`{s}` is not a month (YYYY-MM)"))?;
    if !(1..=12).contains(&m) || !(crate::domain::MIN_YEAR..=crate::domain::MAX_YEAR).contains(&y) {
        return Err(format!("`{s}` is not a month (YYYY-MM)"));
    }
    Ok((y, m))
}

/// Lost and recovered accounts per month (of the run that saw the change) and group, from
/// the month of `from` (default: 12 months up to `now`'s).
pub async fn churn_rows(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    direction: Option<ChurnDirection>,
    from: Option<NaiveDate>,
) -> Result<Vec<ChurnRow>, AnalyticsError> {
    let first_day = match from {
        Some(f) => f.with_day(1),
        None => {
            let m = now.year() * 12 + now.month0() as i32 - 11;
            NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1)
        }
    };
    let start = first_day
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let events = account_class_event::Entity::find()
        .filter(account_class_event::Column::Kind.is_in(["became_lost", "recovered"]))
        .filter(account_class_event::Column::OccurredAt.gte(start))
        .all(db)
        .await?;
    let mut ids: Vec<i64> = events.iter().map(|e| e.account_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let groups: HashMap<i64, String> = match direction {
        None => HashMap::new(),
        Some(d) => account_groups(db, d, &ids).await?,
    };
    // Distinct accounts per month and group (an account that flips twice in a month counts once).
    let mut seen: std::collections::HashSet<(String, String, i64, bool)> = Default::default();
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for e in events {
        let month = e.occurred_at.format("%Y-%m").to_string();
        let group = match direction {
            None => "all".to_string(),
            Some(_) => groups
                .get(&e.account_id)
                .cloned()
                .unwrap_or_else(|| "none".into()),
        };
        let lost = e.kind == "became_lost";
        if !seen.insert((month.clone(), group.clone(), e.account_id, lost)) {
            continue;
        }
        let c = counts.entry((month, group)).or_default();
        if lost {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    Ok(counts
        .into_iter()
        .map(|((month, group), (lost, recovered))| ChurnRow {
            month,
            group,
            lost,
            recovered,
        })
        .collect())
}

/// The group of each of `ids` under `direction`: its ABC-XYZ cell in the latest succeeded run
/// (`unclassified` without one), its manager id, industry or region (`none` when unset).
pub async fn account_groups(
    db: &impl sea_orm::ConnectionTrait,
    direction: ChurnDirection,
    ids: &[i64],
) -> Result<HashMap<i64, String>, sea_orm::DbErr> {
    Ok(match direction {
        ChurnDirection::Segment => match latest_succeeded(db, None).await? {
            None => HashMap::new(),
            Some(run) => {
                let mut map = HashMap::new();
                for chunk in ids.chunks(10_000) {
                    let rows = account_snapshot::Entity::find()
                        .select_only()
                        .columns([
                            account_snapshot::Column::AccountId,
                            account_snapshot::Column::Abc,
                            account_snapshot::Column::Xyz,
                        ])
                        .filter(account_snapshot::Column::RunId.eq(run.id))
                        .filter(account_snapshot::Column::AccountId.is_in(chunk.iter().copied()))
                        .into_tuple::<(i64, Option<String>, Option<String>)>()
                        .all(db)
                        .await?;
                    for (id, a, x) in rows {
                        let cell = match (a, x) {
                            (Some(a), Some(x)) => format!("{a}{x}"),
                            _ => "unclassified".to_string(),
                        };
                        map.insert(id, cell);
                    }
                }
                map
            }
        },
        d => {
            let mut map = HashMap::new();
            for chunk in ids.chunks(10_000) {
                for a in account::Entity::find()
                    .filter(account::Column::Id.is_in(chunk.iter().copied()))
                    .all(db)
                    .await?
                {
                    let g = match d {
                        ChurnDirection::Manager => a.manager_id.map(|m| m.to_string()),
                        ChurnDirection::Industry => a.industry,
                        _ => a.region,
                    };
                    map.insert(a.id, g.unwrap_or_else(|| "none".into()));
                }
            }
            map
        }
    })
}

/// The workbook of a run: sheet "ABC-XYZ" (matrix), "Accounts" (every account's figures and
/// reasons) and "Churn" (lost and recovered per month).
pub async fn workbook(
    db: &DatabaseConnection,
    run: &analysis_run::Model,
    churn: &[ChurnRow],
    winback: Option<&crate::winback::report::WinbackReport>,
) -> Result<Vec<u8>, AnalyticsError> {
    use rust_xlsxwriter::{Format, Workbook};
    let xl = |e: rust_xlsxwriter::XlsxError| AnalyticsError::Report(format!("xlsx: {e}"));
    let snapshots = account_snapshot::Entity::find()
        .filter(account_snapshot::Column::RunId.eq(run.id))
        .order_by_desc(account_snapshot::Column::Revenue)
        .all(db)
        .await?;
    let names: HashMap<i64, (String, String)> = account::Entity::find()
        .select_only()
        .columns([
            account::Column::Id,
            account::Column::ExternalId,
            account::Column::Name,
        ])
        .into_tuple::<(i64, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, e, n)| (id, (e, n)))
        .collect();
    let bold = Format::new().set_bold();
    let mut wb = Workbook::new();

    // Matrix per currency.
    let sheet = wb.add_worksheet().set_name("ABC-XYZ").map_err(xl)?;
    sheet
        .write_string_with_format(
            0,
            0,
            format!("ABC-XYZ matrix, run {} as of {}", run.id, run.as_of),
            &bold,
        )
        .map_err(xl)?;
    let mut by_currency: BTreeMap<&str, CellTotals> = BTreeMap::new();
    for s in &snapshots {
        if let (Some(a), Some(x)) = (s.abc.as_deref(), s.xyz.as_deref()) {
            by_currency
                .entry(s.currency.as_str())
                .or_default()
                .add(Some(a), Some(x), s.revenue);
        }
    }
    let mut row = 2u32;
    for (currency, cells) in &by_currency {
        sheet
            .write_string_with_format(
                row,
                0,
                format!("{currency}: accounts / revenue / share"),
                &bold,
            )
            .map_err(xl)?;
        for (xi, x) in ["X", "Y", "Z"].iter().enumerate() {
            sheet
                .write_string_with_format(row + 1, 1 + xi as u16 * 3, *x, &bold)
                .map_err(xl)?;
        }
        for (ai, a) in ["A", "B", "C"].iter().enumerate() {
            let r = row + 2 + ai as u32;
            sheet
                .write_string_with_format(r, 0, *a, &bold)
                .map_err(xl)?;
            for xi in 0..3 {
                let c = 1 + xi as u16 * 3;
                sheet
                    .write_number(r, c, cells.counts[ai][xi] as f64)
                    .map_err(xl)?;
                let value: f64 = format_total(currency, cells.values[ai][xi])
                    .parse()
                    .unwrap_or(0.0);
                sheet.write_number(r, c + 1, value).map_err(xl)?;
                sheet
                    .write_number(r, c + 2, cells.share(ai, xi))
                    .map_err(xl)?;
            }
        }
        row += 7;
    }

    let sheet = wb.add_worksheet().set_name("Accounts").map_err(xl)?;
    let headers = [
        "external_id",
        "name",
        "currency",
        "revenue",
        "profit",
        "abc",
        "abc_reason",
        "cv",
        "xyz",
        "xyz_reason",
        "orders",
        "first_order_at",
        "last_order_at",
        "days_since_last_order",
        "types",
        "three_p_score",
        "three_p_missing",
        "lost",
        "lost_reason",
        "p_alive",
        "expected_purchases",
        "value_at_risk",
        "engagement_score",
    ];
    for (c, h) in headers.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xl)?;
    }
    for (i, s) in snapshots.iter().enumerate() {
        let r = i as u32 + 1;
        let (ext, name) = names.get(&s.account_id).cloned().unwrap_or_default();
        let money = |v: i64| format_money(&s.currency, v).parse::<f64>().unwrap_or(0.0);
        sheet.write_string(r, 0, ext).map_err(xl)?;
        sheet.write_string(r, 1, name).map_err(xl)?;
        sheet.write_string(r, 2, &s.currency).map_err(xl)?;
        sheet.write_number(r, 3, money(s.revenue)).map_err(xl)?;
        if let Some(p) = s.profit {
            sheet.write_number(r, 4, money(p)).map_err(xl)?;
        }
        sheet
            .write_string(r, 5, s.abc.clone().unwrap_or_default())
            .map_err(xl)?;
        sheet.write_string(r, 6, &s.abc_reason).map_err(xl)?;
        if let Some(cv) = s.cv {
            sheet.write_number(r, 7, cv).map_err(xl)?;
        }
        sheet
            .write_string(r, 8, s.xyz.clone().unwrap_or_default())
            .map_err(xl)?;
        sheet.write_string(r, 9, &s.xyz_reason).map_err(xl)?;
        sheet.write_number(r, 10, f64::from(s.orders)).map_err(xl)?;
        sheet
            .write_string(
                r,
                11,
                s.first_order_at.map(|d| d.to_string()).unwrap_or_default(),
            )
            .map_err(xl)?;
        sheet
            .write_string(
                r,
                12,
                s.last_order_at.map(|d| d.to_string()).unwrap_or_default(),
            )
            .map_err(xl)?;
        if let Some(d) = s.days_since_last_order {
            sheet.write_number(r, 13, f64::from(d)).map_err(xl)?;
        }
        sheet.write_string(r, 14, &s.types).map_err(xl)?;
        if let Some(t) = s.three_p_score {
            sheet.write_number(r, 15, f64::from(t)).map_err(xl)?;
        }
        sheet
            .write_string(r, 16, s.three_p_missing.clone().unwrap_or_default())
            .map_err(xl)?;
        sheet.write_boolean(r, 17, s.lost).map_err(xl)?;
        sheet.write_string(r, 18, &s.lost_reason).map_err(xl)?;
        if let Some(p) = s.p_alive {
            sheet.write_number(r, 19, p).map_err(xl)?;
        }
        if let Some(e) = s.expected_purchases {
            sheet.write_number(r, 20, e).map_err(xl)?;
        }
        sheet
            .write_number(r, 21, money(s.value_at_risk))
            .map_err(xl)?;
        if let Some(e) = s.engagement_score {
            sheet.write_number(r, 22, e).map_err(xl)?;
        }
    }

    let sheet = wb.add_worksheet().set_name("Churn").map_err(xl)?;
    for (c, h) in ["month", "group", "lost", "recovered"].iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xl)?;
    }
    for (i, c) in churn.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, &c.month).map_err(xl)?;
        sheet.write_string(r, 1, &c.group).map_err(xl)?;
        sheet.write_number(r, 2, c.lost as f64).map_err(xl)?;
        sheet.write_number(r, 3, c.recovered as f64).map_err(xl)?;
    }
    if let Some(w) = winback {
        crate::winback::report::write_sheet(&mut wb, w).map_err(xl)?;
    }
    wb.save_to_buffer().map_err(xl)
}
