//! The content services without HTTP: an [`AppContext`] on a temporary SQLite database, data
//! inserted through the entities, and the select-and-render service called directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

use super::context::{AccountKey, Recipient, prepare, prepare_chunked};
use super::error::ContentError;
use super::service::{self, PreviewInput, RenderRequest};
use super::{Channel, Purpose};
use crate::clock::ManualClock;
use crate::config::{ConfigSource, Settings};
use crate::context::AppContext;
use crate::entities::{
    account, competitor, dossier_profile, manager, order, relationship_event, stakeholder,
};

/// A migrated SQLite database in a temporary folder, counting the statements run on it.
struct TestContext {
    ctx: AppContext,
    queries: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl TestContext {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/abm.db?mode=rwc", dir.path().display());
        let settings = Settings::load_from_pairs(
            &ConfigSource {
                dir: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config")),
                profile: Some("test".into()),
                file: None,
            },
            &[("ABM_DATABASE__URL", url.as_str())],
        )
        .expect("test settings");
        let mut db = crate::db::connect(&settings.database)
            .await
            .expect("connect");
        crate::db::migrate(&db).await.expect("migrate");
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let clock = ManualClock::new(now());
        let ctx = AppContext::new(db, settings, Arc::new(clock));
        Self {
            ctx,
            queries,
            _dir: dir,
        }
    }

    fn db(&self) -> &DatabaseConnection {
        &self.ctx.db
    }

    /// Statements run while `f` runs.
    async fn count<T>(&self, f: impl std::future::Future<Output = T>) -> (T, usize) {
        let before = self.queries.load(Ordering::SeqCst);
        let out = f.await;
        (out, self.queries.load(Ordering::SeqCst) - before)
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("date")
}

async fn insert_account(
    db: &DatabaseConnection,
    external_id: &str,
    country: Option<&str>,
    manager_id: Option<i64>,
    attributes: serde_json::Value,
) -> account::Model {
    let (timezone, currency) = match country {
        Some("VN") => ("Asia/Ho_Chi_Minh", "VND"),
        Some("US") => ("America/New_York", "USD"),
        _ => ("UTC", "EUR"),
    };
    account::ActiveModel {
        external_id: Set(external_id.into()),
        name: Set(format!("{external_id} Ltd")),
        industry: Set(Some("Manufacturing".into())),
        region: Set(None),
        country: Set(country.map(String::from)),
        timezone: Set(timezone.into()),
        currency: Set(currency.into()),
        manager_id: Set(manager_id),
        image_maker: Set(false),
        expert: Set(false),
        budget_minor: Set(None),
        attributes: Set(attributes),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("account")
}

async fn insert_stakeholder(
    db: &DatabaseConnection,
    account_id: i64,
    name: &str,
    role: &str,
    influence: i16,
    language: Option<&str>,
) -> stakeholder::Model {
    stakeholder::ActiveModel {
        external_id: Set(format!("{account_id}-{name}")),
        account_id: Set(account_id),
        name: Set(name.into()),
        title: Set(None),
        email: Set(Some(format!(
            "{}@example.com",
            name.to_lowercase().replace(' ', ".")
        ))),
        phone: Set(None),
        role: Set(role.into()),
        influence: Set(influence),
        language: Set(language.map(String::from)),
        consent: Set("granted".into()),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("stakeholder")
}

fn outreach(account: AccountKey, stakeholder: Option<i64>) -> RenderRequest {
    RenderRequest {
        recipient: Recipient {
            account,
            stakeholder,
        },
        purpose: Purpose::Outreach,
        channel: Channel::Email,
        template: None,
        offer: None,
        event: None,
    }
}

#[tokio::test]
async fn the_service_chooses_and_renders_for_an_account_and_stakeholder_without_http() {
    let t = TestContext::new().await;
    let acc = insert_account(t.db(), "ACME-VN", Some("VN"), None, serde_json::json!({})).await;
    let lan = insert_stakeholder(
        t.db(),
        acc.id,
        "Nguyễn Thị Lan",
        "decision_maker",
        5,
        Some("vi"),
    )
    .await;
    let bob = insert_stakeholder(t.db(), acc.id, "Bob Smith", "influencer", 3, Some("en")).await;

    let r = service::preview(
        &t.ctx,
        PreviewInput {
            account: "ACME-VN".into(),
            stakeholder: Some(lan.id),
            purpose: "outreach".into(),
            channel: None,
            offer: None,
            event: None,
        },
    )
    .await
    .expect("preview");

    assert_eq!(r.selection.chosen.as_deref(), Some("outreach-general-vi"));
    assert_eq!(
        r.template.as_ref().map(|t| t.id.as_str()),
        Some("outreach-general-vi")
    );
    let rendered = r.rendered.expect("rendered");
    assert_eq!(
        rendered.get("subject").map(String::as_str),
        Some("ACME-VN Ltd: đề nghị trao đổi ngắn về kế hoạch sắp tới")
    );
    assert!(rendered["text"].contains("Nguyễn Thị Lan"));

    // By account id, in a batch: the English speaker gets the English template, and a
    // stakeholder of another account is that request's own error.
    let out = service::select_and_render(
        &t.ctx,
        &[
            outreach(AccountKey::Id(acc.id), Some(bob.id)),
            outreach(AccountKey::Id(acc.id), Some(999_999)),
            outreach(AccountKey::External("NOPE".into()), None),
        ],
    )
    .await
    .expect("batch");
    let chosen = out[0].as_ref().expect("bob").selection.chosen.as_deref();
    assert_eq!(chosen, Some("outreach-general-en"));
    assert!(
        out[0]
            .as_ref()
            .expect("bob")
            .rendered
            .as_ref()
            .expect("parts")["subject"]
            == "A quick note for ACME-VN Ltd"
    );
    match &out[1] {
        Err(ContentError::Invalid(errors)) => assert_eq!(errors[0].path, "/stakeholder"),
        other => panic!("expected an invalid stakeholder, got {other:?}"),
    }
    assert!(matches!(&out[2], Err(ContentError::AccountNotFound(k)) if k == "NOPE"));
}

#[tokio::test]
async fn an_invalid_request_names_its_fields_and_does_not_stop_the_rest_of_the_batch() {
    let t = TestContext::new().await;
    insert_account(t.db(), "ACME-US", Some("US"), None, serde_json::json!({})).await;
    let mut bad = outreach(AccountKey::External("ACME-US".into()), None);
    bad.offer = Some(super::context::OfferCtx {
        code: None,
        kind: crate::domain::kinds::OfferKind::Discount,
        discount_percent: Some(150.0),
        amount: None,
        gift: None,
        terms: None,
        valid_until: None,
        expires_on: None,
        description: None,
    });
    let good = outreach(AccountKey::External("ACME-US".into()), None);

    let out = service::select_and_render(&t.ctx, &[bad, good])
        .await
        .expect("batch");

    match &out[0] {
        Err(ContentError::Invalid(errors)) => assert_eq!(
            errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            vec!["/offer/discount_percent"]
        ),
        other => panic!("expected invalid fields, got {other:?}"),
    }
    let good = out[1].as_ref().expect("rendered");
    assert_eq!(
        good.selection.chosen.as_deref(),
        Some("outreach-general-en")
    );
}

/// 200 accounts with managers, profiles, competitors, relationship history, stakeholders and
/// (after an analysis run) snapshots; one recipient each (its first stakeholder, if any).
async fn two_hundred_accounts(t: &TestContext) -> Vec<Recipient> {
    let db = t.db();
    let mut managers = Vec::new();
    for m in 0..3 {
        let row = manager::ActiveModel {
            email: Set(format!("kam{m}@supplier.example")),
            name: Set(format!("KAM {m}")),
            phone: Set(None),
            webhook_url: Set(None),
            created_at: Set(now()),
            updated_at: Set(now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("manager");
        managers.push(row.id);
    }
    let mut recipients = Vec::new();
    let mut orders = Vec::new();
    for i in 0..200usize {
        let country = [Some("VN"), Some("US"), None][i % 3];
        let attributes = if i % 4 == 0 {
            serde_json::json!({"tier": "gold"})
        } else {
            serde_json::json!({})
        };
        let a = insert_account(
            db,
            &format!("ACC-{i:03}"),
            country,
            Some(managers[i % 3]),
            attributes,
        )
        .await;
        if i % 2 == 0 {
            dossier_profile::ActiveModel {
                account_id: Set(a.id),
                description: Set(Some(format!("Profile {i}"))),
                employees: Set(Some(100 + i as i32)),
                founded_year: Set(Some(1990)),
                history: Set(None),
                org_structure: Set(None),
                business_environment: Set(None),
                updated_at: Set(now()),
            }
            .insert(db)
            .await
            .expect("profile");
        }
        for c in 0..(i % 3) {
            competitor::ActiveModel {
                account_id: Set(a.id),
                name: Set(format!("Rival {c}")),
                products: Set(None),
                strength: Set(Some(c as i16 + 1)),
                notes: Set(None),
                created_at: Set(now()),
                updated_at: Set(now()),
                ..Default::default()
            }
            .insert(db)
            .await
            .expect("competitor");
        }
        for e in 0..(i % 5) {
            let (kind, outcome) = [
                ("tender", None),
                ("delivery", None),
                ("tender", Some("lost")),
                ("win", Some("won")),
            ][e % 4];
            relationship_event::ActiveModel {
                account_id: Set(a.id),
                kind: Set(kind.into()),
                occurred_on: Set((now() - Duration::days(30 * e as i64 + 1)).date_naive()),
                value_minor: Set(Some(1_000 * e as i64)),
                outcome: Set(outcome.map(String::from)),
                reason: Set(outcome.map(|_| "price".to_string())),
                notes: Set(None),
                created_at: Set(now()),
                updated_at: Set(now()),
                ..Default::default()
            }
            .insert(db)
            .await
            .expect("event");
        }
        let mut first = None;
        for s in 0..(i % 4) {
            let role = ["decision_maker", "influencer", "user"][s % 3];
            let language = [Some("vi"), Some("en"), None][(i + s) % 3];
            let p = insert_stakeholder(
                db,
                a.id,
                &format!("Person {i} {s}"),
                role,
                5 - s as i16,
                language,
            )
            .await;
            first.get_or_insert(p.id);
        }
        if i % 2 == 0 {
            for o in 0..4i64 {
                orders.push(order::ActiveModel {
                    external_id: Set(format!("O-{i}-{o}")),
                    account_id: Set(a.id),
                    ordered_at: Set(now() - Duration::days(40 * o + i as i64)),
                    amount_minor: Set(10_000 * (i as i64 + 1)),
                    margin_minor: Set(None),
                    currency: Set(a.currency.clone()),
                    offer_code: Set(None),
                    created_at: Set(now()),
                    updated_at: Set(now()),
                    ..Default::default()
                });
            }
        }
        recipients.push(Recipient {
            account: AccountKey::Id(a.id),
            stakeholder: first,
        });
    }
    order::Entity::insert_many(orders)
        .exec(db)
        .await
        .expect("orders");
    crate::analytics::service::run(
        db,
        t.ctx.clock.as_ref(),
        &t.ctx.settings.analytics,
        &t.ctx.settings.winback,
        "test",
    )
    .await
    .expect("analysis run");
    recipients
}

#[tokio::test]
async fn render_contexts_for_a_batch_equal_those_built_one_account_at_a_time_in_as_many_queries() {
    let t = TestContext::new().await;
    let recipients = two_hundred_accounts(&t).await;

    let (batch, batch_queries) = t.count(prepare(t.db(), now(), &recipients)).await;
    let batch = batch.expect("batch");
    assert_eq!(batch.len(), 200);
    for (r, b) in recipients.iter().zip(&batch) {
        let (single, single_queries) = t
            .count(prepare(t.db(), now(), std::slice::from_ref(r)))
            .await;
        let single = single.expect("single").pop().expect("one").expect("found");
        let b = b.as_ref().expect("found");
        assert_eq!(b.context, single.context, "{r:?}");
        assert_eq!(b.account, single.account);
        assert_eq!(b.stakeholder, single.stakeholder);
        assert_eq!(
            single_queries, batch_queries,
            "one account costs as many queries as 200"
        );
    }
    // Latest run and the facts loader's three, then 14 per chunk (13, and the events of the engagement score) (see `prepare`).
    assert_eq!(batch_queries, 4 + 14);

    // Several chunks: the same contexts, 14 more queries per chunk.
    let (chunked, chunked_queries) = t
        .count(prepare_chunked(t.db(), now(), &recipients, 64))
        .await;
    let chunked = chunked.expect("chunked");
    for (a, b) in batch.iter().zip(&chunked) {
        let (a, b) = (a.as_ref().expect("found"), b.as_ref().expect("found"));
        assert_eq!(a.context, b.context);
    }
    assert_eq!(chunked_queries, 4 + 14 * 4);

    // The data shows up where templates read it.
    let full = batch
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .find(|p| p.account.external_id == "ACC-004")
        .expect("ACC-004");
    assert_eq!(full.context.dossier.relationships.len(), 4);
    assert_eq!(full.context.dossier.open_tenders, 1);
    assert_eq!(full.context.dossier.competitors.len(), 1);
    assert_eq!(
        full.context.manager.as_ref().map(|m| m.name.as_str()),
        Some("KAM 1")
    );
    assert!(full.context.analytics.abc.is_some());
    assert_eq!(full.context.dossier.profile.employees, Some(104));
}

#[tokio::test]
async fn selecting_and_rendering_a_batch_gives_what_each_account_gets_alone() {
    let t = TestContext::new().await;
    let recipients = two_hundred_accounts(&t).await;
    let requests: Vec<RenderRequest> = recipients
        .iter()
        .map(|r| outreach(r.account.clone(), r.stakeholder))
        .collect();

    let (batch, queries) = t.count(service::select_and_render(&t.ctx, &requests)).await;
    let batch = batch.expect("batch");
    // The library's change check, then the batch's contexts (see `prepare`), with the facts
    // loader reading only what the shipped templates' `when` rules use (8 queries here, not
    // the 13 that every fact takes).
    assert_eq!(queries, 1 + 4 + 8);
    for (req, b) in requests.iter().zip(&batch) {
        let single = service::select_and_render(&t.ctx, std::slice::from_ref(req))
            .await
            .expect("single")
            .pop()
            .expect("one");
        let (b, single) = (b.as_ref().expect("rendered"), single.expect("rendered"));
        assert_eq!(
            serde_json::to_value(b).expect("json"),
            serde_json::to_value(&single).expect("json"),
            "{req:?}"
        );
        assert!(b.rendered.is_some(), "outreach has a general template");
    }
}
