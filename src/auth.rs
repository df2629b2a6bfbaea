//! API tokens. A token is shown once at creation (`abm_<prefix>_<secret>`); the database keeps
//! only the public prefix and the SHA-256 of the secret. Verification looks the prefix up and
//! compares hashes in constant time.

use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::entities::api_token;

const PREFIX_LEN: usize = 8;
const SECRET_LEN: usize = 32;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A token as the caller must present it; printed once, never stored.
#[derive(Clone)]
pub struct PlainToken(pub String);

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken(***)")
    }
}

fn random_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a token named `name` and returns it with its stored row.
pub async fn create_token(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    name: &str,
) -> anyhow::Result<(api_token::Model, PlainToken)> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 100,
        "--name must be 1 to 100 characters"
    );
    let prefix = random_string(PREFIX_LEN);
    let secret = random_string(SECRET_LEN);
    let row = api_token::ActiveModel {
        name: Set(name.to_string()),
        prefix: Set(prefix.clone()),
        hash: Set(hash_secret(&secret)),
        created_at: Set(clock.now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, PlainToken(format!("abm_{prefix}_{secret}"))))
}

/// Returns the id of the live token matching `presented`, if any.
pub async fn verify_token(db: &DatabaseConnection, presented: &str) -> anyhow::Result<Option<i64>> {
    let Some(rest) = presented.strip_prefix("abm_") else {
        return Ok(None);
    };
    let Some((prefix, secret)) = rest.split_once('_') else {
        return Ok(None);
    };
    if prefix.len() != PREFIX_LEN || secret.len() != SECRET_LEN {
        return Ok(None);
    }
    let Some(row) = api_token::Entity::find()
        .filter(api_token::Column::Prefix.eq(prefix))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let presented_hash = hash_secret(secret);
    let equal: bool = presented_hash.as_bytes().ct_eq(row.hash.as_bytes()).into();
    if !equal || row.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some(row.id))
}

/// Marks the token with `prefix` (or its full text) as revoked; returns whether one was found.
pub async fn revoke_token(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    prefix_or_token: &str,
) -> anyhow::Result<bool> {
    let prefix = prefix_or_token
        .strip_prefix("abm_")
        .and_then(|r| r.split('_').next())
        .unwrap_or(prefix_or_token);
    let Some(row) = api_token::Entity::find()
        .filter(api_token::Column::Prefix.eq(prefix))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let mut active: api_token::ActiveModel = row.into();
    active.revoked_at = Set(Some(clock.now()));
    active.update(db).await?;
    Ok(true)
}

/// Lists tokens (never their secrets).
pub async fn list_tokens(db: &DatabaseConnection) -> anyhow::Result<Vec<api_token::Model>> {
    Ok(api_token::Entity::find().all(db).await?)
}
