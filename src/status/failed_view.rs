//! `status --failed`: the failed and orphaned blocks of a ledger grouped by cause.

use std::fmt::Write as _;

use serde::Serialize;

use super::compact::CompactSnapshot;
use super::failures::{render_groups, FailureGroup, FailureGroups, FailureState};
use super::model::CellState;
use crate::ledger::BlockState;

/// The `--json` document of `status --failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedReport {
    /// The ledger directory.
    pub ledger: String,
    /// Failed blocks in all tasks.
    pub failed: u64,
    /// Orphaned blocks in all tasks.
    pub orphaned: u64,
    /// The groups (see [`FailureGroups::finish`] for the order).
    pub groups: Vec<FailureGroup>,
}

impl FailedReport {
    /// Groups the failed blocks of `snap` (from the folded state) and its orphaned blocks (a
    /// pass over the plan of each task, only when some block failed); `ledger` is how the
    /// commands name the ledger.
    pub fn build(snap: &CompactSnapshot, ledger: &str) -> Self {
        let mut groups = FailureGroups::new(ledger);
        let state = snap.state();
        let plan = snap.plan();
        for t in 0..plan.len() {
            let name = plan.name(t);
            if state.counts(t as u32).failed > 0 {
                for id in state.block_ids(t as u32) {
                    if let Some(e) = state.entry(t as u32, id) {
                        if e.state() == BlockState::Failed {
                            groups.add_failed(name, id, e.last_error());
                        }
                    }
                }
            }
            if snap.orphans_computed() {
                for b in plan.task(t).blocks() {
                    if snap.block(t, &b).1 == CellState::Orphaned {
                        groups.add_orphaned(name, b.id);
                    }
                }
            }
        }
        let groups = groups.finish();
        let sum = |s: FailureState| {
            groups
                .iter()
                .filter(|g| g.state == s)
                .map(|g| g.count)
                .sum()
        };
        Self {
            ledger: ledger.to_string(),
            failed: sum(FailureState::Failed),
            orphaned: sum(FailureState::Orphaned),
            groups,
        }
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} failed, {} orphaned",
            self.ledger, self.failed, self.orphaned
        );
        let mut task: Option<&str> = None;
        let mut start = 0;
        for i in 0..=self.groups.len() {
            let this = self.groups.get(i).map(|g| g.task.as_str());
            if this != task || i == self.groups.len() {
                if let Some(name) = task {
                    let _ = writeln!(out, "\ntask {name}:");
                    out.push_str(&render_groups(&self.groups[start..i], "  "));
                }
                task = this;
                start = i;
            }
        }
        out
    }
}
