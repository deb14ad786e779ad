//! Loading the state: latest usable snapshot + the orchestrator logs after it, each log read
//! only up to where the next epoch sealed it.
//!
//! Seals: the first record of epoch F's log, `EpochStarted{sealed}`, says how far F read each
//! older log when it took over. Whatever a superseded orchestrator appended later is not part
//! of history. Walking epochs from the newest down, an epoch whose `EpochStarted` lies within
//! its own limit is *effective* and limits every older log to the minimum of the effective
//! seals (an older log it does not list is sealed empty). The fold is the same for every
//! reader and equals the in-memory state of every owner at the moment it took over.

use std::collections::HashMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::PathBuf;

use super::error::{ReadWarning, Result, WarningKind};
use super::layout::Layout;
use super::reader::{LogReader, Tail};
use super::records::{LogCoverage, OrchestratorRecord};
use super::snapshot::{read_snapshot, Snapshot};
use super::state::LedgerState;

/// The state of a ledger as loaded by [`Ledger::load_state`](super::Ledger::load_state).
#[derive(Debug, Default)]
pub struct LoadedState {
    /// The folded state.
    pub state: LedgerState,
    /// How far each orchestrator log was read (ascending epochs).
    pub coverage: Vec<LogCoverage>,
    /// Torn or garbage tails, ignored appends of superseded epochs, skipped snapshots.
    pub warnings: Vec<ReadWarning>,
    /// The snapshot the fold started from, if any.
    pub snapshot: Option<PathBuf>,
}

/// Limit and sealing epoch per log.
type Limits = HashMap<u64, (u64, u64)>;

/// Folds the ledger at `layout`. Reads only.
pub(crate) fn load_state(layout: &Layout) -> Result<LoadedState> {
    let epochs = layout.list_orchestrator_logs()?;
    let limits = seal_limits(layout, &epochs)?;
    let mut warnings = Vec::new();
    let (mut state, starts, snapshot) = choose_snapshot(layout, &limits, &mut warnings)?;
    let mut coverage = Vec::with_capacity(epochs.len());
    for &epoch in &epochs {
        let path = layout.orchestrator_log_path(epoch);
        let from = starts.get(&epoch).copied().unwrap_or(0);
        let mut reader = LogReader::<OrchestratorRecord>::new(&path).starting_at(from);
        if let Some(&(limit, _)) = limits.get(&epoch) {
            reader = reader.with_limit(limit);
        }
        let tail = reader.poll_with(|record| {
            state.apply(&record);
            ControlFlow::Continue(())
        })?;
        match tail {
            Tail::BeyondLimit { offset, bytes } => {
                let sealed_by = limits.get(&epoch).map_or(0, |l| l.1);
                warnings.push(ReadWarning {
                    path: path.clone(),
                    offset,
                    bytes,
                    kind: WarningKind::AfterTakeover { sealed_by },
                });
            }
            other => warnings.extend(other.warning(&path)),
        }
        coverage.push(LogCoverage {
            epoch,
            offset: reader.offset(),
        });
    }
    Ok(LoadedState {
        state,
        coverage,
        warnings,
        snapshot,
    })
}

/// Computes each older log's read limit from the effective `EpochStarted` seals.
fn seal_limits(layout: &Layout, epochs: &[u64]) -> Result<Limits> {
    let mut limits = Limits::new();
    for &f in epochs.iter().rev() {
        let mut reader = LogReader::<OrchestratorRecord>::new(layout.orchestrator_log_path(f));
        if let Some(&(limit, _)) = limits.get(&f) {
            reader = reader.with_limit(limit);
        }
        let mut first = None;
        reader.poll_with(|record| {
            first = Some(record);
            ControlFlow::Break(())
        })?;
        let Some(OrchestratorRecord::EpochStarted { epoch, sealed, .. }) = first else {
            continue;
        };
        if epoch != f {
            continue;
        }
        for &e in epochs.iter().filter(|&&e| e < f) {
            let seal = sealed.iter().find(|c| c.epoch == e).map_or(0, |c| c.offset);
            let slot = limits.entry(e).or_insert((seal, f));
            if seal < slot.0 {
                *slot = (seal, f);
            }
        }
    }
    Ok(limits)
}

/// The newest snapshot consistent with the seals: its state and where each log's replay
/// starts. Unusable snapshots are reported and skipped.
fn choose_snapshot(
    layout: &Layout,
    limits: &Limits,
    warnings: &mut Vec<ReadWarning>,
) -> Result<(LedgerState, HashMap<u64, u64>, Option<PathBuf>)> {
    for (epoch, seq) in layout.list_snapshots()?.into_iter().rev() {
        let path = layout.snapshot_path(epoch, seq);
        let checked = read_snapshot(&path).and_then(|snap| {
            if (snap.epoch, snap.seq) != (epoch, seq) {
                return Err(format!(
                    "it claims to be snapshot {}-{} of another name",
                    snap.epoch, snap.seq
                ));
            }
            check_coverage(layout, &snap, limits).map(|()| snap)
        });
        match checked {
            Ok(snap) => {
                let starts = snap.coverage.iter().map(|c| (c.epoch, c.offset)).collect();
                return Ok((snap.state, starts, Some(path)));
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), "snapshot not used: {reason}");
                warnings.push(ReadWarning {
                    path,
                    offset: 0,
                    bytes: 0,
                    kind: WarningKind::SnapshotSkipped { reason },
                });
            }
        }
    }
    Ok((LedgerState::new(), HashMap::new(), None))
}

/// A snapshot is usable if every log it covers still holds the bytes it covers and none of
/// them is covered beyond its seal (which a superseded orchestrator's late snapshot would be).
fn check_coverage(layout: &Layout, snap: &Snapshot, limits: &Limits) -> Result<(), String> {
    for c in &snap.coverage {
        if let Some(&(limit, by)) = limits.get(&c.epoch) {
            if c.offset > limit {
                return Err(format!(
                    "it covers the epoch {} log up to byte {}, beyond byte {limit} where epoch {by} sealed it",
                    c.epoch, c.offset
                ));
            }
        }
        let path = layout.orchestrator_log_path(c.epoch);
        let len = fs::metadata(&path).map_or(0, |m| m.len());
        if len < c.offset {
            return Err(format!(
                "it covers {} up to byte {} but the file has {len} bytes",
                path.display(),
                c.offset
            ));
        }
    }
    Ok(())
}
