//! Input value types shared by the API and the import paths: money amounts as JSON strings or
//! numbers, and the PATCH helpers that tell an absent field from `null`.

use serde::Deserialize;

/// A money amount in major units, given as a JSON string ("1234.50") or number (1234.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountInput(pub String);

impl<'de> Deserialize<'de> for AmountInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(AmountInput(s)),
            serde_json::Value::Number(n) => Ok(AmountInput(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a decimal amount as string or number, found {other}"
            ))),
        }
    }
}

/// Deserializes a field that distinguishes "absent" (None) from "null" (Some(None)),
/// so PATCH can clear a value.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Deserializes an optional field that may be absent but must not be `null` (a PATCH cannot
/// clear a required field): `null` is a type error with the field's path.
pub fn non_null<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}
