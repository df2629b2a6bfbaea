//! Win-back from end to end: a key account stops buying, an analysis run finds it lost, the
//! campaign its class is routed to enrols it and emails it an offer code, an order carrying
//! the code redeems it once, the account is recovered at once (its sequence exited, the
//! recovery attributed), sales hear of it, and the report shows it all.

use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use abm::delivery::sender::send_due;
use abm::import::{ImportError, NoProgress};
use abm::orders::import::{OrderImportOptions, import_orders};

use crate::campaigns::{activate, create_campaign, enrolments, run_tick};
use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, problem, run_analysis, spawn_app_with};
use crate::smtp_server::SmtpServer;
use crate::tracking::decoded;
use crate::winback::orders;

/// With the clock at 2026-03-01: BIG and SMALL stopped buying in June 2025, ACTIVE buys every
/// month (the accounts exist).
async fn order_history(app: &TestApp) {
    orders(
        app,
        "BIG",
        &[("2025-06-01", "9000"), ("2025-06-20", "9000")],
    )
    .await;
    orders(
        app,
        "SMALL",
        &[("2025-06-02", "100"), ("2025-06-21", "100")],
    )
    .await;
    let monthly: Vec<String> = (3..=12)
        .map(|m| format!("2025-{m:02}-05"))
        .chain((1..=2).map(|m| format!("2026-{m:02}-05")))
        .collect();
    let active: Vec<(&str, &str)> = monthly.iter().map(|d| (d.as_str(), "300")).collect();
    orders(app, "ACTIVE", &active).await;
}

/// The win-back campaign `key`: enrols lost accounts, emails the offer, leaves on an order.
fn campaign(key: &str, template: &str, offer: &str) -> Value {
    json!({
        "key": key, "name": key, "audience": {"trigger": {"event": "became_lost"}},
        "recipients": {"roles": ["decision_maker"], "max_per_account": 1},
        "send_window": "always", "exit_on": ["ordered"],
        "steps": [
            {"id": "offer", "send": {"channel": "email", "template": template, "offer_key": offer}, "next": "pause"},
            {"id": "pause", "wait": {"days": 45}, "next": "again"},
            {"id": "again", "send": {"channel": "email", "template": "winback-general-en"}}
        ]
    })
}

/// The offer each win-back campaign of the test emails.
fn offer_of(campaign: &str) -> &'static str {
    match campaign {
        "winback-pillar" => "wb-terms",
        "winback-discount" => "wb-disc",
        _ => "wb-gift",
    }
}

fn detail(p: &Value) -> String {
    p["detail"].as_str().unwrap_or_default().to_string()
}

async fn a_lost_account_is_won_back_with_an_offer_and_the_report_shows_it(b: Backend) {
    let smtp = SmtpServer::start().await;
    smtp.set_busy(false);
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_app_with(
        b,
        &[
            ("ABM_EMAIL__SMTP_URL", url.as_str()),
            ("ABM_WEBHOOKS__ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    let crm = crate::http_receiver::Receiver::start().await;
    json_of(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": crm.url("/crm"), "event_types": ["offer.redeemed", "account.recovered"]}),
        )
        .await,
        201,
    )
    .await;

    // BIG and SMALL stopped buying in June 2025 (the clock stands at 2026-03-01); ACTIVE buys
    // every month. BIG is a B account, SMALL a C one.
    for (id, who) in [("BIG", "bo@big.example"), ("SMALL", "sue@small.example")] {
        app.create_account(id, json!({"currency": "USD", "industry": "steel"}))
            .await;
        json_of(
            app.post(
                &format!("/api/v1/accounts/{id}/stakeholders"),
                &json!({"name": "Buyer", "email": who, "role": "decision_maker"}),
            )
            .await,
            201,
        )
        .await;
    }
    app.create_account("ACTIVE", json!({"currency": "USD"}))
        .await;
    order_history(&app).await;

    // The offers and the win-back campaigns `[winback.routes]` (the defaults) route to.
    for body in [
        json!({"key": "wb-terms", "name": "Special terms", "kind": "terms", "terms": "90 days net", "valid_days": 30}),
        json!({"key": "wb-disc", "name": "10% back", "kind": "discount", "percent": 10, "cap": "500", "valid_days": 30}),
        json!({"key": "wb-gift", "name": "A gift", "kind": "gift", "gift": "Espresso machine", "gift_cost": "80", "valid_days": 30}),
    ] {
        json_of(app.post("/api/v1/offers", &body).await, 201).await;
    }
    for (key, template, offer) in [
        ("winback-pillar", "winback-general-en", "wb-terms"),
        ("winback-discount", "winback-discount-en", "wb-disc"),
        ("winback-gift", "winback-gift-en", "wb-gift"),
    ] {
        create_campaign(&app, campaign(key, template, offer)).await;
        activate(&app, key).await;
    }

    // The run finds both lost; each enters the one campaign its class is routed to.
    run_analysis(&app).await;
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    let item = |id: &str| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["account_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))
    };
    let route = |i: &Value| -> String {
        let types: Vec<&str> = i["types"]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        app.settings
            .winback
            .route(i["abc"].as_str(), i["xyz"].as_str(), &types)
            .expect("a route")
            .to_string()
    };
    let (big, small) = (item("BIG"), item("SMALL"));
    assert_eq!(big["abc"], "B", "{big}");
    assert_eq!(small["abc"], "C", "{small}");
    // The default routes: B gets the discount, C the gift.
    let (big_campaign, small_campaign) = (route(&big), route(&small));
    assert_eq!(big_campaign, "winback-discount");
    assert_eq!(small_campaign, "winback-gift");
    run_tick(&app).await;
    for key in ["winback-pillar", "winback-discount", "winback-gift"] {
        let enrolled: Vec<Value> = enrolments(&app, key).await;
        let mut who: Vec<&str> = enrolled
            .iter()
            .map(|e| e["account_id"].as_str().expect("account"))
            .collect();
        who.sort_unstable();
        let mut expected: Vec<&str> = [("BIG", &big_campaign), ("SMALL", &small_campaign)]
            .iter()
            .filter(|(_, c)| c.as_str() == key)
            .map(|(a, _)| *a)
            .collect();
        expected.sort_unstable();
        assert_eq!(who, expected, "enrolments of {key}");
    }

    // The offer emails arrive at the SMTP server, each with its account's valid code.
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.sent, 2, "{r:?}");
    let code_of = |campaign: &str, account: &str| {
        let app = &app;
        let offer = offer_of(campaign);
        let account = account.to_string();
        async move {
            let codes = json_of(app.get(&format!("/api/v1/offers/{offer}/codes")).await, 200).await;
            codes["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|c| c["account_id"] == account.as_str())
                .unwrap_or_else(|| panic!("no code for {account}: {codes}"))["code"]
                .as_str()
                .expect("code")
                .to_string()
        }
    };
    let big_code = code_of(&big_campaign, "BIG").await;
    let small_code = code_of(&small_campaign, "SMALL").await;
    for (to, code) in [
        ("bo@big.example", &big_code),
        ("sue@small.example", &small_code),
    ] {
        let mail = smtp
            .messages()
            .into_iter()
            .find(|m| m.to.iter().any(|t| t == to))
            .unwrap_or_else(|| panic!("no email to {to}"));
        assert!(
            decoded(&mail.data).contains(code.as_str()),
            "{to} lacks {code}"
        );
    }
    // Each code knows the message that carried it.
    let stored = abm::entities::offer_code::Entity::find()
        .filter(abm::entities::offer_code::Column::Code.eq(big_code.as_str()))
        .one(&app.db)
        .await
        .expect("code")
        .expect("stored");
    assert!(stored.message_id.is_some(), "{stored:?}");
    let lists_big = json_of(app.get("/api/v1/winback").await, 200).await;
    let tried = &lists_big["items"][0]["tried"];
    assert_eq!(lists_big["items"][0]["account_id"], "BIG");
    assert_eq!(tried["offers"][0]["code"], big_code.as_str(), "{tried}");
    assert_eq!(tried["campaigns"][0]["campaign"], big_campaign.as_str());

    // An order with BIG's code: redeemed, BIG recovered at once.
    app.clock.advance(Duration::days(2));
    let today = app.clock.now_utc().date_naive().to_string();
    let order = |id: &str, account: &str, amount: &str, code: Option<&str>| json!({"external_id": id, "account_id": account, "ordered_at": today, "amount": amount, "offer_code": code});
    json_of(
        app.post(
            "/api/v1/orders",
            &order("BIG-BACK", "BIG", "2000", Some(&big_code.to_lowercase())),
        )
        .await,
        201,
    )
    .await;
    // Stored as issued, however it was typed.
    assert_eq!(
        json_of(app.get("/api/v1/orders/BIG-BACK").await, 200).await["offer_code"],
        big_code.as_str()
    );
    // Sending the same order again redeems nothing more.
    json_of(
        app.put(
            "/api/v1/orders/BIG-BACK",
            &order("BIG-BACK", "BIG", "2000", Some(&big_code)),
        )
        .await,
        200,
    )
    .await;
    // A second order with it, and SMALL using BIG's code in a batch: refused, nothing stored.
    let second = problem(
        app.post(
            "/api/v1/orders",
            &order("BIG-AGAIN", "BIG", "10", Some(&big_code)),
        )
        .await,
        409,
    )
    .await;
    assert!(
        detail(&second).contains(&big_code) && detail(&second).contains("already redeemed"),
        "{second}"
    );
    assert_eq!(second["code"], "offer_code_refused");
    let other = problem(
        app.post(
            "/api/v1/orders/batch",
            &json!({"orders": [
                order("SMALL-OK", "SMALL", "50", None),
                order("SMALL-BAD", "SMALL", "50", Some(&big_code)),
            ]}),
        )
        .await,
        409,
    )
    .await;
    let d = detail(&other);
    assert!(
        d.starts_with("/orders/1: ") && d.contains(&big_code) && d.contains("another account"),
        "{other}"
    );
    for id in ["BIG-AGAIN", "SMALL-OK", "SMALL-BAD"] {
        problem(app.get(&format!("/api/v1/orders/{id}")).await, 404).await;
    }

    let codes = json_of(
        app.get(&format!("/api/v1/offers/{}/codes", offer_of(&big_campaign)))
            .await,
        200,
    )
    .await;
    let c = codes["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["code"] == big_code.as_str())
        .cloned()
        .expect("BIG's code");
    assert_eq!(c["state"], "redeemed");
    assert_eq!(c["order_id"], "BIG-BACK");
    let redeemed = json_of(app.get("/api/v1/events?kind=redeemed").await, 200).await;
    assert_eq!(redeemed["total"], 1, "{redeemed}");
    let recovered = json_of(app.get("/api/v1/events?kind=recovered").await, 200).await;
    assert_eq!(recovered["total"], 1, "{recovered}");
    let ev = &recovered["items"][0];
    assert_eq!(ev["account_id"], "BIG");
    assert_eq!(ev["data"]["attributed_to"], "offer");
    assert_eq!(ev["data"]["order_id"], "BIG-BACK");
    assert!(
        ev["data"]["attribution"]
            .as_str()
            .unwrap_or_default()
            .contains(&big_code),
        "{ev}"
    );
    // Its sequence is exited; it has left the list.
    let e = enrolments(&app, &big_campaign)
        .await
        .into_iter()
        .find(|e| e["account_id"] == "BIG")
        .expect("enrolment");
    assert_eq!(e["status"], "exited", "{e}");
    assert!(
        e["exit_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("ordered"),
        "{e}"
    );
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["account_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["SMALL"]);

    // Sales hear of the redemption and the recovery.
    app.clock.advance(Duration::seconds(3));
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.notified, 2, "{r:?}");
    let mut kinds: Vec<String> = crm
        .requests()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).expect("json");
            assert_eq!(v["data"]["account"]["id"], "BIG", "{v}");
            v["type"].as_str().expect("type").to_string()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["account.recovered", "offer.redeemed"]);

    // A month on, SMALL's code has expired: an import carrying it is refused at its row.
    app.clock.advance(Duration::days(31));
    let today = app.clock.now_utc().date_naive().to_string();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("orders.csv");
    std::fs::write(
        &file,
        format!(
            "external_id,account_id,ordered_at,amount,offer_code\nSMALL-1,SMALL,{today},80,\nSMALL-2,SMALL,{today},90,{small_code}\n"
        ),
    )
    .expect("write");
    let opts = OrderImportOptions {
        create_accounts: false,
        sheet: None,
    };
    match import_orders(
        &app.db,
        &app.clock,
        &app.settings,
        &file,
        &opts,
        &NoProgress,
    )
    .await
    {
        Err(ImportError::Rows { shown, .. }) => {
            let text: Vec<String> = shown.iter().map(ToString::to_string).collect();
            assert_eq!(text.len(), 1, "{text:?}");
            assert!(
                text[0].starts_with("row 3, column `offer_code`")
                    && text[0].contains(&small_code)
                    && text[0].contains("expired on"),
                "{text:?}"
            );
        }
        other => panic!("expected a row error, got {other:?}"),
    }
    problem(app.get("/api/v1/orders/SMALL-1").await, 404).await;
    // Without the code it imports, and SMALL's recovery goes to the offer email it got (a
    // win-back touch 33 days before the order, within `winback.attribution_days`).
    std::fs::write(
        &file,
        format!("external_id,account_id,ordered_at,amount\nSMALL-1,SMALL,{today},80\n"),
    )
    .expect("write");
    import_orders(
        &app.db,
        &app.clock,
        &app.settings,
        &file,
        &opts,
        &NoProgress,
    )
    .await
    .expect("import");
    let recovered = json_of(app.get("/api/v1/events?kind=recovered").await, 200).await;
    assert_eq!(recovered["total"], 2, "{recovered}");

    // A later run announces neither recovery again (ACTIVE keeps buying).
    orders(&app, "ACTIVE", &[(today.as_str(), "300")]).await;
    run_analysis(&app).await;
    let recovered = json_of(app.get("/api/v1/events?kind=recovered").await, 200).await;
    assert_eq!(recovered["total"], 2, "{recovered}");

    // The report: both lost and contacted, one redeemed, both recovered; BIG's revenue and
    // the discount it cost.
    let report = json_of(
        app.get("/api/v1/winback/report?from=2026-03-01&by=campaign")
            .await,
        200,
    )
    .await;
    let total = &report["total"];
    assert_eq!(total["lost"], 2, "{report}");
    assert_eq!(total["contacted"], 2, "{report}");
    assert_eq!(total["redeemed"], 1, "{report}");
    assert_eq!(total["recovered"], 2, "{report}");
    assert_eq!(total["recovered_by_offer"], 1, "{report}");
    assert_eq!(total["recovered_by_touch"], 1, "{report}");
    assert_eq!(total["recovered_revenue"], "2080.00", "{report}");
    // 10% of 2,000 (under the 500 cap); revenue from offers 2,000: (2000 − 200) / 200.
    assert_eq!(total["discounts_given"], "200.00", "{report}");
    assert_eq!(total["gift_cost"], "0.00", "{report}");
    assert_eq!(total["offer_cost"], "200.00", "{report}");
    assert_eq!(total["return_on_offers"], 9.0, "{report}");
    let recoveries = report["recoveries"].as_array().expect("recoveries");
    let small_r = recoveries
        .iter()
        .find(|r| r["account_id"] == "SMALL")
        .expect("SMALL recovered");
    assert_eq!(small_r["attributed_to"], "touch", "{small_r}");
    assert_eq!(small_r["campaign"], small_campaign.as_str());
    assert!(
        small_r["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("last win-back touch"),
        "{small_r}"
    );
    let big_r = recoveries
        .iter()
        .find(|r| r["account_id"] == "BIG")
        .expect("BIG recovered");
    assert_eq!(big_r["attributed_to"], "offer");
    assert_eq!(big_r["group"], big_campaign.as_str());
    assert_eq!(big_r["revenue"], "2000.00");
    let row = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["group"] == big_campaign.as_str() && r["recovered"] == 1)
        .unwrap_or_else(|| panic!("no row of {big_campaign}: {report}"));
    assert_eq!(row["recovered_by_offer"], 1);
    problem(app.get("/api/v1/winback/report?by=colour").await, 422).await;
    problem(
        app.get("/api/v1/winback/report?from=2026-05-01&to=2026-04-01")
            .await,
        422,
    )
    .await;

    // From the command line, as a workbook.
    let xlsx = dir.path().join("winback.xlsx");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ABM_DATABASE__URL", &app.database_url)
        .args([
            "report",
            "winback",
            "--from",
            "2026-03-01",
            "--to",
            "2026-12-31",
            "--by",
            "cell",
            "--xlsx",
        ])
        .arg(&xlsx)
        .output()
        .expect("run abm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 lost, 2 recovered"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).expect("xlsx");
    let sheet = wb.worksheet_range("Win-back").expect("sheet");
    let text: Vec<String> = sheet.rows().flatten().map(|c| c.to_string()).collect();
    assert!(text.iter().any(|c| c == "BIG-BACK"), "{text:?}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_abm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ABM_DATABASE__URL", &app.database_url)
        .args(["report", "winback", "--by", "colour", "--xlsx"])
        .arg(&xlsx)
        .output()
        .expect("run abm");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--by"));
}

/// A manager's hand-add enrols the account like a loss does; taking an account out ends its
/// win-back enrolment; a hand-added account that orders is recovered (and its mark settled);
/// a voided code is refused; of many orders carrying one code at once exactly one is stored.
async fn managers_steer_winback_by_hand_and_codes_hold_under_racing_orders(b: Backend) {
    let app = spawn_app_with(b, &[]).await;
    for id in ["BIG", "SMALL", "ACTIVE"] {
        app.create_account(id, json!({"currency": "USD"})).await;
    }
    order_history(&app).await;
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "race", "name": "Race", "kind": "discount", "amount": "100", "valid_days": 30, "max_per_account": 10}),
        )
        .await,
        201,
    )
    .await;
    // A win-back campaign no route names takes every account that enters win-back.
    create_campaign(
        &app,
        json!({
            "key": "all-lost", "name": "All lost", "audience": {"trigger": {"event": "became_lost"}},
            "steps": [{"id": "call", "manager_task": {"title": "Call them"}, "next": "later"},
                      {"id": "later", "wait": {"days": 30}, "next": "again"},
                      {"id": "again", "manager_task": {"title": "Call them again"}}]
        }),
    )
    .await;
    activate(&app, "all-lost").await;
    run_analysis(&app).await;
    run_tick(&app).await;
    let who = |list: &[Value]| {
        let mut v: Vec<(String, String)> = list
            .iter()
            .map(|e| {
                (
                    e["account_id"].as_str().expect("id").to_string(),
                    e["status"].as_str().expect("status").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let active_ = |id: &str| (id.to_string(), "active".to_string());
    assert_eq!(
        who(&enrolments(&app, "all-lost").await),
        [active_("BIG"), active_("SMALL")]
    );

    // ACTIVE is added by hand: the next tick enrols it, saying why.
    json_of(
        app.post(
            "/api/v1/winback/ACTIVE",
            &json!({"reason": "buyer moved to a rival"}),
        )
        .await,
        201,
    )
    .await;
    run_tick(&app).await;
    let list = enrolments(&app, "all-lost").await;
    assert_eq!(
        who(&list),
        [active_("ACTIVE"), active_("BIG"), active_("SMALL")]
    );
    // SMALL is taken out: its enrolment ends with the manager's reason.
    json_of(
        app.delete("/api/v1/winback/SMALL?reason=closed%20down")
            .await,
        200,
    )
    .await;
    let small = enrolments(&app, "all-lost")
        .await
        .into_iter()
        .find(|e| e["account_id"] == "SMALL")
        .expect("SMALL");
    assert_eq!(small["status"], "exited");
    assert!(
        small["exit_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("taken out of win-back by hand: closed down"),
        "{small}"
    );

    // ACTIVE orders: recovered (by hand), its mark settled, its enrolment ended.
    let today = app.clock.now_utc().date_naive().to_string();
    json_of(
        app.post(
            "/api/v1/orders",
            &json!({"external_id": "ACT-1", "account_id": "ACTIVE", "ordered_at": today, "amount": "300", "offer_code": "SPRING5"}),
        )
        .await,
        201,
    )
    .await;
    let recovered = json_of(app.get("/api/v1/events?kind=recovered").await, 200).await;
    assert_eq!(recovered["total"], 1, "{recovered}");
    assert_eq!(recovered["items"][0]["account_id"], "ACTIVE");
    assert_eq!(recovered["items"][0]["data"]["by_hand"], true);
    assert_eq!(recovered["items"][0]["data"]["attributed_to"], "none");
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["account_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["BIG"], "{list}");
    // Added again after its recovery: listed again.
    json_of(
        app.post(
            "/api/v1/winback/ACTIVE",
            &json!({"reason": "slipping again"}),
        )
        .await,
        201,
    )
    .await;
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    assert_eq!(list["total"], 2, "{list}");
    json_of(
        app.delete("/api/v1/winback/ACTIVE?reason=fine%20after%20all")
            .await,
        200,
    )
    .await;
    let active_e = enrolments(&app, "all-lost")
        .await
        .into_iter()
        .find(|e| e["account_id"] == "ACTIVE")
        .expect("ACTIVE");
    assert_eq!(active_e["status"], "exited", "{active_e}");
    // The shop's own promotion code was stored as it came.
    assert_eq!(
        json_of(app.get("/api/v1/orders/ACT-1").await, 200).await["offer_code"],
        "SPRING5"
    );

    // A voided code is refused; a redeemed one cannot be voided.
    let code = |step: &str| {
        let app = &app;
        let step = step.to_string();
        async move {
            let offer = abm::entities::offer::Entity::find()
                .one(&app.db)
                .await
                .expect("offer")
                .expect("one");
            let account = abm::entities::account::Entity::find()
                .filter(abm::entities::account::Column::ExternalId.eq("BIG"))
                .one(&app.db)
                .await
                .expect("account")
                .expect("BIG");
            abm::offers::codes::issue(
                &app.db,
                abm::offers::codes::Issue {
                    offer: &offer,
                    account_id: account.id,
                    campaign_id: None,
                    enrolment_id: Some(account.id),
                    step: Some(step),
                },
                app.clock.now_utc(),
            )
            .await
            .expect("issue")
            .code
        }
    };
    let voided = code("v").await;
    let v = json_of(
        app.post(
            &format!("/api/v1/offers/race/codes/{voided}/void"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["state"], "void");
    problem(
        app.post(
            "/api/v1/offers/race/codes/WB-2222-2222-2222/void",
            &json!({}),
        )
        .await,
        404,
    )
    .await;
    let p = problem(
        app.post(
            "/api/v1/orders",
            &json!({"external_id": "BIG-V", "account_id": "BIG", "ordered_at": today, "amount": "50", "offer_code": voided}),
        )
        .await,
        409,
    )
    .await;
    assert!(detail(&p).contains("withdrawn"), "{p}");

    // Racing orders with one code: one is stored and redeems it, the rest are refused.
    let contested = code("r").await;
    let racing: Vec<_> = (0..6)
        .map(|i| {
            let body = json!({"external_id": format!("BIG-R{i}"), "account_id": "BIG", "ordered_at": today, "amount": "500", "offer_code": contested});
            let app = &app;
            async move { app.post("/api/v1/orders", &body).await.status().as_u16() }
        })
        .collect();
    let statuses = futures_util::future::join_all(racing).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409 || *s == 503),
        "{statuses:?}"
    );
    let stored = json_of(
        app.get("/api/v1/orders?account_id=BIG&limit=100").await,
        200,
    )
    .await;
    let won: Vec<&Value> = stored["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|o| {
            o["external_id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("BIG-R")
        })
        .collect();
    assert_eq!(won.len(), 1, "{stored}");
    let redeemed = json_of(app.get("/api/v1/events?kind=redeemed").await, 200).await;
    assert_eq!(redeemed["total"], 1, "{redeemed}");
    assert_eq!(
        redeemed["items"][0]["data"]["order_id"],
        won[0]["external_id"]
    );
    // BIG recovered once, through the winning order and its offer.
    let recovered = json_of(app.get("/api/v1/events?kind=recovered").await, 200).await;
    assert_eq!(recovered["total"], 2, "{recovered}");
}

db_tests!(
    a_lost_account_is_won_back_with_an_offer_and_the_report_shows_it,
    managers_steer_winback_by_hand_and_codes_hold_under_racing_orders,
);
