//! Every error the service itself answers is `application/problem+json`: errors made outside
//! our handlers (actix's own 404/405/400s, the docs page's unknown paths, payload errors of
//! extractors we do not own) arrive here with an empty or plain body and leave as a problem
//! document with the same status.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;

use crate::error::{Problem, problem_response};

/// Middleware: rewrites error responses that are not problem+json.
pub async fn problem_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res);
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    if is_problem {
        return Ok(res);
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = reason.to_ascii_lowercase().replace([' ', '-'], "_");
    let problem = Problem {
        kind: format!("https://abm.invalid/problems/{}", code.replace('_', "-")),
        title: reason.to_string(),
        status: status.as_u16(),
        detail: format!(
            "{reason} ({} {})",
            res.request().method(),
            res.request().path()
        ),
        code,
        errors: Vec::new(),
    };
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut resp = problem_response(status, &problem);
    if let Some(a) = allow {
        resp.headers_mut().insert(header::ALLOW, a);
    }
    Ok(ServiceResponse::new(req, resp))
}
