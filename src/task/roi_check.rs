//! ROI validation: dimensions, positive shapes, coordinate range, and `write_roi` inside
//! `read_roi`. Runs before anything hands the ROIs to the planner.

use super::error::{Found, Invalid, Problem, MAX_COORDINATE};
use super::path::FieldPath;
use super::raw::RawRoi;
use crate::geometry::{Coordinate, Roi, MAX_DIMS};

/// The three validated ROIs of a task.
pub(crate) struct TaskRois {
    pub(crate) total: Roi,
    pub(crate) read: Roi,
    pub(crate) write: Roi,
}

/// Validates `total_roi`, `read_roi` and `write_roi` of the task at `task`.
pub(crate) fn check_rois(
    total: &RawRoi,
    read: &RawRoi,
    write: &RawRoi,
    task: &FieldPath,
) -> Found<TaskRois> {
    let total = to_roi(total, &task.key("total_roi"))?;
    let read = to_roi(read, &task.key("read_roi"))?;
    let write = to_roi(write, &task.key("write_roi"))?;
    for (key, roi) in [("read_roi", &read), ("write_roi", &write)] {
        if roi.dims() != total.dims() {
            return Err(Invalid::new(
                task.key(key),
                Problem::DimensionMismatch {
                    dims: roi.dims(),
                    total_dims: total.dims(),
                },
            ));
        }
    }
    if let Some(axis) = (0..read.dims())
        .find(|&d| write.begin()[d] < read.begin()[d] || write.end()[d] > read.end()[d])
    {
        return Err(Invalid::new(
            task.key("write_roi"),
            Problem::WriteOutsideRead {
                read: Box::new(read),
                write: Box::new(write),
                axis,
                write_begin: write.begin()[axis],
                write_end: write.end()[axis],
                read_begin: read.begin()[axis],
                read_end: read.end()[axis],
            },
        ));
    }
    Ok(TaskRois { total, read, write })
}

/// One ROI: 1 to [`MAX_DIMS`] dimensions, equal lengths, shapes > 0, everything within
/// ±[`MAX_COORDINATE`].
fn to_roi(raw: &RawRoi, path: &FieldPath) -> Found<Roi> {
    for (key, values) in [("offset", &raw.offset), ("shape", &raw.shape)] {
        if values.is_empty() {
            return Err(Invalid::new(path.key(key), Problem::NoDimensions));
        }
        if values.len() > MAX_DIMS {
            return Err(Invalid::new(
                path.key(key),
                Problem::TooManyDimensions { got: values.len() },
            ));
        }
    }
    if raw.offset.len() != raw.shape.len() {
        return Err(Invalid::new(
            path.clone(),
            Problem::OffsetShapeMismatch {
                offset: raw.offset.len(),
                shape: raw.shape.len(),
            },
        ));
    }
    for (d, &offset) in raw.offset.iter().enumerate() {
        if !(-MAX_COORDINATE..=MAX_COORDINATE).contains(&offset) {
            return Err(Invalid::new(
                path.key("offset").index(d),
                Problem::OutOfRange { got: offset },
            ));
        }
    }
    for (d, &shape) in raw.shape.iter().enumerate() {
        let at = path.key("shape").index(d);
        if shape <= 0 {
            return Err(Invalid::new(at, Problem::NotPositive { got: shape }));
        }
        if shape > MAX_COORDINATE {
            return Err(Invalid::new(at, Problem::OutOfRange { got: shape }));
        }
        let end = i128::from(raw.offset[d]) + i128::from(shape);
        if end > i128::from(MAX_COORDINATE) {
            return Err(Invalid::new(at, Problem::EndOutOfRange { end }));
        }
    }
    Ok(Roi::new(
        Coordinate::new(&raw.offset),
        Coordinate::new(&raw.shape),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(offset: &[i64], shape: &[i64]) -> RawRoi {
        RawRoi {
            offset: offset.to_vec(),
            shape: shape.to_vec(),
        }
    }

    fn problem(total: RawRoi, read: RawRoi, write: RawRoi) -> (String, Problem) {
        let err = check_rois(&total, &read, &write, &FieldPath::root())
            .err()
            .expect("an error");
        (err.path.to_string(), err.problem)
    }

    #[test]
    fn accepts_negative_offsets_and_context() {
        let rois = check_rois(
            &raw(&[-100, 0], &[200, 50]),
            &raw(&[-4, -4], &[18, 18]),
            &raw(&[0, 0], &[10, 10]),
            &FieldPath::root(),
        );
        assert!(rois.is_ok());
    }

    #[test]
    fn names_the_offending_entry() {
        let (path, p) = problem(raw(&[0], &[10]), raw(&[0], &[4]), raw(&[0], &[0]));
        assert_eq!(path, "write_roi.shape[0]");
        assert!(matches!(p, Problem::NotPositive { got: 0 }));
        let (path, p) = problem(raw(&[0, 0], &[10, 10]), raw(&[0], &[4]), raw(&[0], &[4]));
        assert_eq!(path, "read_roi");
        assert!(matches!(
            p,
            Problem::DimensionMismatch {
                dims: 1,
                total_dims: 2
            }
        ));
        let (path, p) = problem(raw(&[0], &[10]), raw(&[0], &[4]), raw(&[2], &[4]));
        assert_eq!(path, "write_roi");
        assert!(matches!(p, Problem::WriteOutsideRead { axis: 0, .. }));
        let (path, p) = problem(
            raw(&[MAX_COORDINATE], &[10]),
            raw(&[0], &[4]),
            raw(&[0], &[4]),
        );
        assert_eq!(path, "total_roi.shape[0]");
        assert!(matches!(p, Problem::EndOutOfRange { .. }));
        let (path, p) = problem(raw(&[i64::MIN], &[10]), raw(&[0], &[4]), raw(&[0], &[4]));
        assert_eq!(path, "total_roi.offset[0]");
        assert!(matches!(p, Problem::OutOfRange { .. }));
        let (path, p) = problem(raw(&[], &[]), raw(&[0], &[4]), raw(&[0], &[4]));
        assert_eq!(path, "total_roi.offset");
        assert!(matches!(p, Problem::NoDimensions));
        let (path, p) = problem(raw(&[0; 9], &[1; 9]), raw(&[0], &[4]), raw(&[0], &[4]));
        assert_eq!(path, "total_roi.offset");
        assert!(matches!(p, Problem::TooManyDimensions { got: 9 }));
        let (path, p) = problem(raw(&[0, 0], &[1]), raw(&[0], &[4]), raw(&[0], &[4]));
        assert_eq!(path, "total_roi");
        assert!(matches!(
            p,
            Problem::OffsetShapeMismatch {
                offset: 2,
                shape: 1
            }
        ));
    }
}
