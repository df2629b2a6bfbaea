//! Opens and clicks are accepted by the `/t/` endpoints without touching the database and
//! written here in batches: one lookup of their messages and one insert per batch, at least
//! every `tracking.flush_ms`. A flush (used at shutdown, and by tests) writes everything
//! accepted before it. A batch that fails to write is tried again; nothing accepted is
//! dropped while the process runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{mpsc, oneshot};

use super::machine;
use crate::context::AppContext;
use crate::entities::message;
use crate::events::EventKind;

/// Hits waiting in memory at most; a request waits for room beyond that.
const QUEUE: usize = 65_536;
/// Hits written per batch at most.
const BATCH: usize = 2_000;
/// Messages whose last click is remembered for the burst rule.
const RECENT: usize = 100_000;

/// One open or click, as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub kind: EventKind,
    pub message_id: String,
    pub target: Option<String>,
    pub at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// The reason the request alone shows it is a machine's.
    pub machine: Option<&'static str>,
}

enum Cmd {
    Hit(Hit),
    Flush(oneshot::Sender<()>),
}

/// The writer's handle: cheap to clone, started on first use.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<Cmd>,
}

impl Sink {
    /// Starts the writer on the context's runtime.
    fn start(ctx: Arc<AppContext>) -> Sink {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = run(ctx.clone(), rx);
        match &ctx.runtime {
            Some(h) => {
                h.spawn(task);
            }
            None => {
                tokio::spawn(task);
            }
        }
        Sink { tx }
    }

    /// The sink of `ctx`.
    pub fn of(ctx: &Arc<AppContext>) -> &Sink {
        ctx.hits.get_or_init(|| Sink::start(ctx.clone()))
    }

    /// Accepts a hit (waits only when the queue is full).
    pub async fn push(&self, hit: Hit) {
        if self.tx.send(Cmd::Hit(hit)).await.is_err() {
            tracing::error!("the tracking writer has stopped; a hit was not recorded");
        }
    }

    /// Returns once every hit accepted before the call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Cmd::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Flushes the sink of `ctx` if it was ever started (shutdown).
pub async fn flush_if_started(ctx: &AppContext) {
    if let Some(s) = ctx.hits.get() {
        s.flush().await;
    }
}

async fn run(ctx: Arc<AppContext>, mut rx: mpsc::Receiver<Cmd>) {
    let every = StdDuration::from_millis(u64::from(ctx.settings.tracking.flush_ms));
    let mut recent: HashMap<String, (DateTime<Utc>, String)> = HashMap::new();
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut hits = Vec::new();
        let mut waiters = Vec::new();
        let mut take = |cmd: Cmd, hits: &mut Vec<Hit>| match cmd {
            Cmd::Hit(h) => {
                hits.push(h);
                false
            }
            Cmd::Flush(w) => {
                waiters.push(w);
                true
            }
        };
        let mut flush = take(first, &mut hits);
        let deadline = tokio::time::Instant::now() + every;
        while !flush && hits.len() < BATCH {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => flush = take(cmd, &mut hits),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut tries = 0u32;
        while !hits.is_empty() {
            match write(&ctx, &hits, &mut recent).await {
                Ok(()) => break,
                Err(e) => {
                    tries += 1;
                    tracing::error!(error = %e, hits = hits.len(), tries, "writing opens and clicks failed; trying again");
                    tokio::time::sleep(StdDuration::from_millis(200 * u64::from(tries.min(25))))
                        .await;
                }
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

/// The message fields an event links to.
type MessageRow = (
    i64,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<DateTime<Utc>>,
);

async fn write(
    ctx: &AppContext,
    hits: &[Hit],
    recent: &mut HashMap<String, (DateTime<Utc>, String)>,
) -> Result<(), DbErr> {
    let mut ids: Vec<&str> = hits.iter().map(|h| h.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut messages: HashMap<String, MessageRow> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<MessageRow> = message::Entity::find()
            .select_only()
            .columns([
                message::Column::Id,
                message::Column::MessageId,
                message::Column::AccountId,
                message::Column::StakeholderId,
                message::Column::CampaignId,
                message::Column::Step,
                message::Column::SentAt,
            ])
            .filter(message::Column::MessageId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        for r in rows {
            messages.insert(r.1.clone(), r);
        }
    }
    let t = &ctx.settings.tracking;
    let soon = Duration::seconds(i64::from(t.machine_seconds));
    let burst = Duration::milliseconds(i64::from(t.machine_burst_ms));
    let now = ctx.clock.now();
    if recent.len() > RECENT {
        recent.clear();
    }
    let mut events = Vec::with_capacity(hits.len());
    for h in hits {
        let Some((id, _, account, stakeholder, campaign, step, sent_at)) =
            messages.get(&h.message_id)
        else {
            continue;
        };
        let mut reason = h.machine;
        if reason.is_none() && sent_at.is_some_and(|s| h.at - s <= soon) {
            reason = Some(machine::TIMING);
        }
        if let (EventKind::Clicked, Some(target)) = (h.kind, &h.target) {
            if let Some((last, last_target)) = recent.get(&h.message_id)
                && last_target != target
                && (h.at - *last).abs() <= burst
            {
                reason = reason.or(Some(machine::BURST));
            }
            recent.insert(h.message_id.clone(), (h.at, target.clone()));
        }
        let mut data = serde_json::Map::new();
        if let Some(target) = &h.target {
            data.insert("url".into(), target.clone().into());
        }
        if let Some(ua) = &h.user_agent {
            data.insert("user_agent".into(), ua.clone().into());
        }
        if let Some(r) = reason {
            data.insert("machine_reason".into(), r.into());
        }
        events.push(crate::entities::event::ActiveModel {
            kind: sea_orm::Set(h.kind.as_str().into()),
            occurred_at: sea_orm::Set(h.at),
            recorded_at: sea_orm::Set(now),
            account_id: sea_orm::Set(Some(*account)),
            stakeholder_id: sea_orm::Set(*stakeholder),
            campaign_id: sea_orm::Set(*campaign),
            step: sea_orm::Set(step.clone()),
            message_id: sea_orm::Set(Some(*id)),
            machine: sea_orm::Set(reason.is_some()),
            data: sea_orm::Set(serde_json::Value::Object(data)),
            ..Default::default()
        });
    }
    crate::events::insert(&ctx.db, events).await
}
