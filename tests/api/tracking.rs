//! Response tracking end to end: links in a real email taken from the SMTP server that
//! received it, the public `/t/` endpoints, machine activity, forged tokens, one-click
//! unsubscribe, and responses and bounces reported through the API, with what they set off.

use abm::delivery::sender::send_due;
use abm::tracking::sink::Sink;
use chrono::Duration;
use serde_json::{Value, json};

use crate::campaigns::{activate, create_campaign, enrolments, run_tick, three_accounts};
use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, problem, spawn_app_with};
use crate::smtp_server::SmtpServer;

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

/// The bodies of a MIME message's parts, decoded (quoted-printable or base64).
pub(crate) fn decoded(raw: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    for part in raw.split("\r\n--").flat_map(|p| p.split("\n--")) {
        let Some((head, body)) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))
        else {
            continue;
        };
        let head = head.to_ascii_lowercase();
        if head.contains("content-transfer-encoding: quoted-printable") {
            let joined = body.replace("=\r\n", "").replace("=\n", "");
            let bytes = joined.as_bytes();
            let mut v = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'='
                    && i + 2 < bytes.len()
                    && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
                {
                    v.push(b);
                    i += 3;
                    continue;
                }
                v.push(bytes[i]);
                i += 1;
            }
            out.push_str(&String::from_utf8_lossy(&v));
        } else if head.contains("content-transfer-encoding: base64") {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.trim_end_matches('-'))
                .unwrap_or_default();
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            out.push_str(body);
        }
        out.push('\n');
    }
    out
}

/// The first tracking link of kind `letter` in `text`.
fn link(text: &str, letter: char) -> String {
    let needle = format!("/t/{letter}/");
    let at = text
        .find(&needle)
        .unwrap_or_else(|| panic!("no /t/{letter}/ link in:\n{text}"));
    let start = text[..at].rfind("http://").expect("scheme");
    let end = text[at..]
        .find(|c: char| c == '"' || c == '\'' || c.is_whitespace() || c == '>')
        .map_or(text.len(), |e| at + e);
    text[start..end].to_string()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    Sink::of(&app.ctx).flush().await;
    json_of(
        app.get(&format!("/api/v1/events?limit=1000&{query}")).await,
        200,
    )
    .await["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn tracked_app(b: Backend, server: &SmtpServer) -> TestApp {
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_app_with(b, &[("ABM_EMAIL__SMTP_URL", url.as_str())]).await;
    three_accounts(&app).await;
    create_campaign(
        &app,
        json!({
            "key": "tracked",
            "name": "Tracked outreach",
            "audience": {"segment": "key-accounts"},
            "recipients": {"roles": ["decision_maker"], "max_per_account": 1},
            "send_window": "always",
            "exit_on": ["replied", "unsubscribed"],
            "steps": [
                {"id": "hello", "send": {"channel": "email", "purpose": "outreach", "cta_url": "https://shop.example/offer?x=1&y=2"}},
                {"id": "pause", "wait": {"days": 3}},
                {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
            ]
        }),
    )
    .await;
    activate(&app, "tracked").await;
    run_tick(&app).await;
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.sent, 3, "{r:?}");
    app
}

/// The decoded email sent to `to`.
fn email_to(server: &SmtpServer, to: &str) -> String {
    let m = server
        .messages()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t == to))
        .unwrap_or_else(|| panic!("no email to {to}"));
    decoded(&m.data)
}

async fn links_in_a_real_email_record_opens_clicks_and_views_and_forged_ones_nothing(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = tracked_app(b, &server).await;
    let raw = server
        .messages()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t == "lan@st-1.example"))
        .expect("email")
        .data;
    let body = email_to(&server, "lan@st-1.example");
    assert!(!body.contains("{{"), "placeholders left:\n{body}");
    let cta = link(&body, 'c');
    let pixel = link(&body, 'o');
    let view = link(&body, 'v');
    assert!(link(&body, 'u').contains(&app.address));
    // The List-Unsubscribe header points at the same one-click endpoint.
    assert!(
        raw.contains("List-Unsubscribe: <http://127.0.0.1:"),
        "{raw}"
    );
    let client = no_redirects();

    // Within seconds of delivery: a scanner, whatever it claims to be.
    let r = client
        .get(&cta)
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("click");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "https://shop.example/offer?x=1&y=2"
    );
    // Later: a person; a HEAD and a known scanner agent are machines.
    app.clock.advance(Duration::minutes(30));
    let r = client
        .get(&cta)
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("click");
    assert_eq!(r.status(), 302);
    let r = client
        .head(&cta)
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 302);
    let r = client
        .get(&cta)
        .header(
            "User-Agent",
            "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
        )
        .send()
        .await
        .expect("scanner");
    assert_eq!(r.status(), 302);
    let clicks = events(&app, "kind=clicked").await;
    let flags: Vec<(bool, Option<&str>)> = clicks
        .iter()
        .map(|e| {
            (
                e["machine"].as_bool().expect("machine"),
                e["data"]["machine_reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            (true, Some("right_after_delivery")),
            (false, None),
            (true, Some("head_request")),
            (true, Some("user_agent")),
        ]
    );
    let human = &clicks[1];
    assert_eq!(human["account_id"], "ST-1");
    assert_eq!(human["campaign"], "tracked");
    assert_eq!(human["step"], "hello");
    assert_eq!(human["data"]["url"], "https://shop.example/offer?x=1&y=2");
    assert!(human["message_id"].as_str().expect("id").starts_with('<'));
    assert!(human["stakeholder_id"].is_string());

    // The web view: the message as sent, with its tracked links.
    let r = client.get(&view).send().await.expect("view");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'none'")
    );
    let html = r.text().await.expect("html");
    assert!(
        html.contains(&cta),
        "the web view carries the tracked links"
    );

    // The pixel: a GIF that is never cached.
    let r = client
        .get(&pixel)
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("open");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/gif");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("no-store")
    );
    assert_eq!(&r.bytes().await.expect("gif")[..6], b"GIF89a");
    let opens = events(&app, "kind=opened").await;
    assert_eq!(opens.len(), 1);
    assert_eq!(opens[0]["machine"], false);

    // Forged and altered tokens: 404, nothing recorded.
    let before = events(&app, "").await.len();
    let tampered = {
        let mut t = cta.clone().into_bytes();
        let i = t.len() - 3;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).expect("ascii")
    };
    let base = format!("{}/t/", app.address);
    for bad in [
        tampered,
        format!("{base}c/{}", "A".repeat(7000)),
        format!("{base}c/x.y.z"),
        format!("{base}o/{}", cta.rsplit('/').next().expect("token")),
        pixel.replace("/t/o/", "/t/c/"),
        format!("{base}v/bm9wZQ.AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let r = client.get(&bad).send().await.expect("forged");
        assert_eq!(r.status(), 404, "{bad}");
    }
    assert_eq!(
        events(&app, "").await.len(),
        before,
        "a forged link recorded something"
    );
}

async fn a_burst_of_clicks_on_different_links_is_a_scanner(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = tracked_app(b, &server).await;
    let links = abm::tracking::Links::of(&app.ctx).await.expect("links");
    let m = json_of(app.get("/api/v1/messages?account_id=ST-2").await, 200).await["items"][0]
        ["message_id"]
        .as_str()
        .expect("message id")
        .to_string();
    app.clock.advance(Duration::hours(1));
    let client = no_redirects();
    for target in ["https://a.example/1", "https://a.example/2"] {
        let url = links.link(abm::tracking::LinkKind::Click, &m, Some(target));
        let r = client
            .get(&url)
            .header("User-Agent", BROWSER)
            .send()
            .await
            .expect("click");
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers()["location"], target);
    }
    let clicks = events(&app, "kind=clicked&account_id=ST-2").await;
    let flags: Vec<bool> = clicks
        .iter()
        .map(|e| e["machine"].as_bool().expect("flag"))
        .collect();
    assert_eq!(flags, [false, true]);
    assert_eq!(clicks[1]["data"]["machine_reason"], "many_links_at_once");
}

async fn one_click_unsubscribe_suppresses_the_address_and_ends_the_enrolment(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = tracked_app(b, &server).await;
    let body = email_to(&server, "jonas@st-2.example");
    let unsub = link(&body, 'u');
    let client = no_redirects();
    // GET (what a scanner does) only shows the page.
    let page = client.get(&unsub).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("<form method=\"post\"")
    );
    assert!(events(&app, "kind=unsubscribed").await.is_empty());
    let sup = json_of(app.get("/api/v1/suppressions").await, 200).await;
    assert_eq!(sup["total"], 0);
    // The RFC 8058 POST, twice: suppressed once, one event, the enrolment ended.
    for _ in 0..2 {
        let r = client
            .post(&unsub)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    let sup = json_of(app.get("/api/v1/suppressions").await, 200).await;
    assert_eq!(sup["total"], 1);
    assert_eq!(sup["items"][0]["address"], "jonas@st-2.example");
    assert_eq!(sup["items"][0]["reason"], "unsubscribed");
    let ev = events(&app, "kind=unsubscribed").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["account_id"], "ST-2");
    let st2 = enrolments(&app, "tracked")
        .await
        .into_iter()
        .find(|e| e["account_id"] == "ST-2")
        .expect("ST-2");
    assert_eq!(st2["status"], "exited");
    assert!(
        st2["exit_reason"]
            .as_str()
            .expect("reason")
            .contains("unsubscribed")
    );
    // The others go on to their second email; ST-2 gets nothing more.
    app.clock.advance(Duration::days(3));
    run_tick(&app).await;
    send_due(&app.ctx).await.expect("send");
    let to_jonas = server
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "jonas@st-2.example"))
        .count();
    assert_eq!(to_jonas, 1);
    assert_eq!(server.messages().len(), 5);
}

async fn replies_and_bounces_reported_by_other_systems_act_at_once(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = tracked_app(b, &server).await;
    let first =
        json_of(app.get("/api/v1/messages?account_id=FD-1").await, 200).await["items"][0].clone();
    let mid = first["message_id"].as_str().expect("id").to_string();
    // A reply seen by the mail gateway: In-Reply-To with someone else's id first.
    let e = json_of(
        app.post(
            "/api/v1/responses",
            &json!({"in_reply_to": format!("<other@mail.example> {mid}"), "kind": "replied", "note": "Call me Tuesday"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(e["kind"], "replied");
    assert_eq!(e["account_id"], "FD-1");
    assert_eq!(e["message_id"], mid);
    assert_eq!(e["data"]["note"], "Call me Tuesday");
    let fd1 = enrolments(&app, "tracked")
        .await
        .into_iter()
        .find(|e| e["account_id"] == "FD-1")
        .expect("FD-1");
    assert_eq!(fd1["status"], "exited");
    assert!(
        fd1["exit_reason"]
            .as_str()
            .expect("reason")
            .contains("replied")
    );
    // A call logged in the CRM, by email (no message): recorded, nothing ends.
    let e = json_of(
        app.post(
            "/api/v1/responses",
            &json!({"email": "LAN@st-1.example", "kind": "call_logged"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        (e["account_id"].clone(), e["message_id"].clone()),
        (json!("ST-1"), Value::Null)
    );
    // Unknown, missing, malformed.
    problem(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": "<nope@x>", "kind": "replied"}),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.post("/api/v1/responses", &json!({"kind": "replied"}))
            .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/responses",
            &json!({"email": "a@b.example", "kind": "waved"}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": mid, "kind": "replied", "note": "a\u{0}b"}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": mid, "kind": "replied", "occurred_at": "0001-01-01T00:00:00Z"}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/bounces",
            &json!({"message_id": mid, "type": "soft", "reason": "x\u{1b}y"}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": mid, "kind": "replied", "occurred_at": "2030-01-01T00:00:00Z"}),
        )
        .await,
        422,
    )
    .await;

    // Bounces: hard suppresses, soft only records, a complaint suppresses and ends the
    // enrolment.
    json_of(
        app.post(
            "/api/v1/bounces",
            &json!({"email": "Ann@FD-1.example", "type": "hard", "reason": "5.1.1"}),
        )
        .await,
        201,
    )
    .await;
    let st1 = json_of(app.get("/api/v1/messages?account_id=ST-1").await, 200).await["items"][0]
        ["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    let soft = json_of(
        app.post(
            "/api/v1/bounces",
            &json!({"message_id": st1, "type": "soft"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        (soft["kind"].clone(), soft["data"]["type"].clone()),
        (json!("bounced"), json!("soft"))
    );
    let st2 = json_of(app.get("/api/v1/messages?account_id=ST-2").await, 200).await["items"][0]
        ["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    let c = json_of(
        app.post(
            "/api/v1/bounces",
            &json!({"message_id": st2, "type": "complaint"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(c["kind"], "complained");
    let sup = json_of(app.get("/api/v1/suppressions?sort=address").await, 200).await;
    let listed: Vec<(String, String)> = sup["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap_or("").into(),
                s["reason"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("ann@fd-1.example".to_string(), "bounced".to_string()),
            ("jonas@st-2.example".to_string(), "complained".to_string()),
        ]
    );
    let st2e = enrolments(&app, "tracked")
        .await
        .into_iter()
        .find(|e| e["account_id"] == "ST-2")
        .expect("ST-2");
    assert_eq!(st2e["status"], "exited");
    problem(
        app.post("/api/v1/bounces", &json!({"type": "hard"})).await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/bounces",
            &json!({"email": "not an address", "type": "hard"}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/bounces",
            &json!({"message_id": "<nope@x>", "type": "hard"}),
        )
        .await,
        404,
    )
    .await;
}

async fn engagement_scores_decay_explain_themselves_and_serve_rules(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = tracked_app(b, &server).await;
    app.clock.advance(Duration::hours(1));
    let client = no_redirects();
    let lan = email_to(&server, "lan@st-1.example");
    // A person opens and clicks; a scanner clicks too (it does not count).
    client
        .get(link(&lan, 'o'))
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("open");
    client
        .get(link(&lan, 'c'))
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("click");
    client
        .get(link(&lan, 'c'))
        .header("User-Agent", "python-requests/2.31")
        .send()
        .await
        .expect("scan");
    // The same link clicked again and again, and the email opened again: one each.
    for _ in 0..5 {
        client
            .get(link(&lan, 'c'))
            .header("User-Agent", BROWSER)
            .send()
            .await
            .expect("again");
        client
            .get(link(&lan, 'o'))
            .header("User-Agent", BROWSER)
            .send()
            .await
            .expect("again");
    }
    Sink::of(&app.ctx).flush().await;
    let fd1 = json_of(app.get("/api/v1/messages?account_id=FD-1").await, 200).await["items"][0]
        ["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    json_of(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": fd1, "kind": "replied"}),
        )
        .await,
        201,
    )
    .await;

    let st1 = json_of(app.get("/api/v1/accounts/ST-1").await, 200).await;
    let e = &st1["engagement"];
    // 1 (open) + 3 (click), less than an hour old: 0.5^(1/720) of each.
    assert_eq!(e["score"], 4.0, "{e}");
    assert_eq!(e["half_life_days"], 30.0);
    assert_eq!(e["explained_by"][0]["kind"], "clicked");
    assert_eq!(e["explained_by"][0]["weight"], 3.0);
    assert_eq!(
        e["explained_by"].as_array().map(Vec::len),
        Some(2),
        "the scanner's click is not there"
    );
    assert_eq!(e["stakeholders"].as_array().map(Vec::len), Some(1));
    assert_eq!(e["stakeholders"][0]["score"], 4.0);
    // The timeline: the touches and responses, with the dossier's history, newest first.
    json_of(
        app.post(
            "/api/v1/accounts/ST-1/relationship-events",
            &json!({"kind": "meeting", "occurred_on": "2026-02-20", "outcome": "won", "notes": "Plant visit"}),
        )
        .await,
        201,
    )
    .await;
    let tl = json_of(
        app.get("/api/v1/accounts/ST-1/timeline?limit=100").await,
        200,
    )
    .await;
    let items = tl["items"].as_array().expect("items");
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| i["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds.first(), Some(&"opened"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"meeting"), "{kinds:?}");
    assert!(
        kinds.contains(&"delivered") && kinds.contains(&"clicked"),
        "{kinds:?}"
    );
    assert_eq!(tl["total"], items.len());
    let meeting = items.last().expect("meeting");
    assert_eq!(meeting["source"], "relationship");
    assert_eq!(meeting["summary"], "meeting (won): Plant visit");
    let at: Vec<&str> = items
        .iter()
        .map(|i| i["at"].as_str().unwrap_or(""))
        .collect();
    let mut sorted = at.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(at, sorted, "newest first");
    let second = json_of(
        app.get("/api/v1/accounts/ST-1/timeline?limit=1&offset=1")
            .await,
        200,
    )
    .await;
    assert_eq!(second["items"][0]["id"], items[1]["id"]);
    problem(app.get("/api/v1/accounts/NOPE/timeline").await, 404).await;
    problem(
        app.get("/api/v1/accounts/ST-1/timeline?offset=9999&limit=10")
            .await,
        422,
    )
    .await;
    // A half-life later, half.
    app.clock.advance(Duration::days(30));
    let st1 = json_of(app.get("/api/v1/accounts/ST-1").await, 200).await;
    assert_eq!(st1["engagement"]["score"], 2.0);
    let st2 = json_of(app.get("/api/v1/accounts/ST-2").await, 200).await;
    assert_eq!(st2["engagement"]["score"], 0.0);

    // The rule language: the shorthand parses to the date field.
    let parsed = json_of(
        app.post(
            "/api/v1/rules/parse",
            &json!({"rule_text": "replied_within_days(45) or engagement_score >= 2"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        parsed["rule"],
        json!({"any": [
            {"field": "last_replied_at", "op": "within_days", "value": 45},
            {"field": "engagement_score", "op": "gte", "value": 2}
        ]})
    );
    for (rule, want) in [
        ("replied_within_days(45)", json!(["FD-1"])),
        (
            "clicked_within_days(45) and engagement_score >= 1.9",
            json!(["ST-1"]),
        ),
        ("opened_within_days(7)", json!([])),
        ("engagement_score > 0", json!(["FD-1", "ST-1"])),
    ] {
        let p = json_of(
            app.post(
                "/api/v1/segments/preview",
                &json!({"rule_text": rule, "sample_size": 10}),
            )
            .await,
            200,
        )
        .await;
        let mut got: Vec<String> = p["sample"]
            .as_array()
            .expect("sample")
            .iter()
            .map(|a| a["external_id"].as_str().unwrap_or("").to_string())
            .collect();
        got.sort();
        assert_eq!(json!(got), want, "{rule}");
    }
    problem(
        app.post(
            "/api/v1/rules/parse",
            &json!({"rule_text": "opened_within_days(x)"}),
        )
        .await,
        422,
    )
    .await;
}

async fn an_account_crossing_the_hot_threshold_is_announced_once(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_app_with(
        b,
        &[
            ("ABM_EMAIL__SMTP_URL", url.as_str()),
            ("ABM_WEBHOOKS__ALLOW_PRIVATE", "true"),
            ("ABM_ENGAGEMENT__HOT_THRESHOLD", "12"),
        ],
    )
    .await;
    let crm = crate::http_receiver::Receiver::start().await;
    endpoint(
        &app,
        json!({"url": crm.url("/hot"), "event_types": ["account.hot"]}),
    )
    .await;
    three_accounts(&app).await;
    create_campaign(
        &app,
        json!({
            "key": "tracked", "name": "Tracked", "audience": {"segment": "key-accounts"},
            "recipients": {"roles": ["decision_maker"], "max_per_account": 1}, "send_window": "always",
            "steps": [{"id": "hello", "send": {"channel": "email", "purpose": "outreach"}}]
        }),
    )
    .await;
    activate(&app, "tracked").await;
    run_tick(&app).await;
    send_due(&app.ctx).await.expect("send");
    let m = json_of(app.get("/api/v1/messages?account_id=FD-1").await, 200).await["items"][0]
        ["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    // 10 (a reply) is not hot; 10 + 10 is, once; a third reply keeps it hot, no news.
    for round in 0..3 {
        json_of(
            app.post(
                "/api/v1/responses",
                &json!({"message_id": m, "kind": "replied"}),
            )
            .await,
            201,
        )
        .await;
        for _ in 0..2 {
            app.clock.advance(Duration::seconds(3));
            send_due(&app.ctx).await.expect("send");
        }
        let hot = events(&app, "kind=became_hot").await;
        assert_eq!(hot.len(), usize::from(round > 0), "round {round}");
    }
    let got = crm.requests();
    assert_eq!(got.len(), 1);
    let payload: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(payload["type"], "account.hot");
    assert_eq!(payload["data"]["account"]["id"], "FD-1");
    assert!(payload["data"]["details"]["score"].as_f64().expect("score") >= 12.0);
}

async fn the_campaign_report_counts_people_apart_from_machines_per_step(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = tracked_app(b, &server).await;
    let client = no_redirects();
    app.clock.advance(Duration::hours(1));
    // ST-1: a person opens twice and clicks; ST-2: only a HEAD on the pixel (a machine).
    let body = email_to(&server, "lan@st-1.example");
    for _ in 0..2 {
        let r = client
            .get(link(&body, 'o'))
            .header("User-Agent", BROWSER)
            .send()
            .await
            .expect("open");
        assert_eq!(r.status(), 200);
    }
    let r = client
        .get(link(&body, 'c'))
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("click");
    assert_eq!(r.status(), 302);
    let r = client
        .head(link(&email_to(&server, "jonas@st-2.example"), 'o'))
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    // FD-1 replies; ST-2's accepted email bounces later, as its ESP reports.
    let mid = |account: &str| {
        let app = &app;
        let path = format!("/api/v1/messages?account_id={account}");
        async move {
            json_of(app.get(&path).await, 200).await["items"][0]["message_id"]
                .as_str()
                .expect("id")
                .to_string()
        }
    };
    let fd1 = mid("FD-1").await;
    let st2 = mid("ST-2").await;
    json_of(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": fd1, "kind": "replied"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        app.post(
            "/api/v1/bounces",
            &json!({"message_id": st2, "type": "hard"}),
        )
        .await,
        201,
    )
    .await;
    Sink::of(&app.ctx).flush().await;

    let r = json_of(app.get("/api/v1/campaigns/tracked/report").await, 200).await;
    assert_eq!(r["campaign"], "tracked");
    let steps: Vec<(&str, &str)> = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().expect("step"),
                s["kind"].as_str().expect("kind"),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [("hello", "send"), ("pause", "wait"), ("again", "send")]
    );
    let hello = &r["steps"][0];
    let counts = |f: &Value| -> Vec<i64> {
        [
            "sent",
            "delivered",
            "opened",
            "clicked",
            "replied",
            "unsubscribed",
            "bounced",
            "machine_opened",
            "machine_clicked",
            "pending",
        ]
        .iter()
        .map(|k| f[*k].as_i64().unwrap_or_else(|| panic!("{k} in {f}")))
        .collect()
    };
    assert_eq!(counts(hello), [3, 2, 1, 1, 1, 0, 1, 1, 0, 0], "{hello}");
    assert_eq!(hello["delivery_rate"], json!(0.6667));
    assert_eq!(hello["bounce_rate"], json!(0.3333));
    assert_eq!(hello["open_rate"], json!(0.5));
    assert_eq!(hello["click_rate"], json!(0.5));
    assert_eq!(hello["click_to_open_rate"], json!(1.0));
    assert_eq!(hello["reply_rate"], json!(0.5));
    assert_eq!(hello["unsubscribe_rate"], json!(0.0));
    assert_eq!(counts(&r["steps"][1]), [0; 10]);
    assert_eq!(r["steps"][1]["open_rate"], Value::Null);
    assert_eq!(counts(&r["total"]), counts(hello));

    // The second email: FD-1 has left (it replied), ST-2's address is suppressed (no
    // message), ST-1's waits in the outbox.
    app.clock.advance(Duration::days(3));
    run_tick(&app).await;
    let r = json_of(app.get("/api/v1/campaigns/tracked/report").await, 200).await;
    let again = &r["steps"][2];
    assert_eq!(again["pending"], 1, "{again}");
    assert_eq!(again["sent"], 0);
    assert_eq!(r["total"]["sent"], 3);

    // The same as a workbook: a row per step, then the total.
    let x = app.get("/api/v1/campaigns/tracked/report.xlsx").await;
    assert_eq!(x.status(), 200);
    assert_eq!(
        x.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = x.bytes().await.expect("body");
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    let sheet = wb.worksheet_range("Report").expect("sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let hello_row = rows.iter().find(|r| r[0] == "hello").expect("hello row");
    assert_eq!(&hello_row[1..4], ["send", "3", "2"]);
    let total = rows.iter().find(|r| r[0] == "Total").expect("total row");
    assert_eq!(total[2], "3");

    problem(app.get("/api/v1/campaigns/nope/report").await, 404).await;
    problem(app.get("/api/v1/campaigns/nope/report.xlsx").await, 404).await;
    let long = problem(
        app.get(&format!("/api/v1/campaigns/{}/report", "k".repeat(5000)))
            .await,
        404,
    )
    .await;
    assert!(
        long["detail"].as_str().expect("detail").len() < 200,
        "{long}"
    );

    // And from the command line.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("tracked.xlsx");
    let abm = |key: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_abm"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ABM_DATABASE__URL", &app.database_url)
            .args(["report", "campaign", key, "--xlsx"])
            .arg(&file)
            .output()
            .expect("run abm")
    };
    let out = abm("tracked");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 sent, 2 delivered"));
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&file).expect("xlsx");
    assert!(wb.worksheet_range("Report").is_ok());
    let out = abm("nope");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// What a CRM's receiver does with the official `standardwebhooks` library: verify the
/// signature and the timestamp (against the real time: the test clock is set to it).
async fn a_receiver_using_the_official_standard_webhooks_library_verifies_our_notifications(
    b: Backend,
) {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_app_with(
        b,
        &[
            ("ABM_EMAIL__SMTP_URL", url.as_str()),
            ("ABM_WEBHOOKS__ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    app.clock.set(chrono::Utc::now());
    let crm = crate::http_receiver::Receiver::start().await;
    let (_, secret) = endpoint(
        &app,
        json!({"url": crm.url("/crm"), "event_types": ["message.replied"]}),
    )
    .await;
    three_accounts(&app).await;
    create_campaign(
        &app,
        json!({
            "key": "verified", "name": "Verified", "audience": {"segment": "key-accounts"},
            "recipients": {"roles": ["decision_maker"], "max_per_account": 1}, "send_window": "always",
            "steps": [{"id": "hello", "send": {"channel": "email", "purpose": "outreach"}}]
        }),
    )
    .await;
    activate(&app, "verified").await;
    run_tick(&app).await;
    send_due(&app.ctx).await.expect("send");
    let mid = json_of(app.get("/api/v1/messages?account_id=FD-1").await, 200).await["items"][0]
        ["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    json_of(
        app.post(
            "/api/v1/responses",
            &json!({"message_id": mid, "kind": "replied", "note": "Gerne – nächste Woche"}),
        )
        .await,
        201,
    )
    .await;
    app.clock.advance(Duration::seconds(3));
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.notified, 1, "{r:?}");
    let got = crm.requests();
    assert_eq!(got.len(), 1);
    let mut headers = HeaderMap::new();
    for (k, v) in &got[0].headers {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let wh = standardwebhooks::Webhook::new(&secret).expect("secret");
    wh.verify(&got[0].body, &headers)
        .expect("the official library verifies the notification");
    // And refuses it once anything is changed.
    let mut tampered = got[0].body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert!(wh.verify(&tampered, &headers).is_err());
    let other =
        standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    assert!(other.verify(&got[0].body, &headers).is_err());
}

/// Hits go to the events table in multi-row statements of a bounded size: a batch of a few
/// full statements and a partial one loses no row and links each one to its message.
async fn a_large_batch_of_hits_is_written_whole_and_linked(b: Backend) {
    use abm::events::EventKind;
    use abm::tracking::sink::Hit;
    let server = SmtpServer::start().await;
    let app = tracked_app(b, &server).await;
    let messages = json_of(app.get("/api/v1/messages?limit=10").await, 200).await;
    let ids: Vec<String> = messages["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["message_id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    app.clock.advance(Duration::hours(1));
    let at = app.clock.now_utc();
    let sink = Sink::of(&app.ctx);
    for i in 0..1_234 {
        let click = i % 2 == 1;
        sink.push(Hit {
            kind: if click {
                EventKind::Clicked
            } else {
                EventKind::Opened
            },
            message_id: ids[i % 3].clone(),
            target: click.then(|| format!("https://shop.example/p/{i}")),
            at: at + Duration::milliseconds(i64::try_from(i).expect("small") * 2_000),
            user_agent: Some(BROWSER.into()),
            machine: None,
        })
        .await;
    }
    let all = events(&app, "kind=opened").await;
    assert_eq!(all.len(), 617);
    let clicks = events(&app, "kind=clicked").await;
    assert_eq!(clicks.len(), 617);
    let last = clicks.last().expect("a click");
    assert_eq!(last["data"]["url"], "https://shop.example/p/1233");
    assert_eq!(last["data"]["user_agent"], BROWSER);
    assert_eq!(last["message_id"], ids[1233 % 3].as_str());
    assert_eq!(last["machine"], false);
    assert_eq!(last["campaign"], "tracked");
    assert_eq!(last["step"], "hello");
    assert!(last["account_id"].is_string(), "{last}");
    let occurred: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(last["occurred_at"].clone()).expect("time");
    assert_eq!(occurred, at + Duration::milliseconds(1233 * 2_000));
}

db_tests!(
    a_large_batch_of_hits_is_written_whole_and_linked,
    links_in_a_real_email_record_opens_clicks_and_views_and_forged_ones_nothing,
    a_burst_of_clicks_on_different_links_is_a_scanner,
    one_click_unsubscribe_suppresses_the_address_and_ends_the_enrolment,
    replies_and_bounces_reported_by_other_systems_act_at_once,
    sales_webhooks_reach_subscribed_endpoints_signed_retried_filtered_and_replayable,
    engagement_scores_decay_explain_themselves_and_serve_rules,
    an_account_crossing_the_hot_threshold_is_announced_once,
    the_campaign_report_counts_people_apart_from_machines_per_step,
    a_receiver_using_the_official_standard_webhooks_library_verifies_our_notifications,
);

async fn endpoint(app: &TestApp, body: Value) -> (i64, String) {
    let e = json_of(app.post("/api/v1/webhooks/endpoints", &body).await, 201).await;
    (
        e["id"].as_i64().expect("id"),
        e["secret"].as_str().expect("secret").to_string(),
    )
}

async fn sales_webhooks_reach_subscribed_endpoints_signed_retried_filtered_and_replayable(
    b: Backend,
) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_app_with(
        b,
        &[
            ("ABM_EMAIL__SMTP_URL", url.as_str()),
            ("ABM_WEBHOOKS__ALLOW_PRIVATE", "true"),
            ("ABM_WEBHOOKS__RETRY_SCHEDULE", "0s,5s,5m"),
        ],
    )
    .await;
    let crm = crate::http_receiver::Receiver::start().await;
    let gone = crate::http_receiver::Receiver::start().await;
    let (crm_id, crm_secret) = endpoint(
        &app,
        json!({"url": crm.url("/crm"), "event_types": ["message.replied", "message.clicked"], "rule_text": "industry = food"}),
    )
    .await;
    let (gone_id, _) = endpoint(
        &app,
        json!({"url": gone.url("/old"), "event_types": ["message.replied"]}),
    )
    .await;
    let view = json_of(
        app.get(&format!("/api/v1/webhooks/endpoints/{crm_id}"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        view["event_types"],
        json!(["message.clicked", "message.replied"])
    );
    assert_eq!(view["rule_text"], "industry = food");
    assert_eq!(view["enabled"], true);
    problem(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": crm.url("/x"), "event_types": ["message.nope"]}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": crm.url("/x"), "rule_text": "industri = food"}),
        )
        .await,
        422,
    )
    .await;

    // The campaign's emails, then replies from a food and a steel account.
    three_accounts(&app).await;
    create_campaign(
        &app,
        json!({
            "key": "tracked", "name": "Tracked", "audience": {"segment": "key-accounts"},
            "recipients": {"roles": ["decision_maker"], "max_per_account": 1}, "send_window": "always",
            "steps": [{"id": "hello", "send": {"channel": "email", "purpose": "outreach", "cta_url": "https://shop.example/a"}}]
        }),
    )
    .await;
    activate(&app, "tracked").await;
    run_tick(&app).await;
    send_due(&app.ctx).await.expect("send");
    let mid = |acc: &'static str| {
        let app = &app;
        async move {
            json_of(
                app.get(&format!("/api/v1/messages?account_id={acc}")).await,
                200,
            )
            .await["items"][0]["message_id"]
                .as_str()
                .expect("id")
                .to_string()
        }
    };
    let (food, steel) = (mid("FD-1").await, mid("ST-1").await);
    for m in [&food, &steel] {
        json_of(
            app.post(
                "/api/v1/responses",
                &json!({"message_id": m, "kind": "replied"}),
            )
            .await,
            201,
        )
        .await;
    }
    // The CRM fails once (then takes it: the first retry is at once); the old endpoint is gone.
    crm.answer(500, &[]);
    gone.answer(410, &[]);
    gone.answer(410, &[]);
    // Events are read once settled (2 s), so a slow transaction is never skipped.
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.notified, 0, "{r:?}");
    app.clock.advance(Duration::seconds(3));
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.notified, 3, "{r:?}");
    let got = crm.requests();
    assert_eq!(
        got.len(),
        2,
        "the food account's reply, once failed and once delivered"
    );
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    let last = &got[1];
    let body = String::from_utf8(last.body.clone()).expect("utf8");
    let ts: i64 = last.headers["webhook-timestamp"].parse().expect("ts");
    let expected = abm::delivery::webhooks::sign(
        &crm_secret,
        &last.headers["webhook-id"],
        ts,
        body.as_bytes(),
    )
    .expect("sig");
    assert_eq!(last.headers["webhook-signature"], expected);
    let payload: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(payload["type"], "message.replied");
    assert_eq!(payload["version"], 1);
    assert_eq!(payload["data"]["account"]["id"], "FD-1");
    assert_eq!(payload["data"]["campaign"], "tracked");
    assert_eq!(payload["data"]["message_id"], food);
    assert_eq!(payload["data"]["stakeholder"]["email"], "ann@fd-1.example");
    assert!(payload["data"]["event_id"].is_i64());
    assert!(payload["timestamp"].is_string());

    // The delivery log of the endpoint: status, latency, response snippet.
    let log = json_of(
        app.get(&format!("/api/v1/messages?endpoint={crm_id}"))
            .await,
        200,
    )
    .await;
    assert_eq!(log["total"], 1);
    let m = &log["items"][0];
    assert_eq!(
        (m["status"].clone(), m["attempts"].clone()),
        (json!("sent"), json!(2))
    );
    assert_eq!(m["last_attempt"]["code"], "200");
    assert_eq!(m["last_attempt"]["response"], "ok");
    let detail = json_of(app.get(&format!("/api/v1/messages/{}", m["id"])).await, 200).await;
    let codes: Vec<&str> = detail["attempts_log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|a| a["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes, ["500", "200"]);

    // 410: disabled at once, with an event; nothing more goes there.
    let g = json_of(
        app.get(&format!("/api/v1/webhooks/endpoints/{gone_id}"))
            .await,
        200,
    )
    .await;
    assert_eq!(g["enabled"], false);
    assert!(
        g["disabled_reason"]
            .as_str()
            .expect("reason")
            .contains("410")
    );
    let disabled = events(&app, "kind=endpoint_disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["data"]["endpoint"], gone_id);
    assert_eq!(gone.requests().len(), 2);

    // Replay: the same webhook-id again.
    let id = m["id"].as_i64().expect("id");
    json_of(
        app.post(&format!("/api/v1/messages/{id}/replay"), &json!({}))
            .await,
        200,
    )
    .await;
    send_due(&app.ctx).await.expect("send");
    let got = crm.requests();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].headers["webhook-id"], got[1].headers["webhook-id"]);
    let email = json_of(app.get("/api/v1/messages?account_id=FD-1").await, 200).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["channel"] == "email")
        .expect("email")["id"]
        .as_i64()
        .expect("id");
    problem(
        app.post(&format!("/api/v1/messages/{email}/replay"), &json!({}))
            .await,
        409,
    )
    .await;

    // A scanner's click is not news for sales; a person's is.
    let body = email_to(&server, "ann@fd-1.example");
    let cta = link(&body, 'c');
    let client = no_redirects();
    client
        .get(&cta)
        .header(
            "User-Agent",
            "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
        )
        .send()
        .await
        .expect("scan");
    app.clock.advance(Duration::minutes(10));
    client
        .get(&cta)
        .header("User-Agent", BROWSER)
        .send()
        .await
        .expect("click");
    Sink::of(&app.ctx).flush().await;
    app.clock.advance(Duration::seconds(3));
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.notified, 1, "{r:?}");
    let clicked: Vec<Value> = crm
        .requests()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).expect("json"))
        .filter(|p| p["type"] == "message.clicked")
        .collect();
    assert_eq!(clicked.len(), 1);
    assert_eq!(clicked[0]["data"]["details"]["machine_reason"], Value::Null);

    // Turned back on by hand.
    let g = json_of(
        app.patch(
            &format!("/api/v1/webhooks/endpoints/{gone_id}"),
            &json!({"enabled": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (g["enabled"].clone(), g["disabled_reason"].clone()),
        (json!(true), Value::Null)
    );
}
