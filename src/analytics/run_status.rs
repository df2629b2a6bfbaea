//! Where an analysis run is in its life. The database column holds the text of
//! [`RunStatus::as_str`]; the API shows the same words.

use serde::Serialize;

/// The status of an analysis run. A run is inserted `running` and ends `succeeded` (its
/// snapshots and events are stored) or `failed` (nothing stored, `error` says why). Its
/// OpenAPI schema is `AnalysisRunStatus`: `RunStatus` there names the job runs' statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AnalysisRunStatus)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    /// The stored and wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// The status stored in a row; unknown text (a newer version's) reads as failed, so it is
    /// never taken for a run whose results can be shown.
    pub fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            _ => RunStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus;

    #[test]
    fn every_status_reads_back_as_itself_and_matches_its_wire_text() {
        for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed] {
            assert_eq!(RunStatus::parse(s.as_str()), s);
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert_eq!(RunStatus::parse("queued"), RunStatus::Failed);
    }
}
