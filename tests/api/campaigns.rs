//! The campaign engine end to end: enrolment from segments and triggers, the step machine
//! through send, wait, branch and manager task, caps, windows across timezones and DST, pause
//! and lateness, racing ticks, and the schedule preview against what the ticks then do. Time
//! only moves when a test moves the clock; ticks are driven by hand.

use std::sync::Arc;

use abm::campaigns::dispatch::tick;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, paths, problem, run_analysis, spawn_app};

async fn stakeholder(app: &TestApp, account: &str, body: Value) -> i64 {
    json_of(
        app.post(&format!("/api/v1/accounts/{account}/stakeholders"), &body)
            .await,
        201,
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

async fn manager(app: &TestApp, email: &str) -> i64 {
    json_of(
        app.post(
            "/api/v1/managers",
            &json!({"email": email, "name": "Kim Tran"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

pub(crate) async fn create_campaign(app: &TestApp, body: Value) -> Value {
    json_of(app.post("/api/v1/campaigns", &body).await, 201).await
}

pub(crate) async fn activate(app: &TestApp, key: &str) -> Value {
    json_of(
        app.post(&format!("/api/v1/campaigns/{key}/activate"), &json!({}))
            .await,
        200,
    )
    .await
}

async fn messages(app: &TestApp, query: &str) -> Vec<Value> {
    let page = json_of(
        app.get(&format!("/api/v1/messages?limit=1000&{query}"))
            .await,
        200,
    )
    .await;
    page["items"].as_array().expect("items").clone()
}

pub(crate) async fn enrolments(app: &TestApp, key: &str) -> Vec<Value> {
    let page = json_of(
        app.get(&format!("/api/v1/campaigns/{key}/enrolments?limit=1000"))
            .await,
        200,
    )
    .await;
    page["items"].as_array().expect("items").clone()
}

/// The executions of the enrolment of `account` in campaign `key`.
async fn executions(app: &TestApp, key: &str, account: &str) -> Vec<Value> {
    let e = enrolments(app, key)
        .await
        .into_iter()
        .find(|e| e["account_id"] == account)
        .expect("enrolled");
    let detail = json_of(
        app.get(&format!("/api/v1/campaigns/{key}/enrolments/{}", e["id"]))
            .await,
        200,
    )
    .await;
    detail["executions"].as_array().expect("executions").clone()
}

pub(crate) async fn run_tick(app: &TestApp) -> abm::campaigns::dispatch::TickReport {
    tick(&app.ctx).await.expect("tick")
}

/// Two steel accounts and one food account, each with a decision maker, in segment `key-accounts`.
pub(crate) async fn three_accounts(app: &TestApp) {
    let kam = manager(app, "kam@example.com").await;
    for (ext, industry, tz, who) in [
        ("ST-1", "steel", "Asia/Ho_Chi_Minh", "Lan Nguyen"),
        ("ST-2", "steel", "Europe/Berlin", "Jonas Weber"),
        ("FD-1", "food", "America/New_York", "Ann Miller"),
    ] {
        app.create_account(
            ext,
            json!({"industry": industry, "timezone": tz, "manager_id": kam}),
        )
        .await;
        let first = who.split(' ').next().unwrap_or(who).to_lowercase();
        stakeholder(
            app,
            ext,
            json!({"name": who, "role": "decision_maker", "email": format!("{first}@{}.example", ext.to_lowercase()), "consent": "granted"}),
        )
        .await;
    }
    json_of(
        app.post(
            "/api/v1/segments",
            &json!({"key": "key-accounts", "name": "Key accounts", "rule_text": "industry in (steel, food)"}),
        )
        .await,
        201,
    )
    .await;
}

fn sequence(key: &str) -> Value {
    json!({
        "key": key,
        "name": "Steel follow-up",
        "goal": "A call with every key account",
        "audience": {"segment": "key-accounts"},
        "recipients": {"roles": ["decision_maker"], "max_per_account": 1},
        "send_window": "always",
        "steps": [
            {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
            {"id": "pause", "wait": {"days": 3}},
            {"id": "steel", "branch": {"rule_text": "industry = steel", "then": "nurture", "else": "call"}},
            {"id": "nurture", "send": {"channel": "email", "purpose": "nurture"}, "next": "done"},
            {"id": "done", "exit": {"reason": "nurtured"}},
            {"id": "call", "manager_task": {}}
        ]
    })
}

async fn accounts_move_through_send_wait_branch_and_get_what_their_path_implies(b: Backend) {
    let app = spawn_app(b).await;
    three_accounts(&app).await;
    create_campaign(&app, sequence("follow-up")).await;
    activate(&app, "follow-up").await;

    let first = run_tick(&app).await;
    assert_eq!(first.enrolled, 3, "{first:?}");
    let sent = messages(&app, "campaign=follow-up").await;
    assert_eq!(sent.len(), 3, "{sent:#?}");
    for m in &sent {
        assert_eq!(m["step"], "hello");
        assert_eq!(m["status"], "queued");
        assert_eq!(m["channel"], "email");
        assert!(
            m["message_id"]
                .as_str()
                .expect("id")
                .ends_with("@localhost>")
        );
    }
    // Personalised: each greeting names its own stakeholder.
    let lan = sent
        .iter()
        .find(|m| m["account_id"] == "ST-1")
        .expect("ST-1");
    assert_eq!(lan["to"], "lan@st-1.example");
    let detail = json_of(
        app.get(&format!("/api/v1/messages/{}", lan["id"])).await,
        200,
    )
    .await;
    let text = detail["parts"]["text"].as_str().expect("text");
    assert!(text.contains("Lan"), "{text}");
    assert!(!text.contains("Ann"), "{text}");

    // Nothing is due before three days have passed.
    app.clock.advance(Duration::days(2));
    let idle = run_tick(&app).await;
    assert_eq!((idle.messages, idle.tasks, idle.advanced), (0, 0, 0));

    app.clock.advance(Duration::days(1) + Duration::minutes(1));
    let second = run_tick(&app).await;
    assert_eq!(second.tasks, 1, "{second:?}");
    let nurture = messages(&app, "campaign=follow-up").await;
    let steel: Vec<&Value> = nurture.iter().filter(|m| m["step"] == "nurture").collect();
    let mut steel_accounts: Vec<&str> = steel
        .iter()
        .map(|m| m["account_id"].as_str().expect("account"))
        .collect();
    steel_accounts.sort_unstable();
    assert_eq!(steel_accounts, ["ST-1", "ST-2"]);
    // The food account's manager got a task, and an email about it through the outbox.
    let tasks = json_of(app.get("/api/v1/tasks?status=open").await, 200).await;
    let items = tasks["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{tasks}");
    assert_eq!(items[0]["account_id"], "FD-1");
    assert_eq!(items[0]["manager"], "kam@example.com");
    assert!(!items[0]["title"].as_str().expect("title").is_empty());
    let task_mail: Vec<&Value> = nurture.iter().filter(|m| m["step"] == "call").collect();
    assert_eq!(task_mail.len(), 1);
    assert_eq!(task_mail[0]["to"], "kam@example.com");
    assert_eq!(task_mail[0]["task_id"], items[0]["id"]);

    // Every step execution is recorded with its outcome and reason.
    let st1 = executions(&app, "follow-up", "ST-1").await;
    let outcomes: Vec<(&str, &str)> = st1
        .iter()
        .map(|x| {
            (
                x["step"].as_str().unwrap_or(""),
                x["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("hello", "sent"),
            ("pause", "waiting"),
            ("steel", "then"),
            ("nurture", "sent"),
            ("done", "exited")
        ]
    );
    assert!(
        st1[2]["reason"]
            .as_str()
            .expect("reason")
            .contains("industry = steel")
    );
    let all = enrolments(&app, "follow-up").await;
    let fd = all
        .iter()
        .find(|e| e["account_id"] == "FD-1")
        .expect("FD-1");
    assert_eq!(fd["status"], "completed");
    let st = all
        .iter()
        .find(|e| e["account_id"] == "ST-1")
        .expect("ST-1");
    assert_eq!(st["status"], "exited");
    assert_eq!(st["exit_reason"], "nurtured");

    // Marking the task done.
    let done = json_of(
        app.patch(
            &format!("/api/v1/tasks/{}", items[0]["id"]),
            &json!({"status": "done"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["status"], "done");

    // A tick run again creates nothing.
    let rows = app.count("messages").await;
    let again = run_tick(&app).await;
    assert_eq!((again.enrolled, again.messages), (0, 0));
    assert_eq!(app.count("messages").await, rows);

    // A new member of the segment joins on the tick after the recompute; nobody else does.
    app.create_account("ST-3", json!({"industry": "steel"}))
        .await;
    json_of(
        app.post("/api/v1/segments/recompute", &json!({})).await,
        200,
    )
    .await;
    let joined = run_tick(&app).await;
    assert_eq!(joined.enrolled, 1, "{joined:?}");
    let st3 = executions(&app, "follow-up", "ST-3").await;
    assert_eq!(st3[0]["outcome"], "no_recipient");
}

async fn racing_ticks_on_two_contexts_write_each_step_once(b: Backend) {
    let app = spawn_app(b).await;
    three_accounts(&app).await;
    for i in 0..20 {
        let ext = format!("ST-X{i}");
        app.create_account(&ext, json!({"industry": "steel"})).await;
        stakeholder(
            &app,
            &ext,
            json!({"name": format!("Person {i}"), "role": "decision_maker", "email": format!("p{i}@x.example")}),
        )
        .await;
    }
    json_of(
        app.post("/api/v1/segments/recompute", &json!({})).await,
        200,
    )
    .await;
    let mut body = sequence("race");
    body["steps"] = json!([
        {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "call", "manager_task": {"title": "Call them"}}
    ]);
    create_campaign(&app, body).await;
    activate(&app, "race").await;
    let other = Arc::new(
        abm::context::AppContext::new(
            app.db.clone(),
            app.settings.clone(),
            Arc::new(app.clock.clone()),
        )
        .with_instance_id("other"),
    );
    let (a, b2) = tokio::join!(tick(&app.ctx), tick(&other));
    let (a, b2) = (a.expect("tick a"), b2.expect("tick b"));
    assert_eq!(a.enrolled + b2.enrolled, 23, "{a:?} {b2:?}");
    // And once more each, in parallel again.
    let (c, d) = tokio::join!(tick(&app.ctx), tick(&other));
    c.expect("tick c");
    d.expect("tick d");
    assert_eq!(app.count("enrolments").await, 23);
    assert_eq!(app.count("tasks").await, 23);
    // One email per account plus one task email per account with a manager (3).
    assert_eq!(app.count("messages").await, 23 + 3);
    let per_step = messages(&app, "campaign=race").await;
    let mut keys: Vec<(String, String)> = per_step
        .iter()
        .map(|m| (m["account_id"].to_string(), m["step"].to_string()))
        .collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "a step was written twice");
}

async fn caps_across_two_campaigns_defer_the_later_send_with_its_reason(b: Backend) {
    let app = spawn_app_caps(b, "1/7d").await;
    three_accounts(&app).await;
    let mut one = sequence("first");
    one["steps"] = json!([{"id": "a", "send": {"channel": "email", "purpose": "outreach"}}]);
    create_campaign(&app, one).await;
    activate(&app, "first").await;
    run_tick(&app).await;
    assert_eq!(messages(&app, "campaign=first").await.len(), 3);

    app.clock.advance(Duration::hours(1));
    let mut two = sequence("second");
    two["steps"] = json!([{"id": "b", "send": {"channel": "email", "purpose": "nurture"}}]);
    create_campaign(&app, two).await;
    activate(&app, "second").await;
    run_tick(&app).await;
    assert!(messages(&app, "campaign=second").await.is_empty());
    let x = executions(&app, "second", "ST-1").await;
    assert_eq!(x[0]["outcome"], "deferred");
    let reason = x[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("over the account cap 1/7d"), "{reason}");
    // Deferred, never dropped: it goes out when the first message leaves the window.
    let waiting = enrolments(&app, "second").await;
    let due = waiting[0]["due_at"].as_str().expect("due");
    assert_eq!(due, "2026-03-08T09:00:00Z");
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 8, 9, 0, 1)
            .single()
            .expect("t"),
    );
    run_tick(&app).await;
    assert_eq!(messages(&app, "campaign=second").await.len(), 3);
}

async fn spawn_app_caps(b: Backend, cap: &str) -> TestApp {
    crate::helpers::spawn_app_with(b, &[("delivery.account_cap", cap)]).await
}

async fn windows_hold_across_timezones_on_a_dst_day_and_the_preview_matches(b: Backend) {
    let app = spawn_app(b).await;
    // Sunday 8 March 2026, 12:00 UTC: New York moved to EDT at 02:00 local today.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 8, 12, 0, 0)
            .single()
            .expect("t"),
    );
    for (ext, tz, email) in [
        ("NY", "America/New_York", "ann@ny.example"),
        ("BER", "Europe/Berlin", "jonas@ber.example"),
        ("HCM", "Asia/Ho_Chi_Minh", "lan@hcm.example"),
    ] {
        app.create_account(ext, json!({"timezone": tz})).await;
        stakeholder(
            &app,
            ext,
            json!({"name": "Someone", "role": "decision_maker", "email": email}),
        )
        .await;
    }
    create_campaign(
        &app,
        json!({
            "key": "weekday",
            "name": "Weekday hello",
            "audience": {"accounts": ["NY", "BER", "HCM"]},
            "send_window": "mon-fri 09:00-17:00",
            "steps": [
                {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
                {"id": "later", "wait": {"days": 1}},
                {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
            ]
        }),
    )
    .await;
    // The preview of the draft, as if activated now.
    let preview = json_of(
        app.get("/api/v1/campaigns/weekday/schedule?to=2026-03-12T00:00:00Z")
            .await,
        200,
    )
    .await;
    let planned: Vec<(String, String, String)> = preview["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["outcome"] == "sent")
        .map(|i| {
            (
                i["account_id"].as_str().unwrap_or("").to_string(),
                i["step"].as_str().unwrap_or("").to_string(),
                i["due_at"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let ny_hello = preview["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["account_id"] == "NY" && i["step"] == "hello" && i["outcome"] == "sent")
        .expect("NY hello")
        .clone();
    // Monday 09:00 EDT is 13:00 UTC (the day before it would have been 14:00).
    assert_eq!(ny_hello["due_at"], "2026-03-09T13:00:00Z");
    assert_eq!(ny_hello["local_time"], "2026-03-09T09:00:00-04:00");
    assert_eq!(ny_hello["timezone"], "America/New_York");
    assert!(
        ny_hello["reason"]
            .as_str()
            .expect("reason")
            .contains("outside the send window mon-fri 09:00-17:00"),
        "{ny_hello}"
    );
    assert!(ny_hello["stakeholder_id"].is_i64());

    activate(&app, "weekday").await;
    // Drive the ticks every 10 minutes to the end of the span, as the scheduler would.
    let end = Utc
        .with_ymd_and_hms(2026, 3, 12, 0, 0, 0)
        .single()
        .expect("end");
    run_tick(&app).await;
    assert!(
        messages(&app, "campaign=weekday").await.is_empty(),
        "sunday"
    );
    while app.clock.now_utc() < end {
        app.clock.advance(Duration::minutes(10));
        run_tick(&app).await;
    }
    let mut actual: Vec<(String, String, String)> = messages(&app, "campaign=weekday")
        .await
        .iter()
        .map(|m| {
            (
                m["account_id"].as_str().unwrap_or("").to_string(),
                m["step"].as_str().unwrap_or("").to_string(),
                m["created_at"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    actual.sort();
    let mut planned = planned;
    planned.sort();
    assert_eq!(planned.len(), 6, "{planned:?}");
    assert_eq!(actual, planned);
    // Berlin opens at 08:00 UTC (CET), Ho Chi Minh City at 02:00 UTC.
    assert!(actual.contains(&("BER".into(), "hello".into(), "2026-03-09T08:00:00Z".into())));
    assert!(actual.contains(&("HCM".into(), "hello".into(), "2026-03-09T02:00:00Z".into())));
}

async fn a_segment_entry_and_an_account_becoming_lost_enrol_through_triggers(b: Backend) {
    let app = spawn_app(b).await;
    three_accounts(&app).await;
    create_campaign(
        &app,
        json!({
            "key": "welcome-steel",
            "name": "Welcome to steel",
            "audience": {"trigger": {"event": "entered_segment", "segment": "key-accounts"}},
            "send_window": "always",
            "steps": [{"id": "hi", "send": {"channel": "email", "purpose": "outreach"}}]
        }),
    )
    .await;
    create_campaign(
        &app,
        json!({
            "key": "lost",
            "name": "Win them back",
            "audience": {"trigger": {"event": "became_lost"}},
            "send_window": "always",
            "steps": [{"id": "miss-you", "send": {"channel": "email", "purpose": "winback"}}]
        }),
    )
    .await;
    // An account with monthly orders through February: alive on 1 March.
    app.create_account("OLD", json!({"industry": "textile"}))
        .await;
    stakeholder(
        &app,
        "OLD",
        json!({"name": "Old Friend", "role": "decision_maker", "email": "old@friend.example"}),
    )
    .await;
    for (i, day) in ["2025-12-01", "2026-01-02", "2026-02-01", "2026-02-25"]
        .iter()
        .enumerate()
    {
        json_of(
            app.post(
                "/api/v1/orders",
                &json!({"external_id": format!("O-{i}"), "account_id": "OLD", "ordered_at": format!("{day}T10:00:00Z"), "amount": "1000"}),
            )
            .await,
            201,
        )
        .await;
    }
    run_analysis(&app).await;
    activate(&app, "welcome-steel").await;
    activate(&app, "lost").await;
    // Existing members entered before activation: nobody is enrolled.
    assert_eq!(run_tick(&app).await.enrolled, 0);

    // A new steel account enters the segment on the next recompute.
    app.create_account("ST-9", json!({"industry": "steel"}))
        .await;
    stakeholder(
        &app,
        "ST-9",
        json!({"name": "New Person", "role": "decision_maker", "email": "new@st-9.example"}),
    )
    .await;
    json_of(
        app.post("/api/v1/segments/recompute", &json!({})).await,
        200,
    )
    .await;
    let t = run_tick(&app).await;
    assert_eq!(t.enrolled, 1, "{t:?}");
    let e = enrolments(&app, "welcome-steel").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["account_id"], "ST-9");
    assert!(
        e[0]["source"]
            .as_str()
            .expect("source")
            .contains("entered segment key-accounts")
    );

    // Months later OLD has not ordered again: the next analysis run finds it lost.
    app.clock.advance(Duration::days(200));
    run_analysis(&app).await;
    run_tick(&app).await;
    let lost = enrolments(&app, "lost").await;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["account_id"], "OLD");
    let sent = messages(&app, "campaign=lost").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["to"], "old@friend.example");
}

async fn a_paused_campaign_does_nothing_and_skips_what_became_too_late(b: Backend) {
    let app = spawn_app(b).await;
    three_accounts(&app).await;
    let mut body = sequence("pausable");
    body["max_lateness"] = json!("6h");
    body["steps"] = json!([
        {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "pause", "wait": {"hours": 24}},
        {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
    ]);
    create_campaign(&app, body).await;
    activate(&app, "pausable").await;
    run_tick(&app).await;
    assert_eq!(messages(&app, "campaign=pausable").await.len(), 3);
    json_of(
        app.post("/api/v1/campaigns/pausable/pause", &json!({}))
            .await,
        200,
    )
    .await;
    app.clock.advance(Duration::days(3));
    let idle = run_tick(&app).await;
    assert_eq!((idle.advanced, idle.messages), (0, 0));
    // Editing while paused is a new version.
    let edited = json_of(
        app.patch(
            "/api/v1/campaigns/pausable",
            &json!({"goal": "Still relevant"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(edited["version"], 2);
    json_of(
        app.post("/api/v1/campaigns/pausable/resume", &json!({}))
            .await,
        200,
    )
    .await;
    let after = run_tick(&app).await;
    assert_eq!(after.messages, 0, "{after:?}");
    let x = executions(&app, "pausable", "ST-1").await;
    let last = x.last().expect("executions");
    assert_eq!(last["step"], "again");
    assert_eq!(last["outcome"], "skipped");
    assert!(
        last["reason"]
            .as_str()
            .expect("reason")
            .contains("more than max_lateness 6h"),
        "{last}"
    );
}

async fn activation_names_the_step_and_the_reason(b: Backend) {
    let app = spawn_app(b).await;
    create_campaign(
        &app,
        json!({
            "key": "broken",
            "name": "Broken",
            "audience": {"segment": "no-such-segment"},
            "steps": [
                {"id": "a", "send": {"channel": "email", "template": "no-such-template"}},
                {"id": "b", "exit": {}},
                {"id": "orphan", "send": {"channel": "email", "purpose": "event_notification"}}
            ]
        }),
    )
    .await;
    let p = problem(
        app.post("/api/v1/campaigns/broken/activate", &json!({}))
            .await,
        422,
    )
    .await;
    let text = p.to_string();
    assert!(
        text.contains("step `a`: template `no-such-template` does not exist"),
        "{text}"
    );
    assert!(
        text.contains("step `orphan` can never be reached"),
        "{text}"
    );
    assert!(
        text.contains("no email template has purpose event_notification"),
        "{text}"
    );
    assert!(text.contains("no segment `no-such-segment`"), "{text}");
    assert!(paths(&p).contains(&"/audience/segment".to_string()));
    // Still a draft, nothing changed.
    let c = json_of(app.get("/api/v1/campaigns/broken").await, 200).await;
    assert_eq!(c["status"], "draft");

    // Bad structure is refused at once, each problem at its place.
    let p = problem(
        app.post(
            "/api/v1/campaigns",
            &json!({
                "name": "Bad",
                "send_window": "weekdays 9-5",
                "steps": [
                    {"id": "x", "wait": {"days": 0}},
                    {"id": "y", "branch": {"rule_text": "abc = ", "then": "x", "else": "nowhere"}},
                    {"id": "x", "exit": {}}
                ]
            }),
        )
        .await,
        422,
    )
    .await;
    let got = paths(&p);
    for path in [
        "/send_window",
        "/steps/0/wait",
        "/steps/1/branch/rule_text",
        "/steps/1/branch/else",
        "/steps/2/id",
    ] {
        assert!(got.contains(&path.to_string()), "{path} missing in {got:?}");
    }
    // A well-formed value of the wrong shape is a 422 at its place, not "malformed JSON".
    let p = problem(
        app.post("/api/v1/campaigns", &json!({"name": "Bad", "audience": {}}))
            .await,
        422,
    )
    .await;
    assert!(paths(&p).contains(&"/audience".to_string()), "{p}");
    assert_eq!(app.count("campaigns").await, 1);

    // A change must be an object; one that changes nothing makes no version.
    problem(app.patch("/api/v1/campaigns/broken", &json!([])).await, 422).await;
    let same = json_of(app.patch("/api/v1/campaigns/broken", &json!({})).await, 200).await;
    assert_eq!(same["version"], 1);
    let same = json_of(
        app.patch("/api/v1/campaigns/broken", &json!({"name": "Broken"}))
            .await,
        200,
    )
    .await;
    assert_eq!(same["version"], 1);
    let versions = json_of(app.get("/api/v1/campaigns/broken/versions").await, 200).await;
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");

    // The list filters by status.
    let drafts = json_of(app.get("/api/v1/campaigns?status=draft").await, 200).await;
    assert_eq!(drafts["total"], 1);
    let active = json_of(app.get("/api/v1/campaigns?status=active").await, 200).await;
    assert_eq!(active["total"], 0);
    problem(app.get("/api/v1/campaigns?status=bogus").await, 422).await;

    // The preview takes a date as well as an instant, and says why nobody is in it.
    let preview = json_of(
        app.get("/api/v1/campaigns/broken/schedule?from=2026-03-02&to=2026-03-09T00:00:00Z")
            .await,
        200,
    )
    .await;
    assert_eq!(preview["from"], "2026-03-02T00:00:00Z", "{preview}");
    assert!(
        preview["notes"]
            .to_string()
            .contains("there is no segment `no-such-segment`"),
        "{preview}"
    );
    let p = problem(
        app.get("/api/v1/campaigns/broken/schedule?from=soon").await,
        422,
    )
    .await;
    assert!(p.to_string().contains("RFC 3339"), "{p}");
}

async fn removing_a_step_from_a_paused_campaign_lets_its_waiting_enrolments_go(b: Backend) {
    let app = spawn_app(b).await;
    three_accounts(&app).await;
    let mut body = sequence("edit");
    body["steps"] = json!([
        {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "pause", "wait": {"days": 7}},
        {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
    ]);
    create_campaign(&app, body).await;
    activate(&app, "edit").await;
    run_tick(&app).await;
    let p = problem(
        app.patch("/api/v1/campaigns/edit", &json!({"name": "Renamed"}))
            .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "wrong_status");
    json_of(
        app.post("/api/v1/campaigns/edit/pause", &json!({})).await,
        200,
    )
    .await;
    json_of(
        app.patch(
            "/api/v1/campaigns/edit",
            &json!({"steps": [
                {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
                {"id": "pause2", "wait": {"days": 7}},
                {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
            ]}),
        )
        .await,
        200,
    )
    .await;
    // The enrolments were waiting to run `again`, which still exists: they stay.
    assert!(
        enrolments(&app, "edit")
            .await
            .iter()
            .all(|e| e["status"] == "active")
    );
    json_of(
        app.patch(
            "/api/v1/campaigns/edit",
            &json!({"steps": [{"id": "hello", "send": {"channel": "email", "purpose": "outreach"}}]}),
        )
        .await,
        200,
    )
    .await;
    let all = enrolments(&app, "edit").await;
    assert!(all.iter().all(|e| e["status"] == "exited"), "{all:?}");
    assert_eq!(
        all[0]["exit_reason"],
        "step `again` was removed in version 3"
    );
    let versions = json_of(app.get("/api/v1/campaigns/edit/versions").await, 200).await;
    assert_eq!(versions.as_array().expect("versions").len(), 3);
}

async fn suppressed_and_withdrawn_stakeholders_are_never_sent_to(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A", json!({})).await;
    stakeholder(
        &app,
        "A",
        json!({"name": "Gone Person", "role": "decision_maker", "email": "gone@a.example", "consent": "withdrawn"}),
    )
    .await;
    stakeholder(
        &app,
        "A",
        json!({"name": "Quiet Person", "role": "economic_buyer", "email": "Quiet@A.example"}),
    )
    .await;
    stakeholder(
        &app,
        "A",
        json!({"name": "Champ Person", "role": "champion", "email": "champ@a.example"}),
    )
    .await;
    json_of(
        app.post(
            "/api/v1/suppressions",
            &json!({"address": "quiet@a.example", "reason": "unsubscribed"}),
        )
        .await,
        201,
    )
    .await;
    create_campaign(
        &app,
        json!({
            "key": "respect",
            "name": "Respect",
            "audience": {"accounts": ["A"]},
            "send_window": "always",
            "steps": [{"id": "hi", "send": {"channel": "email", "purpose": "outreach"}}]
        }),
    )
    .await;
    activate(&app, "respect").await;
    run_tick(&app).await;
    let sent = messages(&app, "campaign=respect").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], "champ@a.example");
    let x = executions(&app, "respect", "A").await;
    let reason = x[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("consent withdrawn"), "{reason}");
    assert!(
        reason.contains("quiet@a.example is on the suppression list"),
        "{reason}"
    );
    // The list is managed over the API.
    let list = json_of(app.get("/api/v1/suppressions").await, 200).await;
    assert_eq!(list["total"], 1);
    assert_eq!(
        app.delete("/api/v1/suppressions/quiet@a.example")
            .await
            .status(),
        204
    );
    problem(
        app.delete("/api/v1/suppressions/quiet@a.example").await,
        404,
    )
    .await;
    problem(
        app.post(
            "/api/v1/suppressions",
            &json!({"address": "not an address"}),
        )
        .await,
        422,
    )
    .await;
    // Addresses compare without case, on the way in and out; notes are plain text.
    json_of(
        app.post(
            "/api/v1/suppressions",
            &json!({"address": "Loud@A.Example"}),
        )
        .await,
        201,
    )
    .await;
    let again = json_of(
        app.post(
            "/api/v1/suppressions",
            &json!({"address": "LOUD@a.example"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["address"], "loud@a.example");
    assert_eq!(
        app.delete("/api/v1/suppressions/LOUD@A.EXAMPLE")
            .await
            .status(),
        204
    );
    let p = problem(
        app.post(
            "/api/v1/suppressions",
            &json!({"address": "n@a.example", "note": "a\u{0}b"}),
        )
        .await,
        422,
    )
    .await;
    assert!(p.to_string().contains("/note"), "{p}");
    assert_eq!(app.count("suppressions").await, 0);
}

async fn a_scheduled_campaign_enrols_each_account_at_its_own_local_moment(b: Backend) {
    let app = spawn_app(b).await;
    // 1 March 2026, 09:00 UTC. The schedule: 10:00 local, every day.
    for (ext, tz) in [("HCM", "Asia/Ho_Chi_Minh"), ("NY", "America/New_York")] {
        app.create_account(ext, json!({"timezone": tz})).await;
        stakeholder(
            &app,
            ext,
            json!({"name": "Someone", "role": "decision_maker", "email": format!("x@{}.example", ext.to_lowercase())}),
        )
        .await;
    }
    create_campaign(
        &app,
        json!({
            "key": "daily",
            "name": "Daily check-in",
            "audience": {"accounts": ["HCM", "NY"]},
            "schedule": "0 0 10 * * *",
            "reentry": "after_exit",
            "send_window": "always",
            "steps": [{"id": "hi", "send": {"channel": "email", "purpose": "outreach"}}]
        }),
    )
    .await;
    activate(&app, "daily").await;
    assert_eq!(run_tick(&app).await.enrolled, 0, "no moment has passed yet");
    // 10:00 in Ho Chi Minh City is 03:00 UTC on 2 March; in New York 15:00 UTC on 1 March.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 1, 15, 0, 5)
            .single()
            .expect("t"),
    );
    run_tick(&app).await;
    let e = enrolments(&app, "daily").await;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0]["account_id"], "NY");
    assert!(
        e[0]["source"]
            .as_str()
            .expect("source")
            .contains("2026-03-01T10:00:00-05:00"),
        "{e:?}"
    );
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 5)
            .single()
            .expect("t"),
    );
    run_tick(&app).await;
    let e = enrolments(&app, "daily").await;
    assert_eq!(e.len(), 2);
    // The next day New York is enrolled again: its first enrolment has completed.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 5)
            .single()
            .expect("t"),
    );
    run_tick(&app).await;
    let ny: Vec<Value> = enrolments(&app, "daily")
        .await
        .into_iter()
        .filter(|e| e["account_id"] == "NY")
        .collect();
    assert_eq!(ny.len(), 2);
    assert_eq!(
        messages(&app, "campaign=daily&account_id=NY").await.len(),
        2
    );

    // Ten days without a tick (an outage, a pause): one enrolment per account, at the newest
    // missed moment, not one per missed day. New York is on daylight time by then.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 3, 12, 15, 0, 5)
            .single()
            .expect("t"),
    );
    assert_eq!(run_tick(&app).await.enrolled, 2);
    let e = enrolments(&app, "daily").await;
    let sources: Vec<&str> = e.iter().filter_map(|e| e["source"].as_str()).collect();
    assert!(
        sources
            .iter()
            .any(|s| s.contains("2026-03-12T10:00:00-04:00")),
        "{sources:?}"
    );
    assert!(
        sources
            .iter()
            .any(|s| s.contains("2026-03-12T10:00:00+07:00")),
        "{sources:?}"
    );
    assert_eq!(e.len(), 5, "{e:?}");

    // A schedule that never fires, or fires every few seconds, is refused with the reason.
    for (expr, why) in [
        ("0 0 9 31 2 *", "never fires"),
        ("0 0 0 1 1 * 2020", "never fires"),
        ("* * * * * *", "once a minute"),
    ] {
        let p = problem(
            app.post(
                "/api/v1/campaigns",
                &json!({"name": "Bad schedule", "audience": {"accounts": ["NY"]}, "schedule": expr}),
            )
            .await,
            422,
        )
        .await;
        assert!(
            p.to_string().contains("schedule") && p.to_string().contains(why),
            "{expr}: {p}"
        );
    }
}

async fn the_schedule_command_prints_the_preview(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("NY", json!({"timezone": "America/New_York"}))
        .await;
    stakeholder(
        &app,
        "NY",
        json!({"name": "Ann Miller", "role": "decision_maker", "email": "ann@ny.example"}),
    )
    .await;
    create_campaign(
        &app,
        json!({
            "key": "cli",
            "name": "CLI",
            "audience": {"accounts": ["NY"]},
            "send_window": "mon-fri 09:00-17:00",
            "steps": [{"id": "hi", "send": {"channel": "email", "purpose": "outreach"}}]
        }),
    )
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ABM_DATABASE__URL", &app.database_url)
        .env("ABM_DELIVERY__DEFAULT_SEND_WINDOW", "always")
        .args([
            "campaigns",
            "schedule",
            "cli",
            "--from",
            "2026-03-08T12:00:00Z",
            "--to",
            "2026-03-12",
        ])
        .output()
        .expect("run abm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("NY\t"))
        .expect("a line for NY");
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols[2], "hi");
    assert_eq!(cols[3], "sent");
    assert_eq!(cols[4], "2026-03-09T13:00:00Z");
    assert_eq!(cols[5], "2026-03-09T09:00:00-04:00");
    assert_eq!(cols[6], "America/New_York");
    // Nothing was sent.
    assert_eq!(app.count("messages").await, 0);

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_abm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ABM_DATABASE__URL", &app.database_url)
        .args(["campaigns", "schedule", "cli", "--from", "next week"])
        .output()
        .expect("run abm");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from"));
}

async fn an_order_ends_the_enrolment_of_a_campaign_that_exits_on_orders(b: Backend) {
    let app = spawn_app(b).await;
    three_accounts(&app).await;
    let mut body = sequence("until-order");
    body["exit_on"] = json!(["ordered"]);
    body["steps"] = json!([
        {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "pause", "wait": {"days": 3}},
        {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
    ]);
    create_campaign(&app, body).await;
    activate(&app, "until-order").await;
    run_tick(&app).await;
    app.clock.advance(Duration::hours(5));
    json_of(
        app.post(
            "/api/v1/orders",
            &json!({"external_id": "SO-1", "account_id": "ST-2", "ordered_at": "2026-03-01T13:00:00Z", "amount": "500"}),
        )
        .await,
        201,
    )
    .await;
    let t = run_tick(&app).await;
    assert_eq!(t.exited_by_condition, 1, "{t:?}");
    app.clock.advance(Duration::days(3));
    run_tick(&app).await;
    let again: Vec<String> = messages(&app, "campaign=until-order")
        .await
        .iter()
        .filter(|m| m["step"] == "again")
        .map(|m| m["account_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(again.len(), 2);
    assert!(!again.contains(&"ST-2".to_string()));
    let st2 = enrolments(&app, "until-order")
        .await
        .into_iter()
        .find(|e| e["account_id"] == "ST-2")
        .expect("ST-2");
    assert_eq!(st2["status"], "exited");
    assert!(
        st2["exit_reason"]
            .as_str()
            .expect("reason")
            .contains("exit condition `ordered`")
    );
}

db_tests!(
    an_order_ends_the_enrolment_of_a_campaign_that_exits_on_orders,
    a_scheduled_campaign_enrols_each_account_at_its_own_local_moment,
    the_schedule_command_prints_the_preview,
    accounts_move_through_send_wait_branch_and_get_what_their_path_implies,
    racing_ticks_on_two_contexts_write_each_step_once,
    caps_across_two_campaigns_defer_the_later_send_with_its_reason,
    windows_hold_across_timezones_on_a_dst_day_and_the_preview_matches,
    a_segment_entry_and_an_account_becoming_lost_enrol_through_triggers,
    a_paused_campaign_does_nothing_and_skips_what_became_too_late,
    activation_names_the_step_and_the_reason,
    removing_a_step_from_a_paused_campaign_lets_its_waiting_enrolments_go,
    suppressed_and_withdrawn_stakeholders_are_never_sent_to,
);
