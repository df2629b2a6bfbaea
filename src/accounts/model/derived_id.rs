//! Ids derived from content, for imported rows that come without one.

/// A short, deterministic id derived from content (`<tag>-<hex>`), for rows that come without
/// an external id, so re-importing the same data finds the same rows.
pub fn derive_id(basis: &str, tag: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(basis.as_bytes());
    format!("{tag}-{}", hex::encode(&digest[..12]))
}
