//! One page of a list query: the validated request, the page of results, and the query that
//! counts and fetches it. Services return pages; the HTTP layer parses the request into a
//! [`Page`] and shapes the [`Paged`] response.

use serde::Serialize;

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: u64,
    pub offset: u64,
    pub sort_field: String,
    pub descending: bool,
}

/// A page of results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Number of items matching the filters, over all pages.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// Runs a list query for one page: total count, then the rows sorted by `col` (ties by id).
pub async fn fetch_page<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    page: &Page,
    col: E::Column,
    id: E::Column,
) -> Result<(Vec<E::Model>, u64), sea_orm::DbErr>
where
    E::Model: Send + Sync,
{
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let order = if page.descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let total = query.clone().count(db).await?;
    let items = query
        .order_by(col, order)
        .order_by_asc(id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((items, total))
}
