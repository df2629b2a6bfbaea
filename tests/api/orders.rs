use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, paths, problem, spawn_app};

fn order(id: &str, account: &str, at: &str, amount: &str) -> serde_json::Value {
    json!({"external_id": id, "account_id": account, "ordered_at": at, "amount": amount})
}

async fn a_batch_is_idempotent_by_external_id(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A1", json!({"currency": "USD"})).await;
    let batch = json!({"orders": [
        order("o-1", "A1", "2025-01-05", "100.50"),
        order("o-2", "A1", "2025-02-05T10:00:00+07:00", "200"),
        {"external_id": "o-3", "account_id": "A1", "ordered_at": "2025-03-05", "amount": 300.25, "margin": "30", "offer_code": "WB10"},
    ]});
    let first: serde_json::Value = app
        .post("/api/v1/orders/batch", &batch)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        first,
        json!({"received": 3, "inserted": 3, "updated": 0, "unchanged": 0})
    );
    let stamp: serde_json::Value = app
        .get("/api/v1/orders/o-1")
        .await
        .json()
        .await
        .expect("json");

    app.clock.advance(chrono::Duration::days(1));
    let again: serde_json::Value = app
        .post("/api/v1/orders/batch", &batch)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        again,
        json!({"received": 3, "inserted": 0, "updated": 0, "unchanged": 3})
    );
    let after: serde_json::Value = app
        .get("/api/v1/orders/o-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        after["updated_at"], stamp["updated_at"],
        "an unchanged order is not touched"
    );

    let changed = json!({"orders": [order("o-1", "A1", "2025-01-05", "101"), order("o-4", "A1", "2025-04-05", "1")]});
    let res: serde_json::Value = app
        .post("/api/v1/orders/batch", &changed)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        res,
        json!({"received": 2, "inserted": 1, "updated": 1, "unchanged": 0})
    );
    assert_eq!(app.count("orders").await, 4);

    let o2: serde_json::Value = app
        .get("/api/v1/orders/o-2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(o2["ordered_at"], "2025-02-05T03:00:00Z");
    assert_eq!(o2["amount"], "200.00");
    let o3: serde_json::Value = app
        .get("/api/v1/orders/o-3")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(o3["margin"], "30.00");
    assert_eq!(o3["offer_code"], "WB10");
}

async fn a_batch_with_any_bad_order_writes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A1", json!({"currency": "JPY"})).await;
    let batch = json!({"orders": [
        order("ok-1", "A1", "2025-01-05", "1000"),
        order("dup", "A1", "2025-01-06", "1000"),
        order("dup", "A1", "2025-01-07", "1000"),
        order("bad-date", "A1", "1800-01-01", "1000"),
        order("bad-amount", "A1", "2025-01-05", "10.5"),
        order("ghost", "NOBODY", "2025-01-05", "1"),
        {"external_id": "neg", "account_id": "A1", "ordered_at": "2025-01-05", "amount": "-3", "currency": "XYZ"},
    ]});
    let body = problem(app.post("/api/v1/orders/batch", &batch).await, 422).await;
    let mut p = paths(&body);
    p.sort();
    assert_eq!(
        p,
        [
            "/orders/2/external_id",
            "/orders/3/ordered_at",
            "/orders/4/amount",
            "/orders/5/account_id",
            "/orders/6/amount",
            "/orders/6/currency",
        ]
    );
    assert_eq!(app.count("orders").await, 0);

    let wrong_type = json!({"orders": [{"external_id": "x", "account_id": "A1", "ordered_at": "2025-01-01", "amount": true}]});
    let body = problem(app.post("/api/v1/orders/batch", &wrong_type).await, 422).await;
    assert_eq!(paths(&body), ["/orders/0/amount"]);
}

async fn a_batch_of_ten_thousand_orders_is_accepted_and_more_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("BIG", json!({})).await;
    let orders: Vec<_> = (0..10_000)
        .map(|i| {
            order(
                &format!("big-{i}"),
                "BIG",
                "2025-05-01",
                &format!("{}.{:02}", i, i % 100),
            )
        })
        .collect();
    let res: serde_json::Value = app
        .post("/api/v1/orders/batch", &json!({"orders": orders}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(res["inserted"], 10_000);
    assert_eq!(app.count("orders").await, 10_000);

    let too_many: Vec<_> = (0..10_001)
        .map(|i| order(&format!("x-{i}"), "BIG", "2025-05-01", "1"))
        .collect();
    let body = problem(
        app.post("/api/v1/orders/batch", &json!({"orders": too_many}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/orders"]);
    assert_eq!(app.count("orders").await, 10_000);
}

async fn single_orders_can_be_created_replaced_listed_and_deleted(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("S1", json!({"currency": "EUR"})).await;
    app.create_account("S2", json!({"currency": "EUR"})).await;
    let created = app
        .post("/api/v1/orders", &order("s-1", "S1", "2025-01-01", "10"))
        .await;
    assert_eq!(created.status(), 201);
    problem(
        app.post("/api/v1/orders", &order("s-1", "S1", "2025-01-01", "10"))
            .await,
        409,
    )
    .await;
    let replaced = app
        .put(
            "/api/v1/orders/s-1",
            &order("s-1", "S2", "2025-01-02", "12.5"),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    let o: serde_json::Value = replaced.json().await.expect("json");
    assert_eq!(o["account_id"], "S2");
    assert_eq!(o["amount"], "12.50");
    assert_eq!(
        app.put("/api/v1/orders/s-2", &order("s-2", "S1", "2025-03-01", "5"))
            .await
            .status(),
        201
    );
    problem(
        app.put(
            "/api/v1/orders/s-3",
            &order("other", "S1", "2025-03-01", "5"),
        )
        .await,
        422,
    )
    .await;
    app.put("/api/v1/orders/s-3", &json!({"external_id": "s-3", "account_id": "S1", "ordered_at": "2025-02-01", "amount": "7", "offer_code": "WB"})).await;

    let newest: serde_json::Value = app.get("/api/v1/orders").await.json().await.expect("json");
    let ids: Vec<&str> = newest["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["external_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["s-2", "s-3", "s-1"], "newest first by default");
    let of_s1: serde_json::Value = app
        .get("/api/v1/orders?account_id=S1&sort=amount")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(of_s1["total"], 2);
    assert_eq!(of_s1["items"][0]["external_id"], "s-2");
    let window: serde_json::Value = app
        .get("/api/v1/orders?from=2025-01-15&to=2025-02-15")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(window["total"], 1);
    let coded: serde_json::Value = app
        .get("/api/v1/orders?offer_code=WB")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(coded["items"][0]["external_id"], "s-3");
    problem(app.get("/api/v1/orders?from=yesterday").await, 422).await;

    assert_eq!(app.delete("/api/v1/orders/s-1").await.status(), 204);
    problem(app.get("/api/v1/orders/s-1").await, 404).await;
    // Deleting an account deletes its orders.
    app.delete("/api/v1/accounts/S1").await;
    assert_eq!(app.count("orders").await, 0);
}

db_tests!(
    a_batch_is_idempotent_by_external_id,
    a_batch_with_any_bad_order_writes_nothing,
    a_batch_of_ten_thousand_orders_is_accepted_and_more_is_refused,
    single_orders_can_be_created_replaced_listed_and_deleted,
);
