//! Planning a validated task file: its tasks as one [`Plan`].

use super::spec::TaskFile;
use crate::plan::{Plan, PlanError};

impl TaskFile {
    /// Plans every task of this file (validation has already checked names and upstreams).
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let index_of = |name: &str| {
            self.tasks
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| PlanError::NoSuchTask(name.to_string()))
        };
        let mut upstream = Vec::with_capacity(self.tasks.len());
        for task in &self.tasks {
            let ups: Result<Vec<usize>, PlanError> =
                task.upstream_tasks.iter().map(|u| index_of(u)).collect();
            upstream.push(ups?);
        }
        let specs = self
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.blockwise_spec()))
            .collect();
        Plan::new(specs, upstream)
    }
}
