//! Opens and clicks are accepted by the `/t/` endpoints without touching the database and
//! written here in batches: one lookup of their messages and one insert per batch, at least
//! every `tracking.flush_ms`. A flush (used at shutdown, and by tests) writes everything
//! accepted before it. A batch that fails to write is tried again; nothing accepted is
//! dropped while the process runs.
//!
//! Accepting a hit is a push onto a shared buffer under a short lock: the writer is woken
//! only when a batch is full, a flush is asked for, or its timer runs out, never per hit
//! (a wake-up per request would cost a thread switch each).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{Notify, oneshot};

use super::machine;
use crate::context::AppContext;
use crate::entities::message;
use crate::events::EventKind;

/// Hits waiting in memory at most; a request waits for room beyond that.
const QUEUE: usize = 65_536;
/// Hits written per batch at most.
const BATCH: usize = 10_000;
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

/// What the endpoints and the writer share.
#[derive(Default)]
struct Shared {
    /// Hits accepted and not yet taken by the writer.
    hits: Mutex<Vec<Hit>>,
    /// Flushes waiting for everything accepted before them to be written.
    flushes: Mutex<Vec<oneshot::Sender<()>>>,
    /// Wakes the writer: a batch is full or a flush is waiting.
    wake: Notify,
    /// The writer took the buffer: there is room again.
    room: Notify,
}

/// The writer's handle: cheap to clone, started on first use.
#[derive(Clone)]
pub struct Sink {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sink {
    /// Starts the writer on the context's runtime.
    fn start(ctx: Arc<AppContext>) -> Sink {
        let shared = Arc::new(Shared::default());
        let task = run(ctx.clone(), shared.clone());
        match &ctx.runtime {
            Some(h) => {
                h.spawn(task);
            }
            None => {
                tokio::spawn(task);
            }
        }
        Sink { shared }
    }

    /// The sink of `ctx`.
    pub fn of(ctx: &Arc<AppContext>) -> &Sink {
        ctx.hits.get_or_init(|| Sink::start(ctx.clone()))
    }

    /// Accepts a hit (waits only when [`QUEUE`] hits are waiting to be written).
    pub async fn push(&self, hit: Hit) {
        let mut hit = Some(hit);
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before the check: a take between the check and the wait still wakes us.
            room.as_mut().enable();
            {
                let mut hits = lock(&self.shared.hits);
                if hits.len() < QUEUE {
                    hits.extend(hit.take());
                    if hits.len().is_multiple_of(BATCH) {
                        self.shared.wake.notify_one();
                    }
                    return;
                }
            }
            self.shared.wake.notify_one();
            room.await;
        }
    }

    /// Returns once every hit accepted before the call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        lock(&self.shared.flushes).push(done);
        self.shared.wake.notify_one();
        let _ = wait.await;
    }
}

/// Flushes the sink of `ctx` if it was ever started (shutdown).
pub async fn flush_if_started(ctx: &AppContext) {
    if let Some(s) = ctx.hits.get() {
        s.flush().await;
    }
}

async fn run(ctx: Arc<AppContext>, shared: Arc<Shared>) {
    let every = StdDuration::from_millis(u64::from(ctx.settings.tracking.flush_ms));
    let mut memory = Memory::default();
    loop {
        let _ = tokio::time::timeout(every, shared.wake.notified()).await;
        // Waiters first: every hit accepted before a flush call is in the buffer taken next.
        let waiters = std::mem::take(&mut *lock(&shared.flushes));
        let all = std::mem::take(&mut *lock(&shared.hits));
        shared.room.notify_waiters();
        for hits in all.chunks(BATCH) {
            let mut tries = 0u32;
            loop {
                match write(&ctx, hits, &mut memory).await {
                    Ok(()) => break,
                    Err(e) => {
                        tries += 1;
                        tracing::error!(error = %e, hits = hits.len(), tries, "writing opens and clicks failed; trying again");
                        tokio::time::sleep(StdDuration::from_millis(
                            200 * u64::from(tries.min(25)),
                        ))
                        .await;
                    }
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

/// What the writer remembers between batches.
#[derive(Default)]
struct Memory {
    /// Each message's last click (time, target), for the burst rule.
    recent: HashMap<String, (DateTime<Utc>, String)>,
    /// The links of sent messages seen lately: they never change once sent, and opens and
    /// clicks come again and again for the same recent messages, so most batches need no
    /// lookup at all.
    messages: HashMap<String, MessageRow>,
}

async fn write(ctx: &AppContext, hits: &[Hit], memory: &mut Memory) -> Result<(), DbErr> {
    let Memory { recent, messages } = memory;
    if messages.len() > RECENT {
        messages.clear();
    }
    let mut ids: Vec<&str> = hits
        .iter()
        .map(|h| h.message_id.as_str())
        .filter(|id| !messages.contains_key(*id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut unsent: HashMap<String, MessageRow> = HashMap::new();
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
            // One not yet recorded as sent (its sender has not written the outcome) is looked
            // up again next time, when its send time may decide what is a machine.
            if r.6.is_some() {
                messages.insert(r.1.clone(), r);
            } else {
                unsent.insert(r.1.clone(), r);
            }
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
        let Some((id, _, account, stakeholder, campaign, step, sent_at)) = messages
            .get(&h.message_id)
            .or_else(|| unsent.get(&h.message_id))
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
        events.push(crate::events::Row {
            kind: h.kind,
            occurred_at: h.at,
            recorded_at: now,
            account_id: Some(*account),
            stakeholder_id: *stakeholder,
            campaign_id: *campaign,
            step: step.clone(),
            message_id: Some(*id),
            machine: reason.is_some(),
            data: serde_json::Value::Object(data),
        });
    }
    // One transaction: the pages the batch touches go to the journal once, not per statement.
    let txn = crate::db::begin_write(&ctx.db).await?;
    crate::events::insert_rows(&txn, events).await?;
    txn.commit().await
}
