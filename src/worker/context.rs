//! The task an agent serves, loaded from the ledger header: its spec, its block grid (to turn
//! an assigned block id into ROIs) and the directory its programs run in.

use super::error::WorkerError;
use super::wire::BlockMessage;
use crate::ledger::Ledger;
use crate::plan::TaskPlan;
use crate::task::{parse_task_file, TaskSpec};
use std::path::PathBuf;

/// The served task.
#[derive(Clone, Debug)]
pub struct TaskContext {
    /// Index of the task in the ledger header (the `task` of records).
    pub index: u32,
    /// The task's specification.
    pub spec: TaskSpec,
    /// Its block grid.
    pub plan: TaskPlan,
    /// Working directory of its programs.
    pub workdir: PathBuf,
}

impl TaskContext {
    /// Finds task `name` in the canonical task file stored in `ledger`.
    pub fn load(ledger: &Ledger, name: &str, workdir: PathBuf) -> Result<Self, WorkerError> {
        let root = ledger.root().to_path_buf();
        // The definition in force (a resume may have changed what is operational); its blocks
        // must be the ledger's.
        let tasks = ledger
            .tasks_in_force()
            .map_err(|source| WorkerError::Ledger {
                root: root.clone(),
                source,
            })?;
        if !crate::task::same_blocks(&ledger.header().tasks, &tasks) {
            return Err(WorkerError::DefinitionChangesBlocks { root });
        }
        let text = tasks.to_string();
        let file = parse_task_file("ledger.json", &text).map_err(|e| WorkerError::TaskFile {
            root: root.clone(),
            source: Box::new(e),
        })?;
        let Some(index) = file.tasks.iter().position(|t| t.name == name) else {
            let known: Vec<&str> = file.tasks.iter().map(|t| t.name.as_str()).collect();
            return Err(WorkerError::NoSuchTask {
                root,
                name: name.to_owned(),
                known: known.join(", "),
            });
        };
        let spec = file.tasks[index].clone();
        let plan = TaskPlan::new(&spec.blockwise_spec()).map_err(|source| WorkerError::Plan {
            task: name.to_owned(),
            source,
        })?;
        Ok(Self {
            index: index as u32,
            spec,
            plan,
            workdir,
        })
    }

    /// What the program is given for block `block` of task `task`; an error names what is
    /// wrong with the assignment.
    pub fn block_message(
        &self,
        task: u32,
        block: u64,
        attempt: u32,
    ) -> Result<BlockMessage, String> {
        if task != self.index {
            return Err(format!(
                "this worker serves task {:?} (index {}), not task index {task}",
                self.spec.name, self.index
            ));
        }
        let Some(b) = self.plan.block_by_id(block) else {
            return Err(format!(
                "block {block} is not a block of task {:?}",
                self.spec.name
            ));
        };
        Ok(BlockMessage {
            task: self.spec.name.clone(),
            block_id: block,
            attempt,
            read_roi: b.read_roi,
            write_roi: b.write_roi,
            total_roi: self.spec.total_roi,
        })
    }
}
