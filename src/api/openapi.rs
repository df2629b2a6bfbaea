//! Completes the OpenAPI document with what every operation can answer besides its own
//! responses: the errors made by the layers around the handlers (authentication, body and
//! query parsing, idempotency keys, path parameters, database contention), all as
//! `application/problem+json`. Handlers document only what is theirs; this keeps the document
//! true for every operation without repeating the same list on each.
//!
//! It also writes the input rules that depend on configuration or on which list is asked
//! (`limit` bounds, the `sort` fields of each list, the batch size), and holds the request
//! body schemas that derives cannot write: [`Body`] (pairs of fields of which exactly one is
//! given), [`Patch`] and [`Replace`] (the body of a change, without the fields that identify
//! the resource). The input schemas are subsets of what the server accepts: a request valid
//! against the document is refused only for what the data decides (an unknown id, a taken
//! key), never for its shape.

use std::borrow::Cow;
use std::marker::PhantomData;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AllOf, Object, ObjectBuilder, OneOf, Schema};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::config::ApiSettings;

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

/// A list operation's sort fields: its path below `/api/v1` and the fields its `sort` query
/// parameter takes (each also with a leading `-` for descending order).
pub type ListSorts = (&'static str, &'static [&'static str]);

/// Rewrites error responses to problem+json, adds the shared error responses, and writes the
/// configured and per-list input rules: `limit` from 1 to `api.max_page_size`, the `sort`
/// fields of each list in `sorts`, at most `api.max_batch_orders` orders per batch.
pub fn complete(api: &mut OpenApi, settings: &ApiSettings, sorts: &[ListSorts]) {
    for (path, item) in api.paths.paths.iter_mut() {
        let in_api = path.starts_with("/api/v1/") && !path.ends_with("/openapi.json");
        let has_path_params = path.contains('{');
        let sort_fields = sorts
            .iter()
            .find(|(p, _)| path.strip_prefix("/api/v1") == Some(*p))
            .map(|(_, fields)| *fields);
        for (method, op) in [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
            ("head", item.head.as_mut()),
        ] {
            let Some(op) = op else { continue };
            complete_operation(op, method, in_api, has_path_params);
            query_rules(op, settings, sort_fields);
        }
    }
    let batch = api
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("OrderBatch"));
    if let Some(RefOr::T(Schema::Object(batch))) = batch
        && let Some(RefOr::T(Schema::Array(orders))) = batch.properties.get_mut("orders")
    {
        orders.max_items = Some(settings.max_batch_orders);
    }
}

/// `limit` between 1 and the configured largest page; `sort` one of the list's fields.
fn query_rules(op: &mut Operation, settings: &ApiSettings, sort_fields: Option<&[&str]>) {
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        if param.parameter_in != ParameterIn::Query {
            continue;
        }
        let Some(RefOr::T(Schema::Object(schema))) = param.schema.as_mut() else {
            continue;
        };
        match (param.name.as_str(), sort_fields) {
            ("limit", _) => {
                schema.minimum = Some(1.into());
                schema.maximum = Some(
                    usize::try_from(settings.max_page_size)
                        .unwrap_or(usize::MAX)
                        .into(),
                );
            }
            ("sort", Some(fields)) => {
                schema.pattern = None;
                schema.enum_values = Some(
                    fields
                        .iter()
                        .flat_map(|f| [f.to_string(), format!("-{f}")])
                        .map(serde_json::Value::from)
                        .collect(),
                );
            }
            _ => {}
        }
    }
}

/// The object-level rules of a request body that derives cannot write.
pub trait BodySchema: ToSchema {
    /// Pairs of fields of which the body gives exactly one (a change gives at most one).
    const ONE_OF: &'static [[&'static str; 2]] = &[];
    /// Pairs of fields of which the body gives at most one.
    const AT_MOST_ONE_OF: &'static [[&'static str; 2]] = &[];
    /// Fields that identify the resource: a change may not send them (they are left out).
    const FIXED: &'static [&'static str] = &[];

    /// The body's object schema with rules over several fields that JSON Schema states but
    /// derives cannot write (e.g. which keys `parts` has for each `channel`). Applied to
    /// [`Body`] and [`Replace`]; the default adds nothing.
    fn refine(schema: Object) -> RefOr<Schema> {
        RefOr::T(Schema::Object(schema))
    }
}

/// The body `T` with its [`BodySchema`] rules, under `T`'s name.
pub struct Body<T>(PhantomData<T>);

/// The body of a change (`PATCH`) to a resource made with `T`: every field optional, the
/// [`BodySchema::FIXED`] ones left out, at most one of each [`BodySchema::ONE_OF`] pair.
/// Named after `T` with `Patch` for `Input` (`AccountInput` → `AccountPatch`). Route
/// annotations name these wrappers through a type alias (`type AccountPatch =
/// Patch<AccountInput>;`): utoipa would compose a generic type's name with its parameter.
pub struct Patch<T>(PhantomData<T>);

/// The body of a replacement (`PUT`) of a resource made with `T`: `T` without the
/// [`BodySchema::FIXED`] fields (the path names the resource). Named with `Replacement`.
pub struct Replace<T>(PhantomData<T>);

fn renamed<T: ToSchema>(suffix: &str) -> Cow<'static, str> {
    let name = T::name();
    let base = name.strip_suffix("Input").unwrap_or(&name);
    Cow::Owned(format!("{base}{suffix}"))
}

/// `schema` (an object) with `rules`: fields left out, requirements dropped, and the pairs.
fn body_schema(
    schema: RefOr<Schema>,
    fixed: &[&str],
    optional: bool,
    one_of: &[[&str; 2]],
    at_most_one_of: &[[&str; 2]],
    refine: fn(Object) -> RefOr<Schema>,
) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else {
        return schema;
    };
    for f in fixed {
        object.properties.remove(*f);
        object.required.retain(|r| r != f);
    }
    if optional {
        object.required.clear();
    }
    if !at_most_one_of.is_empty() {
        let both: Vec<serde_json::Value> = at_most_one_of
            .iter()
            .map(|pair| serde_json::json!({ "required": pair }))
            .collect();
        let not = match <[_; 1]>::try_from(both) {
            Ok([one]) => one,
            Err(all) => serde_json::json!({ "anyOf": all }),
        };
        // utoipa's model has no `not`; extensions are written as keys of the schema.
        let mut ext = object.extensions.take().unwrap_or_default();
        ext.insert("not".into(), not);
        object.extensions = Some(ext);
    }
    let refined = refine(object);
    if one_of.is_empty() {
        return refined;
    }
    let mut all = AllOf::new();
    all.items.push(refined);
    for pair in one_of {
        let mut either = OneOf::new();
        for field in pair {
            either
                .items
                .push(ObjectBuilder::new().required(*field).into());
        }
        all.items.push(RefOr::T(Schema::OneOf(either)));
    }
    RefOr::T(Schema::AllOf(all))
}

impl<T: BodySchema> PartialSchema for Body<T> {
    fn schema() -> RefOr<Schema> {
        body_schema(
            T::schema(),
            &[],
            false,
            T::ONE_OF,
            T::AT_MOST_ONE_OF,
            T::refine,
        )
    }
}

impl<T: BodySchema> ToSchema for Body<T> {
    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
    }
}

impl<T: BodySchema> PartialSchema for Patch<T> {
    fn schema() -> RefOr<Schema> {
        let at_most: Vec<[&str; 2]> = T::ONE_OF.iter().chain(T::AT_MOST_ONE_OF).copied().collect();
        body_schema(T::schema(), T::FIXED, true, &[], &at_most, |o| {
            RefOr::T(Schema::Object(o))
        })
    }
}

impl<T: BodySchema> ToSchema for Patch<T> {
    fn name() -> Cow<'static, str> {
        renamed::<T>("Patch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
    }
}

impl<T: BodySchema> PartialSchema for Replace<T> {
    fn schema() -> RefOr<Schema> {
        body_schema(
            T::schema(),
            T::FIXED,
            false,
            T::ONE_OF,
            T::AT_MOST_ONE_OF,
            T::refine,
        )
    }
}

impl<T: BodySchema> ToSchema for Replace<T> {
    fn name() -> Cow<'static, str> {
        renamed::<T>("Replacement")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
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
        // The idempotency middleware reads the body of every POST that carries a key.
        add("413", "Request body larger than `server.max_body_bytes`");
    }
    if has_body {
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::config::ApiSettings;

    fn document() -> Value {
        let settings = ApiSettings {
            default_page_size: 50,
            max_page_size: 700,
            max_batch_orders: 300,
            idempotency_ttl_hours: 24,
        };
        serde_json::to_value(crate::api::openapi(&settings)).expect("json")
    }

    /// Every value under `v` with its JSON Pointer.
    fn walk<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
        out.push((at.clone(), v));
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| walk(v, format!("{at}/{}", k.replace('/', "~1")), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, format!("{at}/{i}"), out)),
            _ => {}
        }
    }

    /// Every pattern the document may hold: each is tested against its parser where it is
    /// defined (`domain::schema`, the rule schemas, and the parts' routes).
    fn tested_patterns() -> Vec<String> {
        use crate::segments::rules::{ACCOUNT_SCOPES, ALL_SCOPES, schema};
        let fixed = [
            crate::analytics::routes::CELL,
            crate::analytics::routes::MONTH,
            crate::content::routes::LOCALE,
            crate::content::routes::PART,
            crate::content::routes::JSON_PART,
            crate::segments::routes::NAME,
            crate::campaigns::model::STEP_ID,
        ];
        crate::domain::schema::PATTERNS
            .iter()
            .chain(schema::PATTERNS)
            .chain(&fixed)
            .map(|p| p.to_string())
            .chain([
                schema::text_pattern(ALL_SCOPES),
                schema::text_pattern(ACCOUNT_SCOPES),
            ])
            .collect()
    }

    #[test]
    fn every_pattern_is_anchored_and_tested_against_its_parser() {
        let tested = tested_patterns();
        let doc = document();
        let mut all = Vec::new();
        walk(&doc, String::new(), &mut all);
        let patterns: Vec<_> = all
            .iter()
            .filter(|(at, v)| at.ends_with("/pattern") && v.is_string())
            .collect();
        assert!(patterns.len() > 50, "{}", patterns.len());
        for (at, p) in patterns {
            let p = p.as_str().unwrap_or_default();
            assert!(p.starts_with('^') && p.ends_with('$'), "{at}: {p}");
            assert!(regex::Regex::new(p).is_ok(), "{at}: {p}");
            assert!(
                tested.iter().any(|t| t == p),
                "{at}: {p} is not one of the patterns tested against a parser"
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut all = Vec::new();
        walk(&doc, String::new(), &mut all);
        for (at, v) in all {
            if let (true, Some(r)) = (at.ends_with("/$ref"), v.as_str()) {
                let name = r.trim_start_matches("#/components/schemas/");
                assert!(doc["components"]["schemas"][name].is_object(), "{at}: {r}");
            }
        }
    }

    #[test]
    fn lists_take_their_sort_fields_and_configured_sizes() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let params = item["get"]["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for p in params {
                match p["name"].as_str() {
                    Some("sort") => assert!(
                        p["schema"]["enum"]
                            .as_array()
                            .is_some_and(|e| !e.is_empty()),
                        "{path}: sort fields are listed in the part's SORTS"
                    ),
                    Some("limit") => {
                        assert_eq!(p["schema"]["minimum"], 1, "{path}");
                        assert_eq!(p["schema"]["maximum"], 700, "{path}");
                    }
                    _ => {}
                }
            }
        }
        let orders = &doc["components"]["schemas"]["OrderBatch"]["properties"]["orders"];
        assert_eq!(orders["maxItems"], 300);
    }

    #[test]
    fn changes_leave_out_what_identifies_the_resource() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["AccountInput"]["properties"]["external_id"].is_object());
        assert!(schemas["AccountPatch"]["properties"]["external_id"].is_null());
        assert!(schemas["AccountPatch"]["required"].is_null());
        assert!(schemas["SegmentPatch"]["properties"]["key"].is_null());
        assert_eq!(
            schemas["SegmentPatch"]["not"]["required"],
            serde_json::json!(["rule", "rule_text"])
        );
        let patch = &doc["paths"]["/api/v1/accounts/{external_id}"]["patch"];
        assert_eq!(
            patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/AccountPatch"
        );
    }

    /// utoipa keys schemas by name and a second type of the same name silently replaces the
    /// first in the document (a campaign `Trigger` once replaced the jobs' one). Every type
    /// deriving `ToSchema` must have its own name, from `#[schema(as = …)]` or its own.
    #[test]
    fn every_schema_name_is_unique() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).expect("src").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        let mut clashes = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            let lines: Vec<&str> = text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if !(l.trim_start().starts_with("#[derive(") && l.contains("ToSchema")) {
                    continue;
                }
                let mut alias = None;
                for l in lines.iter().skip(i + 1).take(12) {
                    let t = l.trim_start();
                    if let Some(rest) = t.strip_prefix("#[schema(as = ") {
                        alias = rest.split([')', ',']).next().map(|s| s.trim().to_string());
                    }
                    let item = t
                        .strip_prefix("pub struct ")
                        .or_else(|| t.strip_prefix("pub enum "))
                        .or_else(|| t.strip_prefix("struct "))
                        .or_else(|| t.strip_prefix("enum "));
                    if let Some(item) = item {
                        let own: String = item
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        let name = alias.take().unwrap_or(own);
                        if name.is_empty() {
                            // `pub enum $name` in a macro: its uses name the types.
                            break;
                        }
                        let at = format!("{}:{}", f.display(), i + 1);
                        if let Some(first) = seen.insert(name.clone(), at.clone()) {
                            clashes.push(format!("{name}: {first} and {at}"));
                        }
                        break;
                    }
                }
            }
        }
        assert!(
            seen.len() > 50,
            "the scan found only {} schemas",
            seen.len()
        );
        assert!(clashes.is_empty(), "schema names used twice: {clashes:#?}");
    }
}
