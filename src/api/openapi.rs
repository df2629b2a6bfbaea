//! Completes the OpenAPI document with what every operation can answer besides its own
//! responses: the errors made by the layers around the handlers (authentication, body and
//! query parsing, idempotency keys, path parameters, database contention), all as
//! `application/problem+json`. Handlers document only what is theirs; this keeps the document
//! true for every operation without repeating the same list on each.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM,
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                    .build(),
            )
            .build(),
    )
}

/// Rewrites error responses to problem+json and adds the shared error responses.
pub fn complete(api: &mut OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        let in_api = path.starts_with("/api/v1/") && !path.ends_with("/openapi.json");
        let has_path_params = path.contains('{');
        for (method, op) in [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ] {
            let Some(op) = op else { continue };
            complete_operation(op, method, in_api, has_path_params);
        }
    }
}

fn complete_operation(op: &mut Operation, method: &str, in_api: bool, has_path_params: bool) {
    // Documented errors are problem documents.
    for (status, resp) in op.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(r)) = (is_error, resp) {
            let content = std::mem::take(&mut r.content);
            let schema = content.into_iter().next().map(|(_, c)| c);
            r.content.insert(
                PROBLEM.to_string(),
                schema.unwrap_or_else(|| {
                    RefOr::T(
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                            .build(),
                    )
                }),
            );
        }
    }
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem(description));
    };
    add("500", "Internal error (details are in the server log only)");
    add(
        "503",
        "The database is unreachable or busy; retry after `Retry-After` seconds",
    );
    if !in_api {
        return;
    }
    add("401", "Missing, unknown or revoked API token");
    add("400", "Malformed request: body, query string or header");
    if has_body || has_params || method == "post" {
        add("422", "Invalid fields; `errors` names each one");
    }
    if has_body || method == "post" {
        add("413", "Request body larger than `server.max_body_bytes`");
        add("415", "Request body is not `application/json`");
    }
    if method != "get" {
        add(
            "409",
            "Conflict: a unique key, a version or a state forbids it, or a request with the \
             same `Idempotency-Key` is still running",
        );
    }
    if has_path_params || has_params || has_body {
        add(
            "404",
            "Not found: the resource, or one the request refers to",
        );
    }
}
