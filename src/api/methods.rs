//! Which methods each documented path takes, read from the OpenAPI document, so a request with
//! the wrong method on a known path gets `405 Method Not Allowed` with `Allow` rather than a 404.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, HeaderValue};

use crate::error::{Problem, problem_response};

/// Path templates (`/api/v1/accounts/{external_id}`) as patterns, with their methods.
#[derive(Debug, Default)]
pub struct MethodIndex {
    paths: Vec<(regex::Regex, Vec<&'static str>)>,
}

impl MethodIndex {
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let mut paths = Vec::new();
        for (template, item) in &api.paths.paths {
            let mut methods = Vec::new();
            for (name, present) in [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
                ("HEAD", item.head.is_some()),
            ] {
                if present {
                    methods.push(name);
                }
            }
            let mut pattern = String::from("^");
            for piece in template.split('/').filter(|p| !p.is_empty()) {
                pattern.push('/');
                if piece.starts_with('{') && piece.ends_with('}') {
                    pattern.push_str("[^/]+");
                } else {
                    pattern.push_str(&regex::escape(piece));
                }
            }
            pattern.push('$');
            if let Ok(re) = regex::Regex::new(&pattern) {
                paths.push((re, methods));
            }
        }
        Self { paths }
    }

    /// The methods `path` takes, when it is a documented path.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let mut found: Option<Vec<&'static str>> = None;
        for (re, methods) in &self.paths {
            if re.is_match(path) {
                let all = found.get_or_insert_with(Vec::new);
                for m in methods {
                    if !all.contains(m) {
                        all.push(m);
                    }
                }
            }
        }
        found
    }
}

/// `405` problem+json with `Allow`.
pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> HttpResponse {
    let problem = Problem {
        kind: "https://abm.invalid/problems/method-not-allowed".into(),
        title: "Method not allowed".into(),
        status: 405,
        detail: format!("{path} takes {}, not {method}", allowed.join(", ")),
        code: "method_not_allowed".into(),
        errors: Vec::new(),
    };
    let mut resp = problem_response(StatusCode::METHOD_NOT_ALLOWED, &problem);
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        resp.headers_mut().insert(ALLOW, v);
    }
    resp
}
