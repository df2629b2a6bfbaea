//! The public tracking endpoints (`/t/…`, no API token: recipients' mail clients call them)
//! and the API's `POST /api/v1/responses` and `POST /api/v1/bounces`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, head, post, web};

use super::responses::{self, BounceInput, ResponseInput, Unsubscribed};
use super::sink::{Hit, Sink};
use super::{LinkKind, Links, MAX_TOKEN, machine};
use crate::api::extract::JsonBody;
use crate::api::state::State;
use crate::error::{ApiError, Problem};
use crate::events::{EventKind, EventView};

/// The transparent 1×1 GIF of the open pixel.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The public endpoints, outside `/api/v1`.
pub fn public(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(open)
        .service(open_head)
        .service(click)
        .service(click_head)
        .service(unsubscribe_page)
        .service(unsubscribe)
        .service(web_view);
}

/// The API endpoints, inside `/api/v1`.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(report_response).service(report_bounce);
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such link".into())
}

/// The token of a path, if it could be one.
fn verified(
    links: &Links,
    kind: LinkKind,
    token: &str,
) -> Result<(String, Option<String>), ApiError> {
    if token.len() > MAX_TOKEN {
        return Err(not_found());
    }
    links.verify(kind, token).ok_or_else(not_found)
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers().get(header::USER_AGENT).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect()
    })
}

async fn hit(
    state: &State,
    req: &HttpRequest,
    kind: EventKind,
    link: LinkKind,
    token: &str,
) -> Result<Option<String>, ApiError> {
    let links = Links::of(state).await?;
    let (message_id, target) = verified(links, link, token)?;
    let ua = user_agent(req);
    let head = req.method() == actix_web::http::Method::HEAD;
    let ctx = state.clone().into_inner();
    Sink::of(&ctx)
        .push(Hit {
            kind,
            message_id,
            target: target.clone(),
            at: state.clock.now(),
            machine: machine::of_request(head, ua.as_deref()),
            user_agent: ua,
        })
        .await;
    Ok(target)
}

fn gif() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/gif")
        .insert_header((
            header::CACHE_CONTROL,
            "no-store, no-cache, must-revalidate, max-age=0",
        ))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(PIXEL)
}

/// The open pixel: a 1×1 GIF; records an `opened` event.
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 200, description = "A 1×1 transparent GIF", content_type = "image/gif"), (status = 404, body = Problem)))]
#[get("/t/o/{token}")]
async fn open(
    state: State,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    hit(&state, &req, EventKind::Opened, LinkKind::Open, &token).await?;
    Ok(gif())
}

/// The open pixel fetched with HEAD (recorded as a machine's).
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 200, description = "A 1×1 transparent GIF", content_type = "image/gif"), (status = 404, body = Problem)))]
#[head("/t/o/{token}")]
async fn open_head(
    state: State,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    hit(&state, &req, EventKind::Opened, LinkKind::Open, &token).await?;
    Ok(gif())
}

fn redirect(target: Option<String>) -> Result<HttpResponse, ApiError> {
    let target = target.ok_or_else(not_found)?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, target))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish())
}

/// A tracked link: redirects (302) to the link's target; records a `clicked` event.
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 302, description = "To the link's original target"), (status = 404, body = Problem)))]
#[get("/t/c/{token}")]
async fn click(
    state: State,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    redirect(hit(&state, &req, EventKind::Clicked, LinkKind::Click, &token).await?)
}

/// A tracked link checked with HEAD (recorded as a machine's).
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 302, description = "To the link's original target"), (status = 404, body = Problem)))]
#[head("/t/c/{token}")]
async fn click_head(
    state: State,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    redirect(hit(&state, &req, EventKind::Clicked, LinkKind::Click, &token).await?)
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"robots\" content=\"noindex\"><title>{title}</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\">{body}</body></html>"
        ))
}

/// The unsubscribe link: a page that asks to confirm (GETs by link scanners change nothing).
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 200, description = "A confirmation page", content_type = "text/html"), (status = 404, body = Problem)))]
#[get("/t/u/{token}")]
async fn unsubscribe_page(
    state: State,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    verified(Links::of(&state).await?, LinkKind::Unsubscribe, &token)?;
    Ok(page(
        "Unsubscribe",
        "<form method=\"post\"><p>Stop receiving these emails at this address?</p><button type=\"submit\" name=\"List-Unsubscribe\" value=\"One-Click\">Unsubscribe</button></form>",
    ))
}

/// One-click unsubscribe (RFC 8058; the `List-Unsubscribe` header of every email points
/// here): the address is suppressed, an `unsubscribed` event is recorded once, and campaigns
/// that exit on `unsubscribed` end for the account.
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 200, description = "Unsubscribed", content_type = "text/html"), (status = 404, body = Problem)))]
#[post("/t/u/{token}")]
async fn unsubscribe(state: State, token: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (message_id, _) = verified(Links::of(&state).await?, LinkKind::Unsubscribe, &token)?;
    match responses::unsubscribe(&state, &message_id).await? {
        Some(Unsubscribed::Done { .. }) | Some(Unsubscribed::NotEmail) => Ok(page(
            "Unsubscribed",
            "<p>You are unsubscribed: no more emails will be sent to this address.</p>",
        )),
        None => Err(not_found()),
    }
}

/// The web view of a message: its HTML as sent (or its text).
#[utoipa::path(tag = "tracking", security(()),
    responses((status = 200, description = "The message", content_type = "text/html"), (status = 404, body = Problem)))]
#[get("/t/v/{token}")]
async fn web_view(state: State, token: web::Path<String>) -> Result<HttpResponse, ApiError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let (message_id, _) = verified(Links::of(&state).await?, LinkKind::View, &token)?;
    let m = crate::entities::message::Entity::find()
        .filter(crate::entities::message::Column::MessageId.eq(message_id))
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let part = |k: &str| m.parts.get(k).and_then(|v| v.as_str()).map(String::from);
    let body = match (part("html"), part("text")) {
        (Some(html), _) => html,
        (None, Some(text)) => format!(
            "<pre style=\"white-space:pre-wrap\">{}</pre>",
            handlebars::html_escape(&text)
        ),
        (None, None) => return Err(not_found()),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; font-src *",
        ))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body))
}

/// Report a response that did not come through our links (a reply seen by the mail gateway, a
/// meeting booked or a call logged in the CRM), matched to the message by `message_id` or
/// `in_reply_to`, or to the stakeholder by `email`. `replied` and `meeting_booked` end the
/// enrolments of campaigns that exit on `replied`.
#[utoipa::path(tag = "events", request_body = ResponseInput,
    responses((status = 201, body = EventView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/responses")]
async fn report_response(
    state: State,
    body: JsonBody<ResponseInput>,
) -> Result<HttpResponse, ApiError> {
    let e = responses::respond(&state, body.0).await?;
    Ok(HttpResponse::Created().json(crate::events::view_of(&state, e).await?))
}

/// Report a bounce or complaint from an ESP, by `message_id` or `email`: `hard` and
/// `complaint` suppress the address; a complaint also ends campaigns that exit on
/// `unsubscribed`.
#[utoipa::path(tag = "events", request_body = BounceInput,
    responses((status = 201, body = EventView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/bounces")]
async fn report_bounce(
    state: State,
    body: JsonBody<BounceInput>,
) -> Result<HttpResponse, ApiError> {
    let e = responses::bounce(&state, body.0).await?;
    Ok(HttpResponse::Created().json(crate::events::view_of(&state, e).await?))
}
