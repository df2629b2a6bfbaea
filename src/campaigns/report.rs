//! The campaign report: per step and in total, how many messages went out, arrived, were
//! opened and clicked by people (machine activity is counted apart), answered, unsubscribed
//! from and bounced, with rates. Three grouped queries, whatever the campaign's size.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::CampaignsError;
use super::model::MessageStatus;
use super::service;
use crate::entities::{event, message};
use crate::events::EventKind;

/// Counts of one step (or of the whole campaign) and the rates derived from them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReportFigures {
    /// Messages that left the outbox with an outcome: accepted, bounced, failed or dead.
    pub sent: u64,
    /// Messages the receiving server accepted and that no bounce was reported for later.
    pub delivered: u64,
    /// Messages opened by a person (at least once).
    pub opened: u64,
    /// Messages with at least one link clicked by a person.
    pub clicked: u64,
    /// Messages answered with a reply.
    pub replied: u64,
    /// Messages that led to a booked meeting.
    pub meetings_booked: u64,
    /// Messages whose recipient unsubscribed through them.
    pub unsubscribed: u64,
    /// Messages that bounced (hard or soft; at send time or reported later).
    pub bounced: u64,
    /// Messages reported as spam.
    pub complained: u64,
    /// Messages opened by a machine (a privacy proxy fetching the pixel, a scanner): kept out
    /// of `opened` and the rates; a message a person opened too counts in both.
    pub machine_opened: u64,
    /// Messages whose links a machine (a link scanner) clicked: kept out of `clicked` and the
    /// rates; a message a person clicked too counts in both.
    pub machine_clicked: u64,
    /// Messages still waiting in the outbox (queued, being sent, or deferred for a retry).
    pub pending: u64,
    /// Messages never sent because the address is on the suppression list.
    pub suppressed: u64,
    /// `delivered / sent`.
    pub delivery_rate: Option<f64>,
    /// `bounced / sent`.
    pub bounce_rate: Option<f64>,
    /// `opened / delivered`.
    pub open_rate: Option<f64>,
    /// `clicked / delivered`.
    pub click_rate: Option<f64>,
    /// `clicked / opened`.
    pub click_to_open_rate: Option<f64>,
    /// `replied / delivered`.
    pub reply_rate: Option<f64>,
    /// `unsubscribed / delivered`.
    pub unsubscribe_rate: Option<f64>,
}

/// One step of the report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepReport {
    /// The step's id.
    pub step: String,
    /// What the step does (`send`, `wait`, `branch`, `manager_task`, `exit`); `null` for a
    /// step only an earlier version of the campaign had.
    pub kind: Option<&'static str>,
    #[serde(flatten)]
    pub figures: ReportFigures,
}

/// A campaign's report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignReport {
    pub campaign: String,
    pub name: String,
    pub generated_at: DateTime<Utc>,
    /// The whole campaign.
    pub total: ReportFigures,
    /// Every step of the current definition in its order, then steps of earlier versions that
    /// have messages.
    pub steps: Vec<StepReport>,
}

/// Rates are fractions rounded to four places; `null` when the base is zero.
fn rate(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| (n as f64 / of as f64 * 10_000.0).round() / 10_000.0)
}

impl ReportFigures {
    fn add(&mut self, o: &ReportFigures) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.opened += o.opened;
        self.clicked += o.clicked;
        self.replied += o.replied;
        self.meetings_booked += o.meetings_booked;
        self.unsubscribed += o.unsubscribed;
        self.bounced += o.bounced;
        self.complained += o.complained;
        self.machine_opened += o.machine_opened;
        self.machine_clicked += o.machine_clicked;
        self.pending += o.pending;
        self.suppressed += o.suppressed;
    }

    fn with_rates(mut self) -> Self {
        self.delivery_rate = rate(self.delivered, self.sent);
        self.bounce_rate = rate(self.bounced, self.sent);
        self.open_rate = rate(self.opened, self.delivered);
        self.click_rate = rate(self.clicked, self.delivered);
        self.click_to_open_rate = rate(self.clicked, self.opened);
        self.reply_rate = rate(self.replied, self.delivered);
        self.unsubscribe_rate = rate(self.unsubscribed, self.delivered);
        self
    }
}

/// Distinct messages per (step, event kind, machine).
type Distinct = HashMap<(String, String, bool), u64>;

/// The report of campaign `key` as of now.
pub async fn report(
    db: &DatabaseConnection,
    key: &str,
    now: DateTime<Utc>,
) -> Result<CampaignReport, CampaignsError> {
    let campaign = service::find(db, key).await?;
    let definition = service::definition_of(&campaign);
    let step_name = |s: Option<String>| s.unwrap_or_default();

    // Messages per step and status.
    let by_status: Vec<(Option<String>, String, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::Step)
        .column(message::Column::Status)
        .column_as(message::Column::Id.count(), "n")
        .filter(message::Column::CampaignId.eq(campaign.id))
        .group_by(message::Column::Step)
        .group_by(message::Column::Status)
        .into_tuple()
        .all(db)
        .await?;

    // Distinct messages per step, kind and machine flag.
    let distinct = || Expr::cust("COUNT(DISTINCT message_id)");
    let kinds = [
        EventKind::Opened,
        EventKind::Clicked,
        EventKind::Replied,
        EventKind::MeetingBooked,
        EventKind::Unsubscribed,
        EventKind::Bounced,
        EventKind::Complained,
    ];
    let by_event: Vec<(Option<String>, String, bool, i64)> = event::Entity::find()
        .select_only()
        .column(event::Column::Step)
        .column(event::Column::Kind)
        .column(event::Column::Machine)
        .column_as(distinct(), "n")
        .filter(event::Column::CampaignId.eq(campaign.id))
        .filter(event::Column::MessageId.is_not_null())
        .filter(event::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())))
        .group_by(event::Column::Step)
        .group_by(event::Column::Kind)
        .group_by(event::Column::Machine)
        .into_tuple()
        .all(db)
        .await?;
    let mut events: Distinct = HashMap::new();
    for (step, kind, machine, n) in by_event {
        events.insert((step_name(step), kind, machine), n.max(0) as u64);
    }

    // Accepted messages that bounced later (an ESP's report): not delivered after all.
    let bounced_after: Vec<(Option<String>, i64)> = event::Entity::find()
        .select_only()
        .column(event::Column::Step)
        .column_as(distinct(), "n")
        .filter(event::Column::CampaignId.eq(campaign.id))
        .filter(event::Column::Kind.eq(EventKind::Bounced.as_str()))
        .filter(
            event::Column::MessageId.in_subquery(
                Query::select()
                    .column(message::Column::Id)
                    .from(message::Entity)
                    .and_where(message::Column::CampaignId.eq(campaign.id))
                    .and_where(message::Column::Status.eq(MessageStatus::Sent.as_str()))
                    .to_owned(),
            ),
        )
        .group_by(event::Column::Step)
        .into_tuple()
        .all(db)
        .await?;
    let bounced_after: HashMap<String, u64> = bounced_after
        .into_iter()
        .map(|(s, n)| (step_name(s), n.max(0) as u64))
        .collect();

    let mut figures: HashMap<String, ReportFigures> = HashMap::new();
    for (step, status, n) in by_status {
        let f = figures.entry(step_name(step)).or_default();
        let n = n.max(0) as u64;
        match MessageStatus::parse(&status) {
            Some(MessageStatus::Sent) => {
                f.sent += n;
                f.delivered += n;
            }
            Some(MessageStatus::Failed | MessageStatus::Dead) => f.sent += n,
            Some(MessageStatus::Suppressed) => f.suppressed += n,
            Some(MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Deferred)
            | None => f.pending += n,
        }
    }
    let mut steps_with_events: Vec<String> = events.keys().map(|(s, _, _)| s.clone()).collect();
    steps_with_events.sort();
    steps_with_events.dedup();
    for step in steps_with_events {
        let f = figures.entry(step.clone()).or_default();
        let get = |k: EventKind, machine: bool| {
            events
                .get(&(step.clone(), k.as_str().to_string(), machine))
                .copied()
                .unwrap_or(0)
        };
        f.opened = get(EventKind::Opened, false);
        f.clicked = get(EventKind::Clicked, false);
        f.machine_opened = get(EventKind::Opened, true);
        f.machine_clicked = get(EventKind::Clicked, true);
        f.replied = get(EventKind::Replied, false) + get(EventKind::Replied, true);
        f.meetings_booked =
            get(EventKind::MeetingBooked, false) + get(EventKind::MeetingBooked, true);
        f.unsubscribed = get(EventKind::Unsubscribed, false) + get(EventKind::Unsubscribed, true);
        f.bounced = get(EventKind::Bounced, false) + get(EventKind::Bounced, true);
        f.complained = get(EventKind::Complained, false) + get(EventKind::Complained, true);
        f.delivered = f
            .delivered
            .saturating_sub(bounced_after.get(&step).copied().unwrap_or(0));
    }

    let mut steps = Vec::new();
    for s in &definition.steps {
        steps.push(StepReport {
            step: s.id.clone(),
            kind: s.kind(),
            figures: figures.remove(&s.id).unwrap_or_default(),
        });
    }
    let mut older: Vec<(String, ReportFigures)> = figures.into_iter().collect();
    older.sort_by(|a, b| a.0.cmp(&b.0));
    steps.extend(older.into_iter().map(|(step, figures)| StepReport {
        step,
        kind: None,
        figures,
    }));
    let mut total = ReportFigures::default();
    for s in &mut steps {
        total.add(&s.figures);
        s.figures = std::mem::take(&mut s.figures).with_rates();
    }
    Ok(CampaignReport {
        campaign: campaign.key,
        name: campaign.name,
        generated_at: now,
        total: total.with_rates(),
        steps,
    })
}

/// A workbook column: its title and how to read it.
type Column<T> = (&'static str, fn(&ReportFigures) -> T);

/// The report as an Excel workbook: one sheet, a row per step and the total, rates as percent.
pub fn workbook(r: &CampaignReport) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet().set_name("Report")?;
    sheet.write_string_with_format(
        0,
        0,
        format!(
            "Campaign {} ({}) as of {}",
            r.campaign,
            r.name,
            r.generated_at.format("%Y-%m-%d %H:%M UTC")
        ),
        &bold,
    )?;
    let counts: [Column<u64>; 13] = [
        ("Sent", |f| f.sent),
        ("Delivered", |f| f.delivered),
        ("Opened", |f| f.opened),
        ("Clicked", |f| f.clicked),
        ("Replied", |f| f.replied),
        ("Meetings booked", |f| f.meetings_booked),
        ("Unsubscribed", |f| f.unsubscribed),
        ("Bounced", |f| f.bounced),
        ("Complained", |f| f.complained),
        ("Opened by machine", |f| f.machine_opened),
        ("Clicked by machine", |f| f.machine_clicked),
        ("Pending", |f| f.pending),
        ("Suppressed", |f| f.suppressed),
    ];
    let rates: [Column<Option<f64>>; 7] = [
        ("Delivery rate", |f| f.delivery_rate),
        ("Bounce rate", |f| f.bounce_rate),
        ("Open rate", |f| f.open_rate),
        ("Click rate", |f| f.click_rate),
        ("Click-to-open rate", |f| f.click_to_open_rate),
        ("Reply rate", |f| f.reply_rate),
        ("Unsubscribe rate", |f| f.unsubscribe_rate),
    ];
    let header = 2u32;
    sheet.write_string_with_format(header, 0, "Step", &bold)?;
    sheet.write_string_with_format(header, 1, "Kind", &bold)?;
    let names = counts.iter().map(|c| c.0).chain(rates.iter().map(|r| r.0));
    for (i, name) in names.enumerate() {
        sheet.write_string_with_format(header, 2 + i as u16, name, &bold)?;
    }
    let rows = r
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.kind.unwrap_or(""), &s.figures, false))
        .chain(std::iter::once(("Total", "", &r.total, true)));
    for (i, (step, kind, f, is_total)) in rows.enumerate() {
        let row = header + 1 + i as u32;
        if is_total {
            sheet.write_string_with_format(row, 0, step, &bold)?;
        } else {
            sheet.write_string(row, 0, step)?;
        }
        sheet.write_string(row, 1, kind)?;
        for (c, (_, get)) in counts.iter().enumerate() {
            sheet.write_number(row, 2 + c as u16, get(f) as f64)?;
        }
        for (c, (_, get)) in rates.iter().enumerate() {
            if let Some(v) = get(f) {
                sheet.write_number_with_format(row, 2 + (counts.len() + c) as u16, v, &percent)?;
            }
        }
    }
    sheet.set_column_width(0, 18)?;
    sheet.set_freeze_panes(header + 1, 1)?;
    wb.save_to_buffer()
}
