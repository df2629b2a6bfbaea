//! The names of the shipped jobs, as the API, the CLI and the config use them. They live apart
//! from the registry (`builtin`), so the parts whose work the jobs run can name a job without
//! depending on the registry that depends on them.

pub const ANALYSIS: &str = "analysis";
pub const SEGMENTS_RECOMPUTE: &str = "segments_recompute";
pub const IDEMPOTENCY_PURGE: &str = "idempotency_purge";
pub const CAMPAIGNS_TICK: &str = "campaigns_tick";
pub const DELIVERY_SEND: &str = "delivery_send";
