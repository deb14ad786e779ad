//! Building a [`Plan`] from a validated task file.

use super::error::PlanError;
use super::multi::Plan;
use crate::task::TaskFile;

impl Plan {
    /// Plans every task of `file` (validation has already checked names and upstreams).
    pub fn from_task_file(file: &TaskFile) -> Result<Plan, PlanError> {
        let index_of = |name: &str| {
            file.tasks
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| PlanError::NoSuchTask(name.to_string()))
        };
        let mut upstream = Vec::with_capacity(file.tasks.len());
        for task in &file.tasks {
            let ups: Result<Vec<usize>, PlanError> =
                task.upstream_tasks.iter().map(|u| index_of(u)).collect();
            upstream.push(ups?);
        }
        let specs = file
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.blockwise_spec()))
            .collect();
        Plan::new(specs, upstream)
    }
}
