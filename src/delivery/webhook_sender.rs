//! Posting webhook messages: a JSON POST signed by the Standard Webhooks scheme, with a
//! timeout, no redirects, and a guard on the address actually connected to: names are resolved
//! here and private, loopback and link-local addresses are dropped (unless
//! `webhooks.allow_private`), so a public name that resolves to a private address is refused
//! too. 2xx is delivered; 408, 429, 5xx, timeouts and connection errors are transient (with
//! `Retry-After` honoured); any other status is permanent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::sender::Outcome;
use super::webhooks::signature_header;
use crate::config::WebhookSettings;
use crate::domain::webhook_url;
use crate::entities::{message, webhook_endpoint};

/// Longest `Retry-After` honoured; a longer one waits this long.
const MAX_RETRY_AFTER: i64 = 24 * 3600;

/// Resolves names and keeps only the addresses a webhook may reach.
struct GuardedResolver {
    allow_private: bool,
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || !webhook_url::is_internal(a.ip()))
                .collect();
            if allowed.is_empty() {
                let shown: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(Refused(format!(
                    "{host} resolves only to private, loopback or link-local addresses ({}); \
                     set webhooks.allow_private to allow them",
                    shown.join(", ")
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of webhook sends.
pub struct WebhookClient {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookClient {
    pub fn new(settings: &WebhookSettings) -> Result<WebhookClient, String> {
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would be the only name our resolver sees, and
            // the address guard would not see the endpoint's.
            .no_proxy()
            .timeout(StdDuration::from_secs(u64::from(
                settings.timeout_seconds.max(1),
            )))
            .connect_timeout(StdDuration::from_secs(5))
            .user_agent(concat!("abm-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.allow_private,
            }))
            .build()
            .map_err(|e| format!("building the webhook client: {e}"))?;
        Ok(WebhookClient {
            client,
            allow_private: settings.allow_private,
        })
    }

    /// Posts one message to its endpoint at `now` (the signed timestamp).
    /// Posts `m` to `endpoint`: the outcome, and the start of the response body.
    pub async fn post(
        &self,
        endpoint: &webhook_endpoint::Model,
        m: &message::Model,
        now: DateTime<Utc>,
    ) -> (Outcome, Option<String>) {
        // Checked again: the setting may have changed since the endpoint was saved.
        if let Err(error) = webhook_url::parse(&endpoint.url, self.allow_private) {
            return (
                Outcome::Permanent {
                    code: None,
                    error,
                    bounce: false,
                },
                None,
            );
        }
        let body = m
            .parts
            .get("body.json")
            .and_then(|v| v.as_str())
            .unwrap_or("{}")
            .to_string();
        let ts = now.timestamp();
        let signature = signature_header(endpoint, &m.message_id, ts, body.as_bytes(), now);
        let sent = self
            .client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &m.message_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(mut resp) => {
                let outcome = classify_status(resp.status().as_u16(), resp.headers(), now);
                (outcome, snippet(&mut resp).await)
            }
            Err(e) => (classify_error(&e), None),
        }
    }
}

/// Most characters of a response body kept with an attempt.
const SNIPPET: usize = 500;

/// The start of a response body (at most a few KB are read), as text.
async fn snippet(resp: &mut reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < 4 * SNIPPET {
        match resp.chunk().await {
            Ok(Some(c)) => bytes.extend_from_slice(&c),
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(SNIPPET)
        .collect();
    (!text.trim().is_empty()).then_some(text)
}

fn classify_status(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    now: DateTime<Utc>,
) -> Outcome {
    let code = Some(status.to_string());
    match status {
        200..=299 => Outcome::Sent { code },
        408 | 429 | 500..=599 => Outcome::Transient {
            code,
            error: format!("the endpoint answered {status}"),
            retry_after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, now)),
        },
        300..=399 => Outcome::Permanent {
            code,
            error: format!("the endpoint answered {status}; redirects are not followed"),
            bounce: false,
        },
        _ => Outcome::Permanent {
            code,
            error: format!("the endpoint answered {status}"),
            bounce: false,
        },
    }
}

fn classify_error(e: &reqwest::Error) -> Outcome {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Outcome::Permanent {
                code: None,
                error: r.0.clone(),
                bounce: false,
            };
        }
        source = s.source();
    }
    let mut error = e.to_string();
    if let Some(s) = std::error::Error::source(e) {
        error = format!("{error}: {s}");
    }
    Outcome::Transient {
        code: None,
        error: error.chars().take(1000).collect(),
        retry_after: None,
    }
}

/// `Retry-After` as seconds or an HTTP date, from `now`, at most a day; `None` when it is
/// neither or already past.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<i64>() {
        // Clamped first: a huge count of seconds is out of a Duration's range.
        Ok(s) => Duration::seconds(s.clamp(-1, MAX_RETRY_AFTER)),
        Err(_) => {
            DateTime::parse_from_rfc2822(value)
                .ok()?
                .with_timezone(&Utc)
                - now
        }
    };
    (wait > Duration::zero()).then(|| wait.min(Duration::seconds(MAX_RETRY_AFTER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_bounded() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::seconds(120)));
        assert_eq!(
            retry_after("Mon, 02 Mar 2026 10:05:00 GMT", now),
            Some(Duration::minutes(5))
        );
        assert_eq!(retry_after("99999999", now), Some(Duration::days(1)));
        assert_eq!(
            retry_after("9223372036854776", now),
            Some(Duration::days(1))
        );
        assert_eq!(
            retry_after(&i64::MAX.to_string(), now),
            Some(Duration::days(1))
        );
        assert_eq!(retry_after(&i64::MIN.to_string(), now), None);
        assert_eq!(retry_after("0", now), None);
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("Mon, 02 Mar 2026 09:00:00 GMT", now), None);
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn statuses_are_classified_as_the_issue_says() {
        let now = Utc::now();
        let h = reqwest::header::HeaderMap::new();
        assert_eq!(
            classify_status(204, &h, now),
            Outcome::Sent {
                code: Some("204".into())
            }
        );
        for s in [408, 429, 500, 502, 503] {
            assert!(
                matches!(classify_status(s, &h, now), Outcome::Transient { .. }),
                "{s}"
            );
        }
        for s in [301, 302, 400, 401, 404, 410, 422] {
            assert!(
                matches!(classify_status(s, &h, now), Outcome::Permanent { .. }),
                "{s}"
            );
        }
    }
}
