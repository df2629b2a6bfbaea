//! What handlers receive: the application context (no HTTP type in it) wrapped for actix, and
//! the id of the token that authenticated the request.

use actix_web::web;

pub use crate::context::AppContext;

/// The application context as handlers receive it.
pub type State = web::Data<AppContext>;

/// The id of the API token that authenticated the request.
#[derive(Debug, Clone, Copy)]
pub struct TokenId(pub i64);
