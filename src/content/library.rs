//! The template library a process renders with: the shipped templates (read once at start-up)
//! plus the newest version of every API template, compiled together and rebuilt only when the
//! API templates change. One [`Cache`] lives in the [`AppContext`](crate::context::AppContext)
//! and is shared by handlers, CLI commands and campaign steps.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::render::Library;
use super::{Loaded, Origin, Template, load_dir};
use crate::entities::{template, template_version};
use crate::segments::rules::Rule;

/// Most stored versions read by one query when the library is rebuilt.
const VERSIONS_PER_QUERY: usize = 500;

/// The API templates' (id, version, last change) list a library was built for, and the
/// library. The change time tells a re-created template (version 1 again) from the old one.
type Built = (Vec<(String, i32, DateTime<Utc>)>, Arc<Library>);

/// The compiled library: shipped templates (read at start-up) plus the latest version of every
/// API template, rebuilt when those change.
pub struct Cache {
    files: Loaded,
    built: RwLock<Option<Built>>,
}

impl Cache {
    /// Reads the templates folder; broken templates are logged and left out.
    pub fn new(dir: &std::path::Path) -> Self {
        let files = load_dir(dir);
        for p in &files.problems {
            tracing::warn!(problem = %p, "template left out (run `abm templates lint`)");
        }
        Self {
            files,
            built: RwLock::new(None),
        }
    }

    /// A shipped template with this id (also when its files are broken: the id is taken).
    pub fn file_template(&self, id: &str) -> Option<&Template> {
        self.files
            .templates
            .iter()
            .chain(&self.files.broken)
            .find(|t| t.id == id)
    }

    /// The shipped partials (name → file, source) every template may include.
    pub fn partials(&self) -> &BTreeMap<String, (String, String)> {
        &self.files.partials
    }

    /// The library for the current database templates: one query when nothing changed, one
    /// more per 500 API templates when it is rebuilt.
    pub async fn library(&self, db: &impl ConnectionTrait) -> Result<Arc<Library>, DbErr> {
        let key: Vec<(String, i32, DateTime<Utc>)> = template::Entity::find()
            .select_only()
            .columns([
                template::Column::Id,
                template::Column::Version,
                template::Column::UpdatedAt,
            ])
            .order_by_asc(template::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        if let Ok(guard) = self.built.read()
            && let Some((k, lib)) = guard.as_ref()
            && *k == key
        {
            return Ok(lib.clone());
        }
        let mut templates = self.files.templates.clone();
        for chunk in key.chunks(VERSIONS_PER_QUERY) {
            let wanted = chunk.iter().fold(Condition::any(), |c, (id, version, _)| {
                c.add(
                    Condition::all()
                        .add(template_version::Column::TemplateId.eq(id.as_str()))
                        .add(template_version::Column::Version.eq(*version)),
                )
            });
            let rows = template_version::Entity::find()
                .filter(wanted)
                .order_by_asc(template_version::Column::TemplateId)
                .all(db)
                .await?;
            for v in rows {
                match from_version(&v) {
                    Some(t) => templates.push(t),
                    None => {
                        tracing::warn!(template = %v.template_id, "stored template version is unreadable")
                    }
                }
            }
        }
        let (lib, problems) = Library::build(templates, &self.files.partials);
        for p in problems {
            tracing::warn!(problem = %p, "template left out");
        }
        let lib = Arc::new(lib);
        if let Ok(mut guard) = self.built.write() {
            *guard = Some((key, lib.clone()));
        }
        Ok(lib)
    }
}

/// A stored version as a template (`None` when the row cannot be read back).
pub(crate) fn from_version(v: &template_version::Model) -> Option<Template> {
    let parts = v
        .parts
        .as_object()?
        .iter()
        .map(|(k, s)| s.as_str().map(|s| (k.clone(), s.to_string())))
        .collect::<Option<BTreeMap<_, _>>>()?;
    Some(Template {
        id: v.template_id.clone(),
        purpose: super::Purpose::parse(&v.purpose)?,
        channel: super::Channel::parse(&v.channel)?,
        locale: v.locale.clone(),
        priority: v.priority,
        when: Rule::from_json(&v.when_rule).ok()?,
        description: v.description.clone(),
        parts,
        origin: Origin::Database { version: v.version },
    })
}
