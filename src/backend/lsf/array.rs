//! Job arrays: one `bsub -J "name[1-N]%M"` per wave of workers, chunked to MAX_JOB_ARRAY_SIZE.
//! Element indices are 1-based (`LSB_JOBINDEX`); even one worker is a one-element array
//! (`name[1]`), so every worker id has the form `lsf-<job>_<index>`.

use crate::backend::array_scheduler::{parse_setting, ArrayLimit};

pub use crate::backend::array_scheduler::{chunks, ArrayChunk};

/// LSF's default MAX_JOB_ARRAY_SIZE (lsb.params).
pub const DEFAULT_MAX_JOB_ARRAY_SIZE: u32 = 1000;

/// MAX_JOB_ARRAY_SIZE, read from `bparams -a`.
pub const MAX_JOB_ARRAY_SIZE: ArrayLimit = ArrayLimit {
    setting: "MAX_JOB_ARRAY_SIZE",
    query: ("bparams", &["-a"]),
    default: DEFAULT_MAX_JOB_ARRAY_SIZE,
};

impl ArrayChunk {
    /// The index list: `1-10`, or `1` for one element.
    pub fn indices(&self) -> String {
        if self.count == 1 {
            "1".to_owned()
        } else {
            format!("1-{}", self.count)
        }
    }

    /// The `-J` value: `name[1-10]`, `name[1-10]%4`.
    pub fn job_name(&self, name: &str) -> String {
        let base = format!("{name}[{}]", self.indices());
        match self.effective_limit() {
            Some(m) => format!("{base}%{m}"),
            None => base,
        }
    }
}

/// The arguments of the `bparams` call that shows MAX_JOB_ARRAY_SIZE.
pub fn bparams_args() -> Vec<String> {
    MAX_JOB_ARRAY_SIZE
        .query
        .1
        .iter()
        .map(|&a| a.to_owned())
        .collect()
}

/// Reads `MAX_JOB_ARRAY_SIZE = 1000` from `bparams -a` (or `bparams -l`) output.
pub fn parse_max_job_array_size(bparams: &str) -> Option<u32> {
    parse_setting(bparams, MAX_JOB_ARRAY_SIZE.setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let one = ArrayChunk {
            count: 1,
            max_running: Some(4),
        };
        assert_eq!(one.job_name("bo"), "bo[1]");
        let ten = ArrayChunk {
            count: 10,
            max_running: None,
        };
        assert_eq!(ten.job_name("bo"), "bo[1-10]");
        assert_eq!(
            ArrayChunk {
                max_running: Some(4),
                ..ten
            }
            .job_name("bo"),
            "bo[1-10]%4"
        );
        assert_eq!(
            ArrayChunk {
                max_running: Some(10),
                ..ten
            }
            .job_name("bo"),
            "bo[1-10]"
        );
    }

    #[test]
    fn a_full_chunk_is_named_with_its_limit() {
        assert_eq!(
            chunks(2500, 1000, Some(100))[0].job_name("r"),
            "r[1-1000]%100"
        );
    }

    #[test]
    fn max_job_array_size_from_bparams() {
        assert_eq!(
            parse_max_job_array_size(include_str!("testdata/bparams_a.txt")),
            Some(1000)
        );
        assert_eq!(
            parse_max_job_array_size(
                "Maximum number of jobs in a job array:\n MAX_JOB_ARRAY_SIZE = 5000\n"
            ),
            Some(5000)
        );
        assert_eq!(parse_max_job_array_size("MBD_SLEEP_TIME = 10\n"), None);
    }
}
