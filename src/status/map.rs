//! `status --map`: a 2-D slice of a task's block grid, one cell per block (or per square of
//! blocks when the grid is larger than [`MAP_MAX_CELLS`]), by state.

use std::collections::HashMap;

use serde::{Serialize, Serializer};

use super::error::{SliceError, StatusError};
pub use super::model::CellState;
use super::snapshot::LedgerSnapshot;
use crate::ledger::{BlockState, FoldedState};
use crate::plan::{cantor_coords, TaskPlan};

/// Most cells per row and per column; larger grids are downsampled.
pub const MAP_MAX_CELLS: u64 = 120;
/// Most blocks looked at per cell and axis; larger cells are sampled.
const SAMPLES_PER_AXIS: u64 = 16;

/// `--axis N --index K` pairs as given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceRequest {
    /// Axes to hold fixed.
    pub axes: Vec<usize>,
    /// Grid index (0-based, along the axis) per fixed axis; empty for the middle.
    pub indexes: Vec<i64>,
}

/// An axis held fixed in the drawn slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FixedAxis {
    /// The axis.
    pub axis: usize,
    /// 0-based grid index along it.
    pub index: i64,
}

/// Blocks looked at per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MapCounts {
    /// Pending blocks.
    pub pending: u64,
    /// Running blocks.
    pub running: u64,
    /// Done blocks.
    pub done: u64,
    /// Skipped blocks.
    pub skipped: u64,
    /// Failed blocks.
    pub failed: u64,
    /// Orphaned blocks.
    pub orphaned: u64,
}

impl MapCounts {
    /// The count of `state`.
    pub fn get(&self, state: CellState) -> u64 {
        match state {
            CellState::Pending => self.pending,
            CellState::Running => self.running,
            CellState::Done => self.done,
            CellState::Skipped => self.skipped,
            CellState::Failed => self.failed,
            CellState::Orphaned => self.orphaned,
        }
    }

    fn bump(&mut self, state: CellState) {
        *match state {
            CellState::Pending => &mut self.pending,
            CellState::Running => &mut self.running,
            CellState::Done => &mut self.done,
            CellState::Skipped => &mut self.skipped,
            CellState::Failed => &mut self.failed,
            CellState::Orphaned => &mut self.orphaned,
        } += 1;
    }
}

/// A drawn slice of a task's grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapView {
    /// Task name.
    pub task: String,
    /// Blocks per axis of the whole grid.
    pub grid_shape: Vec<i64>,
    /// The axis drawn top to bottom (`None` for a single row).
    pub row_axis: Option<usize>,
    /// The axis drawn left to right (`None` for a single cell).
    pub col_axis: Option<usize>,
    /// The other axes and the index they are held at.
    pub fixed: Vec<FixedAxis>,
    /// Blocks along the row and the column axis of the slice.
    pub slice_shape: [u64; 2],
    /// Each cell stands for `scale × scale` blocks.
    pub scale: u64,
    /// Whether only some blocks of each cell were looked at (very large cells).
    pub sampled: bool,
    /// Blocks looked at per state (all blocks of the slice unless `sampled`).
    pub counts: MapCounts,
    /// Whether orphans were computed (some block failed); otherwise none are shown.
    pub orphans_computed: bool,
    /// The cells, row by row, as legend letters.
    #[serde(serialize_with = "rows_as_letters")]
    pub cells: Vec<Vec<CellState>>,
}

fn rows_as_letters<S: Serializer>(cells: &[Vec<CellState>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        cells
            .iter()
            .map(|row| row.iter().map(|c| c.letter()).collect::<String>()),
    )
}

impl MapView {
    /// Draws task `task` (default: the first) of `snapshot`, sliced as `request` says.
    pub fn build<S: FoldedState>(
        snapshot: &LedgerSnapshot<S>,
        task: Option<&str>,
        request: &SliceRequest,
    ) -> Result<MapView, StatusError> {
        let names = snapshot.task_names();
        let t = match task {
            None => 0,
            Some(name) => {
                names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| StatusError::NoSuchTask {
                        name: name.to_string(),
                        available: names.clone(),
                    })?
            }
        };
        let task_name = names.get(t).cloned().unwrap_or_default();
        let tp = snapshot.plan().task(t);
        let shape = tp.grid_shape();
        let grid_shape = shape.as_slice().to_vec();
        let slice_err = |source| StatusError::Slice {
            task: task_name.clone(),
            source,
        };
        let (row_axis, col_axis, mut fixed) =
            choose_slice(&grid_shape, request).map_err(slice_err)?;
        // The axes held fixed without being asked for: the slice shown is where failures are.
        let auto: Vec<usize> = fixed
            .iter()
            .map(|f| f.axis)
            .filter(|a| !request.axes.contains(a))
            .collect();
        if !auto.is_empty() {
            let tallies = SliceTallies::of(snapshot, t, tp, &auto);
            let lengths: Vec<i64> = auto.iter().map(|&a| grid_shape[a]).collect();
            let slice_blocks = [row_axis, col_axis]
                .iter()
                .flatten()
                .map(|&a| grid_shape[a] as u64)
                .product();
            if let Some(key) = tallies.default_slice(&lengths, slice_blocks) {
                for f in fixed.iter_mut() {
                    if let Some(i) = auto.iter().position(|&a| a == f.axis) {
                        f.index = key[i];
                    }
                }
            }
        }
        let along = |axis: Option<usize>| axis.map_or(1, |a| grid_shape[a] as u64);
        let (n_rows, n_cols) = (along(row_axis), along(col_axis));
        let scale = n_rows
            .div_ceil(MAP_MAX_CELLS)
            .max(n_cols.div_ceil(MAP_MAX_CELLS))
            .max(1);
        let stride = scale.div_ceil(SAMPLES_PER_AXIS);
        let mut base = tp.grid_origin();
        for f in &fixed {
            base[f.axis] += f.index;
        }
        let mut counts = MapCounts::default();
        let mut cells = Vec::new();
        for r0 in (0..n_rows).step_by(scale as usize) {
            let mut row = Vec::new();
            for c0 in (0..n_cols).step_by(scale as usize) {
                let mut cell = CellState::Done;
                for i in (r0..(r0 + scale).min(n_rows)).step_by(stride as usize) {
                    for j in (c0..(c0 + scale).min(n_cols)).step_by(stride as usize) {
                        let mut coords = base;
                        if let Some(a) = row_axis {
                            coords[a] += i as i64;
                        }
                        if let Some(a) = col_axis {
                            coords[a] += j as i64;
                        }
                        let state = snapshot.cell_state(t, &tp.block_at(coords));
                        counts.bump(state);
                        cell = cell.max(state);
                    }
                }
                row.push(cell);
            }
            cells.push(row);
        }
        Ok(MapView {
            task: task_name,
            grid_shape,
            row_axis,
            col_axis,
            fixed,
            slice_shape: [n_rows, n_cols],
            scale,
            sampled: stride > 1,
            counts,
            orphans_computed: snapshot.orphans_computed(),
            cells,
        })
    }
}

/// Failed and finished (done or skipped) blocks per slice, a slice named by its grid indexes
/// along the axes held fixed.
#[derive(Debug, Default)]
pub(crate) struct SliceTallies {
    failed: HashMap<Vec<i64>, u64>,
    finished: HashMap<Vec<i64>, u64>,
}

impl SliceTallies {
    /// The tallies of task `t` (plan `tp`) in `snapshot`'s ledger over the slices across
    /// `axes` (only blocks the ledger has a record of are looked at).
    fn of<S: FoldedState>(
        snapshot: &LedgerSnapshot<S>,
        t: usize,
        tp: &TaskPlan,
        axes: &[usize],
    ) -> Self {
        let mut tallies = Self::default();
        let origin = tp.grid_origin();
        snapshot
            .view()
            .loaded
            .state
            .visit_blocks(t as u32, &mut |id, entry| {
                let map = match entry.state() {
                    BlockState::Failed => &mut tallies.failed,
                    BlockState::Done | BlockState::Skipped => &mut tallies.finished,
                    BlockState::Pending | BlockState::Assigned => return,
                };
                let coords = cantor_coords(id, tp.dims());
                if tp.contains_coords(&coords) {
                    let key = axes.iter().map(|&a| coords[a] - origin[a]).collect();
                    *map.entry(key).or_default() += 1;
                }
            });
        tallies
    }

    /// The slice to draw by default, as its indexes along axes of `lengths` blocks, where a
    /// slice has `slice_blocks` blocks: the one with the most failed blocks (the first of
    /// those), else the first one not entirely done or skipped; `None` when all are.
    pub(crate) fn default_slice(&self, lengths: &[i64], slice_blocks: u64) -> Option<Vec<i64>> {
        if let Some((key, _)) = self
            .failed
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        {
            return Some(key.clone());
        }
        let mut key = vec![0i64; lengths.len()];
        loop {
            if self.finished.get(&key).copied().unwrap_or(0) < slice_blocks {
                return Some(key);
            }
            // The next key in index order (the last axis fastest).
            let mut axis = lengths.len();
            loop {
                if axis == 0 {
                    return None;
                }
                axis -= 1;
                key[axis] += 1;
                if key[axis] < lengths[axis] {
                    break;
                }
                key[axis] = 0;
            }
        }
    }
}

/// The displayed axes and the fixed ones: the user's `--axis/--index` pairs, then the leading
/// remaining axes at their middle index until two are left (the last two are drawn).
#[allow(clippy::type_complexity)]
pub(crate) fn choose_slice(
    shape: &[i64],
    request: &SliceRequest,
) -> Result<(Option<usize>, Option<usize>, Vec<FixedAxis>), SliceError> {
    let dims = shape.len();
    if shape.iter().any(|&n| n <= 0) {
        return Err(SliceError::EmptyGrid);
    }
    if !request.indexes.is_empty() && request.indexes.len() != request.axes.len() {
        return Err(SliceError::IndexCount {
            axes: request.axes.len(),
            indexes: request.indexes.len(),
        });
    }
    let mut fixed: Vec<FixedAxis> = Vec::new();
    for (i, &axis) in request.axes.iter().enumerate() {
        if axis >= dims {
            return Err(SliceError::NoSuchAxis { axis, dims });
        }
        if fixed.iter().any(|f| f.axis == axis) {
            return Err(SliceError::DuplicateAxis { axis });
        }
        let count = shape[axis];
        let index = request.indexes.get(i).copied().unwrap_or(count / 2);
        if !(0..count).contains(&index) {
            return Err(SliceError::IndexOutOfRange { axis, index, count });
        }
        fixed.push(FixedAxis { axis, index });
    }
    let mut free: Vec<usize> = (0..dims)
        .filter(|d| !fixed.iter().any(|f| f.axis == *d))
        .collect();
    while free.len() > 2 {
        let axis = free.remove(0);
        fixed.push(FixedAxis {
            axis,
            index: shape[axis] / 2,
        });
    }
    fixed.sort_by_key(|f| f.axis);
    Ok(match free[..] {
        [r, c] => (Some(r), Some(c), fixed),
        [c] => (None, Some(c), fixed),
        _ => (None, None, fixed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(axes: &[usize], indexes: &[i64]) -> SliceRequest {
        SliceRequest {
            axes: axes.to_vec(),
            indexes: indexes.to_vec(),
        }
    }

    #[test]
    fn slices_default_to_the_last_two_axes_at_the_middle() {
        let fx = |axis, index| FixedAxis { axis, index };
        assert_eq!(
            choose_slice(&[4, 5], &req(&[], &[])).unwrap(),
            (Some(0), Some(1), vec![])
        );
        assert_eq!(
            choose_slice(&[7], &req(&[], &[])).unwrap(),
            (None, Some(0), vec![])
        );
        assert_eq!(
            choose_slice(&[4, 6, 8, 9], &req(&[], &[])).unwrap(),
            (Some(2), Some(3), vec![fx(0, 2), fx(1, 3)])
        );
        assert_eq!(
            choose_slice(&[4, 6, 8], &req(&[2], &[1])).unwrap(),
            (Some(0), Some(1), vec![fx(2, 1)])
        );
        assert_eq!(
            choose_slice(&[4, 6, 8], &req(&[2], &[])).unwrap(),
            (Some(0), Some(1), vec![fx(2, 4)])
        );
    }

    #[test]
    fn bad_slices_say_what_is_wrong() {
        let err = |axes: &[usize], idx: &[i64]| {
            choose_slice(&[4, 6, 8], &req(axes, idx))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(&[3], &[]), "--axis 3: the grid has 3 axes (0 to 2)");
        assert_eq!(err(&[1, 1], &[]), "--axis 1 is given more than once");
        assert_eq!(
            err(&[0], &[4]),
            "--index 4 for axis 0: the grid has 4 blocks along it (0 to 3)"
        );
        assert!(err(&[0, 1], &[2]).starts_with("give one --index per --axis"));
        assert_eq!(
            choose_slice(&[0, 3], &req(&[], &[])),
            Err(SliceError::EmptyGrid)
        );
    }

    fn tallies(failed: &[(&[i64], u64)], finished: &[(&[i64], u64)]) -> SliceTallies {
        let map = |pairs: &[(&[i64], u64)]| pairs.iter().map(|(k, n)| (k.to_vec(), *n)).collect();
        SliceTallies {
            failed: map(failed),
            finished: map(finished),
        }
    }

    #[test]
    fn the_default_slice_is_the_one_with_the_most_failures() {
        let t = tallies(
            &[(&[3, 1], 2), (&[0, 4], 5), (&[1, 1], 5)],
            &[(&[0, 0], 100)],
        );
        // The most failures; of two with as many, the first.
        assert_eq!(t.default_slice(&[4, 6], 100), Some(vec![0, 4]));
    }

    #[test]
    fn without_failures_the_default_slice_is_the_first_not_done() {
        let full = |k: &'static [i64]| (k, 20);
        let t = tallies(
            &[],
            &[full(&[0, 0]), full(&[0, 1]), full(&[0, 2]), (&[1, 0], 3)],
        );
        assert_eq!(t.default_slice(&[2, 3], 20), Some(vec![1, 0]));
        // Nothing recorded yet: the very first slice.
        assert_eq!(tallies(&[], &[]).default_slice(&[5], 20), Some(vec![0]));
        // All done: no preference (the middle is drawn).
        let done = tallies(&[], &[full(&[0]), full(&[1])]);
        assert_eq!(done.default_slice(&[2], 20), None);
    }

    #[test]
    fn urgency_order() {
        assert!(CellState::Failed > CellState::Orphaned);
        assert!(CellState::Running > CellState::Pending);
        assert!(CellState::Pending > CellState::Done);
    }
}
