//! One orchestrator per ledger, by epochs. A claimant reads the highest epoch N; if its owner
//! looks alive it is refused ([`LedgerError::Busy`]); otherwise (or with `force`) it publishes
//! `owners/epoch-<N+1>.json` exclusively — of two racing claimants exactly one succeeds. The
//! owner rewrites `owners/heartbeat-<N>.json` every [`HEARTBEAT_INTERVAL`]; once a higher epoch
//! exists it is superseded and must stop writing.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{io_err, LedgerError, Result};
use super::fsutil::{publish_exclusive, read_small, write_atomic};
use super::host::{current_pid, hostname, pid_alive};
use super::layout::Layout;
use super::time::{age, format_age, now_us};

/// How often an owner should call [`Ownership::heartbeat`].
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Default age after which an owner whose heartbeat stopped may be taken over. It must exceed
/// the heartbeat interval plus clock skew between nodes plus the file system's attribute
/// caching delay (see docs/design/ledger.md).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(60);

/// How long a claimant that lost a race waits for the winner's claim file to become readable.
const CLAIM_READ_RETRIES: usize = 20;

#[derive(Serialize, Deserialize)]
struct EpochClaim {
    epoch: u64,
    host: String,
    pid: u32,
    since_us: u64,
    blockorch_version: String,
    /// The run's agent scale (absent in claims of versions before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_scale: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct Heartbeat {
    epoch: u64,
    time_us: u64,
    released: bool,
}

/// How to claim a ledger.
#[derive(Clone, Debug)]
pub struct ClaimOptions {
    /// Take over even if the current owner looks alive (`submit --force`).
    pub force: bool,
    /// Heartbeat age after which an owner counts as dead.
    pub stale_after: Duration,
    /// Host name recorded in the claim (defaults to this host).
    pub host: String,
    /// Pid recorded in the claim (defaults to this process).
    pub pid: u32,
    /// The run's agent scale, recorded in the claim so that `status` judges the agents'
    /// silence at the run's own heartbeat interval (defaults to 1).
    pub agent_scale: u32,
}

impl Default for ClaimOptions {
    fn default() -> Self {
        Self {
            force: false,
            stale_after: DEFAULT_STALE_AFTER,
            host: hostname(),
            pid: current_pid(),
            agent_scale: 1,
        }
    }
}

/// The owner of an epoch as seen by anyone reading `owners/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnerStatus {
    /// The epoch.
    pub epoch: u64,
    /// Owner host ("unknown" if the claim file is unreadable).
    pub host: String,
    /// Owner pid (0 if unknown).
    pub pid: u32,
    /// When the epoch was claimed.
    pub since_us: u64,
    /// Last heartbeat time, if any.
    pub heartbeat_us: Option<u64>,
    /// The owner ended its run and released the ledger.
    pub released: bool,
    /// Whether the owner's pid exists, when the owner is on this host.
    pub pid_alive: Option<bool>,
    /// The agent scale its claim records (`None`: not recorded, or the claim is unreadable).
    pub agent_scale: Option<u32>,
}

/// Whether an owner may be taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Heartbeat recent (and pid alive, on this host).
    Live,
    /// The owner released the ledger.
    Released,
    /// Its pid is gone (same host).
    DeadPid,
    /// Its last heartbeat (or claim) is older than the bound.
    HeartbeatStale(Duration),
}

impl OwnerStatus {
    /// Heartbeat age at `now_us` (the claim time stands in before the first heartbeat).
    pub fn heartbeat_age(&self, now_us: u64) -> Duration {
        age(self.heartbeat_us.unwrap_or(self.since_us), now_us)
    }

    /// Decides liveness at `now_us` with the bound `stale_after`.
    pub fn liveness(&self, now_us: u64, stale_after: Duration) -> Liveness {
        if self.released {
            return Liveness::Released;
        }
        if self.pid_alive == Some(false) {
            return Liveness::DeadPid;
        }
        let age = self.heartbeat_age(now_us);
        if age > stale_after {
            Liveness::HeartbeatStale(age)
        } else {
            Liveness::Live
        }
    }
}

/// Proof of owning an epoch; the only way to start a [`Journal`](super::Journal).
#[derive(Clone, Debug)]
pub struct Ownership {
    layout: Layout,
    epoch: u64,
    host: String,
    pid: u32,
    since_us: u64,
    agent_scale: u32,
}

impl Ownership {
    /// The owned epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// Host recorded in the claim.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// Pid recorded in the claim.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// When the epoch was claimed.
    pub fn since_us(&self) -> u64 {
        self.since_us
    }
    /// The run's agent scale recorded in the claim.
    pub fn agent_scale(&self) -> u32 {
        self.agent_scale
    }

    /// Writes the heartbeat (now), then fails with [`LedgerError::Superseded`] if a newer
    /// epoch exists. Call it every [`HEARTBEAT_INTERVAL`]; on `Superseded`, stop writing and exit.
    pub fn heartbeat(&self) -> Result<()> {
        self.heartbeat_at(now_us())?;
        self.ensure_owner()
    }

    /// Writes a heartbeat with an explicit time (tests and diagnostics). Not fsynced: a lost
    /// heartbeat only makes the owner look older, the safe direction.
    pub fn heartbeat_at(&self, time_us: u64) -> Result<()> {
        self.write_heartbeat(time_us, false)
    }

    fn write_heartbeat(&self, time_us: u64, released: bool) -> Result<()> {
        let hb = Heartbeat {
            epoch: self.epoch,
            time_us,
            released,
        };
        let bytes = serde_json::to_vec(&hb).expect("a heartbeat always serializes");
        write_atomic(&self.layout.heartbeat_path(self.epoch), &bytes, released)
    }

    /// Whether no newer epoch exists (lists `owners/`, which revalidates the directory on NFS).
    pub fn still_owner(&self) -> Result<bool> {
        Ok(self.newer_epoch()?.is_none())
    }

    /// `Err(Superseded)` if a newer epoch exists.
    pub fn ensure_owner(&self) -> Result<()> {
        match self.newer_epoch()? {
            None => Ok(()),
            Some(newer) => Err(LedgerError::Superseded {
                root: self.layout.root().to_path_buf(),
                epoch: self.epoch,
                newer,
            }),
        }
    }

    fn newer_epoch(&self) -> Result<Option<u64>> {
        Ok(self
            .layout
            .list_epoch_claims()?
            .last()
            .copied()
            .filter(|&e| e > self.epoch))
    }

    /// Marks the ledger released (durably), so the next claimant need not wait for the
    /// heartbeat to go stale. Does nothing if already superseded.
    pub fn release(&self) -> Result<()> {
        if self.still_owner()? {
            self.write_heartbeat(now_us(), true)?;
        }
        Ok(())
    }
}

/// Whether the owner of `epoch` ended its run and released the ledger (its last heartbeat says
/// so); false when unknown.
pub(crate) fn owner_released(layout: &Layout, epoch: u64) -> bool {
    read_small(&layout.heartbeat_path(epoch))
        .ok()
        .and_then(|b| serde_json::from_slice::<Heartbeat>(&b).ok())
        .is_some_and(|h| h.epoch == epoch && h.released)
}

/// Reads the owner of `epoch`.
pub(crate) fn read_owner(layout: &Layout, epoch: u64, this_host: &str) -> Result<OwnerStatus> {
    let claim_path = layout.epoch_claim_path(epoch);
    let claim = read_small(&claim_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<EpochClaim>(&b).ok())
        .filter(|c| c.epoch == epoch);
    let (host, pid, since_us, agent_scale) = match claim {
        Some(c) => (c.host, c.pid, c.since_us, c.agent_scale),
        None => {
            // Unreadable, or being created without hard links: date it by its mtime.
            let mtime = std::fs::metadata(&claim_path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or_else(now_us, |d| d.as_micros() as u64);
            ("unknown".to_string(), 0, mtime, None)
        }
    };
    let heartbeat = match read_small(&layout.heartbeat_path(epoch)) {
        Ok(b) => serde_json::from_slice::<Heartbeat>(&b)
            .ok()
            .filter(|h| h.epoch == epoch),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("read", layout.heartbeat_path(epoch))(e)),
    };
    let pid_alive = (host == this_host && pid != 0).then(|| pid_alive(pid));
    Ok(OwnerStatus {
        epoch,
        host,
        pid,
        since_us,
        heartbeat_us: heartbeat.as_ref().map(|h| h.time_us),
        released: heartbeat.is_some_and(|h| h.released),
        pid_alive,
        agent_scale,
    })
}

/// The owner of the highest epoch, if any epoch was ever claimed.
pub(crate) fn current_owner(layout: &Layout) -> Result<Option<OwnerStatus>> {
    match layout.list_epoch_claims()?.last() {
        Some(&epoch) => read_owner(layout, epoch, &hostname()).map(Some),
        None => Ok(None),
    }
}

/// Claims the next epoch of the ledger at `layout`.
pub(crate) fn claim(layout: &Layout, opts: &ClaimOptions) -> Result<Ownership> {
    let dir = layout.owners_dir();
    std::fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
    let highest = layout.list_epoch_claims()?.last().copied();
    // Whether a pid can be checked depends on where this code runs, not on the identity
    // recorded in the claim.
    let this_host = hostname();
    if let Some(n) = highest {
        let owner = read_owner(layout, n, &this_host)?;
        match owner.liveness(now_us(), opts.stale_after) {
            Liveness::Live if !opts.force => return Err(busy(layout.root(), &owner)),
            Liveness::Live => tracing::warn!(
                epoch = n,
                host = %owner.host,
                pid = owner.pid,
                "forcing takeover from an owner that looks alive"
            ),
            Liveness::Released => {}
            Liveness::DeadPid => tracing::info!(
                epoch = n,
                pid = owner.pid,
                "taking over from an owner whose process is gone"
            ),
            Liveness::HeartbeatStale(a) => tracing::info!(
                epoch = n,
                host = %owner.host,
                "taking over from an owner whose heartbeat is {} old",
                format_age(a)
            ),
        }
    }
    // Above every epoch records were written for, even if claims were deleted.
    let recorded = layout.highest_recorded_epoch()?;
    // A claim published meanwhile may already have records: then this claimant lost the race
    // (and must not take the epoch after the winner's without judging it).
    let now_highest = layout.list_epoch_claims()?.last().copied();
    if now_highest != highest {
        let winner = now_highest.unwrap_or(0);
        return Err(busy(
            layout.root(),
            &read_winner(layout, winner, &this_host)?,
        ));
    }
    if recorded > highest {
        tracing::warn!(
            claimed = highest.unwrap_or(0),
            recorded = recorded.unwrap_or(0),
            "owners/ lacks the claims of epochs the ledger has records of; they are not reused"
        );
    }
    let epoch = highest.max(recorded).unwrap_or(0) + 1;
    let since_us = now_us();
    let claim = EpochClaim {
        epoch,
        host: opts.host.clone(),
        pid: opts.pid,
        since_us,
        blockorch_version: env!("CARGO_PKG_VERSION").to_string(),
        agent_scale: Some(opts.agent_scale.max(1)),
    };
    let bytes = serde_json::to_vec_pretty(&claim).expect("a claim always serializes");
    if !publish_exclusive(&layout.epoch_claim_path(epoch), &bytes)? {
        return Err(busy(
            layout.root(),
            &read_winner(layout, epoch, &this_host)?,
        ));
    }
    let ownership = Ownership {
        layout: layout.clone(),
        epoch,
        host: opts.host.clone(),
        pid: opts.pid,
        since_us,
        agent_scale: opts.agent_scale.max(1),
    };
    ownership.heartbeat_at(since_us)?;
    tracing::info!(epoch, "ledger claimed");
    Ok(ownership)
}

/// Reads the claim of a racing winner, waiting briefly if it is not readable yet.
fn read_winner(layout: &Layout, epoch: u64, this_host: &str) -> Result<OwnerStatus> {
    let mut owner = read_owner(layout, epoch, this_host)?;
    for _ in 0..CLAIM_READ_RETRIES {
        if owner.pid != 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        owner = read_owner(layout, epoch, this_host)?;
    }
    Ok(owner)
}

fn busy(root: &Path, owner: &OwnerStatus) -> LedgerError {
    LedgerError::Busy {
        claim: Layout::new(root).epoch_claim_path(owner.epoch),
        epoch: owner.epoch,
        host: owner.host.clone(),
        pid: owner.pid,
        since_us: owner.since_us,
        heartbeat_age: owner.heartbeat_us.map(|t| age(t, now_us())),
    }
}
