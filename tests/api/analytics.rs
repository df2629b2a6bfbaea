//! Offline analytics: the BG/NBD fit against the published CDNOW estimates and an independent
//! implementation (lifetimes), and the `abm analyze` / `abm churn` command contracts.

use std::path::Path;
use std::process::Command;

use abm::analytics::bgnbd;
use abm::analytics::engine as offline;
use chrono::NaiveDate;

fn cdnow() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cdnow_sample_orders.csv")
}

fn abm() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_abm"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ABM_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn cdnow_customers() -> (offline::OrderBook, Vec<(usize, bgnbd::Customer)>) {
    let end = NaiveDate::from_ymd_opt(1997, 9, 30).expect("date");
    let book =
        offline::load(&cdnow(), chrono_tz::UTC, false, Some(end)).expect("CDNOW sample loads");
    let customers = offline::customers(&book, end, 7.0);
    (book, customers)
}

#[test]
fn bgnbd_reproduces_the_published_cdnow_estimates() {
    let (_, customers) = cdnow_customers();
    assert_eq!(customers.len(), 2357);
    let input: Vec<_> = customers.iter().map(|(_, c)| *c).collect();
    let fit = bgnbd::fit(&input).expect("fit");
    // Fader, Hardie & Lee (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4.
    assert!((fit.r - 0.243).abs() < 0.0005, "r = {}", fit.r);
    assert!((fit.alpha - 4.414).abs() < 0.0005, "alpha = {}", fit.alpha);
    assert!((fit.a - 0.793).abs() < 0.0005, "a = {}", fit.a);
    assert!((fit.b - 2.426).abs() < 0.0005, "b = {}", fit.b);
    assert!(
        (fit.log_likelihood - (-9582.4)).abs() < 0.05,
        "LL = {}",
        fit.log_likelihood
    );
}

#[test]
fn bgnbd_predictions_match_an_independent_implementation() {
    // Values from the Python package `lifetimes` (BetaGeoFitter on the same data; see
    // tests/bgnbd_lifetimes_check.py): P(alive) and expected purchases in 10 weeks.
    let (book, customers) = cdnow_customers();
    let input: Vec<_> = customers.iter().map(|(_, c)| *c).collect();
    let params = bgnbd::fit(&input).expect("fit").params();
    for (id, p_alive, expected) in [
        ("4", 0.7266203, 0.35695837),
        ("21", 0.21239102, 0.05825122),
        ("18", 1.0, 0.05473872),
        ("50", 1.0, 0.05421386),
    ] {
        let (_, c) = customers
            .iter()
            .find(|(i, _)| book.accounts[*i] == id)
            .expect("customer present");
        assert!(
            (bgnbd::p_alive(&params, c) - p_alive).abs() < 1e-5,
            "P(alive) of {id}"
        );
        assert!(
            (bgnbd::expected_purchases(&params, c, 10.0) - expected).abs() < 1e-5,
            "expected purchases of {id}"
        );
    }
    // The published parameters give the published log-likelihood.
    let published = bgnbd::Params {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    let ll = bgnbd::log_likelihood(&input, &published).expect("ll");
    assert!((ll - (-9582.4)).abs() < 0.5, "{ll}");
}

#[test]
fn churn_fit_and_predict_commands_follow_their_contract() {
    let out = abm()
        .args([
            "churn",
            "fit",
            "--calibration-end",
            "1997-09-30",
            "--unit",
            "weeks",
            "--orders",
        ])
        .arg(cdnow())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in ["r", "alpha", "a", "b", "log_likelihood"] {
        assert!(json[key].is_f64(), "{key}");
    }
    assert!((json["r"].as_f64().unwrap_or(0.0) - 0.243).abs() < 0.001);

    let dir = tempfile::tempdir().expect("dir");
    let pred = dir.path().join("pred.csv");
    let out = abm()
        .args([
            "churn",
            "predict",
            "--calibration-end",
            "1997-09-30",
            "--unit",
            "weeks",
            "--horizon",
            "10",
            "--orders",
        ])
        .arg(cdnow())
        .arg("--out")
        .arg(&pred)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&pred).expect("read");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("account_id,frequency,recency,T,p_alive,expected_purchases")
    );
    assert_eq!(lines.count(), 2357);
    assert!(
        text.contains("\n4,2,30.4286,38.8571,0.726620,0.356958\n"),
        "customer 4"
    );
}

fn analyze(csv: &str, extra: &[&str]) -> (String, Vec<std::collections::HashMap<String, String>>) {
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("orders.csv");
    std::fs::write(&input, csv).expect("write");
    let out_path = dir.path().join("out.csv");
    let out = abm()
        .arg("analyze")
        .arg("--orders")
        .arg(&input)
        .arg("--out")
        .arg(&out_path)
        .args(extra)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_path(&out_path).expect("output csv");
    let headers = reader.headers().expect("headers").clone();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), rows)
}

#[test]
fn analyze_classifies_and_explains_each_account() {
    // BIG buys 100 every month; MID 15 each month; SMALL 5 once; ZERO only a zero order.
    let mut csv = String::from("account_id,ordered_at,amount,margin\n");
    for m in 1..=6 {
        csv.push_str(&format!("BIG,2025-0{m}-10,100,30\n"));
        csv.push_str(&format!("MID,2025-0{m}-12T09:00:00Z,15.5,1\n"));
    }
    csv.push_str("SMALL,2025-01-20,5,0.5\nZERO,2025-03-01,0,\n");
    let (stdout, rows) = analyze(&csv, &[]);
    let row = |id: &str| rows.iter().find(|r| r["account_id"] == id).expect("row");
    for col in [
        "account_id",
        "revenue",
        "abc",
        "cv",
        "xyz",
        "orders",
        "first_order_at",
        "last_order_at",
        "days_since_last_order",
        "types",
        "lost",
        "lost_reason",
    ] {
        assert!(rows[0].contains_key(col), "column {col}");
    }
    // Total 600 + 93 + 5 = 698: BIG 600/698 = 0.86 → B (nothing reaches A alone), MID → 0.993 → C.
    assert_eq!(row("BIG")["revenue"], "600.0");
    assert_eq!(row("BIG")["abc"], "B");
    assert_eq!(
        row("BIG")["abc_reason"],
        "B: cumulative share 0.86 > 0.80 and ≤ 0.95"
    );
    assert_eq!(row("BIG")["xyz"], "X");
    assert_eq!(row("BIG")["cv"], "0.0000");
    assert_eq!(row("MID")["revenue"], "93.0");
    assert_eq!(row("MID")["abc"], "C");
    assert_eq!(row("SMALL")["xyz"], "Z", "one month of six");
    assert_eq!(row("ZERO")["abc"], "", "no value: unclassified");
    assert_eq!(row("ZERO")["xyz"], "");
    assert!(row("BIG")["types"].contains("pillar"));
    assert_eq!(
        row("BIG")["days_since_last_order"],
        "2",
        "as of the last order in the file (MID, 06-12)"
    );
    assert_eq!(row("SMALL")["last_order_at"], "2025-01-20");
    // SMALL: 143 days since its single order > 90 → lost by the rule.
    assert_eq!(row("SMALL")["lost"], "true");
    assert!(
        row("SMALL")["lost_reason"].contains("143 days since last order"),
        "{}",
        row("SMALL")["lost_reason"]
    );
    assert!(stdout.contains("ABC-XYZ matrix"), "{stdout}");

    // --months and --as-of select the trailing window.
    let (_, rows) = analyze(&csv, &["--as-of", "2025-03-31", "--months", "2"]);
    let big = rows.iter().find(|r| r["account_id"] == "BIG").expect("row");
    assert_eq!(big["revenue"], "200.0");
    assert_eq!(big["orders"], "2");
    let small = rows
        .iter()
        .find(|r| r["account_id"] == "SMALL")
        .expect("row");
    assert_eq!(small["revenue"], "0.0");
    assert_eq!(small["abc"], "");

    // Ranking by profit uses the margins.
    let (_, rows) = analyze(&csv, &["--measure", "profit"]);
    let big = rows.iter().find(|r| r["account_id"] == "BIG").expect("row");
    assert_eq!(big["profit"], "180.0");
}

#[test]
fn analyze_rejects_bad_rows_with_their_positions() {
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("orders.csv");
    std::fs::write(
        &input,
        "account_id,ordered_at,amount\nA,2025-01-01,5\nB,2025-02-30,5\n,2025-01-01,x\n",
    )
    .expect("write");
    let out_path = dir.path().join("out.csv");
    let out = abm()
        .arg("analyze")
        .arg("--orders")
        .arg(&input)
        .arg("--out")
        .arg(&out_path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3, column `ordered_at`"), "{err}");
    assert!(err.contains("row 4, column `account_id`"), "{err}");
    assert!(!out_path.exists(), "nothing is written");

    std::fs::write(&input, "account_id,ordered_at,amount\nA,2025-01-01,5\n").expect("write");
    let out = abm()
        .args(["analyze", "--months", "5000", "--orders"])
        .arg(&input)
        .arg("--out")
        .arg(&out_path)
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--months must be between 1 and 1200"));

    std::fs::write(&input, "account_id,amount\nA,5\n").expect("write");
    let out = abm()
        .arg("analyze")
        .arg("--orders")
        .arg(&input)
        .arg("--out")
        .arg(&out_path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing required column(s): ordered_at")
    );
}
