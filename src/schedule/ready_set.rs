//! The ready set over all tasks of a plan: one byte of phase per block, FIFO queues of ready
//! blocks, and release of dependents computed arithmetically from the plan.

use super::phase::{BlockPhase, PhaseCounts};
use crate::geometry::Coordinate;
use crate::plan::{Block, Plan};
use std::collections::VecDeque;
use std::sync::Arc;

/// What the ledger already knows about a block when a run (re)starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Processed successfully earlier.
    Done,
    /// Skipped by the check command earlier.
    Skipped,
    /// Failed permanently in this run's retry budget.
    Failed,
    /// Handed out and not yet reconciled (in flight at a crash, or adopted).
    Running,
}

/// Phases and ready queues of every block of a plan.
pub struct ReadySet {
    plan: Arc<Plan>,
    phases: Vec<Vec<u8>>,
    /// Per waiting block, how many of its dependencies are not finished yet (so releasing
    /// dependents is a decrement, not a recomputation of their dependencies).
    remaining: Vec<Vec<u32>>,
    ready: Vec<VecDeque<u64>>,
    counts: Vec<PhaseCounts>,
}

/// Phase byte of a block not classified yet (only during construction).
const UNSET: u8 = u8::MAX;

impl ReadySet {
    /// Classifies every block: what `known` says, else ready if all its dependencies are done
    /// or skipped, orphaned if one is failed or orphaned, waiting otherwise.
    pub fn new(plan: Arc<Plan>, known: impl Fn(usize, u64) -> Option<Known>) -> ReadySet {
        let mut set = ReadySet::unset(plan);
        let plan = Arc::clone(&set.plan);
        for task in 0..plan.len() {
            for (i, block) in plan.task(task).blocks().enumerate() {
                if let Some(k) = known(task, block.id) {
                    set.phases[task][i] = phase_of(k) as u8;
                }
            }
        }
        set.classify_unset();
        set
    }

    /// Like [`new`](Self::new), from a list of what the ledger knows (`(task, block id,
    /// known)`); cheaper when most blocks are known, e.g. when resuming a finished run.
    pub fn from_known(
        plan: Arc<Plan>,
        known: impl IntoIterator<Item = (usize, u64, Known)>,
    ) -> ReadySet {
        let mut set = ReadySet::unset(plan);
        let plan = Arc::clone(&set.plan);
        for (task, id, k) in known {
            let tp = plan.task(task);
            let coords = crate::plan::cantor_coords(id, tp.dims());
            if tp.contains_coords(&coords) {
                set.phases[task][tp.linear_index(&coords) as usize] = phase_of(k) as u8;
            }
        }
        set.classify_unset();
        set
    }

    fn unset(plan: Arc<Plan>) -> ReadySet {
        let n = plan.len();
        ReadySet {
            phases: (0..n)
                .map(|t| vec![UNSET; plan.task(t).num_blocks() as usize])
                .collect(),
            remaining: (0..n)
                .map(|t| vec![0u32; plan.task(t).num_blocks() as usize])
                .collect(),
            ready: vec![VecDeque::new(); n],
            counts: vec![PhaseCounts::default(); n],
            plan,
        }
    }

    /// Classifies every block still `UNSET` in dependency order (tasks topologically, blocks
    /// level by level, so dependencies are classified first), then counts phases.
    fn classify_unset(&mut self) {
        let plan = Arc::clone(&self.plan);
        for task in topological_order(&plan) {
            let tp = plan.task(task);
            for coords in blocks_in_level_order(&plan, task) {
                let i = tp.linear_index(&coords) as usize;
                if self.phases[task][i] != UNSET {
                    continue;
                }
                let block = tp.block_at(coords);
                let (phase, unfinished) = self.classify(task, &block);
                self.phases[task][i] = phase as u8;
                self.remaining[task][i] = unfinished;
                if phase == BlockPhase::Ready {
                    self.ready[task].push_back(i as u64);
                }
            }
        }
        for task in 0..plan.len() {
            let mut counts = PhaseCounts {
                total: self.phases[task].len() as u64,
                ..Default::default()
            };
            for &p in &self.phases[task] {
                *counts.slot(BlockPhase::from_u8(p)) += 1;
            }
            self.counts[task] = counts;
        }
    }

    /// The plan this set schedules.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    fn index(&self, task: usize, block: &Block) -> usize {
        self.plan.task(task).linear_index(&block.coords) as usize
    }

    /// The phase of a block.
    pub fn phase(&self, task: usize, block: &Block) -> BlockPhase {
        BlockPhase::from_u8(self.phases[task][self.index(task, block)])
    }

    fn set_phase(&mut self, task: usize, block: &Block, phase: BlockPhase) {
        let i = self.index(task, block);
        let old = BlockPhase::from_u8(self.phases[task][i]);
        *self.counts[task].slot(old) -= 1;
        *self.counts[task].slot(phase) += 1;
        self.phases[task][i] = phase as u8;
    }

    /// What a not-yet-known block's phase is, given its dependencies' phases, and how many
    /// of its dependencies are unfinished.
    fn classify(&self, task: usize, block: &Block) -> (BlockPhase, u32) {
        let mut dead = false;
        let mut unfinished = 0u32;
        self.plan.for_each_dependency(task, block, |t, dep| {
            let p = self.phase(t, &dep);
            if p.is_dead() {
                dead = true;
            } else if !p.is_finished_ok() {
                unfinished += 1;
            }
        });
        let phase = if dead {
            BlockPhase::Orphaned
        } else if unfinished > 0 {
            BlockPhase::Waiting
        } else {
            BlockPhase::Ready
        };
        (phase, unfinished)
    }

    /// Takes the oldest ready block of `task` and marks it running.
    pub fn pop_ready(&mut self, task: usize) -> Option<Block> {
        while let Some(i) = self.ready[task].pop_front() {
            let coords = self.plan.task(task).coords_of_index(i);
            let block = self.plan.task(task).block_at(coords);
            if self.phase(task, &block) == BlockPhase::Ready {
                self.set_phase(task, &block, BlockPhase::Running);
                return Some(block);
            }
        }
        None
    }

    /// Number of ready blocks of `task`.
    pub fn ready_count(&self, task: usize) -> u64 {
        self.counts[task].ready
    }

    /// Puts a running block back at the front of the queue (it was given back, or will be
    /// retried).
    pub fn requeue(&mut self, task: usize, block: &Block) {
        if self.phase(task, block) != BlockPhase::Running {
            return;
        }
        self.set_phase(task, block, BlockPhase::Ready);
        let i = self.plan.task(task).linear_index(&block.coords);
        self.ready[task].push_front(i);
    }

    /// Marks a block done (or skipped) and makes every dependent whose dependencies are now
    /// all finished ready. Returns how many blocks became ready.
    pub fn finish(&mut self, task: usize, block: &Block, skipped: bool) -> usize {
        let phase = self.phase(task, block);
        if phase.is_finished_ok() {
            return 0;
        }
        let new_phase = if skipped {
            BlockPhase::Skipped
        } else {
            BlockPhase::Done
        };
        self.set_phase(task, block, new_phase);
        let plan = Arc::clone(&self.plan);
        let mut released = 0;
        plan.for_each_dependent(task, block, |t, dependent| {
            if self.phase(t, &dependent) != BlockPhase::Waiting {
                return;
            }
            let i = plan.task(t).linear_index(&dependent.coords);
            let left = &mut self.remaining[t][i as usize];
            debug_assert!(*left > 0, "a waiting block counts this dependency");
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.set_phase(t, &dependent, BlockPhase::Ready);
                self.ready[t].push_back(i);
                released += 1;
            }
        });
        released
    }

    /// Marks a block failed for good and orphans everything that (transitively) waits for
    /// it. Returns how many blocks were orphaned.
    pub fn fail(&mut self, task: usize, block: &Block) -> usize {
        if self.phase(task, block).is_finished_ok() {
            return 0;
        }
        self.set_phase(task, block, BlockPhase::Failed);
        let plan = Arc::clone(&self.plan);
        let mut stack = vec![(task, *block)];
        let mut orphaned = 0;
        while let Some((t, b)) = stack.pop() {
            plan.for_each_dependent(t, &b, |dt, dependent| {
                let p = self.phase(dt, &dependent);
                if matches!(p, BlockPhase::Waiting | BlockPhase::Ready) {
                    self.set_phase(dt, &dependent, BlockPhase::Orphaned);
                    orphaned += 1;
                    stack.push((dt, dependent));
                }
            });
        }
        orphaned
    }

    /// Phase counts of `task`.
    pub fn counts(&self, task: usize) -> PhaseCounts {
        self.counts[task]
    }

    /// True when no block of any task is waiting, ready or running.
    pub fn all_settled(&self) -> bool {
        self.counts.iter().all(PhaseCounts::is_settled)
    }

    /// Every block of `task` currently in `phase` (scans the task; for summaries).
    pub fn blocks_in_phase(&self, task: usize, phase: BlockPhase) -> Vec<Block> {
        let plan = self.plan.task(task);
        self.phases[task]
            .iter()
            .enumerate()
            .filter(|(_, &p)| BlockPhase::from_u8(p) == phase)
            .map(|(i, _)| plan.block_at(plan.coords_of_index(i as u64)))
            .collect()
    }
}

fn phase_of(known: Known) -> BlockPhase {
    match known {
        Known::Done => BlockPhase::Done,
        Known::Skipped => BlockPhase::Skipped,
        Known::Failed => BlockPhase::Failed,
        Known::Running => BlockPhase::Running,
    }
}

/// Tasks ordered so that every task comes after its upstream tasks.
fn topological_order(plan: &Plan) -> Vec<usize> {
    let mut order = Vec::with_capacity(plan.len());
    let mut placed = vec![false; plan.len()];
    while order.len() < plan.len() {
        let before = order.len();
        for t in 0..plan.len() {
            if !placed[t] && plan.upstream_of(t).iter().all(|&u| placed[u]) {
                placed[t] = true;
                order.push(t);
            }
        }
        assert!(
            order.len() > before,
            "task dependencies are validated to be acyclic"
        );
    }
    order
}

/// The blocks of `task` level by level, so that a block's conflict dependencies (always in a
/// lower level) come before it.
fn blocks_in_level_order(plan: &Plan, task: usize) -> impl Iterator<Item = Coordinate> + '_ {
    let tp = plan.task(task);
    let moduli = tp.level_moduli();
    let origin = tp.grid_origin();
    let counts = tp.grid_shape();
    let dims = tp.dims();
    let levels = tp.num_levels();
    (0..levels).flat_map(move |level| {
        // Residue of each axis for this level (mixed radix, first axis most significant).
        let mut residues = Coordinate::splat(0, dims);
        let mut rest = level as i64;
        for d in (0..dims).rev() {
            residues[d] = rest % moduli[d];
            rest /= moduli[d];
        }
        let axes: Vec<Vec<i64>> = (0..dims)
            .map(|d| {
                let first = origin[d] + (residues[d] - origin[d]).rem_euclid(moduli[d]);
                (first..origin[d] + counts[d])
                    .step_by(moduli[d] as usize)
                    .collect()
            })
            .collect();
        cartesian(axes)
    })
}

/// Every combination of one value per axis.
fn cartesian(axes: Vec<Vec<i64>>) -> impl Iterator<Item = Coordinate> {
    let dims = axes.len();
    let empty = axes.iter().any(Vec::is_empty);
    let mut cursor = vec![0usize; dims];
    let mut done = empty;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut coords = Coordinate::splat(0, dims);
        for d in 0..dims {
            coords[d] = axes[d][cursor[d]];
        }
        let mut d = dims;
        loop {
            if d == 0 {
                done = true;
                break;
            }
            d -= 1;
            cursor[d] += 1;
            if cursor[d] < axes[d].len() {
                break;
            }
            cursor[d] = 0;
        }
        Some(coords)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Roi;
    use crate::plan::{BlockwiseSpec, Fit};
    use proptest::prelude::*;

    fn two_task_plan(conflict: bool, fit: Fit) -> Arc<Plan> {
        let c = |v: &[i64]| Coordinate::new(v);
        let up = BlockwiseSpec {
            total_roi: Roi::new(c(&[0, 0]), c(&[60, 44])),
            read_roi: Roi::new(c(&[0, 0]), c(&[14, 14])),
            write_roi: Roi::new(c(&[3, 3]), c(&[8, 8])),
            fit,
            read_write_conflict: conflict,
        };
        let down = BlockwiseSpec {
            total_roi: Roi::new(c(&[3, 3]), c(&[54, 38])),
            read_roi: Roi::new(c(&[0, 0]), c(&[8, 8])),
            write_roi: Roi::new(c(&[1, 1]), c(&[6, 6])),
            fit,
            read_write_conflict: conflict,
        };
        Arc::new(
            Plan::new(
                vec![("up".into(), up), ("down".into(), down)],
                vec![vec![], vec![0]],
            )
            .unwrap(),
        )
    }

    proptest! {
        /// Driving the set with random completion orders runs every block exactly once, never
        /// two conflicting blocks at once, and never a block before its dependencies.
        #[test]
        fn random_runs_respect_dependencies(seed in any::<u64>(), conflict: bool,
                                            parallel in 1usize..12,
                                            fit in prop_oneof![Just(Fit::Valid), Just(Fit::Shrink)]) {
            let plan = two_task_plan(conflict, fit);
            let mut set = ReadySet::new(Arc::clone(&plan), |_, _| None);
            let mut rng = seed;
            let mut next = move || { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; rng };
            let mut running: Vec<(usize, Block)> = Vec::new();
            let mut finished = std::collections::HashSet::new();
            loop {
                while running.len() < parallel {
                    let t = (next() % 2) as usize;
                    let Some(b) = set.pop_ready(t).or_else(|| set.pop_ready(1 - t)) else { break };
                    let t = if plan.task(t).block_by_id(b.id) == Some(b) && set.phase(t, &b) == BlockPhase::Running { t } else { 1 - t };
                    plan.for_each_dependency(t, &b, |dt, d| assert!(finished.contains(&(dt, d.id)), "dependency not done"));
                    for (rt, r) in &running {
                        if *rt == t { prop_assert!(!plan.task(t).blocks_conflict(r, &b)); }
                    }
                    running.push((t, b));
                }
                if running.is_empty() { break; }
                let i = (next() % running.len() as u64) as usize;
                let (t, b) = running.swap_remove(i);
                finished.insert((t, b.id));
                set.finish(t, &b, false);
            }
            prop_assert!(set.all_settled());
            let total: u64 = (0..2).map(|t| set.counts(t).total).sum();
            prop_assert_eq!(finished.len() as u64, total);
        }
    }

    proptest! {
        /// Building from a list of known blocks gives the same set as asking block by block.
        #[test]
        fn from_known_equals_new(seed in any::<u64>(), fit in prop_oneof![Just(Fit::Valid), Just(Fit::Shrink)]) {
            let plan = two_task_plan(true, fit);
            let mut known = Vec::new();
            let mut rng = seed | 1;
            for t in 0..2 {
                for b in plan.task(t).blocks() {
                    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                    let k = match rng % 7 { 0 => Some(Known::Done), 1 => Some(Known::Skipped), 2 => Some(Known::Running), 3 => Some(Known::Failed), _ => None };
                    if let Some(k) = k { known.push((t, b.id, k)); }
                }
            }
            let map: std::collections::HashMap<(usize, u64), Known> = known.iter().map(|&(t, id, k)| ((t, id), k)).collect();
            let a = ReadySet::new(Arc::clone(&plan), |t, id| map.get(&(t, id)).copied());
            let b = ReadySet::from_known(Arc::clone(&plan), known.iter().copied());
            for t in 0..2 {
                prop_assert_eq!(a.counts(t), b.counts(t));
                for blk in plan.task(t).blocks() {
                    prop_assert_eq!(a.phase(t, &blk), b.phase(t, &blk));
                }
            }
        }
    }

    #[test]
    fn failure_orphans_transitive_dependents() {
        let plan = two_task_plan(true, Fit::Valid);
        let mut set = ReadySet::new(Arc::clone(&plan), |_, _| None);
        let first = set.pop_ready(0).unwrap();
        let orphaned = set.fail(0, &first);
        assert!(orphaned > 0);
        // Every orphan really depends (transitively) on the failed block: none of them may be
        // ready, and finishing everything else settles the run.
        loop {
            let mut progressed = false;
            for t in 0..2 {
                while let Some(b) = set.pop_ready(t) {
                    set.finish(t, &b, false);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        assert!(set.all_settled());
        let orphans: u64 = (0..2).map(|t| set.counts(t).orphaned).sum();
        assert_eq!(orphans as usize, orphaned);
        assert_eq!(set.counts(0).failed, 1);
        for t in 0..2 {
            for b in set.blocks_in_phase(t, BlockPhase::Orphaned) {
                let mut has_dead_dep = false;
                plan.for_each_dependency(t, &b, |dt, d| {
                    has_dead_dep |= set.phase(dt, &d).is_dead()
                });
                assert!(
                    has_dead_dep,
                    "orphan {t}/{} has no failed or orphaned dependency",
                    b.id
                );
            }
        }
    }

    #[test]
    fn known_blocks_are_restored_and_requeue_puts_back() {
        let plan = two_task_plan(true, Fit::Valid);
        let first = plan.task(0).blocks().next().unwrap();
        let set = ReadySet::new(Arc::clone(&plan), |t, id| {
            (t == 0 && id == first.id).then_some(Known::Done)
        });
        assert_eq!(set.counts(0).done, 1);
        let mut set = ReadySet::new(Arc::clone(&plan), |_, _| None);
        let b = set.pop_ready(0).unwrap();
        assert_eq!(set.counts(0).running, 1);
        set.requeue(0, &b);
        assert_eq!(
            set.pop_ready(0),
            Some(b),
            "a returned block goes to the front"
        );
    }
}
