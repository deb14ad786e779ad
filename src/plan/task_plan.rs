//! The block grid of one task: which blocks exist, their ids and their read/write ROIs.

use super::cantor::{cantor_coords, cantor_id};
use super::error::PlanError;
use super::fit::Fit;
use super::lattice::{div_ceil, div_floor, Lattice};
use crate::geometry::{Coordinate, Roi};

/// The geometric part of a task, all the planner needs (already validated: positive shapes,
/// matching dimensions, write ROI inside read ROI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockwiseSpec {
    /// Total region every block reads from (daisy's `total_roi`).
    pub total_roi: Roi,
    /// Read ROI of the first block (only its shape and position relative to `write_roi` count).
    pub read_roi: Roi,
    /// Write ROI of the first block.
    pub write_roi: Roi,
    /// Border policy.
    pub fit: Fit,
    /// Whether blocks whose read and write ROIs overlap must not run at once.
    pub read_write_conflict: bool,
}

/// One block: its id, grid coordinates and ROIs (after fit clipping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// daisy's block id (Cantor number of `coords`).
    pub id: u64,
    /// Grid coordinates, `(write.begin - total.begin) / write.shape` per axis.
    pub coords: Coordinate,
    /// Region the block reads.
    pub read_roi: Roi,
    /// Region the block writes.
    pub write_roi: Roi,
}

/// The block grid of one task, computed arithmetically from its [`BlockwiseSpec`].
#[derive(Clone, Debug)]
pub struct TaskPlan {
    spec: BlockwiseSpec,
    total_write: Roi,
    context_lo: Coordinate,
    context_hi: Coordinate,
    /// Grid coordinate of the first block per axis.
    origin: Coordinate,
    /// Blocks per axis.
    counts: Coordinate,
    /// Per axis, how many neighbours away a conflicting block can be (0 without conflicts).
    conflict_radius: Coordinate,
}

impl TaskPlan {
    /// Plans the grid; fails only if daisy's ids would overflow 64 bits.
    pub fn new(spec: &BlockwiseSpec) -> Result<TaskPlan, PlanError> {
        let dims = spec.total_roi.dims();
        let context_lo = spec.write_roi.begin() - spec.read_roi.begin();
        let context_hi = spec.read_roi.end() - spec.write_roi.end();
        let total_write = spec
            .total_roi
            .grow(context_lo.map(|v| -v), context_hi.map(|v| -v));
        let w = spec.write_roi.shape;
        let r = spec.read_roi.shape;
        let total = spec.total_roi.shape;
        let mut counts = Coordinate::splat(0, dims);
        for d in 0..dims {
            counts[d] = match spec.fit {
                Fit::Valid if total[d] >= r[d] => div_floor(total[d] - r[d], w[d]) + 1,
                Fit::Valid => 0,
                Fit::Overhang | Fit::Shrink => div_ceil(total_write.shape[d].max(0), w[d]),
            };
        }
        let origin = context_lo.zip_with(&w, div_floor);
        let conflict_radius = if spec.read_write_conflict {
            context_lo
                .zip_with(&context_hi, i64::max)
                .zip_with(&w, div_ceil)
        } else {
            Coordinate::splat(0, dims)
        };
        let plan = TaskPlan {
            spec: *spec,
            total_write,
            context_lo,
            context_hi,
            origin,
            counts,
            conflict_radius,
        };
        if plan.num_blocks() > 0 {
            let far_corner = origin + counts.map(|c| c - 1);
            if cantor_id(&far_corner).is_none() {
                return Err(PlanError::IdOverflow {
                    grid: counts.as_slice().to_vec(),
                });
            }
        }
        Ok(plan)
    }

    /// The spec this plan was made from.
    pub fn spec(&self) -> &BlockwiseSpec {
        &self.spec
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.counts.dims()
    }

    /// Blocks per axis.
    pub fn grid_shape(&self) -> Coordinate {
        self.counts
    }

    /// Grid coordinates of the first block.
    pub fn grid_origin(&self) -> Coordinate {
        self.origin
    }

    /// Total number of blocks.
    pub fn num_blocks(&self) -> u128 {
        self.counts.product()
    }

    /// The region all blocks together may write (total ROI minus context).
    pub fn total_write_roi(&self) -> Roi {
        self.total_write
    }

    /// Context below and above the write ROI per axis.
    pub fn context(&self) -> (Coordinate, Coordinate) {
        (self.context_lo, self.context_hi)
    }

    /// Per axis, how many grid steps apart two conflicting blocks can be.
    pub fn conflict_radius(&self) -> Coordinate {
        self.conflict_radius
    }

    /// True if `coords` are grid coordinates of a block of this task.
    pub fn contains_coords(&self, coords: &Coordinate) -> bool {
        (0..self.dims()).all(|d| {
            let k = coords[d] - self.origin[d];
            k >= 0 && k < self.counts[d]
        })
    }

    /// The block at grid coordinates `coords` (which must be inside the grid).
    pub fn block_at(&self, coords: Coordinate) -> Block {
        debug_assert!(self.contains_coords(&coords));
        let w = self.spec.write_roi.shape;
        let k = coords - self.origin;
        let read_begin = self.spec.total_roi.begin() + k * w;
        let mut read_roi = Roi::new(read_begin, self.spec.read_roi.shape);
        let mut write_roi = Roi::new(read_begin + self.context_lo, w);
        if self.spec.fit == Fit::Shrink {
            read_roi = read_roi.intersect(&self.spec.total_roi);
            write_roi = write_roi.intersect(&self.total_write);
        }
        Block {
            id: cantor_id(&coords).expect("ids of planned grids fit in u64"),
            coords,
            read_roi,
            write_roi,
        }
    }

    /// The block with daisy id `id`, if the task has one.
    pub fn block_by_id(&self, id: u64) -> Option<Block> {
        let coords = cantor_coords(id, self.dims());
        self.contains_coords(&coords)
            .then(|| self.block_at(coords))
            .filter(|b| b.id == id)
    }

    /// Dense row-major index of a block in its grid (for compact per-block arrays).
    pub fn linear_index(&self, coords: &Coordinate) -> u64 {
        let mut index: u64 = 0;
        for d in 0..self.dims() {
            index = index * self.counts[d] as u64 + (coords[d] - self.origin[d]) as u64;
        }
        index
    }

    /// Grid coordinates of the block with dense row-major index `index`.
    pub fn coords_of_index(&self, mut index: u64) -> Coordinate {
        let mut coords = self.origin;
        for d in (0..self.dims()).rev() {
            let n = self.counts[d] as u64;
            coords[d] += (index % n) as i64;
            index /= n;
        }
        coords
    }

    /// All blocks in row-major grid order, generated lazily.
    pub fn blocks(&self) -> impl Iterator<Item = Block> + '_ {
        let n = u64::try_from(self.num_blocks()).unwrap_or(u64::MAX);
        (0..n).map(move |i| self.block_at(self.coords_of_index(i)))
    }

    /// Per-axis lattice of the blocks' unclipped write intervals.
    pub(crate) fn write_lattice(&self, d: usize) -> Lattice {
        let w = self.spec.write_roi.shape[d];
        Lattice {
            base: self.spec.total_roi.offset[d] + self.context_lo[d],
            step: w,
            len: w,
            count: self.counts[d],
        }
    }

    /// Per-axis lattice of the blocks' unclipped read intervals.
    pub(crate) fn read_lattice(&self, d: usize) -> Lattice {
        Lattice {
            base: self.spec.total_roi.offset[d],
            step: self.spec.write_roi.shape[d],
            len: self.spec.read_roi.shape[d],
            count: self.counts[d],
        }
    }

    /// Blocks whose unclipped interval along each axis (per `lattice`) meets `roi`, a superset
    /// of the blocks whose actual ROI does.
    pub(crate) fn candidates_meeting(
        &self,
        roi: &Roi,
        lattice: impl Fn(&Self, usize) -> Lattice,
    ) -> GridBox {
        let dims = self.dims();
        let mut lo = Coordinate::splat(0, dims);
        let mut hi = Coordinate::splat(0, dims);
        for d in 0..dims {
            let range = lattice(self, d).meeting(roi.begin()[d], roi.end()[d]);
            lo[d] = self.origin[d] + range.start;
            hi[d] = self.origin[d] + range.end;
        }
        GridBox { lo, hi }
    }
}

/// A box of grid coordinates `[lo, hi)`, iterated row-major.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GridBox {
    pub lo: Coordinate,
    pub hi: Coordinate,
}

impl GridBox {
    /// The box clipped to the grid of `plan`.
    pub fn clipped_to(self, plan: &TaskPlan) -> GridBox {
        let end = plan.origin + plan.counts;
        GridBox {
            lo: self.lo.zip_with(&plan.origin, i64::max),
            hi: self.hi.zip_with(&end, i64::min),
        }
    }

    /// Every coordinate in the box.
    pub fn iter(self) -> impl Iterator<Item = Coordinate> {
        let dims = self.lo.dims();
        let empty = (0..dims).any(|d| self.lo[d] >= self.hi[d]);
        let mut next = (!empty).then_some(self.lo);
        std::iter::from_fn(move || {
            let current = next?;
            let mut advanced = current;
            let mut d = dims;
            loop {
                if d == 0 {
                    next = None;
                    break;
                }
                d -= 1;
                advanced[d] += 1;
                if advanced[d] < self.hi[d] {
                    next = Some(advanced);
                    break;
                }
                advanced[d] = self.lo[d];
            }
            Some(current)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec1d(fit: Fit) -> BlockwiseSpec {
        let c = |v: i64| Coordinate::new(&[v]);
        BlockwiseSpec {
            total_roi: Roi::new(c(0), c(100)),
            read_roi: Roi::new(c(0), c(10)),
            write_roi: Roi::new(c(1), c(8)),
            fit,
            read_write_conflict: true,
        }
    }

    #[test]
    fn daisy_1d_example_block_counts() {
        assert_eq!(TaskPlan::new(&spec1d(Fit::Valid)).unwrap().num_blocks(), 12);
        assert_eq!(
            TaskPlan::new(&spec1d(Fit::Overhang)).unwrap().num_blocks(),
            13
        );
        let shrink = TaskPlan::new(&spec1d(Fit::Shrink)).unwrap();
        assert_eq!(shrink.num_blocks(), 13);
        let last = shrink.blocks().last().unwrap();
        assert_eq!(last.read_roi.to_arg(), "96:4");
        assert_eq!(last.write_roi.to_arg(), "97:2");
    }

    #[test]
    fn overhang_blocks_stick_out() {
        let plan = TaskPlan::new(&spec1d(Fit::Overhang)).unwrap();
        let last = plan.blocks().last().unwrap();
        assert_eq!(last.read_roi.to_arg(), "96:10");
        assert_eq!(last.write_roi.to_arg(), "97:8");
    }

    #[test]
    fn block_by_id_round_trips_and_rejects_foreign_ids() {
        let c = |v: &[i64]| Coordinate::new(v);
        let plan = TaskPlan::new(&BlockwiseSpec {
            total_roi: Roi::new(c(&[-20, 0]), c(&[100, 70])),
            read_roi: Roi::new(c(&[0, 0]), c(&[30, 30])),
            write_roi: Roi::new(c(&[10, 10]), c(&[10, 10])),
            fit: Fit::Valid,
            read_write_conflict: true,
        })
        .unwrap();
        assert_eq!(
            plan.grid_origin(),
            c(&[1, 1]),
            "context >= write shape starts at 1"
        );
        let mut ids = std::collections::HashSet::new();
        for block in plan.blocks() {
            assert_eq!(plan.block_by_id(block.id), Some(block));
            assert!(ids.insert(block.id));
        }
        assert_eq!(ids.len() as u128, plan.num_blocks());
        assert_eq!(
            plan.block_by_id(0),
            None,
            "grid starts at (1,1): id 0 is not a block"
        );
    }

    #[test]
    fn grid_box_iterates_row_major() {
        let c = |v: &[i64]| Coordinate::new(v);
        let items: Vec<_> = GridBox {
            lo: c(&[0, 5]),
            hi: c(&[2, 7]),
        }
        .iter()
        .collect();
        assert_eq!(items, vec![c(&[0, 5]), c(&[0, 6]), c(&[1, 5]), c(&[1, 6])]);
        assert_eq!(
            GridBox {
                lo: c(&[0, 5]),
                hi: c(&[0, 7])
            }
            .iter()
            .count(),
            0
        );
    }
}
