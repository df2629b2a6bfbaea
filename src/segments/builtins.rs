//! The built-in segments (the nine ABC-XYZ cells, each account type, and "lost"): fixed in
//! code, created in every database on first use, read-only through the API.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

use crate::entities::segment;
use crate::segments::rules::Rule;

/// A built-in segment: key, name, rule (text form).
pub struct Builtin {
    pub key: &'static str,
    pub name: &'static str,
    pub rule: &'static str,
}

macro_rules! builtins {
    ($($key:literal, $name:literal, $rule:literal;)+) => {
        /// The segments every database has.
        pub const BUILTINS: &[Builtin] = &[$(Builtin { key: $key, name: $name, rule: $rule },)+];
    };
}

builtins! {
    "abc-xyz-ax", "AX: high value, steady", "abc = A and xyz = X";
    "abc-xyz-ay", "AY: high value, fluctuating", "abc = A and xyz = Y";
    "abc-xyz-az", "AZ: high value, irregular", "abc = A and xyz = Z";
    "abc-xyz-bx", "BX: medium value, steady", "abc = B and xyz = X";
    "abc-xyz-by", "BY: medium value, fluctuating", "abc = B and xyz = Y";
    "abc-xyz-bz", "BZ: medium value, irregular", "abc = B and xyz = Z";
    "abc-xyz-cx", "CX: low value, steady", "abc = C and xyz = X";
    "abc-xyz-cy", "CY: low value, fluctuating", "abc = C and xyz = Y";
    "abc-xyz-cz", "CZ: low value, irregular", "abc = C and xyz = Z";
    "type-pillar", "Pillars", "types contains pillar";
    "type-prospect", "Prospects", "types contains prospect";
    "type-image-maker", "Image makers", "types contains image_maker";
    "type-expert", "Experts", "types contains expert";
    "lost", "Lost accounts", "lost = true";
}

/// Creates the built-in segments that are missing (their rules are fixed in code).
pub async fn ensure_builtins(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), DbErr> {
    let existing: HashSet<String> = segment::Entity::find()
        .filter(segment::Column::Builtin.eq(true))
        .select_only()
        .column(segment::Column::Key)
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    for b in BUILTINS.iter().filter(|b| !existing.contains(b.key)) {
        let rule = Rule::parse_text(b.rule).map_err(|e| DbErr::Custom(e.to_string()))?;
        let model = segment::ActiveModel {
            key: Set(b.key.into()),
            name: Set(b.name.into()),
            description: Set(Some(format!("Built-in: {}", b.rule))),
            rule: Set(rule.to_json()),
            builtin: Set(true),
            member_count: Set(0),
            computed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        // A concurrent start-up may have created it meanwhile; that is fine.
        if let Err(e) = model.insert(db).await
            && !matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            )
        {
            return Err(e);
        }
    }
    Ok(())
}
