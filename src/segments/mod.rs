//! Segments: saved rules over accounts. Membership is recomputed after every analysis run and
//! on demand; each stay in a segment is kept with its entered/left times, and every change
//! writes an `entered` or `left` event for campaigns to trigger on. Built-in segments (the
//! nine ABC-XYZ cells, each account type, and "lost") exist in every database and are
//! read-only.
//!
//! Inside: the rule language ([`rules`]) and the checks of user input ([`draft`]) are plain
//! logic; [`facts`] reads what rules look at, [`membership`] recomputes and records stays,
//! [`builtins`] keeps the fixed segments, [`service`] is what the routes and the CLI call, and
//! [`routes`] alone maps a [`SegmentsError`] to HTTP.

pub mod builtins;
pub mod draft;
pub mod error;
pub mod facts;
pub mod membership;
pub mod routes;
pub mod rules;
pub mod service;

pub use builtins::{BUILTINS, Builtin, ensure_builtins};
pub use error::SegmentsError;
pub use membership::{
    SLICE, SegmentChange, open_count, recompute_held, recompute_now, recompute_or_queue,
};
