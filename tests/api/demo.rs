use abm::demo::{DemoOptions, generate};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, Statement};

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, run_analysis, spawn_app};

async fn revenue_by_account(app: &TestApp) -> Vec<(String, i64)> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT a.external_id, CAST(SUM(o.amount_minor) AS BIGINT) FROM accounts a JOIN orders o ON o.account_id = a.id \
             GROUP BY a.external_id ORDER BY a.external_id",
        ))
        .await
        .expect("query");
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).expect("id"),
                r.try_get_by_index::<i64>(1).expect("sum"),
            )
        })
        .collect()
}

async fn demo_data_is_realistic_and_deterministic(b: Backend) {
    let opts = DemoOptions {
        accounts: 300,
        seed: 11,
        end: NaiveDate::from_ymd_opt(2026, 2, 28).expect("date"),
        orders_csv: None,
    };
    let first = spawn_app(b.clone()).await;
    let stats = generate(Some(&first.db), &first.clock, &first.settings, &opts)
        .await
        .expect("demo");
    assert_eq!(stats.accounts, 300);
    assert_eq!(first.count("accounts").await, 300);
    assert_eq!(first.count("dossier_profiles").await, 300);
    assert_eq!(first.count("orders").await as u64, stats.orders);
    assert!(
        stats.orders > 300 * 20,
        "two years of orders: {}",
        stats.orders
    );
    assert!(first.count("stakeholders").await >= 600);
    if matches!(b, Backend::Postgres(_)) {
        // The planner has statistics for what was just loaded (autovacuum may be off, as on
        // this machine): a never-analysed table has `reltuples` -1.
        let row = first
            .db
            .query_one_raw(Statement::from_string(
                first.db.get_database_backend(),
                "SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'stakeholders'::regclass",
            ))
            .await
            .expect("query")
            .expect("row");
        let n: f64 = row.try_get("", "n").expect("n");
        assert!(n >= 600.0, "stakeholders not analysed: reltuples {n}");
    }

    let second = spawn_app(b).await;
    generate(Some(&second.db), &second.clock, &second.settings, &opts)
        .await
        .expect("demo");
    assert_eq!(
        revenue_by_account(&first).await,
        revenue_by_account(&second).await
    );

    // The API serves the generated dossiers.
    let dossier: serde_json::Value = first
        .get("/api/v1/accounts/DEMO-000001/dossier")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        dossier["stakeholders"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
            >= 2
    );
    assert!(dossier["manager"]["email"].as_str().is_some());

    // A second run into the same database is refused instead of mixing data.
    assert!(
        generate(Some(&first.db), &first.clock, &first.settings, &opts)
            .await
            .is_err()
    );

    // The win-back story: the default offers and campaigns, then the first run finds lost
    // accounts with their complaints and lost tenders, and enrols each where it is routed.
    let defined = abm::winback::defaults::define(&first.ctx)
        .await
        .expect("defaults");
    assert_eq!((defined.offers, defined.campaigns), (3, 3));
    let again = abm::winback::defaults::define(&first.ctx)
        .await
        .expect("defaults again");
    assert_eq!((again.offers, again.campaigns), (0, 0), "defined once");
    let offers = json_of(first.get("/api/v1/offers").await, 200).await;
    assert_eq!(offers["total"], 3);
    for key in ["winback-pillar", "winback-discount", "winback-gift"] {
        let c = json_of(first.get(&format!("/api/v1/campaigns/{key}")).await, 200).await;
        assert_eq!(c["status"], "active", "{c}");
    }
    run_analysis(&first).await;
    let list = json_of(first.get("/api/v1/winback?limit=1000").await, 200).await;
    let items = list["items"].as_array().expect("items");
    assert!(items.len() >= 10, "lost accounts: {}", items.len());
    let with_story = items
        .iter()
        .filter(|i| {
            i["complaints"].as_array().is_some_and(|c| !c.is_empty())
                && i["lost_tenders"].as_array().is_some_and(|t| !t.is_empty())
        })
        .count();
    assert!(
        with_story * 2 >= items.len(),
        "{with_story} of {} lost accounts have a complaint and a lost tender",
        items.len()
    );
    abm::campaigns::dispatch::tick(&first.ctx)
        .await
        .expect("tick");
    let mut enrolled = 0;
    for key in ["winback-pillar", "winback-discount", "winback-gift"] {
        enrolled += json_of(
            first
                .get(&format!("/api/v1/campaigns/{key}/enrolments?limit=1"))
                .await,
            200,
        )
        .await["total"]
            .as_u64()
            .expect("total");
    }
    assert!(enrolled >= items.len() as u64 / 2, "{enrolled} enrolled");
}

db_tests!(demo_data_is_realistic_and_deterministic);
