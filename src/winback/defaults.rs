//! The default win-back work `abm demo` sets up: three offers and the three campaigns the
//! default `[[winback.routes]]` name, active, so that the first analysis run starts on the
//! lost accounts. Anything already defined under the same key is left as it is.

use serde_json::json;

use crate::campaigns::CampaignsError;
use crate::context::AppContext;
use crate::error::ApiError;

/// What was defined (keys that existed already are not counted).
#[derive(Debug, Default)]
pub struct Defined {
    pub offers: usize,
    pub campaigns: usize,
}

/// The default offers: special terms for pillars, a discount, a gift.
fn offers() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "wb-terms",
            json!({"name": "Special terms for a key partner", "kind": "terms",
                   "terms": "90 days payment terms and a fixed price for 12 months",
                   "description": "special terms for your next contract", "valid_days": 60}),
        ),
        (
            "wb-discount",
            json!({"name": "Welcome back discount", "kind": "discount", "percent": 10,
                   "cap": "5000", "rules": [{"abc": "A", "percent": 15}], "valid_days": 45}),
        ),
        (
            "wb-gift",
            json!({"name": "Welcome back gift", "kind": "gift", "gift": "a barista coffee machine for your team",
                   "gift_cost": "250", "description": "a welcome-back gift with your next order",
                   "valid_days": 45}),
        ),
    ]
}

/// The default win-back campaigns (the keys the default routes name).
fn campaigns() -> Vec<serde_json::Value> {
    let base = |key: &str, name: &str, steps: serde_json::Value| {
        json!({
            "key": key, "name": name, "goal": "win the lost account back",
            "audience": {"trigger": {"event": "became_lost"}},
            "recipients": {"roles": ["decision_maker"], "max_per_account": 1},
            "exit_on": ["ordered", "unsubscribed"],
            "steps": steps
        })
    };
    vec![
        base(
            "winback-pillar",
            "Win back a pillar: a call, then special terms",
            json!([
                {"id": "call", "manager_task": {"title": "Call the buyer: why did they leave?"}, "next": "pause"},
                {"id": "pause", "wait": {"days": 3}, "next": "terms"},
                {"id": "terms", "send": {"channel": "email", "purpose": "winback", "offer_key": "wb-terms"}}
            ]),
        ),
        base(
            "winback-discount",
            "Win back with a discount",
            json!([
                {"id": "offer", "send": {"channel": "email", "purpose": "winback", "offer_key": "wb-discount"}, "next": "pause"},
                {"id": "pause", "wait": {"days": 21}, "next": "reminder"},
                {"id": "reminder", "send": {"channel": "email", "purpose": "winback", "offer_key": "wb-discount"}}
            ]),
        ),
        base(
            "winback-gift",
            "Win back with a gift",
            json!([
                {"id": "offer", "send": {"channel": "email", "purpose": "winback", "offer_key": "wb-gift"}}
            ]),
        ),
    ]
}

/// Defines and activates the defaults that do not exist yet.
pub async fn define(ctx: &AppContext) -> anyhow::Result<Defined> {
    let mut out = Defined::default();
    let now = ctx.clock.now();
    for (key, body) in offers() {
        let d: crate::offers::Definition = serde_json::from_value(body)?;
        match crate::offers::create(&ctx.db, now, key, d).await {
            Ok(_) => out.offers += 1,
            Err(ApiError::Conflict { .. }) => {}
            Err(e) => anyhow::bail!("offer {key}: {e}"),
        }
    }
    for body in campaigns() {
        let key = body["key"].as_str().unwrap_or_default().to_string();
        let input: crate::campaigns::routes::CampaignInput = serde_json::from_value(body)?;
        match crate::campaigns::service::create(ctx, input.into()).await {
            Ok(_) => {
                crate::campaigns::service::activate(ctx, &key)
                    .await
                    .map_err(|e| anyhow::anyhow!("campaign {key}: {e}"))?;
                out.campaigns += 1;
            }
            Err(CampaignsError::AlreadyExists(_)) => {}
            Err(e) => anyhow::bail!("campaign {key}: {e}"),
        }
    }
    Ok(out)
}
