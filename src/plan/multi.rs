//! Several tasks together: cross-task (upstream) dependencies on top of each task's grid.

use super::error::PlanError;
use super::task_plan::{Block, BlockwiseSpec, TaskPlan};
use crate::geometry::{Coordinate, Roi};

/// A block of some task of a [`Plan`], by task index and daisy block id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// Index of the task in the plan.
    pub task: usize,
    /// daisy block id within that task.
    pub block_id: u64,
}

/// All tasks of a task file, with their upstream/downstream relations.
#[derive(Clone, Debug)]
pub struct Plan {
    names: Vec<String>,
    tasks: Vec<TaskPlan>,
    upstream: Vec<Vec<usize>>,
    downstream: Vec<Vec<usize>>,
}

impl Plan {
    /// Plans every task; `upstream[i]` holds the indexes of task `i`'s upstream tasks.
    pub fn new(
        named_specs: Vec<(String, BlockwiseSpec)>,
        upstream: Vec<Vec<usize>>,
    ) -> Result<Plan, PlanError> {
        let mut names = Vec::new();
        let mut tasks = Vec::new();
        for (name, spec) in named_specs {
            tasks.push(TaskPlan::new(&spec)?);
            names.push(name);
        }
        let mut downstream = vec![Vec::new(); tasks.len()];
        for (down, ups) in upstream.iter().enumerate() {
            for &up in ups {
                downstream[up].push(down);
            }
        }
        Ok(Plan {
            names,
            tasks,
            upstream,
            downstream,
        })
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True for a plan without tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The grid of task `index`.
    pub fn task(&self, index: usize) -> &TaskPlan {
        &self.tasks[index]
    }

    /// The name of task `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// Index of the task called `name`.
    pub fn index_of(&self, name: &str) -> Result<usize, PlanError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| PlanError::NoSuchTask(name.to_string()))
    }

    /// Indexes of the upstream tasks of task `index`.
    pub fn upstream_of(&self, index: usize) -> &[usize] {
        &self.upstream[index]
    }

    /// Indexes of the tasks that name task `index` as upstream.
    pub fn downstream_of(&self, index: usize) -> &[usize] {
        &self.downstream[index]
    }

    /// Calls `f(task, block)` for everything `block` of task `task` must wait for: conflicting
    /// blocks of a lower level and upstream blocks whose write ROI meets its read ROI.
    pub fn for_each_dependency(&self, task: usize, block: &Block, mut f: impl FnMut(usize, Block)) {
        self.tasks[task].for_each_conflict(block, true, |b| f(task, b));
        for &up in &self.upstream[task] {
            let plan = &self.tasks[up];
            let candidates = plan
                .candidates_meeting(&block.read_roi, TaskPlan::write_lattice)
                .clipped_to(plan);
            for coords in candidates.iter() {
                let other = plan.block_at(coords);
                if other.write_roi.intersects(&block.read_roi) {
                    f(up, other);
                }
            }
        }
    }

    /// Calls `f(task, block)` for every block that waits for `block` of task `task`.
    pub fn for_each_dependent(&self, task: usize, block: &Block, mut f: impl FnMut(usize, Block)) {
        self.tasks[task].for_each_conflict(block, false, |b| f(task, b));
        for &down in &self.downstream[task] {
            let plan = &self.tasks[down];
            let candidates = plan
                .candidates_meeting(&block.write_roi, TaskPlan::read_lattice)
                .clipped_to(plan);
            for coords in candidates.iter() {
                let other = plan.block_at(coords);
                if other.read_roi.intersects(&block.write_roi) {
                    f(down, other);
                }
            }
        }
    }

    /// Everything `block` of task `task` depends on, sorted.
    pub fn dependencies(&self, task: usize, block: &Block) -> Vec<BlockRef> {
        let mut out = Vec::new();
        self.for_each_dependency(task, block, |t, b| {
            out.push(BlockRef {
                task: t,
                block_id: b.id,
            })
        });
        out.sort();
        out
    }
}

/// The region all blocks of `plan` write together (their write ROIs tile a box).
fn union_of_writes(plan: &TaskPlan) -> Roi {
    let dims = plan.dims();
    let mut begin = Coordinate::splat(0, dims);
    let mut end = Coordinate::splat(0, dims);
    for d in 0..dims {
        let lattice = plan.write_lattice(d);
        begin[d] = lattice.base;
        end[d] = lattice.base + lattice.step * lattice.count;
    }
    let union = Roi::from_bounds(begin, end);
    match plan.spec().fit {
        super::Fit::Shrink => union.intersect(&plan.total_write_roi()),
        _ => union,
    }
}

/// An example block of `downstream` whose read ROI meets no write ROI of `upstream` (such a
/// block would wait forever), or `None` when every downstream block reads upstream output.
pub fn blocks_reading_nothing(upstream: &TaskPlan, downstream: &TaskPlan) -> Option<Block> {
    if downstream.num_blocks() == 0 {
        return None;
    }
    let written = union_of_writes(upstream);
    let origin = downstream.grid_origin();
    let first = downstream.block_at(origin);
    if upstream.num_blocks() == 0 {
        return Some(first);
    }
    let counts = downstream.grid_shape();
    // Read intervals grow monotonically along each axis, so only the first and the last block
    // of an axis can miss the (box-shaped) written region along that axis.
    for d in 0..downstream.dims() {
        for k in [0, counts[d] - 1] {
            let mut coords = origin;
            coords[d] += k;
            let block = downstream.block_at(coords);
            let (read, wr) = (block.read_roi, written);
            let meets = read.begin()[d].max(wr.begin()[d]) < read.end()[d].min(wr.end()[d]);
            if !meets {
                return Some(block);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Fit;
    use proptest::prelude::*;

    fn c(v: &[i64]) -> Coordinate {
        Coordinate::new(v)
    }

    fn chain(up_total: i64, down_offset: i64, down_total: i64, fit: Fit) -> Plan {
        let up = BlockwiseSpec {
            total_roi: Roi::new(c(&[0, 0]), c(&[up_total, up_total])),
            read_roi: Roi::new(c(&[0, 0]), c(&[12, 12])),
            write_roi: Roi::new(c(&[2, 2]), c(&[8, 8])),
            fit,
            read_write_conflict: true,
        };
        let down = BlockwiseSpec {
            total_roi: Roi::new(c(&[down_offset, down_offset]), c(&[down_total, down_total])),
            read_roi: Roi::new(c(&[0, 0]), c(&[7, 7])),
            write_roi: Roi::new(c(&[1, 1]), c(&[5, 5])),
            fit,
            read_write_conflict: false,
        };
        Plan::new(
            vec![("up".into(), up), ("down".into(), down)],
            vec![vec![], vec![0]],
        )
        .unwrap()
    }

    proptest! {
        /// Upstream dependencies and downstream dependents are exact mirror images and equal
        /// the brute-force intersection test.
        #[test]
        fn upstream_edges_match_brute_force(up_total in 12i64..60, off in -5i64..20,
                                            down_total in 7i64..50,
                                            fit in prop_oneof![Just(Fit::Valid), Just(Fit::Overhang), Just(Fit::Shrink)]) {
            let plan = chain(up_total, off, down_total, fit);
            let ups: Vec<_> = plan.task(0).blocks().collect();
            for down in plan.task(1).blocks() {
                let mut got = Vec::new();
                plan.for_each_dependency(1, &down, |t, b| { assert_eq!(t, 0); got.push(b.id) });
                got.sort();
                let mut want: Vec<u64> = ups.iter().filter(|u| u.write_roi.intersects(&down.read_roi)).map(|u| u.id).collect();
                want.sort();
                prop_assert_eq!(&got, &want);
            }
            for up in &ups {
                let mut got = Vec::new();
                plan.for_each_dependent(0, up, |t, b| if t == 1 { got.push(b.id) });
                got.sort();
                let mut want: Vec<u64> = plan.task(1).blocks().filter(|d| d.read_roi.intersects(&up.write_roi)).map(|d| d.id).collect();
                want.sort();
                prop_assert_eq!(got, want);
            }
            // blocks_reading_nothing agrees with brute force
            let starving = plan.task(1).blocks().any(|d| !ups.iter().any(|u| u.write_roi.intersects(&d.read_roi)));
            prop_assert_eq!(blocks_reading_nothing(plan.task(0), plan.task(1)).is_some(), starving);
        }
    }
}
