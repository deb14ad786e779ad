//! SLURM job states (as `squeue -o %T`, `squeue -o %t` and `sacct -o State` print them) mapped
//! to [`JobStatus`]. Every state SLURM 22.05–24.x documents is mapped; an unknown one becomes
//! [`JobStatus::Unknown`] (not terminal) and is warned about once per state.

pub use crate::backend::array_scheduler::UnknownStates;
use crate::backend::{JobEnd, JobStatus};

/// `sacct`'s `ExitCode` column: `exit:signal`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitCode {
    /// The exit code of the batch script (or step).
    pub code: i32,
    /// The signal that killed it, 0 if none.
    pub signal: i32,
}

impl ExitCode {
    /// Parses `1:0`, `0:9`; `None` when malformed or empty.
    pub fn parse(text: &str) -> Option<ExitCode> {
        let (code, signal) = text.trim().split_once(':')?;
        Some(ExitCode {
            code: code.parse().ok()?,
            signal: signal.parse().ok()?,
        })
    }
}

/// A state split into its name and, for `CANCELLED by 1234`, the uid that cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateText<'a> {
    /// The state name (`CANCELLED`), without sacct's truncation mark `+`.
    pub name: &'a str,
    /// Who cancelled the job, when sacct says.
    pub cancelled_by: Option<u32>,
}

impl<'a> StateText<'a> {
    /// Splits `CANCELLED by 0` into `CANCELLED` and uid 0.
    pub fn parse(text: &'a str) -> StateText<'a> {
        let text = text.trim();
        let (name, by) = match text.split_once(" by ") {
            Some((name, by)) => (name, by.trim().parse().ok()),
            None => (text, None),
        };
        StateText {
            name: name.trim_end_matches('+'),
            cancelled_by: by,
        }
    }
}

/// Maps a state (long name or `squeue %t` short code) and an optional exit code to a status.
pub fn job_status(state: &str, exit: Option<ExitCode>) -> JobStatus {
    let name = StateText::parse(state).name;
    let failed = || {
        let exit = exit.unwrap_or_default();
        JobEnd::Failed {
            exit_code: (exit.signal == 0 && exit.code != 0).then_some(exit.code),
            signal: (exit.signal != 0).then_some(exit.signal),
        }
    };
    match name {
        // Not running yet. A job in SPECIAL_EXIT or a *_HOLD state is held: it runs again only
        // when released, which is a human's decision, so it is reported as queued.
        "PENDING" | "PD" | "CONFIGURING" | "CF" | "REQUEUED" | "RQ" | "REQUEUE_HOLD" | "RH"
        | "REQUEUE_FED" | "RF" | "RESV_DEL_HOLD" | "RD" | "RESIZING" | "RS" | "SPECIAL_EXIT"
        | "SE" => JobStatus::Queued,
        // Running, or finishing: COMPLETING is reported until the epilog is done, STAGE_OUT
        // while burst buffers drain, SIGNALING while a signal is delivered.
        "RUNNING" | "R" | "COMPLETING" | "CG" | "STAGE_OUT" | "SO" | "SIGNALING" | "SI" => {
            JobStatus::Running
        }
        "SUSPENDED" | "S" | "STOPPED" | "ST" => JobStatus::Suspended,
        "COMPLETED" | "CD" => match exit {
            Some(ExitCode { code: 0, signal: 0 }) | None => JobStatus::Ended(JobEnd::Completed),
            Some(_) => JobStatus::Ended(failed()),
        },
        "FAILED" | "F" => JobStatus::Ended(failed()),
        "TIMEOUT" | "TO" => JobStatus::Ended(JobEnd::Timeout),
        "NODE_FAIL" | "NF" | "BOOT_FAIL" | "BF" => JobStatus::Ended(JobEnd::NodeFail),
        "OUT_OF_MEMORY" | "OOM" => JobStatus::Ended(JobEnd::OutOfMemory),
        "PREEMPTED" | "PR" => JobStatus::Ended(JobEnd::Preempted),
        // REVOKED: a federation sibling removed because another cluster runs the job; this
        // cluster's copy is gone for good.
        "CANCELLED" | "CA" | "REVOKED" | "RV" => JobStatus::Ended(JobEnd::Cancelled),
        "DEADLINE" | "DL" => JobStatus::Ended(JobEnd::Deadline),
        other => JobStatus::Unknown(other.to_owned()),
    }
}

/// True for states after which the job never runs again.
pub fn is_terminal(state: &str) -> bool {
    matches!(job_status(state, None), JobStatus::Ended(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEnd::*;
    use JobStatus::Ended;

    #[test]
    fn every_documented_state() {
        let table: &[(JobStatus, &[&str])] = &[
            (
                JobStatus::Queued,
                &[
                    "PENDING",
                    "CONFIGURING",
                    "REQUEUED",
                    "REQUEUE_HOLD",
                    "REQUEUE_FED",
                    "RESV_DEL_HOLD",
                    "RESIZING",
                    "SPECIAL_EXIT",
                    "PD",
                ],
            ),
            (
                JobStatus::Running,
                &["RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "R", "CG"],
            ),
            (JobStatus::Suspended, &["SUSPENDED", "STOPPED", "S"]),
            (Ended(Completed), &["COMPLETED", "CD"]),
            (
                Ended(Failed {
                    exit_code: None,
                    signal: None,
                }),
                &["FAILED"],
            ),
            (Ended(Timeout), &["TIMEOUT", "TO"]),
            (Ended(NodeFail), &["NODE_FAIL", "BOOT_FAIL", "NF"]),
            (Ended(OutOfMemory), &["OUT_OF_MEMORY", "OOM"]),
            (Ended(Preempted), &["PREEMPTED"]),
            (
                Ended(Cancelled),
                &["CANCELLED", "CANCELLED by 0", "CANCELLED+", "REVOKED", "CA"],
            ),
            (Ended(Deadline), &["DEADLINE"]),
        ];
        for (want, states) in table {
            for state in *states {
                assert_eq!(&job_status(state, None), want, "{state}");
            }
        }
    }

    #[test]
    fn exit_codes() {
        let e = |t| ExitCode::parse(t);
        assert_eq!(
            job_status("FAILED", e("1:0")),
            Ended(Failed {
                exit_code: Some(1),
                signal: None
            })
        );
        assert_eq!(
            job_status("FAILED", e("0:9")),
            Ended(Failed {
                exit_code: None,
                signal: Some(9)
            })
        );
        assert_eq!(job_status("COMPLETED", e("0:0")), Ended(Completed));
        assert_eq!(job_status("OUT_OF_MEMORY", e("0:125")), Ended(OutOfMemory));
        assert_eq!(e("x"), None);
        assert_eq!(e(""), None);
    }

    #[test]
    fn cancelled_by() {
        assert_eq!(
            StateText::parse("CANCELLED by 1000"),
            StateText {
                name: "CANCELLED",
                cancelled_by: Some(1000)
            }
        );
        assert_eq!(
            StateText::parse("RUNNING"),
            StateText {
                name: "RUNNING",
                cancelled_by: None
            }
        );
    }

    #[test]
    fn unknown_states_warn_once_and_are_not_terminal() {
        let mut unknown = UnknownStates::default();
        let status = unknown.check("SLURM", "1", job_status("LAUNCH_FAILED_NEW", None));
        assert_eq!(status, JobStatus::Unknown("LAUNCH_FAILED_NEW".into()));
        assert!(status.is_alive());
        unknown.check("SLURM", "2", job_status("LAUNCH_FAILED_NEW", None));
        unknown.check("SLURM", "2", job_status("RUNNING", None));
        assert_eq!(unknown.len(), 1);
        assert!(!is_terminal("LAUNCH_FAILED_NEW"));
        assert!(is_terminal("TIMEOUT"));
    }
}
