//! Win-back offers: definitions of discounts, gifts and terms, checked field by field.

use serde_json::{Value, json};

use abm::delivery::sender::send_due;

use crate::campaigns::{activate, create_campaign, enrolments, run_tick, three_accounts};
use crate::db_tests;
use crate::helpers::{Backend, json_of, problem, spawn_app, spawn_app_with};
use crate::smtp_server::SmtpServer;
use crate::tracking::decoded;

fn paths(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["path"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn offers_are_defined_listed_changed_and_checked(b: Backend) {
    let app = spawn_app(b).await;
    let b_offer = json_of(
        app.post(
            "/api/v1/offers",
            &json!({
                "key": "winback-b", "name": "10% back for B accounts", "kind": "discount",
                "percent": 10, "cap": "500", "valid_days": 30,
                "rules": [{"abc": "A", "percent": 15}, {"type": "pillar", "amount": "750.50"}],
                "description": "A thank-you for coming back"
            }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(b_offer["key"], "winback-b");
    assert_eq!(b_offer["kind"], "discount");
    assert_eq!(b_offer["percent"], 10.0);
    assert_eq!(b_offer["max_per_code"], 1);
    assert_eq!(b_offer["max_per_account"], 1);
    assert_eq!(b_offer["transferable"], false);
    assert_eq!(b_offer["code_prefix"], "WB");
    assert_eq!(b_offer["rules"][1]["type"], "pillar");
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "gift-c", "name": "Espresso machine", "kind": "gift",
                    "gift": "Espresso machine", "gift_cost": "120.00",
                    "valid_until": "2026-06-30", "transferable": true, "code_prefix": "GIFT"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "terms-a", "name": "Special terms", "kind": "terms",
                    "terms": "60-day payment terms\nfree delivery", "valid_days": 90,
                    "max_per_code": 3, "max_per_account": 3}),
        )
        .await,
        201,
    )
    .await;
    // Created at the same moment many times: one wins, the others are told it exists.
    let racing: Vec<_> = (0..8)
        .map(|_| {
            let app = &app;
            async move {
                app.post(
                    "/api/v1/offers",
                    &json!({"key": "racing", "name": "r", "kind": "terms", "terms": "t", "valid_days": 1}),
                )
                .await
                .status()
                .as_u16()
            }
        })
        .collect();
    let mut statuses = futures_util::future::join_all(racing).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    let dup = problem(
        app.post(
            "/api/v1/offers",
            &json!({"key": "gift-c", "name": "x", "kind": "terms", "terms": "t", "valid_days": 1}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(dup["code"], "offer_exists");

    let list = json_of(app.get("/api/v1/offers").await, 200).await;
    assert_eq!(list["total"], 4);
    let keys: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["gift-c", "racing", "terms-a", "winback-b"]);
    let page = json_of(app.get("/api/v1/offers?sort=-key&limit=1").await, 200).await;
    assert_eq!(page["items"][0]["key"], "winback-b");
    assert_eq!(
        json_of(app.get("/api/v1/offers/gift-c").await, 200).await["gift_cost"],
        "120.00"
    );
    problem(app.get("/api/v1/offers/nope").await, 404).await;

    // A change is checked whole: a fixed amount instead of a percent needs the cap gone too.
    let p = problem(
        app.patch(
            "/api/v1/offers/winback-b",
            &json!({"percent": null, "amount": "200"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&p), ["/cap"], "{p}");
    let changed = json_of(
        app.patch(
            "/api/v1/offers/winback-b",
            &json!({"percent": null, "cap": null, "amount": "200", "max_per_code": 2}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(changed["amount"], "200");
    assert_eq!(changed["percent"], Value::Null);
    assert_eq!(changed["max_per_code"], 2);
    assert_eq!(changed["description"], "A thank-you for coming back");
    problem(
        app.patch("/api/v1/offers/winback-b", &json!({"key": "other"}))
            .await,
        422,
    )
    .await;
    problem(
        app.patch("/api/v1/offers/nope", &json!({"name": "x"}))
            .await,
        404,
    )
    .await;
    let p = problem(
        app.patch("/api/v1/offers/winback-b", &json!({"colour": "red"}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&p), ["/colour"], "{p}");
    let unchanged = json_of(app.get("/api/v1/offers/winback-b").await, 200).await;
    assert_eq!(unchanged["amount"], "200");

    // Bad definitions: each problem under its field, nothing stored.
    for (body, want) in [
        (
            json!({"key": "x1", "name": "n", "kind": "discount", "valid_days": 5}),
            vec!["/percent"],
        ),
        (
            json!({"key": "x2", "name": "n", "kind": "discount", "percent": 120, "valid_days": 5, "valid_until": "2026-12-31"}),
            vec!["/percent", "/valid_days"],
        ),
        (
            json!({"key": "x3", "name": "n", "kind": "gift", "percent": 5, "valid_days": 0}),
            vec!["/gift", "/percent", "/valid_days"],
        ),
        (
            json!({"key": "x4", "name": "n", "kind": "discount", "amount": "-5", "valid_days": 3, "code_prefix": "wb-"}),
            vec!["/amount", "/code_prefix"],
        ),
        (
            json!({"key": "x5", "name": "n", "kind": "discount", "percent": 5, "valid_days": 3, "rules": [{"percent": 3}, {"abc": "Q", "amount": "1e3"}]}),
            vec!["/rules/0/abc", "/rules/1/abc", "/rules/1/amount"],
        ),
        (
            json!({"key": "x6", "name": "line\nbreak", "kind": "terms", "terms": "a\u{0}b", "valid_days": 3, "max_per_code": 0}),
            vec!["/name", "/terms", "/max_per_code"],
        ),
    ] {
        let p = problem(app.post("/api/v1/offers", &body).await, 422).await;
        let mut got = paths(&p);
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(got, want, "{body}: {p}");
    }
    for body in [
        json!({"name": "n", "kind": "terms", "terms": "t", "valid_days": 3}),
        json!({"key": "Bad Key", "name": "n", "kind": "terms", "terms": "t", "valid_days": 3}),
        json!({"key": "x7", "name": "n", "kind": "voucher", "valid_days": 3}),
        json!({"key": "x8", "name": "n", "kind": "terms", "terms": "t", "valid_days": 3, "colour": "red"}),
        json!({"key": "x9", "name": "n", "kind": "terms", "terms": "t", "valid_days": 3, "percent": "ten"}),
    ] {
        problem(app.post("/api/v1/offers", &body).await, 422).await;
    }
    assert_eq!(
        json_of(app.get("/api/v1/offers").await, 200).await["total"],
        4
    );
}

/// A win-back step names an offer: each account's email, as the SMTP server received it,
/// carries a valid code of its own, stored with the account, campaign, step, value and
/// expiry; the same (enrolment, step) always gets the same code; an undefined offer renders
/// nothing and says why.
async fn a_campaign_step_issues_one_code_per_enrolment_and_the_email_carries_it(b: Backend) {
    let server = SmtpServer::start().await;
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_app_with(b, &[("ABM_EMAIL__SMTP_URL", url.as_str())]).await;
    three_accounts(&app).await;
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "wb-10", "name": "10% back", "kind": "discount", "percent": 10,
                    "valid_days": 30, "code_prefix": "BACK"}),
        )
        .await,
        201,
    )
    .await;
    let step = |key: &str, offer: &str| {
        json!({
            "key": key, "name": "Win back", "audience": {"segment": "key-accounts"},
            "recipients": {"roles": ["decision_maker"], "max_per_account": 1},
            "send_window": "always",
            "steps": [{"id": "offer", "send": {"channel": "email", "template": "winback-discount-en", "offer_key": offer}}]
        })
    };
    create_campaign(&app, step("winback", "wb-10")).await;
    activate(&app, "winback").await;
    run_tick(&app).await;
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.sent, 3, "{r:?}");

    let codes = json_of(app.get("/api/v1/offers/wb-10/codes").await, 200).await;
    assert_eq!(codes["total"], 3, "{codes}");
    let now = app.clock.now_utc();
    for (account, to) in [
        ("ST-1", "lan@st-1.example"),
        ("ST-2", "jonas@st-2.example"),
        ("FD-1", "ann@fd-1.example"),
    ] {
        let c = codes["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|c| c["account_id"] == account)
            .unwrap_or_else(|| panic!("no code for {account}: {codes}"));
        let code = c["code"].as_str().expect("code");
        assert!(code.starts_with("BACK-"), "{code}");
        assert_eq!(abm::offers::codes::normalize(code).as_deref(), Some(code));
        assert_eq!(c["campaign"], "winback");
        assert_eq!(c["step"], "offer");
        assert_eq!(c["state"], "issued");
        assert_eq!(c["value"]["percent"], 10.0);
        assert_eq!(c["value"]["kind"], "discount");
        let expires: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(c["expires_at"].clone()).expect("time");
        assert_eq!(expires, now + chrono::Duration::days(30));
        let body = decoded(
            &server
                .messages()
                .into_iter()
                .find(|m| m.to.iter().any(|t| t == to))
                .expect("email")
                .data,
        );
        assert!(
            body.contains(code),
            "{account}'s email lacks {code}:\n{body}"
        );
    }

    // The same (enrolment, step) keeps its code.
    let e = &enrolments(&app, "winback").await[0];
    let offer = abm::entities::offer::Entity::find()
        .one(&app.db)
        .await
        .expect("offer")
        .expect("one");
    let again = abm::offers::codes::issue(
        &app.db,
        abm::offers::codes::Issue {
            offer: &offer,
            account_id: abm::entities::enrolment::Entity::find_by_id(e["id"].as_i64().expect("id"))
                .one(&app.db)
                .await
                .expect("enrolment")
                .expect("found")
                .account_id,
            campaign_id: None,
            enrolment_id: e["id"].as_i64(),
            step: Some("offer".into()),
        },
        now,
    )
    .await
    .expect("issue");
    let listed: Vec<&str> = codes["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["code"].as_str().expect("code"))
        .collect();
    assert!(listed.contains(&again.code.as_str()), "{listed:?}");
    assert_eq!(
        json_of(app.get("/api/v1/offers/wb-10/codes").await, 200).await["total"],
        3
    );

    // Past its expiry a code shows as expired.
    app.clock.advance(chrono::Duration::days(31));
    let later = json_of(app.get("/api/v1/offers/wb-10/codes?limit=1").await, 200).await;
    assert_eq!(later["items"][0]["state"], "expired");
    problem(app.get("/api/v1/offers/nope/codes").await, 404).await;

    // A step naming an offer nobody defined renders nothing, and says why.
    create_campaign(&app, step("ghostly", "ghost")).await;
    activate(&app, "ghostly").await;
    run_tick(&app).await;
    let e = &enrolments(&app, "ghostly").await[0];
    let detail = json_of(
        app.get(&format!("/api/v1/campaigns/ghostly/enrolments/{}", e["id"]))
            .await,
        200,
    )
    .await;
    let x = detail["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .find(|x| x["outcome"] == "not_rendered")
        .unwrap_or_else(|| panic!("not refused: {detail}"));
    assert!(
        x["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("`ghost` is not defined"),
        "{detail}"
    );
}

/// Issuing races: instances rendering the same (enrolment, step) at once all get one code;
/// many steps issued at once get distinct codes.
async fn concurrent_issuing_keeps_one_code_per_step_and_codes_unique(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("RACE", json!({"currency": "EUR"})).await;
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "race", "name": "Race", "kind": "gift", "gift": "Mug", "valid_days": 7}),
        )
        .await,
        201,
    )
    .await;
    let offer = abm::entities::offer::Entity::find()
        .one(&app.db)
        .await
        .expect("offer")
        .expect("one");
    let account = abm::entities::account::Entity::find()
        .one(&app.db)
        .await
        .expect("account")
        .expect("one")
        .id;
    let now = app.clock.now_utc();
    let issue = |step: String| {
        let db = app.db.clone();
        let offer = offer.clone();
        tokio::spawn(async move {
            abm::offers::codes::issue(
                &db,
                abm::offers::codes::Issue {
                    offer: &offer,
                    account_id: account,
                    campaign_id: None,
                    enrolment_id: Some(1),
                    step: Some(step),
                },
                now,
            )
            .await
            .expect("issue")
            .code
        })
    };
    let same: Vec<_> = (0..8).map(|_| issue("one".into())).collect();
    let mut codes = Vec::new();
    for h in same {
        codes.push(h.await.expect("task"));
    }
    codes.dedup();
    assert_eq!(codes.len(), 1, "{codes:?}");
    let many: Vec<_> = (0..40).map(|i| issue(format!("s{i}"))).collect();
    let mut all = std::collections::HashSet::new();
    for h in many {
        assert!(all.insert(h.await.expect("task")));
    }
    assert!(!all.contains(&codes[0]));
    assert_eq!(
        json_of(app.get("/api/v1/offers/race/codes").await, 200).await["total"],
        41
    );
}

async fn issue_for(app: &crate::helpers::TestApp, key: &str, account: &str, step: &str) -> String {
    let offer = abm::entities::offer::Entity::find()
        .filter(abm::entities::offer::Column::Key.eq(key))
        .one(&app.db)
        .await
        .expect("offer")
        .expect("found");
    let account = abm::entities::account::Entity::find()
        .filter(abm::entities::account::Column::ExternalId.eq(account))
        .one(&app.db)
        .await
        .expect("account")
        .expect("found");
    abm::offers::codes::issue(
        &app.db,
        abm::offers::codes::Issue {
            offer: &offer,
            account_id: account.id,
            campaign_id: None,
            enrolment_id: Some(account.id),
            step: Some(step.into()),
        },
        app.clock.now_utc(),
    )
    .await
    .expect("issue")
    .code
}

/// A code is redeemed once; a second use, another account's use, an expired code, a typo, an
/// unknown code and a use over the account's limit are refused with the code and the reason;
/// of many redemptions at once exactly one wins.
async fn codes_are_redeemed_once_and_refusals_say_why(b: Backend) {
    let app = spawn_app(b).await;
    for id in ["ACME", "OTHER"] {
        app.create_account(id, json!({"currency": "EUR"})).await;
    }
    for body in [
        json!({"key": "once", "name": "Once", "kind": "discount", "amount": "50", "valid_days": 10}),
        json!({"key": "shared", "name": "Shared", "kind": "gift", "gift": "Mug", "valid_days": 10, "transferable": true, "max_per_code": 3}),
        json!({"key": "race", "name": "Race", "kind": "terms", "terms": "t", "valid_days": 10, "max_per_account": 100}),
    ] {
        json_of(app.post("/api/v1/offers", &body).await, 201).await;
    }
    let first = issue_for(&app, "once", "ACME", "s1").await;
    let second = issue_for(&app, "once", "ACME", "s2").await;
    let redeem = |code: &str, account: &str| {
        let body = json!({"code": code, "account_id": account, "order_id": "ORD-1"});
        let app = &app;
        async move { app.post("/api/v1/offers/redeem", &body).await }
    };
    let detail = |p: Value| p["detail"].as_str().unwrap_or_default().to_string();

    let d = detail(problem(redeem(&first, "OTHER").await, 409).await);
    assert!(
        d.contains(&first) && d.contains("belongs to another account"),
        "{d}"
    );
    let mut typo = first.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'2' { b'3' } else { b'2' };
    let typo = String::from_utf8(typo).expect("ascii");
    let d = detail(problem(redeem(&typo, "ACME").await, 409).await);
    assert!(d.contains(&typo) && d.contains("check character"), "{d}");
    let unknown = abm::offers::codes::generate("WB", &mut rand::rng());
    let d = detail(problem(redeem(&unknown, "ACME").await, 409).await);
    assert!(d.contains(&unknown) && d.contains("does not exist"), "{d}");
    problem(redeem(&first, "NOBODY").await, 404).await;
    let long = "x".repeat(201);
    problem(redeem(&first, &long).await, 422).await;
    problem(
        app.post(
            "/api/v1/offers/redeem",
            &json!({"code": first, "account_id": "ACME", "extra": 1}),
        )
        .await,
        422,
    )
    .await;

    // Redeemed once, lower case and spaced as a customer may type it.
    let typed = first.to_lowercase().replace('-', " - ");
    let r = json_of(redeem(&typed, "ACME").await, 201).await;
    assert_eq!(r["code"], first.as_str());
    assert_eq!(r["state"], "redeemed");
    assert_eq!(r["redemptions"], 1);
    assert_eq!(r["value"]["amount"], "50.00");
    assert_eq!(r["order_id"], "ORD-1");
    let events = json_of(app.get("/api/v1/events?kind=redeemed").await, 200).await;
    assert_eq!(events["total"], 1);
    assert_eq!(events["items"][0]["account_id"], "ACME");
    assert_eq!(events["items"][0]["data"]["code"], first.as_str());
    assert_eq!(events["items"][0]["id"], r["event_id"]);
    let d = detail(problem(redeem(&first, "ACME").await, 409).await);
    assert!(d.contains("already redeemed"), "{d}");
    // The account's limit for the offer (1) is used up, whatever the code.
    let d = detail(problem(redeem(&second, "ACME").await, 409).await);
    assert!(d.contains(&second) && d.contains("limit"), "{d}");
    let codes = json_of(app.get("/api/v1/offers/once/codes").await, 200).await;
    let states: Vec<(&str, &str)> = codes["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["code"].as_str().expect("code"),
                c["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert!(states.contains(&(first.as_str(), "redeemed")), "{states:?}");
    assert!(states.contains(&(second.as_str(), "issued")), "{states:?}");
    assert_eq!(codes["items"][0]["order_id"], "ORD-1");

    // Transferable: another account may use it.
    let shared = issue_for(&app, "shared", "ACME", "s3").await;
    let r = json_of(redeem(&shared, "OTHER").await, 201).await;
    assert_eq!(r["state"], "issued", "two uses left");

    // Expired.
    let late = issue_for(&app, "race", "ACME", "s4").await;
    app.clock.advance(chrono::Duration::days(11));
    let d = detail(problem(redeem(&late, "ACME").await, 409).await);
    assert!(d.contains(&late) && d.contains("expired on"), "{d}");

    // Many at once: exactly one wins.
    let contested = issue_for(&app, "race", "ACME", "s5").await;
    let tries: Vec<_> = (0..10)
        .map(|i| {
            let db = app.db.clone();
            let code = contested.clone();
            let now = app.clock.now_utc();
            tokio::spawn(async move {
                let order = format!("O-{i}");
                abm::offers::redeem::redeem_alone(&db, &code, "ACME", Some(&order), now).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tries {
        match t.await.expect("task") {
            Ok(_) => won += 1,
            Err(e) => assert!(e.to_string().contains("already redeemed"), "{e}"),
        }
    }
    assert_eq!(won, 1);

    // Two different codes of one account at once, with a limit of one per account: one wins.
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "single", "name": "Single", "kind": "terms", "terms": "t", "valid_days": 10}),
        )
        .await,
        201,
    )
    .await;
    for round in 0..3 {
        let codes = [
            issue_for(&app, "single", "OTHER", &format!("a{round}")).await,
            issue_for(&app, "single", "OTHER", &format!("b{round}")).await,
        ];
        let tries: Vec<_> = codes
            .iter()
            .map(|code| {
                let db = app.db.clone();
                let code = code.clone();
                let now = app.clock.now_utc();
                tokio::spawn(async move {
                    abm::offers::redeem::redeem_alone(&db, &code, "OTHER", None, now).await
                })
            })
            .collect();
        let mut won = 0;
        for t in tries {
            if t.await.expect("task").is_ok() {
                won += 1;
            }
        }
        assert_eq!(won, usize::from(round == 0), "round {round}");
    }
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

db_tests!(
    offers_are_defined_listed_changed_and_checked,
    a_campaign_step_issues_one_code_per_enrolment_and_the_email_carries_it,
    concurrent_issuing_keeps_one_code_per_step_and_codes_unique,
    codes_are_redeemed_once_and_refusals_say_why,
);
