//! What `cancel` acts on: the scheduler jobs and local agent processes of the workers the
//! ledger's registry shows as not ended (never anything found by name or user).

use std::collections::BTreeSet;

use serde::Serialize;

use super::proof::prove_ours;
use crate::ledger::{pid_alive, Layout, LedgerView};

/// A scheduler job of a live worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobTarget {
    /// Worker id.
    pub worker_id: String,
    /// Scheduler job id (`123_4` for a SLURM array element, `123[4]` for LSF).
    pub job_id: String,
}

/// A local agent process of a live worker on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalTarget {
    /// Worker id.
    pub worker_id: String,
    /// Agent pid (from its Hello).
    pub pid: u32,
}

/// A live worker that is not cancelled, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedWorker {
    /// Worker id.
    pub worker_id: String,
    /// Why it is left alone.
    pub reason: String,
}

/// What `cancel` will act on, per backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CancelTargets {
    /// SLURM jobs (`scancel`).
    pub slurm: Vec<JobTarget>,
    /// LSF jobs (`bkill`).
    pub lsf: Vec<JobTarget>,
    /// Local agents (SIGTERM).
    pub local: Vec<LocalTarget>,
    /// Live workers left alone.
    pub skipped: Vec<SkippedWorker>,
}

impl CancelTargets {
    /// Adds the targets of `later` not already present (by worker id); a worker skipped
    /// before but targeted now is targeted.
    pub fn merge(&mut self, later: CancelTargets) {
        let mut known: BTreeSet<String> = self.worker_ids().collect();
        for t in later.slurm {
            if known.insert(t.worker_id.clone()) {
                self.slurm.push(t);
            }
        }
        for t in later.lsf {
            if known.insert(t.worker_id.clone()) {
                self.lsf.push(t);
            }
        }
        for t in later.local {
            if known.insert(t.worker_id.clone()) {
                self.local.push(t);
            }
        }
        let targeted: BTreeSet<String> = self.worker_ids().collect();
        self.skipped.retain(|s| !targeted.contains(&s.worker_id));
        for s in later.skipped {
            if !targeted.contains(&s.worker_id)
                && !self.skipped.iter().any(|k| k.worker_id == s.worker_id)
            {
                self.skipped.push(s);
            }
        }
    }

    fn worker_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.slurm
            .iter()
            .chain(&self.lsf)
            .map(|t| t.worker_id.clone())
            .chain(self.local.iter().map(|t| t.worker_id.clone()))
    }
}

/// The jobs and processes of the workers the ledger's registry shows as not ended.
/// `this_host` decides which local agents can be signalled.
pub fn cancel_targets(view: &LedgerView, this_host: &str) -> CancelTargets {
    let mut out = CancelTargets::default();
    for w in &view.workers {
        let Some(entry) = &w.entry else { continue };
        if entry.ended.is_some() {
            continue;
        }
        let skip = |reason: String| SkippedWorker {
            worker_id: w.worker_id.clone(),
            reason,
        };
        match entry.backend.as_str() {
            "slurm" | "lsf" => match &entry.job_id {
                Some(job_id) => {
                    let t = JobTarget {
                        worker_id: w.worker_id.clone(),
                        job_id: job_id.clone(),
                    };
                    if entry.backend == "slurm" {
                        out.slurm.push(t);
                    } else {
                        out.lsf.push(t);
                    }
                }
                None => out
                    .skipped
                    .push(skip("registered without a job id".to_string())),
            },
            "local" => {
                let outbox = w.outbox.as_ref();
                match outbox.and_then(|o| o.hello.as_ref()) {
                    None => out.skipped.push(skip(
                        "it has not said hello yet, so its pid is unknown".to_string(),
                    )),
                    Some(_) if outbox.is_some_and(|o| o.bye.is_some()) => {
                        out.skipped.push(skip("it already said bye".to_string()))
                    }
                    Some(h) if h.host != this_host => out.skipped.push(skip(format!(
                        "it runs on host {} (pid {}); run cancel there",
                        h.host, h.pid
                    ))),
                    Some(h) if !pid_alive(h.pid) => out
                        .skipped
                        .push(skip(format!("its process {} is gone", h.pid))),
                    Some(h) => {
                        // Only this ledger's agent: ours, `blockorch worker --worker-id <id>`,
                        // with its files in workers/<id>/ open.
                        let dir = Layout::new(&view.root).worker_dir_named(&w.worker_id);
                        let args = ["worker", "--worker-id", w.worker_id.as_str()];
                        match prove_ours(h.pid, &dir, &args) {
                            Ok(()) => out.local.push(LocalTarget {
                                worker_id: w.worker_id.clone(),
                                pid: h.pid,
                            }),
                            Err(reason) => out.skipped.push(skip(reason)),
                        }
                    }
                }
            }
            other => out.skipped.push(skip(format!("unknown backend {other:?}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(w: &str, id: &str) -> JobTarget {
        JobTarget {
            worker_id: w.into(),
            job_id: id.into(),
        }
    }

    #[test]
    fn merge_adds_later_registrations_once() {
        let mut a = CancelTargets {
            slurm: vec![job("s0", "1_0")],
            skipped: vec![SkippedWorker {
                worker_id: "s1".into(),
                reason: "x".into(),
            }],
            ..CancelTargets::default()
        };
        a.merge(CancelTargets {
            slurm: vec![job("s0", "1_0"), job("s1", "1_1"), job("s2", "1_2")],
            ..CancelTargets::default()
        });
        let ids: Vec<_> = a.slurm.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, ["1_0", "1_1", "1_2"]);
        assert!(a.skipped.is_empty());
    }
}
