//! The canonical form of a task file: `{"tasks": [...]}` with every default filled in and
//! durations in seconds. Two files that mean the same run have the same canonical form, so the
//! ledger can store it and refuse a resume with a changed task (see [`super::diff_task_files`]).

use super::spec::{TaskFile, TaskSpec};
use serde::Serialize;
use serde_json::Value;

/// Serialised shape of the canonical form (always the several-tasks layout).
#[derive(Serialize)]
struct CanonicalFile<'a> {
    tasks: &'a [TaskSpec],
}

impl TaskFile {
    /// The normalised JSON of all tasks: defaults filled, durations in seconds, unset optional
    /// values as `null`. Object keys are sorted, so `to_string()` is stable for hashing; the
    /// result is itself a valid task file that parses back to the same tasks. The file path is
    /// not part of it (moving a file does not change the run).
    pub fn canonical_json(&self) -> Value {
        serde_json::to_value(CanonicalFile { tasks: &self.tasks })
            .expect("task specs hold only strings, integers, booleans and finite numbers")
    }
}
