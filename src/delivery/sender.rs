//! Sending the outbox's emails. A pass returns expired leases (a sender that crashed), then
//! claims due messages in batches with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a
//! conditional update on SQLite) and commits the claim; it checks the suppression list again,
//! sends with bounded concurrency and no transaction open, and records each outcome with its
//! attempt. Transient failures (SMTP 4xx, connection errors, timeouts) wait out
//! `delivery.retry_schedule` with ±10% jitter and are dead after its last wait; permanent ones
//! (SMTP 5xx, an address that cannot be used) fail at once, and a 5xx that rejects the mailbox
//! puts the address on the suppression list (a hard bounce).
//!
//! Email goes by SMTP (lettre, pooled, TLS none / STARTTLS / implicit) or, with no SMTP server
//! configured, as `.eml` files to `delivery.outbox_dir`. Webhook messages are posted to their
//! endpoint, signed (see `webhook_sender`).

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use futures_util::{FutureExt, StreamExt};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use rand::Rng;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use serde::Serialize;

use crate::campaigns::model::{MessageStatus, SuppressionReason};
use crate::config::{DeliverySettings, EmailSettings};
use crate::context::AppContext;
use crate::entities::{delivery_attempt, message, suppression, webhook_endpoint};

/// What one pass did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SendReport {
    /// Messages whose sender's lease ran out, put back in the queue.
    pub swept: u64,
    pub claimed: u64,
    pub sent: u64,
    pub deferred: u64,
    pub failed: u64,
    pub dead: u64,
    pub suppressed: u64,
    /// Messages whose claim another sender took over before the outcome was written.
    pub lost: u64,
    /// Sales webhook notifications queued from new events before sending.
    pub notified: u64,
    /// Accounts that became hot (engagement score over `engagement.hot_threshold`).
    pub hot: u64,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted, with the server's code (SMTP reply or HTTP status) when there is one.
    Sent { code: Option<String> },
    /// Worth another try later; `retry_after` when the server said when.
    Transient {
        code: Option<String>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Never worth another try; `bounce` when the server rejected the mailbox itself.
    Permanent {
        code: Option<String>,
        error: String,
        bounce: bool,
    },
    /// On the suppression list at send time.
    Suppressed,
}

/// Where email goes.
pub enum Mailer {
    Files(PathBuf),
    /// `smtp://` and `smtps://`: pooled connections with `TCP_NODELAY`.
    Pool(Box<super::smtp_pool::SmtpPool>),
}

impl Mailer {
    /// The SMTP transport of `email.smtp_url` (pooled, `delivery.concurrency` connections), or
    /// the `.eml` folder `email.outbox_dir` when it is empty.
    pub fn from_settings(email: &EmailSettings, d: &DeliverySettings) -> Result<Mailer, String> {
        let url = email.smtp_url.trim();
        if url.is_empty() {
            return Ok(Mailer::Files(PathBuf::from(&email.outbox_dir)));
        }
        let pool = super::smtp_pool::SmtpPool::for_url(
            url,
            d.concurrency as usize,
            &email.tls_ca_file,
            std::time::Duration::from_secs(u64::from(email.timeout_seconds)),
        )?;
        Ok(Mailer::Pool(Box::new(pool)))
    }

    async fn deliver(&self, email: &Message, file: &str) -> Outcome {
        match self {
            Mailer::Files(dir) => write_eml(dir, file, &email.formatted()).await,
            Mailer::Pool(pool) => match pool.send(email).await {
                Ok(code) => Outcome::Sent { code: Some(code) },
                Err(super::smtp_pool::PoolError::Smtp(e)) => classify(&e),
                Err(super::smtp_pool::PoolError::Connect(error)) => Outcome::Transient {
                    code: None,
                    error,
                    retry_after: None,
                },
            },
        }
    }
}

/// Writes an `.eml` file whole or not at all (a temporary file, then a rename); the same
/// message always goes to the same file, so a retry never makes a second one.
async fn write_eml(dir: &std::path::Path, file: &str, bytes: &[u8]) -> Outcome {
    let transient = |e: std::io::Error| Outcome::Transient {
        code: None,
        error: format!("writing {}: {e}", dir.display()),
        retry_after: None,
    };
    if let Err(e) = tokio::fs::create_dir_all(dir).await {
        return transient(e);
    }
    let tmp = dir.join(format!(".{file}.tmp"));
    if let Err(e) = tokio::fs::write(&tmp, bytes).await {
        return transient(e);
    }
    match tokio::fs::rename(&tmp, dir.join(file)).await {
        Ok(()) => Outcome::Sent { code: None },
        Err(e) => transient(e),
    }
}

/// SMTP 4xx, connection trouble and timeouts are transient; 5xx is permanent, and 550, 551
/// and 553 (mailbox unavailable, not local, name not allowed) are a hard bounce.
fn classify(e: &lettre::transport::smtp::Error) -> Outcome {
    let code = e.status().map(|c| c.to_string());
    let error = e.to_string().chars().take(1000).collect();
    if e.is_permanent() {
        let bounce = matches!(code.as_deref(), Some("550" | "551" | "553"))
            && rejects_mailbox(&e.to_string());
        Outcome::Permanent {
            code,
            error,
            bounce,
        }
    } else {
        Outcome::Transient {
            code,
            error,
            retry_after: None,
        }
    }
}

/// Whether a 550/551/553 reply rejects the mailbox itself (a hard bounce) rather than the
/// message (content or policy, e.g. `550 5.7.1` after DATA): its enhanced status code is
/// `5.1.x`, or, without one, its text speaks of the user, mailbox, recipient or address.
fn rejects_mailbox(reply: &str) -> bool {
    let enhanced = reply
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        });
    match enhanced {
        Some(code) => code.starts_with("5.1."),
        None => {
            let r = reply.to_lowercase();
            ["user", "mailbox", "recipient", "address"]
                .iter()
                .any(|w| r.contains(w))
        }
    }
}

/// The email of an outbox row: multipart text and HTML (or the one there is), its stable
/// Message-ID, and `List-Unsubscribe` (the one-click link of `links`, then a `mailto:` to the
/// sender) with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
pub fn build_email(
    m: &message::Model,
    from: &str,
    links: Option<&crate::tracking::Links>,
) -> Result<Message, String> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| format!("email.from `{from}`: {e}"))?;
    let to: Mailbox = m
        .recipient
        .parse()
        .map_err(|e| format!("recipient `{}`: {e}", m.recipient))?;
    let part = |name: &str| m.parts.get(name).and_then(|v| v.as_str()).map(String::from);
    let subject = crate::domain::to_one_line(
        &m.subject
            .clone()
            .or_else(|| part("subject"))
            .unwrap_or_default(),
    );
    let one_click = links
        .map(|l| {
            format!(
                "<{}>, ",
                l.link(crate::tracking::LinkKind::Unsubscribe, &m.message_id, None)
            )
        })
        .unwrap_or_default();
    let unsubscribe = format!(
        "{one_click}<mailto:{}?subject=unsubscribe%20{}>",
        from.email,
        m.message_id
            .trim_matches(|c| c == '<' || c == '>')
            .split('@')
            .next()
            .unwrap_or_default()
    );
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(m.message_id.clone()));
    let mut email = match (part("text"), part("html")) {
        (Some(text), Some(html)) => {
            builder.multipart(MultiPart::alternative_plain_html(text, html))
        }
        (None, Some(html)) => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html),
        ),
        (text, None) => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text.unwrap_or_default()),
        ),
    }
    .map_err(|e| format!("building the email: {e}"))?;
    let headers = email.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("List-Unsubscribe"),
        unsubscribe,
    ));
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click".into(),
    ));
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-ABM-Message"),
        m.id.to_string(),
    ));
    Ok(email)
}

/// The sender loop of an instance with the `worker` role (`delivery.send_loop`): a pass over
/// the due messages, then, once nothing is due, a wait of `delivery.poll_interval_ms`. Any
/// number of instances run one; their claims keep them apart. Shutdown stops it between
/// batches: the pass in progress is held by the jobs' drain, so its sends are recorded.
pub fn spawn_loop(ctx: std::sync::Arc<AppContext>) -> Option<tokio::task::JoinHandle<()>> {
    if !ctx.settings.delivery.send_loop {
        return None;
    }
    let mailer = match Mailer::from_settings(&ctx.settings.email, &ctx.settings.delivery) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "the sender loop cannot start");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        let idle =
            std::time::Duration::from_millis(u64::from(ctx.settings.delivery.poll_interval_ms));
        loop {
            if ctx.jobs_rt.stopping.is_cancelled() {
                break;
            }
            {
                let _held = ctx.jobs_rt.tracker.token();
                // Shutdown's grace over: the pass is dropped; what it held is swept when its
                // lease ends (the same Message-IDs go again).
                let pass = tokio::select! {
                    r = std::panic::AssertUnwindSafe(send_due_with(&ctx, &mailer)).catch_unwind() => r,
                    _ = ctx.jobs_rt.interrupt.cancelled() => break,
                };
                let pass = pass.unwrap_or_else(|_| {
                    Err(DbErr::Custom(
                        "a delivery pass panicked (see the log)".into(),
                    ))
                });
                match pass {
                    Ok(r) if r.claimed + r.swept + r.notified > 0 => tracing::info!(
                        notified = r.notified,
                        claimed = r.claimed,
                        sent = r.sent,
                        deferred = r.deferred,
                        failed = r.failed,
                        dead = r.dead,
                        suppressed = r.suppressed,
                        swept = r.swept,
                        "delivery pass"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "delivery pass failed"),
                }
            }
            tokio::select! {
                _ = ctx.jobs_rt.stopping.cancelled() => break,
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }))
}

/// One pass over the due messages at the clock's time (the job `delivery_send`).
pub async fn send_due(ctx: &AppContext) -> Result<SendReport, DbErr> {
    let mailer = match Mailer::from_settings(&ctx.settings.email, &ctx.settings.delivery) {
        Ok(m) => m,
        Err(e) => return Err(DbErr::Custom(e)),
    };
    send_due_with(ctx, &mailer).await
}

/// [`send_due`] through a given mailer.
pub async fn send_due_with(ctx: &AppContext, mailer: &Mailer) -> Result<SendReport, DbErr> {
    // Accounts that became hot (their `account.hot` goes out once the event has settled).
    let hot = crate::tracking::engagement::hot_pass(ctx).await?;
    let mut report = SendReport {
        swept: sweep(ctx, ctx.clock.now()).await?,
        hot,
        notified: crate::tracking::notify::run(ctx).await?,
        ..Default::default()
    };
    let token: String = {
        let n: u64 = rand::rng().random();
        format!("send-{n:016x}")
    };
    let waits = Waits {
        email: ctx.settings.delivery.retry_waits(),
        webhook: ctx.settings.webhooks.retry_waits(),
    };
    let concurrency = ctx.settings.delivery.concurrency.max(1) as usize;
    let links = crate::tracking::Links::of(ctx).await?;
    let mut webhooks: Option<super::webhook_sender::WebhookClient> = None;
    loop {
        if ctx.jobs_rt.stopping.is_cancelled() {
            break;
        }
        // Each claim's lease starts when it is taken: a long pass never claims with a lease
        // that is already running out.
        let batch = claim(ctx, &token, ctx.clock.now()).await?;
        if batch.is_empty() {
            break;
        }
        report.claimed += batch.len() as u64;
        let suppressed = suppressed_among(ctx, &batch).await?;
        let endpoints = endpoints_of(ctx, &batch).await?;
        if webhooks.is_none() && !endpoints.is_empty() {
            webhooks = Some(
                super::webhook_sender::WebhookClient::new(&ctx.settings.webhooks)
                    .map_err(DbErr::Custom)?,
            );
        }
        // Sends run `concurrency` at a time; their outcomes are written by one recorder in
        // groups of up to RECORD_GROUP per transaction, while the next sends go on.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Attempted>(RECORD_GROUP);
        let sends = futures_util::stream::iter(batch)
            .map(|m| {
                let suppressed = &suppressed;
                let endpoints = &endpoints;
                let webhooks = webhooks.as_ref();
                async move {
                    let started = std::time::Instant::now();
                    let attempt = async {
                        if m.channel == "webhook" {
                            let endpoint =
                                endpoint_id(&m.recipient).and_then(|id| endpoints.get(&id));
                            match (endpoint, webhooks) {
                                (Some(e), _) if e.disabled_at.is_some() => (
                                    Outcome::Permanent {
                                        code: None,
                                        error: format!(
                                            "webhook endpoint {} is disabled: {}",
                                            e.id,
                                            e.disabled_reason.as_deref().unwrap_or("by hand")
                                        ),
                                        bounce: false,
                                    },
                                    None,
                                ),
                                (Some(e), Some(client)) => {
                                    client.post(e, &m, ctx.clock.now()).await
                                }
                                _ => (
                                    Outcome::Permanent {
                                        code: None,
                                        error: format!("no webhook endpoint `{}`", m.recipient),
                                        bounce: false,
                                    },
                                    None,
                                ),
                            }
                        } else if suppressed.contains(&m.recipient.trim().to_lowercase()) {
                            (Outcome::Suppressed, None)
                        } else {
                            let outcome =
                                match build_email(&m, &ctx.settings.email.from, Some(links)) {
                                    Ok(email) => {
                                        mailer.deliver(&email, &format!("{}.eml", m.id)).await
                                    }
                                    Err(error) => Outcome::Permanent {
                                        code: None,
                                        error,
                                        bounce: false,
                                    },
                                };
                            (outcome, None)
                        }
                    };
                    // A bug met by one message (a panic) fails that attempt, not the pass.
                    let (outcome, response) = std::panic::AssertUnwindSafe(attempt)
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| {
                            (
                                Outcome::Transient {
                                    code: None,
                                    error: "internal error while sending (see the log)".into(),
                                    retry_after: None,
                                },
                                None,
                            )
                        });
                    let latency = started.elapsed().as_millis().min(i64::MAX as u128) as i64;
                    (m, outcome, latency, response)
                }
            })
            .buffer_unordered(concurrency);
        let sends = async move {
            let mut sends = std::pin::pin!(sends);
            while let Some(done) = sends.next().await {
                // The recorder only stops on a database error, which ends the pass.
                if tx.send(done).await.is_err() {
                    break;
                }
            }
        };
        let recorder = async {
            let mut statuses = Vec::new();
            let mut group = Vec::with_capacity(RECORD_GROUP);
            while rx.recv_many(&mut group, RECORD_GROUP).await > 0 {
                statuses.extend(record_all(ctx, &token, std::mem::take(&mut group), &waits).await?);
            }
            Ok::<_, DbErr>(statuses)
        };
        let ((), statuses) = tokio::join!(sends, recorder);
        for status in statuses? {
            match status {
                Some(MessageStatus::Sent) => report.sent += 1,
                Some(MessageStatus::Deferred) => report.deferred += 1,
                Some(MessageStatus::Failed) => report.failed += 1,
                Some(MessageStatus::Dead) => report.dead += 1,
                Some(MessageStatus::Suppressed) => report.suppressed += 1,
                Some(_) => {}
                None => report.lost += 1,
            }
        }
    }
    Ok(report)
}

/// Puts messages whose sender's lease ran out back in the queue. The attempt they were in may
/// or may not have reached the server; the retry carries the same Message-ID.
async fn sweep(ctx: &AppContext, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(message::Entity::update_many()
        .col_expr(
            message::Column::Status,
            Expr::value(MessageStatus::Queued.as_str()),
        )
        .col_expr(message::Column::Claim, Expr::value(Option::<String>::None))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(message::Column::Status.eq(MessageStatus::Sending.as_str()))
        .filter(message::Column::LeaseUntil.lt(now))
        .exec(&ctx.db)
        .await?
        .rows_affected)
}

/// Claims up to `delivery.batch_size` due messages for `token` and commits the claim.
async fn claim(
    ctx: &AppContext,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Vec<message::Model>, DbErr> {
    let waiting = [
        MessageStatus::Queued.as_str(),
        MessageStatus::Deferred.as_str(),
    ];
    let lease = now + Duration::seconds(i64::from(ctx.settings.delivery.lease_seconds));
    let mut pick = Query::select();
    pick.column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::Status.is_in(waiting))
        .and_where(message::Column::NextAttemptAt.lte(now))
        .order_by(message::Column::NextAttemptAt, sea_orm::Order::Asc)
        .order_by(message::Column::Id, sea_orm::Order::Asc)
        .limit(u64::from(ctx.settings.delivery.batch_size));
    if crate::db::is_postgres(&ctx.db) {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    message::Entity::update_many()
        .col_expr(
            message::Column::Status,
            Expr::value(MessageStatus::Sending.as_str()),
        )
        .col_expr(message::Column::Claim, Expr::value(token))
        .col_expr(message::Column::LeaseUntil, Expr::value(lease))
        .filter(message::Column::Id.in_subquery(pick))
        // Checked again on the row: a sender that claimed it first wins.
        .filter(message::Column::Status.is_in(waiting))
        .exec(&ctx.db)
        .await?;
    message::Entity::find()
        .filter(message::Column::Claim.eq(token))
        .filter(message::Column::Status.eq(MessageStatus::Sending.as_str()))
        .all(&ctx.db)
        .await
}

/// The recipients of `batch` on the suppression list now.
async fn suppressed_among(
    ctx: &AppContext,
    batch: &[message::Model],
) -> Result<std::collections::HashSet<String>, DbErr> {
    let addresses: Vec<String> = batch
        .iter()
        .map(|m| m.recipient.trim().to_lowercase())
        .collect();
    let mut out = std::collections::HashSet::new();
    for chunk in addresses.chunks(500) {
        let rows: Vec<String> = suppression::Entity::find()
            .select_only()
            .column(suppression::Column::Address)
            .filter(suppression::Column::Address.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// The endpoint id of a webhook message's recipient (`endpoint:<id>`).
fn endpoint_id(recipient: &str) -> Option<i64> {
    recipient.strip_prefix("endpoint:")?.parse().ok()
}

/// The endpoints the webhook messages of `batch` go to.
async fn endpoints_of(
    ctx: &AppContext,
    batch: &[message::Model],
) -> Result<std::collections::HashMap<i64, webhook_endpoint::Model>, DbErr> {
    let mut ids: Vec<i64> = batch
        .iter()
        .filter(|m| m.channel == "webhook")
        .filter_map(|m| endpoint_id(&m.recipient))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect())
}

/// `wait` ± 10%.
fn jittered(wait: Duration) -> Duration {
    let ms = wait.num_milliseconds();
    let spread = ms / 10;
    let j = if spread > 0 {
        rand::rng().random_range(-spread..=spread)
    } else {
        0
    };
    Duration::milliseconds(ms + j)
}

/// A message, how its attempt ended, and how long it took (ms).
type Attempted = (message::Model, Outcome, i64, Option<String>);

/// The retry schedules: `delivery.retry_schedule` for email, `webhooks.retry_schedule` for
/// webhook messages.
pub struct Waits {
    pub email: Vec<Duration>,
    pub webhook: Vec<Duration>,
}

impl Waits {
    fn of(&self, m: &message::Model) -> &[Duration] {
        if m.channel == "webhook" {
            &self.webhook
        } else {
            &self.email
        }
    }
}

/// Outcomes written per transaction at most. A crash loses the records (not the sends) of the
/// messages in flight: at most `delivery.concurrency` being sent, this many waiting for the
/// recorder and this many being written; they are sent again with the same Message-ID.
const RECORD_GROUP: usize = 64;

/// Writes the outcomes of a group of attempts (status, attempt rows, bounce suppressions) in
/// one transaction; for each, the new status, or `None` when another sender took it over.
async fn record_all(
    ctx: &AppContext,
    token: &str,
    group: Vec<Attempted>,
    waits: &Waits,
) -> Result<Vec<Option<MessageStatus>>, DbErr> {
    record_group(ctx, token, group, waits, true).await
}

/// [`record_all`] one row at a time.
async fn record_rows(
    ctx: &AppContext,
    token: &str,
    group: Vec<Attempted>,
    waits: &Waits,
) -> Result<Vec<Option<MessageStatus>>, DbErr> {
    Box::pin(record_group(ctx, token, group, waits, false)).await
}

async fn record_group(
    ctx: &AppContext,
    token: &str,
    group: Vec<Attempted>,
    waits: &Waits,
    try_bulk: bool,
) -> Result<Vec<Option<MessageStatus>>, DbErr> {
    let now = ctx.clock.now();
    let instance: String = ctx.instance_id.chars().take(64).collect();
    let txn = crate::db::begin_write(&ctx.db).await?;
    let mut statuses = Vec::with_capacity(group.len());
    let mut attempts = Vec::with_capacity(group.len());
    let mut events = Vec::with_capacity(group.len());
    // The common case, all sent and all still ours: one statement for the whole group.
    let sent_ids: Vec<i64> = group
        .iter()
        .filter(|(_, o, _, _)| matches!(o, Outcome::Sent { .. }))
        .map(|(m, _, _, _)| m.id)
        .collect();
    let mut bulk_sent = false;
    if try_bulk && sent_ids.len() == group.len() && !sent_ids.is_empty() {
        let done = message::Entity::update_many()
            .col_expr(
                message::Column::Status,
                Expr::value(MessageStatus::Sent.as_str()),
            )
            .col_expr(
                message::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(message::Column::Attempts), 1),
            )
            .col_expr(
                message::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                message::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(message::Column::Claim, Expr::value(Option::<String>::None))
            .col_expr(
                message::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(message::Column::UpdatedAt, Expr::value(now))
            .col_expr(message::Column::SentAt, Expr::value(Some(now)))
            .filter(message::Column::Id.is_in(sent_ids.iter().copied()))
            .filter(message::Column::Claim.eq(token))
            .exec(&txn)
            .await?;
        if done.rows_affected == sent_ids.len() as u64 {
            bulk_sent = true;
        } else {
            // Some were taken over: undo and go row by row to know which.
            txn.rollback().await?;
            return record_rows(ctx, token, group, waits).await;
        }
    }
    let mut health: Vec<(i64, Health)> = Vec::new();
    for (m, outcome, latency_ms, response) in group {
        if m.channel == "webhook"
            && let Some(ep) = endpoint_id(&m.recipient)
        {
            health.push((ep, Health::of(&outcome)));
        }
        if bulk_sent {
            let Outcome::Sent { code } = outcome else {
                continue;
            };
            attempts.push(delivery_attempt::ActiveModel {
                message_id: Set(m.id),
                attempt: Set(m.attempts + 1),
                at: Set(now),
                outcome: Set(MessageStatus::Sent.as_str().into()),
                code: Set(code),
                error: Set(None),
                latency_ms: Set(latency_ms),
                instance: Set(instance.clone()),
                response: Set(response.clone()),
                ..Default::default()
            });
            if crate::events::tracks(&m) {
                let data =
                    serde_json::json!({ "channel": m.channel, "code": code_of_last(&attempts) });
                events.push(crate::events::of_message(
                    &m,
                    crate::events::EventKind::Delivered,
                    now,
                    data,
                ));
            }
            statuses.push(Some(MessageStatus::Sent));
            continue;
        }
        let attempt = m.attempts + 1;
        let (status, next, code, error) = match &outcome {
            Outcome::Sent { code } => (MessageStatus::Sent, None, code.clone(), None),
            Outcome::Suppressed => (
                MessageStatus::Suppressed,
                None,
                None,
                Some("the address is on the suppression list".to_string()),
            ),
            Outcome::Transient {
                code,
                error,
                retry_after,
            } => match waits.of(&m).get(m.attempts.max(0) as usize) {
                Some(w) => (
                    MessageStatus::Deferred,
                    Some(now + retry_after.unwrap_or_else(|| jittered(*w))),
                    code.clone(),
                    Some(error.clone()),
                ),
                None => (
                    MessageStatus::Dead,
                    None,
                    code.clone(),
                    Some(format!("{error} (after {attempt} attempts)")),
                ),
            },
            Outcome::Permanent { code, error, .. } => (
                MessageStatus::Failed,
                None,
                code.clone(),
                Some(error.clone()),
            ),
        };
        let mut update = message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::value(status.as_str()))
            .col_expr(message::Column::Attempts, Expr::value(attempt))
            .col_expr(message::Column::NextAttemptAt, Expr::value(next))
            .col_expr(message::Column::LastError, Expr::value(error.clone()))
            .col_expr(message::Column::Claim, Expr::value(Option::<String>::None))
            .col_expr(
                message::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(message::Column::UpdatedAt, Expr::value(now));
        if status == MessageStatus::Sent {
            update = update.col_expr(message::Column::SentAt, Expr::value(Some(now)));
        }
        let done = update
            .filter(message::Column::Id.eq(m.id))
            .filter(message::Column::Claim.eq(token))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            statuses.push(None);
            continue;
        }
        attempts.push(delivery_attempt::ActiveModel {
            message_id: Set(m.id),
            attempt: Set(attempt),
            at: Set(now),
            outcome: Set(status.as_str().into()),
            code: Set(code),
            error: Set(error.clone()),
            latency_ms: Set(latency_ms),
            instance: Set(instance.clone()),
            response: Set(response.clone()),
            ..Default::default()
        });
        if let Outcome::Permanent { bounce: true, .. } = outcome {
            suppression::Entity::insert(suppression::ActiveModel {
                address: Set(m.recipient.trim().to_lowercase()),
                reason: Set(SuppressionReason::Bounced.as_str().into()),
                note: Set(error
                    .as_ref()
                    .map(|e| format!("hard bounce of message {}: {e}", m.id))),
                created_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::column(suppression::Column::Address)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        if status == MessageStatus::Dead {
            tracing::warn!(message = m.id, to = %m.recipient, "message is dead after its last retry");
        }
        if crate::events::tracks(&m) {
            use crate::events::EventKind;
            let code = code_of_last(&attempts);
            let (kind, bounce) = match (status, &outcome) {
                (MessageStatus::Sent, _) => (Some(EventKind::Delivered), false),
                (MessageStatus::Dead, _) => (Some(EventKind::Dead), false),
                (MessageStatus::Failed, Outcome::Permanent { bounce: true, .. }) => {
                    (Some(EventKind::Bounced), true)
                }
                (MessageStatus::Failed, _) => (Some(EventKind::Failed), false),
                _ => (None, false),
            };
            let data = if kind == Some(EventKind::Delivered) {
                serde_json::json!({ "channel": m.channel, "code": code })
            } else if bounce {
                serde_json::json!({
                    "type": "hard", "source": "smtp", "channel": m.channel, "code": code,
                    "error": error,
                })
            } else {
                serde_json::json!({
                    "channel": m.channel, "code": code, "error": error, "attempts": attempt,
                })
            };
            events.extend(kind.map(|k| crate::events::of_message(&m, k, now, data)));
        }
        statuses.push(Some(status));
    }
    if !attempts.is_empty() {
        delivery_attempt::Entity::insert_many(attempts)
            .exec_without_returning(&txn)
            .await?;
    }
    if !health.is_empty() {
        let hours = i64::from(ctx.settings.webhooks.disable_after_hours);
        events.extend(endpoint_health(&txn, health, now, Duration::hours(hours)).await?);
    }
    crate::events::insert(&txn, events).await?;
    txn.commit().await?;
    Ok(statuses)
}

/// How a webhook delivery bears on its endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Ok,
    Failed,
    /// 410 Gone: the receiver says it is gone for good.
    Gone,
}

impl Health {
    fn of(o: &Outcome) -> Health {
        match o {
            Outcome::Sent { .. } | Outcome::Suppressed => Health::Ok,
            Outcome::Permanent { code: Some(c), .. } if c == "410" => Health::Gone,
            _ => Health::Failed,
        }
    }
}

/// Updates endpoints after deliveries: a success ends a run of failures; a failure starts one;
/// an endpoint failing for longer than `disable_after`, or answering 410, is disabled, with an
/// `endpoint_disabled` event.
async fn endpoint_health(
    txn: &impl sea_orm::ConnectionTrait,
    results: Vec<(i64, Health)>,
    now: DateTime<Utc>,
    disable_after: Duration,
) -> Result<Vec<crate::entities::event::ActiveModel>, DbErr> {
    use webhook_endpoint::Column as C;
    let mut by_endpoint: std::collections::BTreeMap<i64, Health> = Default::default();
    for (id, h) in results {
        let e = by_endpoint.entry(id).or_insert(h);
        // Gone wins; then any success in the group.
        *e = match (*e, h) {
            (Health::Gone, _) | (_, Health::Gone) => Health::Gone,
            (Health::Ok, _) | (_, Health::Ok) => Health::Ok,
            _ => Health::Failed,
        };
    }
    let ids = |want: Health| -> Vec<i64> {
        by_endpoint
            .iter()
            .filter(|(_, h)| **h == want)
            .map(|(id, _)| *id)
            .collect()
    };
    let (ok, failed, gone) = (ids(Health::Ok), ids(Health::Failed), ids(Health::Gone));
    if !ok.is_empty() {
        webhook_endpoint::Entity::update_many()
            .col_expr(C::FailingSince, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::Id.is_in(ok))
            .filter(C::FailingSince.is_not_null())
            .exec(txn)
            .await?;
    }
    if !failed.is_empty() {
        webhook_endpoint::Entity::update_many()
            .col_expr(C::FailingSince, Expr::value(Some(now)))
            .filter(C::Id.is_in(failed.clone()))
            .filter(C::FailingSince.is_null())
            .exec(txn)
            .await?;
    }
    let mut disable: Vec<(i64, String)> = gone
        .into_iter()
        .map(|id| (id, "the endpoint answered 410 Gone".to_string()))
        .collect();
    if !failed.is_empty() {
        let too_long: Vec<(i64, Option<DateTime<Utc>>)> = webhook_endpoint::Entity::find()
            .select_only()
            .columns([C::Id, C::FailingSince])
            .filter(C::Id.is_in(failed))
            .filter(C::DisabledAt.is_null())
            .filter(C::FailingSince.lte(now - disable_after))
            .into_tuple()
            .all(txn)
            .await?;
        disable.extend(too_long.into_iter().map(|(id, since)| {
            (
                id,
                format!(
                    "every delivery failed since {} (more than {} hours)",
                    since.map(|s| s.to_rfc3339()).unwrap_or_default(),
                    disable_after.num_hours()
                ),
            )
        }));
    }
    let mut events = Vec::new();
    for (id, reason) in disable {
        let done = webhook_endpoint::Entity::update_many()
            .col_expr(C::DisabledAt, Expr::value(Some(now)))
            .col_expr(C::DisabledReason, Expr::value(Some(reason.clone())))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .filter(C::Id.eq(id))
            .filter(C::DisabledAt.is_null())
            .exec(txn)
            .await?;
        if done.rows_affected == 1 {
            tracing::warn!(endpoint = id, %reason, "webhook endpoint disabled");
            events.push(crate::events::new(
                crate::events::EventKind::EndpointDisabled,
                now,
                serde_json::json!({ "endpoint": id, "reason": reason }),
            ));
        }
    }
    Ok(events)
}

/// The code of the attempt pushed last.
fn code_of_last(attempts: &[delivery_attempt::ActiveModel]) -> Option<String> {
    match attempts.last().map(|a| &a.code) {
        Some(sea_orm::ActiveValue::Set(c)) => c.clone(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_rejected_mailbox_is_a_hard_bounce() {
        assert!(rejects_mailbox(
            "permanent error (550): 5.1.1 No such user here"
        ));
        assert!(rejects_mailbox(
            "permanent error (553): 5.1.3 Bad recipient address syntax"
        ));
        assert!(rejects_mailbox("permanent error (550): no such user"));
        assert!(!rejects_mailbox(
            "permanent error (550): 5.7.1 Message rejected as spam"
        ));
        assert!(!rejects_mailbox(
            "permanent error (550): 5.7.1 Relaying denied for user"
        ));
        assert!(!rejects_mailbox(
            "permanent error (550): rejected by policy"
        ));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let j = jittered(Duration::minutes(10));
            assert!(
                j >= Duration::minutes(9) && j <= Duration::minutes(11),
                "{j}"
            );
        }
    }
}
