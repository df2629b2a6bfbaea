//! Segments and rules as users give them, before they are checked, and the checks that turn
//! them into what the service stores. Plain logic: every problem is collected with its field
//! path, so a request learns all of them at once.

use crate::domain::validation::{FieldError, FieldErrors};
use crate::segments::rules::fields::Scope;
use crate::segments::rules::{ACCOUNT_SCOPES, Rule, rule_problem};

/// Most accounts a preview lists.
pub const MAX_SAMPLE: u32 = 200;
/// Accounts a preview lists when the request does not say.
pub const DEFAULT_SAMPLE: u32 = 20;

/// A rule given either as the JSON tree (`rule`) or as text (`rule_text`), unchecked.
#[derive(Debug, Default, Clone)]
pub struct RuleDraft {
    pub rule: Option<serde_json::Value>,
    pub rule_text: Option<String>,
}

impl RuleDraft {
    /// The checked rule, or `None` with the problem recorded (`required`: one must be given).
    pub fn parse(
        &self,
        required: bool,
        scopes: &[Scope],
        errors: &mut FieldErrors,
    ) -> Option<Rule> {
        match (&self.rule, &self.rule_text) {
            (Some(_), Some(_)) => {
                errors.push("rule_text", "give either `rule` or `rule_text`, not both");
                None
            }
            (Some(json), None) => Rule::from_json_for(json, scopes)
                .map_err(|e| {
                    let (path, message) = rule_problem(e, "rule", "rule_text");
                    errors.push(&path, message);
                })
                .ok(),
            (None, Some(text)) => Rule::parse_text_for(text, scopes)
                .map_err(|e| {
                    let (path, message) = rule_problem(e, "rule", "rule_text");
                    errors.push(&path, message);
                })
                .ok(),
            (None, None) => {
                if required {
                    errors.push("rule", "is required (or give `rule_text`)");
                }
                None
            }
        }
    }

    /// The rule, which must be given and may use the fields of `scopes`.
    pub fn check(&self, scopes: &[Scope]) -> Result<Rule, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let rule = self.parse(true, scopes, &mut errors);
        done(errors)?;
        rule.ok_or_else(rule_required)
    }

    /// The rule of a preview over accounts and how many matching accounts to list.
    pub fn check_preview(
        &self,
        sample_size: Option<u32>,
    ) -> Result<(Rule, usize), Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let rule = self.parse(true, ACCOUNT_SCOPES, &mut errors);
        let size = sample_size.unwrap_or(DEFAULT_SAMPLE);
        if size > MAX_SAMPLE {
            errors.push("sample_size", format!("must be at most {MAX_SAMPLE}"));
        }
        done(errors)?;
        Ok((rule.ok_or_else(rule_required)?, size as usize))
    }
}

/// A segment as given by a user: every field may be missing.
#[derive(Debug, Default, Clone)]
pub struct SegmentDraft {
    /// Lowercase letters, digits and `-`; derived from the name when omitted on create.
    pub key: Option<String>,
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub rule: RuleDraft,
}

/// A checked segment to create.
#[derive(Debug, Clone)]
pub struct NewSegment {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub rule: Rule,
}

/// Checked changes to a segment; `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct SegmentPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub rule: Option<Rule>,
}

impl SegmentDraft {
    /// A new segment: a name and a rule over accounts are required; the key is derived from
    /// the name when not given.
    pub fn for_create(self) -> Result<NewSegment, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let name = match self.name.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push("name", "is required");
                None
            }
            Some(n) if n.chars().count() > 200 => {
                errors.push("name", "must be at most 200 characters");
                None
            }
            Some(n) => errors
                .check("name", crate::domain::one_line(n))
                .map(|()| n.to_string()),
        };
        if let Some(Some(d)) = &self.description {
            errors.check("description", crate::domain::multi_line(d));
        }
        let key = self
            .key
            .clone()
            .or_else(|| name.as_deref().map(slug))
            .unwrap_or_default();
        if self.key.is_none() && name.is_some() && key.is_empty() {
            errors.push(
                "key",
                "is required: the name has no letters or digits to derive it from",
            );
        } else if (name.is_some() || self.key.is_some())
            && let Err(m) = crate::domain::check_slug(&key)
        {
            errors.push("key", m);
        }
        let rule = self.rule.parse(true, ACCOUNT_SCOPES, &mut errors);
        done(errors)?;
        let (Some(name), Some(rule)) = (name, rule) else {
            return Err(rule_required());
        };
        Ok(NewSegment {
            key,
            name,
            description: self.description.flatten(),
            rule,
        })
    }

    /// Changes to the segment `key`: its key cannot change, and a new rule reads accounts.
    pub fn for_update(self, key: &str) -> Result<SegmentPatch, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        if self.key.as_deref().is_some_and(|k| k != key) {
            errors.push("key", "cannot be changed");
        }
        let name = self.name.as_deref().map(str::trim).map(String::from);
        if let Some(n) = name.as_deref() {
            if n.is_empty() || n.chars().count() > 200 {
                errors.push("name", "must be 1 to 200 characters");
            } else {
                errors.check("name", crate::domain::one_line(n));
            }
        }
        if let Some(Some(d)) = &self.description {
            errors.check("description", crate::domain::multi_line(d));
        }
        let rule = self.rule.parse(false, ACCOUNT_SCOPES, &mut errors);
        done(errors)?;
        Ok(SegmentPatch {
            name,
            description: self.description,
            rule,
        })
    }
}

/// `Ok` when nothing was collected, else every collected problem.
fn done(errors: FieldErrors) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.errors)
    }
}

fn rule_required() -> Vec<FieldError> {
    vec![FieldError::new("/rule", "is required")]
}

/// A URL key from a name: accents dropped (`Khách hàng lớn` → `khach-hang-lon`), other
/// characters folded to `-`.
pub fn slug(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::new();
    for c in name.trim().nfd() {
        let c = match c {
            'đ' | 'Đ' => 'd',
            c if unicode_normalization::char::is_combining_mark(c) => continue,
            c => c.to_ascii_lowercase(),
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_from_vietnamese_names_drop_the_accents() {
        assert_eq!(super::slug("Khách hàng lớn"), "khach-hang-lon");
        assert_eq!(super::slug("Đại lý  miền Bắc!"), "dai-ly-mien-bac");
        assert_eq!(super::slug("★★★"), "");
    }
}
