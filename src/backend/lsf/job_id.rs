//! LSF job ids: `123` for a job, `123[7]` for element 7 of array job 123 (how `bjobs`, `bkill`
//! and `bstop` address one element), and the worker id blockorch derives from them.

use std::fmt;

/// A job or one element of a job array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LsfJobId {
    /// The job id (`LSB_JOBID`; for an element, the array's id).
    pub job: u64,
    /// The element's index (`LSB_JOBINDEX`, 1-based); `None` for a job that is not an array.
    pub index: Option<u32>,
}

impl LsfJobId {
    /// Element `index` of array `job`.
    pub fn element(job: u64, index: u32) -> LsfJobId {
        LsfJobId {
            job,
            index: Some(index),
        }
    }

    /// Parses `123` or `123[7]` (surrounding spaces allowed); `None` otherwise.
    pub fn parse(text: &str) -> Option<LsfJobId> {
        let text = text.trim();
        let (job, index) = match text.strip_suffix(']') {
            Some(rest) => {
                let (job, index) = rest.split_once('[')?;
                (job, Some(index.parse().ok()?))
            }
            None => (text, None),
        };
        if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(LsfJobId {
            job: job.parse().ok()?,
            // LSB_JOBINDEX is 0 outside an array.
            index: index.filter(|&i| i > 0),
        })
    }

    /// The worker id of the agent this job runs: `lsf-123_7`, or `lsf-123` for a plain job
    /// (what `blockorch worker` derives from `LSB_JOBID` and `LSB_JOBINDEX`).
    pub fn worker_id(&self) -> String {
        match self.index {
            Some(index) => format!("lsf-{}_{index}", self.job),
            None => format!("lsf-{}", self.job),
        }
    }
}

impl fmt::Display for LsfJobId {
    /// `123[7]` or `123`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "{}[{index}]", self.job),
            None => write!(f, "{}", self.job),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let e = LsfJobId::parse("123[7]").unwrap();
        assert_eq!(e, LsfJobId::element(123, 7));
        assert_eq!(e.to_string(), "123[7]");
        assert_eq!(e.worker_id(), "lsf-123_7");
        let j = LsfJobId::parse(" 55 ").unwrap();
        assert_eq!(
            j,
            LsfJobId {
                job: 55,
                index: None
            }
        );
        assert_eq!(
            (j.to_string(), j.worker_id()),
            ("55".into(), "lsf-55".into())
        );
        assert_eq!(LsfJobId::parse("55[0]").unwrap().index, None);
        for bad in ["", "-", "12a", "[3]", "12[x]", "12[3", "12]"] {
            assert_eq!(LsfJobId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn matches_the_agents_own_identity() {
        let env = |name: &str| match name {
            "LSB_JOBID" => Some("123".to_owned()),
            "LSB_JOBINDEX" => Some("7".to_owned()),
            _ => None,
        };
        assert_eq!(
            crate::worker::default_worker_id(&env, "node", 1),
            LsfJobId::element(123, 7).worker_id()
        );
    }
}
