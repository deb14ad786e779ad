//! SLURM job ids as `squeue` and `sacct` print them: `123`, array elements `123_4`, pending
//! array ranges `123_[5-9,12%2]`, steps `123.0`, `123_4.batch`.

/// One id printed by `squeue`/`sacct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobRef {
    /// A plain job.
    Job(u64),
    /// One array element.
    Element {
        /// The array's job id (`SLURM_ARRAY_JOB_ID`).
        array: u64,
        /// The element's index (`SLURM_ARRAY_TASK_ID`).
        index: u32,
    },
    /// Array elements still pending as one record.
    PendingRange {
        /// The array's job id.
        array: u64,
        /// The indices, expanded.
        indices: Vec<u32>,
        /// The `%M` limit of elements running at once, if any.
        limit: Option<u32>,
    },
    /// A job step: the job (or element) key and the step name (`0`, `batch`, `extern`).
    Step {
        /// The key of the job or element the step belongs to (`123`, `123_4`).
        job: String,
        /// The step (`0`, `batch`).
        step: String,
    },
    /// Anything else (heterogeneous jobs `123+0`, federation ids…): kept as printed.
    Other(String),
}

/// Largest pending range blockorch expands (SLURM's MaxArraySize is at most 4,000,001).
const MAX_EXPANDED: usize = 4_000_001;

impl JobRef {
    /// Parses an id as printed by `squeue -o %i` or `sacct -o JobID`.
    pub fn parse(text: &str) -> JobRef {
        let text = text.trim();
        parse_inner(text).unwrap_or_else(|| JobRef::Other(text.to_owned()))
    }

    /// The keys this record describes: `["123"]`, `["123_4"]`, one per pending element, or
    /// the step's `123.0`.
    pub fn keys(&self) -> Vec<String> {
        match self {
            JobRef::Job(id) => vec![id.to_string()],
            JobRef::Element { array, index } => vec![element_key(*array, *index)],
            JobRef::PendingRange { array, indices, .. } => {
                indices.iter().map(|&i| element_key(*array, i)).collect()
            }
            JobRef::Step { job, step } => vec![format!("{job}.{step}")],
            JobRef::Other(text) => vec![text.clone()],
        }
    }
}

/// The key of array element `index` of `array`: `123_4`.
pub fn element_key(array: u64, index: u32) -> String {
    format!("{array}_{index}")
}

/// The job id to give `squeue -j`/`sacct -j`/`scancel` for a key: `123_4` → `123` (the whole
/// array), `123.0` → `123`.
pub fn base_id(key: &str) -> &str {
    let end = key.find(['_', '.', '+']).unwrap_or(key.len());
    &key[..end]
}

fn parse_inner(text: &str) -> Option<JobRef> {
    if let Some((job, step)) = text.split_once('.') {
        if step.is_empty() || !step.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let job = match parse_inner(job)? {
            r @ (JobRef::Job(_) | JobRef::Element { .. }) => r.keys().remove(0),
            _ => return None,
        };
        return Some(JobRef::Step {
            job,
            step: step.to_owned(),
        });
    }
    match text.split_once('_') {
        None => Some(JobRef::Job(digits(text)?)),
        Some((array, rest)) => {
            let array = digits(array)?;
            if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let (list, limit) = match inner.split_once('%') {
                    Some((list, limit)) => (list, Some(u32::try_from(digits(limit)?).ok()?)),
                    None => (inner, None),
                };
                Some(JobRef::PendingRange {
                    array,
                    indices: parse_index_list(list)?,
                    limit,
                })
            } else {
                Some(JobRef::Element {
                    array,
                    index: u32::try_from(digits(rest)?).ok()?,
                })
            }
        }
    }
}

fn digits(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

/// Parses `5-9,12,20-30:2` (SLURM allows a `:step` in ranges).
fn parse_index_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((range, step)) => (range, u32::try_from(digits(step)?).ok().filter(|&s| s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((lo, hi)) => (digits(lo)?, digits(hi)?),
            None => (digits(range)?, digits(range)?),
        };
        let (lo, hi) = (u32::try_from(lo).ok()?, u32::try_from(hi).ok()?);
        if lo > hi || out.len() + ((hi - lo) / step) as usize >= MAX_EXPANDED {
            return None;
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_shape() {
        assert_eq!(JobRef::parse("25"), JobRef::Job(25));
        assert_eq!(
            JobRef::parse("22_3"),
            JobRef::Element {
                array: 22,
                index: 3
            }
        );
        assert_eq!(
            JobRef::parse("22_[4,6-9%2]"),
            JobRef::PendingRange {
                array: 22,
                indices: vec![4, 6, 7, 8, 9],
                limit: Some(2)
            }
        );
        assert_eq!(
            JobRef::parse("28_[0-3]"),
            JobRef::PendingRange {
                array: 28,
                indices: vec![0, 1, 2, 3],
                limit: None
            }
        );
        assert_eq!(
            JobRef::parse("25.batch"),
            JobRef::Step {
                job: "25".into(),
                step: "batch".into()
            }
        );
        assert_eq!(
            JobRef::parse("22_0.1"),
            JobRef::Step {
                job: "22_0".into(),
                step: "1".into()
            }
        );
        assert_eq!(JobRef::parse("12+1"), JobRef::Other("12+1".into()));
        assert_eq!(JobRef::parse("22_[9-4]"), JobRef::Other("22_[9-4]".into()));
        assert_eq!(JobRef::parse(""), JobRef::Other(String::new()));
        assert_eq!(JobRef::parse("1_[0-10:5]").keys(), ["1_0", "1_5", "1_10"]);
    }

    #[test]
    fn base_ids() {
        assert_eq!(base_id("22_3"), "22");
        assert_eq!(base_id("25.0"), "25");
        assert_eq!(base_id("25"), "25");
    }
}
