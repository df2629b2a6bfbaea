use std::path::{Path, PathBuf};

use abm::import::{ImportError, NoProgress};
use abm::orders::import::{OrderImportOptions, import_orders};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, spawn_app};

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write file");
    path
}

async fn orders(
    app: &TestApp,
    path: &Path,
    create_accounts: bool,
) -> Result<abm::import::ImportSummary, ImportError> {
    let opts = OrderImportOptions {
        create_accounts,
        sheet: None,
    };
    import_orders(&app.db, &app.clock, &app.settings, path, &opts, &NoProgress)
        .await
        .map(|(s, _)| s)
}

fn row_errors(e: ImportError) -> Vec<String> {
    match e {
        ImportError::Rows { shown, .. } => shown.iter().map(ToString::to_string).collect(),
        other => panic!("expected row errors, got {other}"),
    }
}

async fn importing_the_same_orders_file_twice_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("ACC-1", json!({"currency": "USD"}))
        .await;
    app.create_account("ACC-2", json!({"currency": "VND"}))
        .await;
    let dir = tempfile::tempdir().expect("dir");
    // No external_id column: ids are derived; the two identical rows stay two orders.
    let file = write(
        dir.path(),
        "orders.csv",
        b"account_id,ordered_at,amount,margin\nACC-1,2025-01-01,100.50,20\nACC-1,2025-01-01,100.50,20\nACC-2,2025-02-01T08:00:00Z,1500000,\n",
    );
    let first = orders(&app, &file, false).await.expect("import");
    assert_eq!((first.rows, first.written, first.unchanged), (3, 3, 0));
    let second = orders(&app, &file, false).await.expect("import again");
    assert_eq!((second.rows, second.written, second.unchanged), (3, 0, 3));
    assert_eq!(app.count("orders").await, 3);
    let list: serde_json::Value = app
        .get("/api/v1/orders?account_id=ACC-2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"][0]["amount"], "1500000");
    assert_eq!(list["items"][0]["currency"], "VND");
}

async fn one_bad_row_leaves_the_database_unchanged_and_every_bad_row_is_named(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("ACC-1", json!({"currency": "USD"}))
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let good = write(
        dir.path(),
        "good.csv",
        b"external_id,account_id,ordered_at,amount\nE1,ACC-1,2025-01-01,5\n",
    );
    orders(&app, &good, false).await.expect("import");

    let mut content =
        String::from("external_id,account_id,ordered_at,amount,currency,offer_code\n");
    for i in 0..3000 {
        content.push_str(&format!("N{i},ACC-1,2025-03-01,{i}.25,USD,\n"));
    }
    content.push_str("E1,ACC-1,2025-01-01,6,,\n"); // would change an existing order
    content.push_str("BAD1,ACC-1,2025-13-01,10,,\n");
    content.push_str("BAD2,ACC-9,2025-01-01,abc,EURO,\n");
    content.push_str("N5,ACC-1,2025-03-01,1,,\n");
    let file = write(dir.path(), "bad.csv", content.as_bytes());
    let errors = row_errors(orders(&app, &file, false).await.expect_err("rejected"));
    assert_eq!(
        errors,
        [
            "row 3003, column `ordered_at`: `2025-13-01` is not a date (YYYY-MM-DD) or RFC 3339 timestamp (2024-05-01T10:00:00Z)",
            "row 3004, column `currency`: `EURO` is not an ISO 4217 currency code (e.g. USD)",
            "row 3004, column `amount`: `abc` is not a decimal number",
            "row 3005, column `external_id`: `N5` already appears in row 7 of this file",
        ]
    );
    assert_eq!(
        app.count("orders").await,
        1,
        "nothing of the bad file was written"
    );
    let e1: serde_json::Value = app
        .get("/api/v1/orders/E1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(e1["amount"], "5.00");
}

async fn unknown_accounts_are_errors_unless_asked_to_create_them(b: Backend) {
    let app = spawn_app(b).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = write(
        dir.path(),
        "o.csv",
        b"account_id,ordered_at,amount,currency\nNEW-1,2025-01-01,5,EUR\nNEW-1,2025-02-01,6,EUR\n",
    );
    let errors = row_errors(orders(&app, &file, false).await.expect_err("rejected"));
    assert_eq!(errors.len(), 2);
    assert!(errors[0].starts_with("row 2, column `account_id`: account `NEW-1` does not exist"));
    assert_eq!(app.count("accounts").await, 0);

    let s = orders(&app, &file, true).await.expect("import");
    assert_eq!(s.created_related, 1);
    let acc: serde_json::Value = app
        .get("/api/v1/accounts/NEW-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(acc["currency"], "EUR");
    assert_eq!(app.count("orders").await, 2);
}

async fn broken_files_get_precise_errors(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("ACC-1", json!({})).await;
    let dir = tempfile::tempdir().expect("dir");

    let missing = write(dir.path(), "m.csv", b"account_id,amount\nACC-1,5\n");
    let e = orders(&app, &missing, false).await.expect_err("rejected");
    assert!(
        e.to_string()
            .contains("missing required column(s): ordered_at"),
        "{e}"
    );

    let latin1 = write(
        dir.path(),
        "l.csv",
        b"account_id,ordered_at,amount,offer_code\nACC-1,2025-01-01,5,CAF\xc9\n",
    );
    let errors = row_errors(orders(&app, &latin1, false).await.expect_err("rejected"));
    assert_eq!(
        errors,
        ["row 2, column `offer_code`: is not valid UTF-8 (save the file as UTF-8)"]
    );

    let truncated = write(
        dir.path(),
        "t.csv",
        b"account_id,ordered_at,amount\nACC-1,2025-01-01,5\nACC-1,2025-01-02",
    );
    let errors = row_errors(orders(&app, &truncated, false).await.expect_err("rejected"));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("row 3: expected 3 fields like the header, found 2"),
        "{}",
        errors[0]
    );

    let empty = write(dir.path(), "e.csv", b"");
    assert!(orders(&app, &empty, false).await.is_err());
    let wrong_type = write(dir.path(), "x.json", b"{}");
    let e = orders(&app, &wrong_type, false)
        .await
        .expect_err("rejected");
    assert!(e.to_string().contains("unsupported file type"), "{e}");
    assert_eq!(app.count("orders").await, 0);
}

async fn orders_import_from_xlsx_with_excel_dates_and_numbers(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("X-1", json!({"currency": "USD"})).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("orders.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in [
        "external_id",
        "account_id",
        "ordered_at",
        "amount",
        "margin",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2025, 4, 30).expect("date");
    sheet.write_string(1, 0, "XL-1").expect("cell");
    sheet.write_string(1, 1, "X-1").expect("cell");
    sheet
        .write_datetime_with_format(1, 2, &date, &date_format)
        .expect("cell");
    sheet.write_number(1, 3, 1234.5).expect("cell");
    sheet.write_number(1, 4, 200).expect("cell");
    sheet.write_string(2, 0, "XL-2").expect("cell");
    sheet.write_string(2, 1, "X-1").expect("cell");
    sheet
        .write_string(2, 2, "2025-05-01T12:30:00Z")
        .expect("cell");
    sheet.write_number(2, 3, 99).expect("cell");
    wb.save(&path).expect("save xlsx");

    let s = orders(&app, &path, false).await.expect("import");
    assert_eq!((s.rows, s.written), (2, 2));
    let o: serde_json::Value = app
        .get("/api/v1/orders/XL-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(o["ordered_at"], "2025-04-30T00:00:00Z");
    assert_eq!(o["amount"], "1234.50");
    assert_eq!(o["margin"], "200.00");
    let again = orders(&app, &path, false).await.expect("import");
    assert_eq!(again.unchanged, 2);

    // A workbook without the amount column is refused with the column's name.
    let bad = dir.path().join("bad.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.write_string(0, 0, "account_id").expect("cell");
    sheet.write_string(0, 1, "ordered_at").expect("cell");
    sheet.write_string(1, 0, "X-1").expect("cell");
    sheet.write_string(1, 1, "2025-01-01").expect("cell");
    wb.save(&bad).expect("save");
    let e = orders(&app, &bad, false).await.expect_err("rejected");
    assert!(
        e.to_string().contains("missing required column(s): amount"),
        "{e}"
    );
    assert_eq!(app.count("orders").await, 2);
}

async fn accounts_and_stakeholders_import_as_upserts(b: Backend) {
    let app = spawn_app(b).await;
    let dir = tempfile::tempdir().expect("dir");
    let accounts = write(
        dir.path(),
        "accounts.csv",
        "external_id,name,industry,country,timezone,currency,manager_email,manager_name,image_maker,budget,attr.tier\n\
         K-1,Công ty Thép Việt,Steel,VN,Asia/Ho_Chi_Minh,VND,kam@x.vn,Lan Pham,yes,500000000,gold\n\
         K-2,Rhein Chemie,Chemicals,DE,Europe/Berlin,EUR,kam@x.vn,,no,,\n"
            .as_bytes(),
    );
    let (s, _) = abm::accounts::import::import_accounts(
        &app.db,
        &app.clock,
        &app.settings,
        &accounts,
        None,
        &NoProgress,
    )
    .await
    .expect("import");
    assert_eq!((s.rows, s.written, s.created_related), (2, 2, 1));
    let k1: serde_json::Value = app
        .get("/api/v1/accounts/K-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(k1["name"], "Công ty Thép Việt");
    assert_eq!(k1["image_maker"], true);
    assert_eq!(k1["budget"], "500000000");
    assert_eq!(k1["attributes"]["tier"], "gold");
    let (again, _) = abm::accounts::import::import_accounts(
        &app.db,
        &app.clock,
        &app.settings,
        &accounts,
        None,
        &NoProgress,
    )
    .await
    .expect("import");
    assert_eq!((again.written, again.unchanged), (0, 2));

    let bad = write(
        dir.path(),
        "bad.csv",
        b"external_id,name,timezone,expert\nK-3,New,Mars/Base,maybe\n,NoId,,\n",
    );
    let e = abm::accounts::import::import_accounts(
        &app.db,
        &app.clock,
        &app.settings,
        &bad,
        None,
        &NoProgress,
    )
    .await
    .expect_err("rejected");
    assert_eq!(
        row_errors(e),
        [
            "row 2, column `expert`: `maybe` is not a boolean (true/false)",
            "row 2, column `timezone`: `Mars/Base` is not an IANA timezone (e.g. Europe/Berlin)",
            "row 3, column `external_id`: must not be empty",
        ]
    );
    assert_eq!(app.count("accounts").await, 2);

    let people = write(
        dir.path(),
        "stakeholders.csv",
        b"account_id,name,role,email,influence,language\nK-1,Nguyen Van A,decision_maker,a@k1.vn,5,vi\nK-2,Hans Weber,influencer,hans@k2.de,,de\n",
    );
    let (s, _) =
        abm::accounts::import::import_stakeholders(&app.db, &app.clock, &people, None, &NoProgress)
            .await
            .expect("import");
    assert_eq!(s.written, 2);
    let (s, _) =
        abm::accounts::import::import_stakeholders(&app.db, &app.clock, &people, None, &NoProgress)
            .await
            .expect("import");
    assert_eq!((s.written, s.unchanged), (0, 2));
    let list: serde_json::Value = app
        .get("/api/v1/accounts/K-1/stakeholders")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"][0]["role"], "decision_maker");
    assert_eq!(list["items"][0]["language"], "vi");

    let bad_people = write(
        dir.path(),
        "bp.csv",
        b"account_id,name,role,influence\nK-9,X,user,3\nK-1,Y,boss,7\n",
    );
    let e = abm::accounts::import::import_stakeholders(
        &app.db,
        &app.clock,
        &bad_people,
        None,
        &NoProgress,
    )
    .await
    .expect_err("rejected");
    assert_eq!(
        row_errors(e),
        [
            "row 2, column `account_id`: account `K-9` does not exist",
            "row 3, column `role`: `boss` is not one of: decision_maker, economic_buyer, influencer, champion, gatekeeper, user",
            "row 3, column `influence`: must be between 1 and 5",
        ]
    );
    assert_eq!(app.count("stakeholders").await, 2);
}

async fn every_repeated_external_id_is_reported_with_its_first_row(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("ACC-1", json!({})).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut content = String::from("external_id,account_id,ordered_at,amount\n");
    for i in 0..1500 {
        content.push_str(&format!("R{i},ACC-1,2025-03-01,1\n"));
    }
    for i in [7, 1499, 0] {
        content.push_str(&format!("R{i},ACC-1,2025-03-02,2\n"));
    }
    let file = write(dir.path(), "dups.csv", content.as_bytes());
    let errors = row_errors(orders(&app, &file, false).await.expect_err("rejected"));
    assert_eq!(
        errors,
        [
            "row 1502, column `external_id`: `R7` already appears in row 9 of this file",
            "row 1503, column `external_id`: `R1499` already appears in row 1501 of this file",
            "row 1504, column `external_id`: `R0` already appears in row 2 of this file",
        ]
    );
    assert_eq!(app.count("orders").await, 0);
}

async fn orders_for_a_vanished_account_are_not_committed(b: Backend) {
    use sea_orm::TransactionTrait;
    let app = spawn_app(b).await;
    let acc = app.create_account("GONE", json!({})).await;
    let id = acc["id"].as_i64().expect("id");
    let row = abm::orders::model::OrderRow {
        external_id: "O-1".into(),
        account_id: id,
        ordered_at: app.clock.now_utc(),
        amount_minor: 100,
        margin_minor: None,
        currency: "USD".into(),
        offer_code: None,
    };
    let ghost = abm::orders::model::OrderRow {
        external_id: "O-2".into(),
        account_id: id + 1000,
        ..row.clone()
    };
    let txn = app.db.begin().await.expect("txn");
    abm::orders::service::upsert_rows(&txn, vec![row, ghost.clone()], app.clock.now_utc())
        .await
        .expect("write");
    let guard = abm::orders::service::ensure_accounts_exist(&txn, &[id, ghost.account_id]).await;
    assert!(
        guard.is_err(),
        "a missing account is detected before commit"
    );
    txn.rollback().await.expect("rollback");
    assert_eq!(app.count("orders").await, 0);
}

async fn padding_rows_are_skipped_and_currency_case_does_not_split_repeats(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("P-1", json!({"currency": "USD"})).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = write(
        dir.path(),
        "padded.csv",
        b"account_id,ordered_at,amount,currency\nP-1,2025-01-01,10,usd\nP-1,2025-01-01,10,USD\n,,,\n , , , \n",
    );
    let s = orders(&app, &file, false).await.expect("import");
    assert_eq!(
        (s.rows, s.written),
        (2, 2),
        "two identical orders stay two; padding is ignored"
    );
    assert_eq!(app.count("orders").await, 2);
    let again = orders(&app, &file, false).await.expect("import");
    assert_eq!(again.unchanged, 2);
}

db_tests!(
    padding_rows_are_skipped_and_currency_case_does_not_split_repeats,
    every_repeated_external_id_is_reported_with_its_first_row,
    orders_for_a_vanished_account_are_not_committed,
    importing_the_same_orders_file_twice_changes_nothing,
    one_bad_row_leaves_the_database_unchanged_and_every_bad_row_is_named,
    unknown_accounts_are_errors_unless_asked_to_create_them,
    broken_files_get_precise_errors,
    orders_import_from_xlsx_with_excel_dates_and_numbers,
    accounts_and_stakeholders_import_as_upserts,
);
