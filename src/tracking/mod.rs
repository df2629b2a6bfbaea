//! Response tracking: signed tracking links written into each email when it is rendered
//! into the outbox (opens, clicks, unsubscribe, web view), the public `/t/` endpoints that
//! record them, responses and bounces reported by other systems, and what they set off at
//! once (suppression, campaign exits).
//!
//! A token carries the message's `Message-ID` (and for a click, the target URL) with an
//! HMAC-SHA256 over the link kind, the id and the target under the tracking secret, so the
//! endpoints need no lookup to accept or refuse a request, and a forged or altered token
//! records nothing. Targets come only from signed tokens: there is no open redirect.

pub mod engagement;
pub mod machine;
pub mod notify;
pub mod responses;
pub mod routes;
pub mod sink;

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use regex::Regex;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DbErr, EntityTrait, Set};

use crate::context::AppContext;
use crate::entities::app_secret;

/// Longest token accepted (a click token carries its URL).
pub const MAX_TOKEN: usize = 6000;
/// Longest link target rewritten into a tracking link.
pub const MAX_TARGET: usize = 2000;
/// Bytes of HMAC kept in a token.
const SIG_BYTES: usize = 16;

/// What a tracking link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Open,
    Click,
    Unsubscribe,
    View,
}

impl LinkKind {
    /// The path segment: `/t/<letter>/<token>`.
    pub fn letter(self) -> char {
        match self {
            LinkKind::Open => 'o',
            LinkKind::Click => 'c',
            LinkKind::Unsubscribe => 'u',
            LinkKind::View => 'v',
        }
    }
}

/// A link target a tracking link may lead to: http(s), at most [`MAX_TARGET`] characters, no
/// control characters or spaces.
pub fn check_target(url: &str) -> Result<(), String> {
    if url.len() > MAX_TARGET {
        return Err(format!("must be at most {MAX_TARGET} characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err("must be an http or https URL, e.g. \"https://example.com/offer\"".into()),
    }
}

/// Signs and checks tracking links under one secret, with one public base URL.
#[derive(Clone)]
pub struct Links {
    key: Vec<u8>,
    base: String,
    default_cta: Option<String>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Links {
    pub fn new(key: &[u8], base: &str, default_cta: Option<String>) -> Links {
        Links {
            key: key.to_vec(),
            base: base.trim_end_matches('/').to_string(),
            default_cta: default_cta.filter(|c| !c.is_empty()),
        }
    }

    /// The links of `ctx`: `tracking.secret`, or the generated one kept in the database
    /// (created on first use, the same for every instance); loaded once per process.
    pub async fn of(ctx: &AppContext) -> Result<&Links, DbErr> {
        ctx.tracking
            .get_or_try_init(|| async {
                let key = match ctx.settings.tracking.secret.as_str() {
                    "" => stored_secret(ctx).await?,
                    s => s.as_bytes().to_vec(),
                };
                Ok(Links::new(
                    &key,
                    &ctx.settings
                        .tracking
                        .base_url(&ctx.settings.server, ctx.http_port.get().copied()),
                    Some(ctx.settings.tracking.default_cta_url.trim().to_string()),
                ))
            })
            .await
    }

    fn mac(&self, kind: LinkKind, message_id: &str, target: &str) -> hmac::Hmac<sha2::Sha256> {
        // Any key length is valid for HMAC.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&[kind.letter() as u8, 0]);
        mac.update(message_id.as_bytes());
        mac.update(&[0]);
        mac.update(target.as_bytes());
        mac
    }

    /// The token of a link of `kind` for message `message_id` (and `target`, for a click).
    pub fn token(&self, kind: LinkKind, message_id: &str, target: Option<&str>) -> String {
        let sig = self
            .mac(kind, message_id, target.unwrap_or_default())
            .finalize()
            .into_bytes();
        let sig = B64.encode(&sig[..SIG_BYTES]);
        let id = B64.encode(message_id);
        match target {
            Some(t) => format!("{id}.{}.{sig}", B64.encode(t)),
            None => format!("{id}.{sig}"),
        }
    }

    /// The full link.
    pub fn link(&self, kind: LinkKind, message_id: &str, target: Option<&str>) -> String {
        format!(
            "{}/t/{}/{}",
            self.base,
            kind.letter(),
            self.token(kind, message_id, target)
        )
    }

    /// The message id (and target) of a genuine token of `kind`; `None` for anything forged,
    /// altered, truncated or of another kind.
    pub fn verify(&self, kind: LinkKind, token: &str) -> Option<(String, Option<String>)> {
        if token.len() > MAX_TOKEN {
            return None;
        }
        let parts: Vec<&str> = token.split('.').collect();
        let (id, target, sig) = match (kind, parts.as_slice()) {
            (LinkKind::Click, [id, target, sig]) => (*id, Some(*target), *sig),
            (LinkKind::Click, _) => return None,
            (_, [id, sig]) => (*id, None, *sig),
            _ => return None,
        };
        let id = String::from_utf8(B64.decode(id).ok()?).ok()?;
        let target = match target {
            Some(t) => Some(String::from_utf8(B64.decode(t).ok()?).ok()?),
            None => None,
        };
        let sig = B64.decode(sig).ok()?;
        if sig.len() != SIG_BYTES {
            return None;
        }
        self.mac(kind, &id, target.as_deref().unwrap_or_default())
            .verify_truncated_left(&sig)
            .ok()?;
        Some((id, target))
    }

    /// Writes tracking into an email's rendered parts for message `message_id`: the shipped
    /// placeholders become links (`{{cta_url}}` to `cta`, else `tracking.default_cta_url`,
    /// else the web view), every other http(s) link in the HTML and the text becomes a click
    /// link, and the HTML carries the open pixel.
    pub fn rewrite(
        &self,
        parts: &mut serde_json::Map<String, serde_json::Value>,
        message_id: &str,
        cta: Option<&str>,
    ) {
        let view = self.link(LinkKind::View, message_id, None);
        let unsubscribe = self.link(LinkKind::Unsubscribe, message_id, None);
        let pixel = self.link(LinkKind::Open, message_id, None);
        let cta = match cta.or(self.default_cta.as_deref()) {
            Some(target) => self.link(LinkKind::Click, message_id, Some(target)),
            None => view.clone(),
        };
        let own = format!("{}/t/", self.base);
        let links: [(&str, &str); 4] = [
            ("{{tracking_pixel_url}}", &pixel),
            ("{{unsubscribe_url}}", &unsubscribe),
            ("{{web_view_url}}", &view),
            ("{{cta_url}}", &cta),
        ];
        // One pass over the text, whatever the number of placeholders.
        let fill = |s: &str| {
            let mut out = String::with_capacity(s.len() + 512);
            let mut rest = s;
            while let Some(at) = rest.find("{{") {
                out.push_str(&rest[..at]);
                let tail = &rest[at..];
                match links.iter().find(|(p, _)| tail.starts_with(p)) {
                    Some((p, link)) => {
                        out.push_str(link);
                        rest = &tail[p.len()..];
                    }
                    None => {
                        out.push_str("{{");
                        rest = &tail[2..];
                    }
                }
            }
            out.push_str(rest);
            out
        };
        if let Some(serde_json::Value::String(html)) = parts.get_mut("html") {
            let filled = fill(html);
            let mut out = HREF
                .replace_all(&filled, |c: &regex::Captures| {
                    let raw = &c[3];
                    let target = raw.replace("&amp;", "&");
                    if raw.starts_with(&own) || check_target(&target).is_err() {
                        return c[0].to_string();
                    }
                    let link = self.link(LinkKind::Click, message_id, Some(&target));
                    format!("{}{}{link}{}", &c[1], &c[2], &c[4])
                })
                .into_owned();
            if !out.contains(&pixel) {
                let img = format!("<img src=\"{pixel}\" alt=\"\" width=\"1\" height=\"1\">");
                let body_end = out
                    .as_bytes()
                    .windows(7)
                    .rposition(|w| w.eq_ignore_ascii_case(b"</body>"));
                match body_end {
                    Some(at) => out.insert_str(at, &img),
                    None => out.push_str(&img),
                }
            }
            *html = out;
        }
        if let Some(serde_json::Value::String(text)) = parts.get_mut("text") {
            let filled = fill(text);
            *text = BARE_URL
                .replace_all(&filled, |c: &regex::Captures| {
                    let target = &c[0];
                    if target.starts_with(&own) || check_target(target).is_err() {
                        return target.to_string();
                    }
                    self.link(LinkKind::Click, message_id, Some(target))
                })
                .into_owned();
        }
    }
}

/// `href="http…"` (or single quotes) in HTML: prefix, quote, URL, quote.
static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(\bhref\s*=\s*)(["'])(https?://[^"'\s<>]{1,2000})(["'])"#)
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// A URL in plain text, up to a space or a closing bracket or quote.
static BARE_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"https?://[^\s<>"'()\[\]]{1,2000}[^\s<>"'()\[\].,;:!?]"#)
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// The tracking secret kept in `app_secrets`: the first instance to need it writes one, and
/// every instance reads the one that won.
async fn stored_secret(ctx: &AppContext) -> Result<Vec<u8>, DbErr> {
    const NAME: &str = "tracking_secret";
    let fresh: [u8; 32] = rand::random();
    app_secret::Entity::insert(app_secret::ActiveModel {
        name: Set(NAME.into()),
        value: Set(hex::encode(fresh)),
        created_at: Set(ctx.clock.now()),
    })
    .on_conflict(
        OnConflict::column(app_secret::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&ctx.db)
    .await?;
    let row = app_secret::Entity::find_by_id(NAME.to_string())
        .one(&ctx.db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the tracking secret".into()))?;
    hex::decode(row.value.trim())
        .map_err(|e| DbErr::Custom(format!("the stored tracking secret: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links::new(
            b"a test secret of some length",
            "https://t.example.com/",
            None,
        )
    }

    #[test]
    fn tokens_verify_and_any_change_is_refused() {
        let l = links();
        let mid = "<abc123@abm.example>";
        let t = l.token(LinkKind::Click, mid, Some("https://shop.example/a?b=1&c=2"));
        assert_eq!(
            l.verify(LinkKind::Click, &t),
            Some((
                mid.to_string(),
                Some("https://shop.example/a?b=1&c=2".to_string())
            ))
        );
        // Another kind, another key, a changed target, a flipped character: refused.
        assert_eq!(l.verify(LinkKind::Open, &t), None);
        let other = Links::new(b"another secret entirely", "https://t.example.com", None);
        assert_eq!(other.verify(LinkKind::Click, &t), None);
        let parts: Vec<&str> = t.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode("https://evil.example"),
            parts[2]
        );
        assert_eq!(l.verify(LinkKind::Click, &swapped), None);
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(b).expect("ascii");
            if changed != t {
                assert_eq!(l.verify(LinkKind::Click, &changed), None, "position {i}");
            }
        }
        for junk in ["", ".", "..", "a.b.c.d", "é.é", &"A".repeat(MAX_TOKEN + 1)] {
            assert_eq!(l.verify(LinkKind::Click, junk), None);
            assert_eq!(l.verify(LinkKind::Open, junk), None);
        }
        let open = l.token(LinkKind::Open, mid, None);
        assert_eq!(
            l.verify(LinkKind::Open, &open),
            Some((mid.to_string(), None))
        );
        assert_eq!(l.verify(LinkKind::Unsubscribe, &open), None);
    }

    #[test]
    fn rewriting_fills_placeholders_tracks_links_and_adds_the_pixel() {
        let l = links();
        let mid = "<m1@abm.example>";
        let mut parts = serde_json::Map::new();
        parts.insert(
            "html".into(),
            r#"<html><body><a href="{{cta_url}}">Go</a> <a href="https://docs.example/x?a=1&amp;b=2">Docs</a> <a href="mailto:x@y.example">Mail</a> <a href="{{unsubscribe_url}}">Unsub</a></body></html>"#.into(),
        );
        parts.insert(
            "text".into(),
            "Go: {{cta_url}}\nDocs: https://docs.example/x?a=1&b=2.\nView: {{web_view_url}}".into(),
        );
        l.rewrite(&mut parts, mid, Some("https://shop.example/offer"));
        let html = parts["html"].as_str().expect("html");
        let text = parts["text"].as_str().expect("text");
        let cta = l.link(LinkKind::Click, mid, Some("https://shop.example/offer"));
        let docs = l.link(LinkKind::Click, mid, Some("https://docs.example/x?a=1&b=2"));
        assert!(html.contains(&format!("href=\"{cta}\"")), "{html}");
        assert!(html.contains(&format!("href=\"{docs}\"")), "{html}");
        assert!(html.contains("href=\"mailto:x@y.example\""));
        assert!(html.contains(&l.link(LinkKind::Unsubscribe, mid, None)));
        let pixel = l.link(LinkKind::Open, mid, None);
        assert!(html.contains(&format!("<img src=\"{pixel}\"")), "{html}");
        assert!(html.find(&pixel) < html.find("</body>"));
        assert!(text.contains(&format!("Go: {cta}")), "{text}");
        // The full stop after a URL is not part of it.
        assert!(text.contains(&format!("Docs: {docs}.")), "{text}");
        assert!(text.contains(&l.link(LinkKind::View, mid, None)));
        assert!(!html.contains("{{") && !text.contains("{{"));
        // Rewriting twice changes nothing more.
        let once = parts.clone();
        l.rewrite(&mut parts, mid, Some("https://shop.example/offer"));
        assert_eq!(parts, once);
    }
}
