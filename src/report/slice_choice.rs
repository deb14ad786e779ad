//! Which 2-D slice of a task's block grid the report's map shows: the one with the most
//! failed blocks, else the one with the most running blocks, else the middle one (as
//! `status --map`). Only blocks the ledger has a record of are looked at.

use std::collections::HashMap;

use crate::ledger::BlockState;
use crate::status::{LedgerSnapshot, SliceRequest};

/// The slice of task `task` to draw.
pub fn slice_for(snapshot: &LedgerSnapshot, task: usize) -> SliceRequest {
    let tp = snapshot.plan().task(task);
    let dims = tp.dims();
    if dims < 3 {
        return SliceRequest::default();
    }
    let fixed = dims - 2;
    let origin = tp.grid_origin();
    let Some(ts) = snapshot.view().loaded.state.task(task as u32) else {
        return SliceRequest::default();
    };
    for wanted in [BlockState::Failed, BlockState::Assigned] {
        let mut per_slice: HashMap<Vec<i64>, u64> = HashMap::new();
        for (id, entry) in ts.blocks() {
            if entry.state() != wanted {
                continue;
            }
            if let Some(block) = tp.block_by_id(id) {
                let key = (0..fixed)
                    .map(|a| block.coords[a] - origin[a])
                    .collect::<Vec<_>>();
                *per_slice.entry(key).or_default() += 1;
            }
        }
        // Most blocks first; among equals the lowest index, so the choice is stable.
        if let Some((key, _)) = per_slice
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        {
            return SliceRequest {
                axes: (0..fixed).collect(),
                indexes: key,
            };
        }
    }
    SliceRequest::default()
}
