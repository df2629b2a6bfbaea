//! What responses set off at once: one-click unsubscribes, replies and other responses
//! reported by a mail gateway or CRM (`POST /api/v1/responses`), and bounces and complaints
//! reported by an ESP (`POST /api/v1/bounces`). Each writes its event, puts addresses on the
//! suppression list where it must, and ends the enrolments of campaigns whose exit conditions
//! it meets, all in one transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::campaigns::model::{EnrolmentStatus, ExitCondition, SuppressionReason};
use crate::context::AppContext;
use crate::delivery::DeliveryError;
use crate::entities::{campaign, enrolment, event, message, stakeholder, suppression};
use crate::events::EventKind;

/// Most characters of a note or reason kept.
const MAX_NOTE: usize = 2000;

/// A response another system reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    Replied,
    MeetingBooked,
    CallLogged,
}

impl ResponseKind {
    fn event(self) -> EventKind {
        match self {
            ResponseKind::Replied => EventKind::Replied,
            ResponseKind::MeetingBooked => EventKind::MeetingBooked,
            ResponseKind::CallLogged => EventKind::CallLogged,
        }
    }
}

/// `POST /api/v1/responses`: give `message_id`, `in_reply_to` or `email` (tried in that
/// order).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseInput {
    /// The `Message-ID` of the message responded to (angle brackets optional).
    #[schema(max_length = 1000)]
    pub message_id: Option<String>,
    /// An `In-Reply-To` or `References` header: the first id in it that is one of ours.
    #[schema(max_length = 10000)]
    pub in_reply_to: Option<String>,
    /// The stakeholder's email address, when no message is known.
    #[schema(max_length = 320)]
    pub email: Option<String>,
    pub kind: ResponseKind,
    /// When it happened (default: now); not more than a day ahead.
    pub occurred_at: Option<DateTime<Utc>>,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// How a bounce report classifies the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BounceType {
    /// The mailbox does not exist: the address is suppressed.
    Hard,
    /// A temporary failure: recorded only.
    Soft,
    /// The recipient marked the message as spam: suppressed, and counts as unsubscribing.
    Complaint,
}

/// `POST /api/v1/bounces`: give `message_id` or `email`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BounceInput {
    #[schema(max_length = 1000)]
    pub message_id: Option<String>,
    #[schema(max_length = 320)]
    pub email: Option<String>,
    #[serde(rename = "type")]
    pub kind: BounceType,
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Who a response or bounce is about.
#[derive(Debug, Default, Clone)]
struct Subject {
    message: Option<message::Model>,
    account: Option<i64>,
    stakeholder: Option<i64>,
    /// The address concerned (the message's recipient, or the given email).
    address: Option<String>,
}

/// The forms of an id as stored (`<id@host>` for email, bare for webhook messages).
fn id_forms(raw: &str) -> Vec<String> {
    let t = raw.trim();
    let bare = t.trim_start_matches('<').trim_end_matches('>');
    let mut v = vec![format!("<{bare}>"), bare.to_string()];
    v.dedup();
    v
}

async fn message_by_id(
    db: &impl ConnectionTrait,
    raw: &str,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::MessageId.is_in(id_forms(raw)))
        .one(db)
        .await
}

fn of_message(m: message::Model) -> Subject {
    Subject {
        account: Some(m.account_id),
        stakeholder: m.stakeholder_id,
        address: (m.channel == "email").then(|| m.recipient.trim().to_lowercase()),
        message: Some(m),
    }
}

async fn by_email(db: &impl ConnectionTrait, email: &str) -> Result<Subject, DbErr> {
    let address = email.trim().to_lowercase();
    let s = stakeholder::Entity::find()
        .filter(stakeholder::Column::Email.eq(address.as_str()))
        .one(db)
        .await?;
    Ok(Subject {
        message: None,
        account: s.as_ref().map(|s| s.account_id),
        stakeholder: s.map(|s| s.id),
        address: Some(address),
    })
}

fn when(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>, DeliveryError> {
    match at {
        Some(t) if t > now + chrono::Duration::days(1) => Err(DeliveryError::field(
            "/occurred_at",
            "must not be more than a day ahead",
        )),
        Some(t) if t < now - chrono::Duration::days(3650) => Err(DeliveryError::field(
            "/occurred_at",
            "must not be more than ten years ago",
        )),
        Some(t) => Ok(t),
        None => Ok(now),
    }
}

/// Text of one line (ids, addresses): no control characters.
fn one_line(field: &str, v: &Option<String>) -> Result<(), DeliveryError> {
    match v {
        Some(s) => crate::domain::one_line(s).map_err(|m| DeliveryError::field(field, m)),
        None => Ok(()),
    }
}

/// Free text (notes, reasons): line breaks and tabs, no other control characters.
fn multi_line(field: &str, v: &Option<String>) -> Result<(), DeliveryError> {
    match v {
        Some(s) => crate::domain::multi_line(s).map_err(|m| DeliveryError::field(field, m)),
        None => Ok(()),
    }
}

fn bounded(field: &str, v: &Option<String>, max: usize) -> Result<(), DeliveryError> {
    match v {
        Some(s) if s.chars().count() > max => Err(DeliveryError::field(
            field,
            format!("must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// Records a reported response; 404 when nothing matches.
pub async fn respond(
    ctx: &AppContext,
    input: ResponseInput,
) -> Result<event::Model, DeliveryError> {
    let now = ctx.clock.now();
    let at = when(input.occurred_at, now)?;
    bounded("/message_id", &input.message_id, 1000)?;
    bounded("/in_reply_to", &input.in_reply_to, 10_000)?;
    bounded("/email", &input.email, 320)?;
    bounded("/note", &input.note, MAX_NOTE)?;
    one_line("/message_id", &input.message_id)?;
    one_line("/in_reply_to", &input.in_reply_to)?;
    one_line("/email", &input.email)?;
    multi_line("/note", &input.note)?;
    if input.message_id.is_none() && input.in_reply_to.is_none() && input.email.is_none() {
        return Err(DeliveryError::field(
            "/message_id",
            "give message_id, in_reply_to or email",
        ));
    }
    let mut subject = None;
    if let Some(id) = &input.message_id {
        subject = message_by_id(&ctx.db, id).await?.map(of_message);
    }
    if subject.is_none()
        && let Some(refs) = &input.in_reply_to
    {
        for id in refs
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .take(50)
        {
            if let Some(m) = message_by_id(&ctx.db, id).await? {
                subject = Some(of_message(m));
                break;
            }
        }
    }
    if subject.is_none()
        && let Some(email) = &input.email
    {
        let s = by_email(&ctx.db, email).await?;
        if s.stakeholder.is_some() {
            subject = Some(s);
        }
    }
    let Some(subject) = subject else {
        return Err(DeliveryError::NoMatch(
            "no message or stakeholder matches the response".into(),
        ));
    };
    let kind = input.kind.event();
    let mut data = serde_json::json!({ "source": "api" });
    if let Some(n) = &input.note {
        data["note"] = n.clone().into();
    }
    let txn = crate::db::begin_write(&ctx.db).await?;
    let e = write_event(&txn, &subject, kind, at, now, data).await?;
    if matches!(
        input.kind,
        ResponseKind::Replied | ResponseKind::MeetingBooked
    ) && let Some(account) = subject.account
    {
        exit_for(
            &txn,
            account,
            ExitCondition::Replied,
            &format!("exit condition `replied`: {}", kind.as_str()),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(e)
}

/// Records a reported bounce or complaint.
pub async fn bounce(ctx: &AppContext, input: BounceInput) -> Result<event::Model, DeliveryError> {
    let now = ctx.clock.now();
    let at = when(input.occurred_at, now)?;
    bounded("/message_id", &input.message_id, 1000)?;
    bounded("/reason", &input.reason, MAX_NOTE)?;
    one_line("/message_id", &input.message_id)?;
    multi_line("/reason", &input.reason)?;
    let subject = match (&input.message_id, &input.email) {
        (Some(id), _) => match message_by_id(&ctx.db, id).await? {
            Some(m) => of_message(m),
            None => {
                return Err(DeliveryError::NoMatch(format!(
                    "no message has the id `{}`",
                    id.trim()
                )));
            }
        },
        (None, Some(email)) => {
            let a = crate::delivery::suppression::normalize(email)
                .map_err(|m| DeliveryError::field("/email", m))?;
            by_email(&ctx.db, &a).await?
        }
        (None, None) => {
            return Err(DeliveryError::field(
                "/message_id",
                "give message_id or email",
            ));
        }
    };
    let (kind, suppress) = match input.kind {
        BounceType::Hard => (EventKind::Bounced, Some(SuppressionReason::Bounced)),
        BounceType::Soft => (EventKind::Bounced, None),
        BounceType::Complaint => (EventKind::Complained, Some(SuppressionReason::Complained)),
    };
    let type_name = match input.kind {
        BounceType::Hard => "hard",
        BounceType::Soft => "soft",
        BounceType::Complaint => "complaint",
    };
    let mut data = serde_json::json!({ "type": type_name, "source": "api" });
    if let Some(r) = &input.reason {
        data["reason"] = r.clone().into();
    }
    let txn = crate::db::begin_write(&ctx.db).await?;
    if let (Some(reason), Some(address)) = (suppress, &subject.address) {
        suppress_address(&txn, address, reason, &format!("reported {type_name}"), now).await?;
    }
    let e = write_event(&txn, &subject, kind, at, now, data).await?;
    if input.kind == BounceType::Complaint
        && let Some(account) = subject.account
    {
        exit_for(
            &txn,
            account,
            ExitCondition::Unsubscribed,
            "exit condition `unsubscribed`: a complaint",
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(e)
}

/// What a one-click unsubscribe did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The address is now suppressed (or already was).
    Done { address: String },
    /// The message is not an email (nothing to unsubscribe from).
    NotEmail,
}

/// Unsubscribes the recipient of message `message_id` (the one-click POST): suppression,
/// one `unsubscribed` event per message however often it is posted, and campaign exits.
/// `None` when no such message exists.
pub async fn unsubscribe(
    ctx: &AppContext,
    message_id: &str,
) -> Result<Option<Unsubscribed>, DbErr> {
    let now = ctx.clock.now();
    let Some(m) = message_by_id(&ctx.db, message_id).await? else {
        return Ok(None);
    };
    if m.channel != "email" {
        return Ok(Some(Unsubscribed::NotEmail));
    }
    let subject = of_message(m.clone());
    let address = m.recipient.trim().to_lowercase();
    let txn = crate::db::begin_write(&ctx.db).await?;
    suppress_address(
        &txn,
        &address,
        SuppressionReason::Unsubscribed,
        &format!("one-click unsubscribe from message {}", m.id),
        now,
    )
    .await?;
    let already = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::MessageId.eq(m.id))
        .filter(event::Column::Kind.eq(EventKind::Unsubscribed.as_str()))
        .into_tuple::<i64>()
        .one(&txn)
        .await?
        .is_some();
    if !already {
        write_event(
            &txn,
            &subject,
            EventKind::Unsubscribed,
            now,
            now,
            serde_json::json!({ "source": "link" }),
        )
        .await?;
        exit_for(
            &txn,
            m.account_id,
            ExitCondition::Unsubscribed,
            "exit condition `unsubscribed`: one-click unsubscribe",
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(Some(Unsubscribed::Done { address }))
}

async fn suppress_address(
    txn: &impl ConnectionTrait,
    address: &str,
    reason: SuppressionReason,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    suppression::Entity::insert(suppression::ActiveModel {
        address: Set(address.to_string()),
        reason: Set(reason.as_str().into()),
        note: Set(Some(note.chars().take(MAX_NOTE).collect())),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(suppression::Column::Address)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

async fn write_event(
    txn: &impl ConnectionTrait,
    s: &Subject,
    kind: EventKind,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    data: serde_json::Value,
) -> Result<event::Model, DbErr> {
    let row = match &s.message {
        Some(m) => {
            let mut e = crate::events::of_message(m, kind, at, data);
            e.recorded_at = Set(now);
            e
        }
        None => event::ActiveModel {
            recorded_at: Set(now),
            account_id: Set(s.account),
            stakeholder_id: Set(s.stakeholder),
            ..crate::events::new(kind, at, data)
        },
    };
    event::Entity::insert(row).exec_with_returning(txn).await
}

/// Ends the active enrolments of `account` in campaigns that exit on `condition`.
pub async fn exit_for(
    txn: &impl ConnectionTrait,
    account: i64,
    condition: ExitCondition,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let active: Vec<(i64, i64)> = enrolment::Entity::find()
        .select_only()
        .columns([enrolment::Column::Id, enrolment::Column::CampaignId])
        .filter(enrolment::Column::AccountId.eq(account))
        .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
        .into_tuple()
        .all(txn)
        .await?;
    if active.is_empty() {
        return Ok(0);
    }
    let campaigns = campaign::Entity::find()
        .filter(campaign::Column::Id.is_in(active.iter().map(|(_, c)| *c)))
        .all(txn)
        .await?;
    let mut ended = 0;
    for c in campaigns {
        let exits = c.definition.get("exit_on").and_then(|v| v.as_array());
        if !exits.is_some_and(|list| list.iter().any(|v| v.as_str() == Some(condition.as_str()))) {
            continue;
        }
        let ids: Vec<(i64, i64)> = active
            .iter()
            .filter(|(_, cid)| *cid == c.id)
            .map(|(id, _)| (*id, account))
            .collect();
        crate::campaigns::service::finish(txn, c.id, &ids, c.version, "-", "exited", reason, now)
            .await?;
        ended += ids.len() as u64;
    }
    Ok(ended)
}
