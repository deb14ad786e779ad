//! Checks that need the block planner: every task has at least one block, block ids fit in 64
//! bits, and every block of a downstream task reads something its upstream tasks write
//! (otherwise it would wait forever). Runs only on geometrically valid tasks.

use super::error::{Found, Invalid, Problem};
use super::path::FieldPath;
use super::spec::TaskSpec;
use crate::plan::{blocks_reading_nothing, Fit, TaskPlan};

/// Plans every task and checks each `upstream_tasks` edge.
pub(crate) fn check_plans(tasks: &[TaskSpec], task_path: &dyn Fn(usize) -> FieldPath) -> Found<()> {
    let mut plans = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let plan = TaskPlan::new(&task.blockwise_spec())
            .map_err(|e| Invalid::new(task_path(i).key("write_roi"), e))?;
        if plan.num_blocks() == 0 {
            return Err(Invalid::new(
                task_path(i).key("total_roi"),
                zero_blocks(task),
            ));
        }
        plans.push(plan);
    }
    for (i, task) in tasks.iter().enumerate() {
        for (j, name) in task.upstream_tasks.iter().enumerate() {
            let Some(u) = tasks.iter().position(|t| &t.name == name) else {
                continue; // reported by the graph check, which runs first
            };
            if let Some(block) = blocks_reading_nothing(&plans[u], &plans[i]) {
                return Err(Invalid::new(
                    task_path(i).key("upstream_tasks").index(j),
                    Problem::ReadsNothing {
                        upstream: name.clone(),
                        block_id: block.id,
                        read_roi: Box::new(block.read_roi),
                    },
                ));
            }
        }
    }
    Ok(())
}

/// Explains a zero-block task by the first axis along which no block fits.
fn zero_blocks(task: &TaskSpec) -> Problem {
    let (total, read, write) = (
        task.total_roi.shape,
        task.read_roi.shape,
        task.write_roi.shape,
    );
    let axis = (0..task.dims())
        .find(|&d| match task.fit {
            Fit::Valid => total[d] < read[d],
            _ => total[d] <= read[d] - write[d],
        })
        .unwrap_or(0);
    Problem::ZeroBlocks {
        axis,
        total: total[axis],
        read: read[axis],
        write: write[axis],
        fit: task.fit,
    }
}
