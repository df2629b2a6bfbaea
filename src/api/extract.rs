//! Request extractors that turn malformed input into precise problem+json errors:
//! a JSON body whose type errors carry the JSON Pointer of the offending field, and
//! pagination/sorting query parameters with bounds.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::context::AppContext;
pub use crate::db::page::{Page, Paged, fetch_page};
pub use crate::domain::input::{AmountInput, double_option, non_null};
use crate::error::{ApiError, FieldError};

/// A JSON request body. Unlike `web::Json`, errors name the field path (`/orders/2/amount`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let v = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                v == "application/json" || v.ends_with("+json")
            })
            .unwrap_or(false);
        let limit = req
            .app_data::<web::Data<AppContext>>()
            .map(|s| s.settings.server.max_body_bytes)
            .unwrap_or(16 * 1024 * 1024);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let bytes = bytes.await.map_err(|e| payload_error(&e, limit))?;
            // serde reads a struct from an array of its fields in order, so `[]` would pass
            // for an empty object: only list types take a top-level array.
            let array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
            if array && !std::any::type_name::<T>().starts_with("alloc::vec::Vec<") {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "",
                    "the body must be a JSON object, not an array",
                )]));
            }
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// Maps a failure to read a request body: too large (413) or unreadable (400).
pub fn payload_error(e: &actix_web::Error, limit: usize) -> ApiError {
    let overflow = matches!(
        e.as_error::<actix_web::error::PayloadError>(),
        Some(actix_web::error::PayloadError::Overflow)
    ) || e.to_string().contains("size limit");
    if overflow {
        ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
    } else {
        ApiError::BadRequest(format!("could not read the request body: {e}"))
    }
}

/// Parses JSON with the failing field's path in the error. The body must hold exactly one
/// value: anything but whitespace after it (`{…}{…}`) is a 400, not silently dropped.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        let path = json_pointer(e.path());
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Validation(vec![FieldError::new(
                path,
                strip_position(&inner.to_string()),
            )]),
            // Well-formed JSON that the type reads token by token, such as an empty object
            // where one of several keys must be: the value's shape is wrong, not the JSON.
            _ if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                ApiError::Validation(vec![FieldError::new(
                    path,
                    format!(
                        "not a valid value here ({}); see the schema in the OpenAPI document",
                        strip_position(&inner.to_string())
                    ),
                )])
            }
            _ => ApiError::BadRequest(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::BadRequest(format!(
            "malformed JSON: only one JSON value may be sent, but more follows it ({e})"
        ))
    })?;
    Ok(value)
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Converts serde_path_to_error's dotted path into a JSON Pointer.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        out.push('/');
        match seg {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// `?limit=&offset=&sort=` for list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default from config `api.default_page_size`, at most `api.max_page_size`).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Items to skip.
    #[param(maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
    /// Sort field; prefix with `-` for descending (e.g. `-created_at`). The document lists
    /// each list's fields.
    #[param(pattern = r"^[^\u0000]*$")]
    pub sort: Option<String>,
}

impl PageQuery {
    /// Validates limit and sort against the allowed fields; `default` (e.g. `-ordered_at`)
    /// applies when no sort is given.
    pub fn validate(
        &self,
        state: &AppContext,
        sortable: &[&str],
        default: &str,
    ) -> Result<Page, ApiError> {
        let api = &state.settings.api;
        let limit = self.limit.unwrap_or(api.default_page_size);
        if limit == 0 || limit > api.max_page_size {
            return Err(ApiError::field(
                "limit",
                format!("must be between 1 and {}", api.max_page_size),
            ));
        }
        let raw = self.sort.clone().unwrap_or_else(|| default.to_string());
        let (descending, field) = match raw.strip_prefix('-') {
            Some(f) => (true, f.to_string()),
            None => (false, raw.clone()),
        };
        if !sortable.contains(&field.as_str()) {
            return Err(ApiError::field(
                "sort",
                format!(
                    "`{raw}` is not sortable; use one of: {}",
                    sortable.join(", ")
                ),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > i64::MAX as u64 {
            return Err(ApiError::field(
                "offset",
                format!("must be at most {}", i64::MAX),
            ));
        }
        Ok(Page {
            limit,
            offset,
            sort_field: field,
            descending,
        })
    }
}

/// Query parameters. Unlike `web::Query`, an error names the parameter (`limit`, `manager_id`).
pub struct Query<T>(pub T);

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        // No database can search for NUL; PostgreSQL fails the whole query on it.
        if let Some((name, _)) = pairs.clone().find(|(_, v)| v.contains('\0')) {
            return std::future::ready(Err(ApiError::field(
                name.into_owned(),
                "must not contain NUL (U+0000) characters",
            )));
        }
        let de = serde_urlencoded::Deserializer::new(pairs);
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(Query)
                .map_err(|e| {
                    let path = e.path().to_string();
                    let path = if path == "." {
                        "query".to_string()
                    } else {
                        path
                    };
                    ApiError::field(path, e.inner().to_string())
                }),
        )
    }
}
