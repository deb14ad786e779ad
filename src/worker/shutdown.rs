//! Why the agent stops ([`Shutdown`], which only escalates) and how it exits ([`AgentExit`]).

use super::program::signal_name;

/// Why the agent is stopping, from the gentlest to the most urgent; a later reason replaces
/// an earlier one only if it ranks higher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// The orchestrator sent `Stop`: run every queued block, then exit.
    Drain(String),
    /// The job's walltime is nearly used up: finish running blocks, give back queued ones.
    Walltime(String),
    /// A slot's program keeps dying: give everything back and exit.
    GaveUp(String),
    /// The orchestrator is gone: terminate programs, report nothing more about blocks.
    OrchestratorGone(String),
    /// SIGTERM/SIGINT: terminate programs, give every unfinished block back.
    Signal(i32),
    /// The agent cannot write its outbox (full disk, lost mount): terminate programs, report
    /// nothing (it cannot), exit with [`LEDGER_UNWRITABLE_EXIT`] so the orchestrator returns
    /// its blocks without charging them.
    LedgerUnwritable(String),
}

/// The agent's exit code when it could not write to the ledger (its worker directory or its
/// outbox): the cluster's fault, never the blocks'.
pub const LEDGER_UNWRITABLE_EXIT: i32 = 5;

impl Shutdown {
    /// Urgency; escalation only goes up.
    pub fn rank(&self) -> u8 {
        match self {
            Shutdown::Drain(_) => 0,
            Shutdown::Walltime(_) => 1,
            Shutdown::GaveUp(_) => 2,
            Shutdown::OrchestratorGone(_) => 3,
            Shutdown::Signal(_) => 4,
            Shutdown::LedgerUnwritable(_) => 5,
        }
    }

    /// True when running blocks are terminated rather than finished.
    pub fn is_hard(&self) -> bool {
        self.rank() >= 2
    }

    /// True when queued blocks are still run.
    pub fn runs_queue(&self) -> bool {
        matches!(self, Shutdown::Drain(_))
    }

    /// True when the agent still reports on blocks (not after the orchestrator is gone).
    pub fn reports(&self) -> bool {
        !matches!(
            self,
            Shutdown::OrchestratorGone(_) | Shutdown::LedgerUnwritable(_)
        )
    }

    /// The reason given back for unfinished blocks.
    pub fn give_back_reason(&self) -> String {
        match self {
            Shutdown::Drain(reason) => format!("agent stopping: {reason}"),
            Shutdown::Walltime(why) => format!("agent walltime: {why}"),
            Shutdown::GaveUp(_) => "agent gave up: its worker program keeps dying".to_owned(),
            Shutdown::OrchestratorGone(why) => format!("orchestrator gone: {why}"),
            Shutdown::Signal(sig) => format!("agent terminated ({})", signal_name(*sig)),
            Shutdown::LedgerUnwritable(why) => format!("ledger unwritable: {why}"),
        }
    }

    /// The `Bye` reason.
    pub fn bye_reason(&self) -> String {
        match self {
            Shutdown::Drain(reason) => format!("stopped: {reason}"),
            Shutdown::Walltime(why) => format!("walltime: {why}"),
            Shutdown::GaveUp(why) => format!("gave up: {why}"),
            Shutdown::OrchestratorGone(why) => format!("orchestrator gone: {why}"),
            Shutdown::Signal(sig) => format!("agent terminated ({})", signal_name(*sig)),
            Shutdown::LedgerUnwritable(why) => format!("ledger unwritable: {why}"),
        }
    }

    /// How the agent process exits.
    pub fn exit(&self) -> AgentExit {
        match self {
            Shutdown::Drain(_) => AgentExit::Stopped,
            Shutdown::Walltime(_) => AgentExit::Walltime,
            Shutdown::GaveUp(_) => AgentExit::GaveUp,
            Shutdown::OrchestratorGone(_) => AgentExit::OrchestratorGone,
            Shutdown::Signal(sig) => AgentExit::Signalled(*sig),
            Shutdown::LedgerUnwritable(_) => AgentExit::LedgerUnwritable,
        }
    }
}

/// How an agent run ended; [`code`](AgentExit::code) is the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentExit {
    /// The orchestrator said `Stop` and every block was finished (exit 0).
    Stopped,
    /// The job's walltime was nearly used up; running blocks were finished (exit 0).
    Walltime,
    /// The orchestrator is gone (exit 3).
    OrchestratorGone,
    /// A slot's program died too often without finishing a block (exit 4).
    GaveUp,
    /// SIGTERM/SIGINT (exit 128 + signal: 143, 130).
    Signalled(i32),
    /// Its outbox could not be written ([`LEDGER_UNWRITABLE_EXIT`]).
    LedgerUnwritable,
}

impl AgentExit {
    /// The documented exit code.
    pub fn code(&self) -> i32 {
        match self {
            AgentExit::Stopped | AgentExit::Walltime => 0,
            AgentExit::OrchestratorGone => 3,
            AgentExit::GaveUp => 4,
            AgentExit::Signalled(sig) => 128 + sig,
            AgentExit::LedgerUnwritable => LEDGER_UNWRITABLE_EXIT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_escalate_and_codes_are_documented() {
        let all = [
            Shutdown::Drain("done".into()),
            Shutdown::Walltime("w".into()),
            Shutdown::GaveUp("g".into()),
            Shutdown::OrchestratorGone("o".into()),
            Shutdown::Signal(libc::SIGTERM),
            Shutdown::LedgerUnwritable("ENOSPC".into()),
        ];
        for pair in all.windows(2) {
            assert!(pair[0].rank() < pair[1].rank());
        }
        let codes: Vec<i32> = all.iter().map(|s| s.exit().code()).collect();
        assert_eq!(codes, [0, 0, 4, 3, 143, 5]);
        assert!(!all[5].reports() && all[5].is_hard());
        assert!(!all[1].is_hard() && all[2].is_hard());
        assert_eq!(all[4].give_back_reason(), "agent terminated (SIGTERM)");
    }
}
