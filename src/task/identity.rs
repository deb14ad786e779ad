//! What defines a run's blocks, as opposed to how they are run. A ledger's block ids, their
//! ROIs and their dependencies follow from the task names and order and from the fields in
//! [`BLOCK_FIELDS`]; everything else (workers, retries, timeouts, scheduler sections,
//! environment, the worker, check and init commands) is operational and may change when a run
//! is resumed.

use serde_json::Value;

/// The fields of a task that define its blocks and their dependencies.
pub const BLOCK_FIELDS: [&str; 7] = [
    "name",
    "total_roi",
    "read_roi",
    "write_roi",
    "fit",
    "read_write_conflict",
    "upstream_tasks",
];

/// True when two canonical task files (see [`super::TaskFile::canonical_json`]) define the
/// same tasks, in the same order, with the same blocks: a ledger of one can be resumed with
/// the other.
pub fn same_blocks(old: &Value, new: &Value) -> bool {
    let (Some(old_tasks), Some(new_tasks)) = (tasks(old), tasks(new)) else {
        return false;
    };
    let other_keys_equal = |a: &Value, b: &Value| {
        let keys = |v: &Value| {
            v.as_object().map(|o| {
                o.keys()
                    .filter(|k| *k != "tasks")
                    .cloned()
                    .collect::<Vec<_>>()
            })
        };
        keys(a) == keys(b)
            && keys(a)
                .unwrap_or_default()
                .iter()
                .all(|k| a.get(k) == b.get(k))
    };
    old_tasks.len() == new_tasks.len()
        && other_keys_equal(old, new)
        && old_tasks
            .iter()
            .zip(new_tasks)
            .all(|(a, b)| BLOCK_FIELDS.iter().all(|f| a.get(f) == b.get(f)))
}

fn tasks(file: &Value) -> Option<&Vec<Value>> {
    file.get("tasks")?.as_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(write_shape: i64, workers: u32, command: &str) -> Value {
        json!({"tasks": [{
            "name": "a", "total_roi": {"offset": [0], "shape": [100]},
            "read_roi": {"offset": [0], "shape": [10]},
            "write_roi": {"offset": [0], "shape": [write_shape]},
            "fit": "valid", "read_write_conflict": true, "upstream_tasks": [],
            "num_workers": workers, "worker": {"command": [command]},
        }]})
    }

    #[test]
    fn operational_changes_keep_the_blocks_and_block_changes_do_not() {
        assert!(same_blocks(&file(10, 2, "a"), &file(10, 8, "b")));
        assert!(!same_blocks(&file(10, 2, "a"), &file(5, 2, "a")));
        let mut renamed = file(10, 2, "a");
        renamed["tasks"][0]["name"] = json!("b");
        assert!(!same_blocks(&file(10, 2, "a"), &renamed));
        let mut two = file(10, 2, "a");
        two["tasks"]
            .as_array_mut()
            .unwrap()
            .push(file(10, 2, "a")["tasks"][0].clone());
        assert!(!same_blocks(&file(10, 2, "a"), &two));
        assert!(!same_blocks(&json!({}), &file(10, 2, "a")));
        // The job's set-up, container and throttle are operational too.
        let mut set_up = file(10, 2, "a");
        set_up["tasks"][0]["slurm"] = json!({
            "setup": ["module load cuda"], "container_prefix": ["apptainer", "exec", "i.sif"],
            "max_running": 4, "requeue": true, "orchestrator": {"time": "1-00"},
        });
        set_up["tasks"][0]["lsf"] = json!({"setup": ["conda activate x"]});
        assert!(same_blocks(&file(10, 2, "a"), &set_up));
    }
}
