//! Reading orders: one page with filters, or one order by external id.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{account, order};
use crate::orders::error::OrdersError;
use crate::orders::model::{OrderFilter, OrderView};

/// Sort fields of the order list.
pub const ORDER_SORTS: &[&str] = &["ordered_at", "amount", "external_id", "id"];

/// One page of orders matching the filters; `NotFound` when the filter names an account that
/// does not exist, `Invalid` on an unreadable `from`/`to`.
pub async fn list_orders(
    db: &DatabaseConnection,
    page: &Page,
    f: &OrderFilter,
) -> Result<Paged<OrderView>, OrdersError> {
    let mut query = order::Entity::find();
    if let Some(ext) = &f.account_id {
        let acc = crate::accounts::service::find_account(db, ext.trim()).await?;
        query = query.filter(order::Column::AccountId.eq(acc.id));
    }
    if let Some(from) = &f.from {
        let t = crate::domain::parse_timestamp(from).map_err(|e| OrdersError::field("from", e))?;
        query = query.filter(order::Column::OrderedAt.gte(t));
    }
    if let Some(to) = &f.to {
        let t = crate::domain::parse_timestamp(to).map_err(|e| OrdersError::field("to", e))?;
        query = query.filter(order::Column::OrderedAt.lt(t));
    }
    if let Some(code) = &f.offer_code {
        query = query.filter(order::Column::OfferCode.eq(code.trim()));
    }
    let col = match page.sort_field.as_str() {
        "ordered_at" => order::Column::OrderedAt,
        "amount" => order::Column::AmountMinor,
        "external_id" => order::Column::ExternalId,
        _ => order::Column::Id,
    };
    let (items, total) = fetch_page(db, query, page, col, order::Column::Id).await?;
    let account_ids: Vec<i64> = items
        .iter()
        .map(|o| o.account_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let names: HashMap<i64, String> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::ExternalId)
        .filter(account::Column::Id.is_in(account_ids))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(Paged {
        items: items
            .into_iter()
            .map(|o| {
                let ext = names.get(&o.account_id).cloned().unwrap_or_default();
                OrderView::new(o, ext)
            })
            .collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// One order with its account's external id.
pub async fn find_order(
    db: &DatabaseConnection,
    external_id: &str,
) -> Result<OrderView, OrdersError> {
    let o = order::Entity::find()
        .filter(order::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .ok_or_else(|| OrdersError::NotFound(format!("order `{external_id}` not found")))?;
    let acc = account::Entity::find_by_id(o.account_id)
        .one(db)
        .await?
        .map(|a| a.external_id)
        .unwrap_or_default();
    Ok(OrderView::new(o, acc))
}
