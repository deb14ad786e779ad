//! Loading the state: latest usable snapshot + the orchestrator logs after it, each log read
//! only up to where the next epoch sealed it.
//!
//! Seals: the first record of epoch F's log, `EpochStarted{sealed}`, says how far F read each
//! older log when it took over. Whatever a superseded orchestrator appended later is not part
//! of history. Walking epochs from the newest down, an epoch whose `EpochStarted` lies within
//! its own limit is *effective* and limits every older log to the minimum of the effective
//! seals (an older log it does not list is sealed empty). The fold is the same for every
//! reader and equals the in-memory state of every owner at the moment it took over.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::ops::ControlFlow;
use std::path::PathBuf;

use super::block_table::BlockTable;
use super::error::{LedgerError, ReadWarning, Result, WarningKind};
use super::frame::FILE_HEADER_LEN;
use super::layout::Layout;
use super::owner::owner_released;
use super::reader::{LogReader, Tail};
use super::records::{LogCoverage, OrchestratorRecord};
use super::snapshot::{read_snapshot, Snapshot};
use super::state::LedgerState;

/// A state the orchestrator records fold into: the orchestrator's own [`LedgerState`], or a
/// reader's compact one (same fold, another [`BlockTable`]; it decodes the same snapshots).
pub(crate) trait FoldInto: serde::de::DeserializeOwned + Default {
    /// Whether a snapshot is decoded while it is read (less memory) rather than read whole
    /// and checked first (faster).
    const STREAMED_SNAPSHOT: bool;
    /// Applies one record.
    fn fold(&mut self, record: &OrchestratorRecord);
}

impl<B: BlockTable + serde::de::DeserializeOwned> FoldInto for LedgerState<B> {
    const STREAMED_SNAPSHOT: bool = B::COMPACT;
    fn fold(&mut self, record: &OrchestratorRecord) {
        self.apply(record);
    }
}

/// The state of a ledger as loaded by [`Ledger::load_state`](super::Ledger::load_state).
#[derive(Debug, Default)]
pub struct LoadedState<S = LedgerState> {
    /// The folded state.
    pub state: S,
    /// How far each orchestrator log was read (ascending epochs).
    pub coverage: Vec<LogCoverage>,
    /// Torn or garbage tails, ignored appends of superseded epochs, skipped snapshots.
    pub warnings: Vec<ReadWarning>,
    /// The snapshot the fold started from, if any.
    pub snapshot: Option<PathBuf>,
}

/// Limit and sealing epoch per log.
type Limits = HashMap<u64, (u64, u64)>;

/// The snapshot a fold starts from.
#[derive(Default)]
struct Chosen<S> {
    state: S,
    /// Where each covered log's replay starts.
    starts: HashMap<u64, u64>,
    /// The snapshot file, if any.
    path: Option<PathBuf>,
    /// Covered logs whose file is gone, with the extent the snapshot holds.
    missing: BTreeMap<u64, u64>,
}

/// Folds the ledger at `layout`. Reads only.
pub(crate) fn load_state<S: FoldInto>(layout: &Layout) -> Result<LoadedState<S>> {
    let epochs = layout.list_orchestrator_logs()?;
    let limits = seal_limits(layout, &epochs)?;
    let mut warnings = Vec::new();
    let mut evidence = BTreeMap::new();
    let chosen = choose_snapshot::<S>(layout, &epochs, &limits, &mut warnings, &mut evidence)?;
    check_history(layout, &epochs, &limits, &chosen, evidence)?;
    let Chosen {
        mut state,
        starts,
        path: snapshot,
        missing,
    } = chosen;
    let mut coverage = Vec::with_capacity(epochs.len() + missing.len());
    let all: BTreeSet<u64> = epochs.iter().chain(missing.keys()).copied().collect();
    for epoch in all {
        let path = layout.orchestrator_log_path(epoch);
        if let Some(&offset) = missing.get(&epoch) {
            // Keep its extent in the coverage, so that the next epoch seals it there and later
            // folds still accept the snapshot.
            warnings.push(ReadWarning {
                path,
                offset,
                bytes: 0,
                kind: WarningKind::LogMissing {
                    snapshot: snapshot.clone().unwrap_or_default(),
                },
            });
            coverage.push(LogCoverage { epoch, offset });
            continue;
        }
        let from = starts.get(&epoch).copied().unwrap_or(0);
        let mut reader = LogReader::<OrchestratorRecord>::new(&path).starting_at(from);
        if let Some(&(limit, _)) = limits.get(&epoch) {
            reader = reader.with_limit(limit);
        }
        let tail = reader.poll_with(|record| {
            state.fold(&record);
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

/// Computes each older log's read limit from the effective `EpochStarted` seals (for logs
/// that exist and for deleted ones a seal names).
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
        let older: BTreeSet<u64> = epochs
            .iter()
            .copied()
            .chain(sealed.iter().map(|c| c.epoch))
            .filter(|&e| e < f)
            .collect();
        for e in older {
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
/// starts. Unusable snapshots are reported and skipped. Every readable snapshot's claims about
/// deleted logs go into `evidence` (epoch → the most bytes any snapshot says it held).
fn choose_snapshot<S: FoldInto>(
    layout: &Layout,
    epochs: &[u64],
    limits: &Limits,
    warnings: &mut Vec<ReadWarning>,
    evidence: &mut BTreeMap<u64, u64>,
) -> Result<Chosen<S>> {
    for (epoch, seq) in layout.list_snapshots()?.into_iter().rev() {
        let path = layout.snapshot_path(epoch, seq);
        let checked = read_snapshot::<S>(&path, S::STREAMED_SNAPSHOT).and_then(|snap| {
            for c in snap.coverage.iter().filter(|c| !epochs.contains(&c.epoch)) {
                let held = evidence.entry(c.epoch).or_insert(0);
                *held = (*held).max(c.offset);
            }
            if (snap.epoch, snap.seq) != (epoch, seq) {
                return Err(format!(
                    "it claims to be snapshot {}-{} of another name",
                    snap.epoch, snap.seq
                ));
            }
            check_coverage(layout, &snap, limits).map(|missing| (snap, missing))
        });
        match checked {
            Ok((snap, missing)) => {
                let starts = snap.coverage.iter().map(|c| (c.epoch, c.offset)).collect();
                return Ok(Chosen {
                    state: snap.state,
                    starts,
                    path: Some(path),
                    missing,
                });
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
    Ok(Chosen::default())
}

/// A snapshot is usable if every log it covers still holds the bytes it covers and none of
/// them is covered beyond its seal (which a superseded orchestrator's late snapshot would be).
/// A covered log that was deleted is acceptable only where the snapshot provably holds all of
/// it: a newer epoch sealed it exactly where the snapshot covers it, or it is the snapshot's
/// own epoch, unsealed, whose owner ended its run and released the ledger (the run's last
/// snapshot is written after its last block change). Returns those deleted logs with their
/// covered extents.
fn check_coverage<S>(
    layout: &Layout,
    snap: &Snapshot<S>,
    limits: &Limits,
) -> Result<BTreeMap<u64, u64>, String> {
    let mut missing = BTreeMap::new();
    for c in &snap.coverage {
        let seal = limits.get(&c.epoch).copied();
        if let Some((limit, by)) = seal {
            if c.offset > limit {
                return Err(format!(
                    "it covers the epoch {} log up to byte {}, beyond byte {limit} where epoch {by} sealed it",
                    c.epoch, c.offset
                ));
            }
        }
        let path = layout.orchestrator_log_path(c.epoch);
        let len = match fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let whole = match seal {
                    Some((limit, _)) => limit == c.offset,
                    None => c.epoch == snap.epoch && owner_released(layout, c.epoch),
                };
                if !whole {
                    return Err(format!(
                        "it covers {} up to byte {}, but that log is missing and may have held \
                         more",
                        path.display(),
                        c.offset
                    ));
                }
                missing.insert(c.epoch, c.offset);
                continue;
            }
            Err(_) => 0,
        };
        if len < c.offset {
            return Err(format!(
                "it covers {} up to byte {} but the file has {len} bytes",
                path.display(),
                c.offset
            ));
        }
    }
    Ok(missing)
}

/// Refuses to load when an orchestrator log that held records (a seal or a snapshot says so)
/// is gone and the chosen snapshot does not stand in for it: a replay without it would
/// silently forget what it recorded.
fn check_history<S>(
    layout: &Layout,
    epochs: &[u64],
    limits: &Limits,
    chosen: &Chosen<S>,
    mut evidence: BTreeMap<u64, u64>,
) -> Result<()> {
    for (&e, &(limit, _)) in limits {
        if !epochs.contains(&e) {
            let held = evidence.entry(e).or_insert(0);
            *held = (*held).max(limit);
        }
    }
    for (e, held) in evidence {
        if held <= FILE_HEADER_LEN || chosen.missing.contains_key(&e) {
            continue;
        }
        let source = match limits.get(&e) {
            Some(&(limit, by)) if limit == held => {
                format!("epoch {by} read {held} bytes of it when it took over")
            }
            _ => format!("a snapshot covers {held} bytes of it"),
        };
        return Err(LedgerError::HistoryMissing {
            path: layout.orchestrator_log_path(e),
            reason: format!("{source}, and no usable snapshot holds all of it"),
        });
    }
    check_inboxes(layout, epochs, chosen)
}

/// A log deleted before any seal or snapshot mentioned it: its epoch was claimed (or no log is
/// left at all) and a worker has an inbox of that epoch, so its orchestrator recorded work.
/// Worker directories are listed only when some claimed epoch has no log.
fn check_inboxes<S>(layout: &Layout, epochs: &[u64], chosen: &Chosen<S>) -> Result<()> {
    let lost = |e: &u64| !epochs.contains(e) && !chosen.missing.contains_key(e);
    let claimed: Vec<u64> = layout
        .list_epoch_claims()?
        .into_iter()
        .filter(lost)
        .collect();
    let any_epoch = epochs.is_empty() && chosen.path.is_none();
    if claimed.is_empty() && !any_epoch {
        return Ok(());
    }
    for worker in layout.list_workers()? {
        for e in layout.list_inboxes(&worker)? {
            if lost(&e) && (any_epoch || claimed.contains(&e)) {
                return Err(LedgerError::HistoryMissing {
                    path: layout.orchestrator_log_path(e),
                    reason: format!(
                        "worker {} has an inbox of epoch {e}, so that epoch's orchestrator \
                         recorded work there",
                        worker.as_str()
                    ),
                });
            }
        }
    }
    Ok(())
}
