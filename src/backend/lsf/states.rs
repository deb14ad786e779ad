//! LSF job states (`bjobs -o stat`) and termination reasons (`bjobs -o exit_reason`) mapped to
//! [`JobStatus`]. Every state of IBM's job-state list and every keyword of its "termination
//! reasons" table is mapped; an unknown state becomes [`JobStatus::Unknown`] (not terminal) and
//! an unknown reason of an exited job a plain failure, each warned about once.

use crate::backend::array_scheduler::UnknownStates;
use crate::backend::{JobEnd, JobStatus};
use std::collections::HashSet;

/// The keyword of a termination reason as `bjobs -o exit_reason` prints it:
/// `TERM_RUNLIMIT: job killed after reaching LSF run time limit` → `TERM_RUNLIMIT`. Without a
/// keyword, the description alone is recognised for the reasons blockorch distinguishes.
pub fn reason_keyword(text: &str) -> Option<String> {
    let text = text.trim();
    let word = text
        .split(|c: char| c == ':' || c.is_whitespace())
        .next()
        .unwrap_or("");
    if word.starts_with("TERM_") {
        return Some(word.to_owned());
    }
    let lower = text.to_ascii_lowercase();
    let known = [
        ("run time limit", "TERM_RUNLIMIT"),
        ("memory usage limit", "TERM_MEMLIMIT"),
        ("swap usage limit", "TERM_SWAP"),
        ("without time for cleanup", "TERM_FORCE_OWNER"),
        ("killed by owner", "TERM_OWNER"),
        ("by root or lsf administrator", "TERM_ADMIN"),
        ("after preemption", "TERM_PREEMPT"),
        ("deadline", "TERM_DEADLINE"),
    ];
    known
        .iter()
        .find(|(fragment, _)| lower.contains(fragment))
        .map(|(_, keyword)| (*keyword).to_owned())
}

/// A failure with LSF's exit code: above 128 it is 128 + the number of the signal that killed
/// the job (bash's convention, which LSF reports), otherwise the script's own exit code.
pub fn failure(exit_code: Option<i32>) -> JobEnd {
    match exit_code {
        Some(code) if code > 128 && code <= 128 + 64 => JobEnd::Failed {
            exit_code: None,
            signal: Some(code - 128),
        },
        Some(code) => JobEnd::Failed {
            exit_code: (code != 0).then_some(code),
            signal: None,
        },
        None => JobEnd::Failed {
            exit_code: None,
            signal: None,
        },
    }
}

/// How a job that exited with termination reason `keyword` ended; `None` for a keyword this
/// version does not know.
pub fn end_for_reason(keyword: &str, exit_code: Option<i32>) -> Option<JobEnd> {
    Some(match keyword {
        // The job's own time: its run limit, its CPU limit.
        "TERM_RUNLIMIT" | "TERM_CPULIMIT" => JobEnd::Timeout,
        // The job's own memory: its -M limit, its swap limit.
        "TERM_MEMLIMIT" | "TERM_SWAP" | "TERM_SWAPLIMIT" => JobEnd::OutOfMemory,
        // Killed by a person (bkill by us, the owner, or an administrator), or removed because
        // a job it depended on failed.
        "TERM_OWNER" | "TERM_ADMIN" | "TERM_FORCE_OWNER" | "TERM_FORCE_ADMIN"
        | "TERM_REQUEUE_OWNER" | "TERM_REQUEUE_ADMIN" | "TERM_BUCKET_KILL" | "TERM_CHKPNT"
        | "TERM_ORPHAN_SYSTEM" | "TERM_USER" => JobEnd::Cancelled,
        // Taken away for other work: preemption, a closed run window, host load, a recalled
        // multicluster job, a reclaimed cloud host, a requeued chunk job.
        "TERM_PREEMPT" | "TERM_WINDOW" | "TERM_LOAD" | "TERM_MC_RECALL" | "TERM_RC"
        | "TERM_REQUEUE_RC" | "TERM_OTHER" => JobEnd::Preempted,
        "TERM_DEADLINE" => JobEnd::Deadline,
        // The host or LSF itself failed: host lost (TERM_HOST), job exited while LSF was down
        // (TERM_ZOMBIE), hung job removed, the working directory missing on the host, failed
        // pre-execution or data staging, integrations (RMS, SLURM, CSM, Kubernetes).
        "TERM_HOST"
        | "TERM_ZOMBIE"
        | "TERM_REMOVE_HUNG_JOB"
        | "TERM_CWD_NOTEXIST"
        | "TERM_PRE_EXEC_FAIL"
        | "TERM_DATA"
        | "TERM_RMS"
        | "TERM_SLURM"
        | "TERM_CSM_ALLOC"
        | "TERM_KUBE" => JobEnd::NodeFail,
        // The job's own fault: a signal from outside LSF (the kernel's OOM killer…), a
        // process or thread limit, or no particular reason.
        "TERM_EXTERNAL_SIGNAL" | "TERM_PROCESSLIMIT" | "TERM_THREADLIMIT" | "TERM_UNKNOWN" => {
            failure(exit_code)
        }
        _ => return None,
    })
}

/// Maps a state, an exit code and a termination reason (as bjobs prints them) to a status.
/// An exited job with a reason this version does not know is a failure (see [`Warnings`]).
pub fn job_status(stat: &str, exit_code: Option<i32>, exit_reason: Option<&str>) -> JobStatus {
    match stat.trim() {
        // Waiting: in a queue, a chunk job waiting its turn, a host being provisioned.
        "PEND" | "WAIT" | "PROV" => JobStatus::Queued,
        // UNKWN: the execution host lost contact with the master, the job may well still run;
        // ZOMBI: killed while its host was unreachable, LSF ends it when the host is back.
        // Neither is an end: the ledger's heartbeats decide about the worker meanwhile.
        "RUN" | "UNKWN" | "ZOMBI" => JobStatus::Running,
        // Suspended by the user or an administrator while pending (PSUSP) or running (USUSP),
        // or by LSF itself (SSUSP: host overloaded, run window closed, preempted by suspension).
        "PSUSP" | "USUSP" | "SSUSP" => JobStatus::Suspended,
        // DONE, and the post-execution states of a finished job (PDONE: post-exec succeeded;
        // PERR: post-exec failed, the job itself had finished).
        "DONE" | "PDONE" => JobStatus::Ended(JobEnd::Completed),
        "PERR" => match exit_code {
            None | Some(0) => JobStatus::Ended(JobEnd::Completed),
            code => JobStatus::Ended(failure(code)),
        },
        "EXIT" => {
            let end = exit_reason
                .and_then(reason_keyword)
                .and_then(|k| end_for_reason(&k, exit_code))
                .unwrap_or_else(|| failure(exit_code));
            JobStatus::Ended(end)
        }
        other => JobStatus::Unknown(other.to_owned()),
    }
}

/// True for states after which the job never runs again.
pub fn is_terminal(stat: &str) -> bool {
    matches!(job_status(stat, None, None), JobStatus::Ended(_))
}

/// Remembers what was already warned about: unknown states, unknown termination reasons, jobs
/// whose host lost contact.
#[derive(Debug, Default)]
pub struct Warnings {
    states: UnknownStates,
    reasons: HashSet<String>,
    unreachable: HashSet<String>,
}

impl Warnings {
    /// Logs what is worth a warning about `job`'s row, once per state, reason or job.
    pub fn check(&mut self, job: &str, stat: &str, exit_reason: Option<&str>, status: &JobStatus) {
        self.states.check("LSF", job, status.clone());
        if stat == "UNKWN" || stat == "ZOMBI" {
            if self.unreachable.insert(job.to_owned()) {
                tracing::warn!(
                    job,
                    state = stat,
                    "the job's execution host lost contact with LSF; it counts as running \
                     until LSF knows better (its worker's heartbeats decide about its blocks)"
                );
            }
        } else {
            self.unreachable.remove(job);
        }
        if stat == "EXIT" {
            if let Some(keyword) = exit_reason.and_then(reason_keyword) {
                if end_for_reason(&keyword, None).is_none() && self.reasons.insert(keyword.clone())
                {
                    tracing::warn!(
                        job,
                        reason = %keyword,
                        "LSF reported a termination reason this version of blockorch does not \
                         know; treating the job as failed (warned once per reason)"
                    );
                }
            }
        }
    }

    /// How many distinct unknown states were seen.
    pub fn unknown_states(&self) -> usize {
        self.states.len()
    }

    /// How many distinct unknown termination reasons were seen.
    pub fn unknown_reasons(&self) -> usize {
        self.reasons.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEnd::*;
    use JobStatus::Ended;

    #[test]
    fn every_documented_state() {
        let failed = Ended(Failed {
            exit_code: None,
            signal: None,
        });
        let table: &[(&str, JobStatus)] = &[
            ("PEND", JobStatus::Queued),
            ("WAIT", JobStatus::Queued),
            ("PROV", JobStatus::Queued),
            ("RUN", JobStatus::Running),
            ("UNKWN", JobStatus::Running),
            ("ZOMBI", JobStatus::Running),
            ("PSUSP", JobStatus::Suspended),
            ("USUSP", JobStatus::Suspended),
            ("SSUSP", JobStatus::Suspended),
            ("DONE", Ended(Completed)),
            ("PDONE", Ended(Completed)),
            ("PERR", Ended(Completed)),
            ("EXIT", failed),
        ];
        for (stat, want) in table {
            assert_eq!(&job_status(stat, None, None), want, "{stat}");
        }
        assert!(is_terminal("DONE") && is_terminal("EXIT"));
        assert!(!is_terminal("UNKWN") && !is_terminal("ZOMBI") && !is_terminal("NEWSTATE"));
        assert_eq!(
            job_status("NEWSTATE", None, None),
            JobStatus::Unknown("NEWSTATE".into())
        );
    }

    #[test]
    fn every_documented_reason() {
        let exit = |reason: &str| job_status("EXIT", Some(1), Some(reason));
        let failed = Ended(Failed {
            exit_code: Some(1),
            signal: None,
        });
        let table: &[(&str, JobStatus)] = &[
            ("TERM_RUNLIMIT", Ended(Timeout)),
            ("TERM_CPULIMIT", Ended(Timeout)),
            ("TERM_MEMLIMIT", Ended(OutOfMemory)),
            ("TERM_SWAP", Ended(OutOfMemory)),
            ("TERM_OWNER", Ended(Cancelled)),
            ("TERM_ADMIN", Ended(Cancelled)),
            ("TERM_FORCE_OWNER", Ended(Cancelled)),
            ("TERM_FORCE_ADMIN", Ended(Cancelled)),
            ("TERM_REQUEUE_OWNER", Ended(Cancelled)),
            ("TERM_REQUEUE_ADMIN", Ended(Cancelled)),
            ("TERM_BUCKET_KILL", Ended(Cancelled)),
            ("TERM_CHKPNT", Ended(Cancelled)),
            ("TERM_ORPHAN_SYSTEM", Ended(Cancelled)),
            ("TERM_PREEMPT", Ended(Preempted)),
            ("TERM_WINDOW", Ended(Preempted)),
            ("TERM_LOAD", Ended(Preempted)),
            ("TERM_MC_RECALL", Ended(Preempted)),
            ("TERM_RC", Ended(Preempted)),
            ("TERM_REQUEUE_RC", Ended(Preempted)),
            ("TERM_OTHER", Ended(Preempted)),
            ("TERM_DEADLINE", Ended(Deadline)),
            ("TERM_HOST", Ended(NodeFail)),
            ("TERM_ZOMBIE", Ended(NodeFail)),
            ("TERM_REMOVE_HUNG_JOB", Ended(NodeFail)),
            ("TERM_CWD_NOTEXIST", Ended(NodeFail)),
            ("TERM_PRE_EXEC_FAIL", Ended(NodeFail)),
            ("TERM_DATA", Ended(NodeFail)),
            ("TERM_RMS", Ended(NodeFail)),
            ("TERM_SLURM", Ended(NodeFail)),
            ("TERM_CSM_ALLOC", Ended(NodeFail)),
            ("TERM_KUBE", Ended(NodeFail)),
            ("TERM_EXTERNAL_SIGNAL", failed.clone()),
            ("TERM_PROCESSLIMIT", failed.clone()),
            ("TERM_THREADLIMIT", failed.clone()),
            ("TERM_UNKNOWN", failed.clone()),
            ("TERM_SOMETHING_NEW", failed.clone()),
        ];
        for (keyword, want) in table {
            assert_eq!(&exit(keyword), want, "{keyword}");
            let printed = format!("{keyword}: some description");
            assert_eq!(&exit(&printed), want, "{printed}");
        }
    }

    #[test]
    fn reasons_as_printed() {
        let k = |t| reason_keyword(t);
        assert_eq!(
            k("TERM_RUNLIMIT: job killed after reaching LSF run time limit").as_deref(),
            Some("TERM_RUNLIMIT")
        );
        assert_eq!(
            k("job killed after reaching LSF memory usage limit").as_deref(),
            Some("TERM_MEMLIMIT")
        );
        assert_eq!(k("job killed by owner").as_deref(), Some("TERM_OWNER"));
        assert_eq!(k("-"), None);
        assert_eq!(k(""), None);
    }

    #[test]
    fn exit_codes_and_signals() {
        assert_eq!(
            job_status("EXIT", Some(1), None),
            Ended(Failed {
                exit_code: Some(1),
                signal: None
            })
        );
        assert_eq!(
            job_status("EXIT", Some(137), None),
            Ended(Failed {
                exit_code: None,
                signal: Some(9)
            })
        );
        assert_eq!(
            job_status("EXIT", Some(255), Some("-")),
            Ended(Failed {
                exit_code: Some(255),
                signal: None
            })
        );
        assert_eq!(
            job_status("PERR", Some(2), None),
            Ended(Failed {
                exit_code: Some(2),
                signal: None
            })
        );
        // The reason decides over the exit code.
        assert_eq!(
            job_status("EXIT", Some(140), Some("TERM_RUNLIMIT: x")),
            Ended(Timeout)
        );
    }

    #[test]
    fn warnings_once() {
        let mut w = Warnings::default();
        for job in ["1[1]", "1[2]"] {
            let status = job_status("BRANDNEW", None, None);
            w.check(job, "BRANDNEW", None, &status);
            let status = job_status("EXIT", Some(1), Some("TERM_NEW: x"));
            w.check(job, "EXIT", Some("TERM_NEW: x"), &status);
            let status = job_status("UNKWN", None, None);
            w.check(job, "UNKWN", None, &status);
        }
        assert_eq!((w.unknown_states(), w.unknown_reasons()), (1, 1));
    }
}
