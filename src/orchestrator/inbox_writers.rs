//! Writing the queued inbox records of many agents at once. Each inbox is its own file and
//! each commit its own fsync; on a shared file system that is a round trip to the server per
//! agent, so one after another they bound how fast a run of many agents can hand out blocks.
//! Written by a few threads at once, the round trips overlap.

use super::agent::Agent;
use crate::ledger::{Ledger, LedgerError};

/// Inbox writers at once on a shared file system (on a local disk, one: an fsync there costs
/// no round trip, and threads would only cost the hot path time).
pub const SHARED_INBOX_WRITERS: usize = 8;

/// Writes every agent's queued inbox records (see [`Agent::flush_inbox`]) with up to
/// `writers` threads; the first error, if any.
pub fn flush_all(
    agents: &mut [Agent],
    ledger: &Ledger,
    epoch: u64,
    writers: usize,
) -> Result<(), LedgerError> {
    if writers <= 1 {
        // The local disk's hot path: one after another, nothing allocated.
        return agents
            .iter_mut()
            .try_for_each(|agent| agent.flush_inbox(ledger, epoch));
    }
    let mut pending: Vec<&mut Agent> = agents.iter_mut().filter(|a| a.wants_flush()).collect();
    crate::parallel::try_map(&mut pending, writers, |agent| {
        agent.flush_inbox(ledger, epoch)
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::LaunchedAgent;
    use crate::ledger::{InboxRecord, LogReader, WorkerId};

    #[test]
    fn every_agent_gets_its_own_records_whatever_the_writers() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create_or_open(dir.path(), &serde_json::json!([])).unwrap();
        for writers in [1, 3, SHARED_INBOX_WRITERS] {
            let epoch = writers as u64;
            let mut agents: Vec<Agent> = (0..10u32)
                .map(|i| {
                    let launched = LaunchedAgent {
                        worker_id: format!("w{i}"),
                        job_id: None,
                        task: 0,
                    };
                    Agent::new(i, launched, 1, &dir.path().join("none"))
                })
                .collect();
            // Agents 0, 3, 6 and 9 have nothing to say: they get no inbox.
            for agent in agents.iter_mut().filter(|a| a.index % 3 != 0) {
                agent.assign(0, u64::from(agent.index) * 100, 1);
                agent.assign(0, u64::from(agent.index) * 100 + 1, 1);
            }
            flush_all(&mut agents, &ledger, epoch, writers).unwrap();
            for agent in &agents {
                assert!(!agent.wants_flush());
                let path = ledger.inbox_path(
                    &WorkerId::new(agent.launched.worker_id.clone()).unwrap(),
                    epoch,
                );
                if agent.index % 3 == 0 {
                    assert!(!path.exists(), "{}", path.display());
                    continue;
                }
                let records = LogReader::<InboxRecord>::new(&path).poll().unwrap().records;
                let blocks: Vec<u64> = records
                    .iter()
                    .map(|r| match r {
                        InboxRecord::Assign { block, .. } => *block,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                let first = u64::from(agent.index) * 100;
                assert_eq!(blocks, [first, first + 1], "{writers} writers");
            }
        }
    }
}
