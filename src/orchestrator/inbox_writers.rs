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
    let mut pending: Vec<&mut Agent> = agents.iter_mut().filter(|a| a.wants_flush()).collect();
    if writers <= 1 || pending.len() < 2 {
        return pending
            .into_iter()
            .try_for_each(|agent| agent.flush_inbox(ledger, epoch));
    }
    let per_writer = pending.len().div_ceil(writers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = pending
            .chunks_mut(per_writer)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter_mut()
                        .try_for_each(|agent| agent.flush_inbox(ledger, epoch))
                })
            })
            .collect();
        // Every writer is waited for before the first error is returned.
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("an inbox writer panicked"))
            .collect();
        results.into_iter().collect()
    })
}
