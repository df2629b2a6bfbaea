//! Queuing messages in the outbox: the same rows come back on both databases (PostgreSQL takes
//! them as column arrays, SQLite as multi-row inserts), and an idempotency key is queued once.

use abm::delivery::outbox::{MessageValues, enqueue};
use abm::entities::message;
use chrono::{TimeZone, Utc};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, spawn_app};

fn full(key: &str) -> MessageValues {
    MessageValues {
        idempotency_key: key.into(),
        message_id: format!("<{key}@abm.test>"),
        campaign_id: Some(7),
        enrolment_id: Some(70),
        step: Some("hello".into()),
        account_id: 3,
        stakeholder_id: Some(30),
        task_id: Some(300),
        channel: "email".into(),
        recipient: "ana@acme.example".into(),
        template_id: Some("outreach-general-en".into()),
        // Empty is a value, not NULL.
        subject: Some(String::new()),
        parts: json!({"subject": "", "text": "Grüße, \"Ana\" \\ ✓", "html": "<p>x</p>"}),
        reason: Some("campaign c step hello".into()),
    }
}

fn bare(key: &str) -> MessageValues {
    MessageValues {
        idempotency_key: key.into(),
        message_id: format!("msg_{key}"),
        campaign_id: None,
        enrolment_id: None,
        step: None,
        account_id: 4,
        stakeholder_id: None,
        task_id: None,
        channel: "webhook".into(),
        recipient: "endpoint:1".into(),
        template_id: None,
        subject: None,
        parts: json!({}),
        reason: None,
    }
}

async fn queued_rows_keep_their_values_and_nulls_and_a_key_is_queued_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 30, 0)
        .single()
        .expect("time");
    let first = [full("k1"), bare("k2")];
    assert_eq!(enqueue(&app.db, &first, now).await.expect("enqueue"), 2);
    // k1 again (changed) is skipped, k3 is new.
    let mut again = full("k1");
    again.recipient = "other@acme.example".into();
    let later = now + chrono::Duration::hours(1);
    assert_eq!(
        enqueue(&app.db, &[again, bare("k3")], later)
            .await
            .expect("enqueue"),
        1
    );
    assert_eq!(enqueue(&app.db, &[], now).await.expect("empty"), 0);

    let rows = message::Entity::find()
        .order_by_asc(message::Column::IdempotencyKey)
        .all(&app.db)
        .await
        .expect("rows");
    let keys: Vec<&str> = rows.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["k1", "k2", "k3"]);
    let (k1, k2, k3) = (&rows[0], &rows[1], &rows[2]);
    let want = full("k1");
    assert_eq!(k1.message_id, want.message_id);
    assert_eq!(k1.recipient, "ana@acme.example", "the first row stays");
    assert_eq!(
        (
            k1.campaign_id,
            k1.enrolment_id,
            k1.stakeholder_id,
            k1.task_id
        ),
        (Some(7), Some(70), Some(30), Some(300))
    );
    assert_eq!(k1.step.as_deref(), Some("hello"));
    assert_eq!(k1.template_id.as_deref(), Some("outreach-general-en"));
    assert_eq!(k1.subject.as_deref(), Some(""));
    assert_eq!(k1.reason, want.reason);
    assert_eq!(k1.parts, want.parts);
    assert_eq!((k1.account_id, k1.channel.as_str()), (3, "email"));
    assert_eq!(
        (
            k2.campaign_id,
            k2.enrolment_id,
            k2.stakeholder_id,
            k2.task_id
        ),
        (None, None, None, None)
    );
    assert_eq!(
        (&k2.step, &k2.template_id, &k2.subject, &k2.reason),
        (&None, &None, &None, &None)
    );
    assert_eq!(k2.parts, json!({}));
    for (m, at) in [(k1, now), (k2, now), (k3, later)] {
        assert_eq!(m.status, "queued");
        assert_eq!(m.attempts, 0);
        assert_eq!(m.next_attempt_at, Some(at));
        assert_eq!((m.created_at, m.updated_at), (at, at));
        assert_eq!((&m.claim, m.lease_until, m.sent_at), (&None, None, None));
        assert_eq!(m.last_error, None);
    }
}

db_tests!(queued_rows_keep_their_values_and_nulls_and_a_key_is_queued_once);
