//! Knobs of a run (the CLI fills them; tests shorten the timings).

use super::probe_schedule::{ProbePolicy, ORCHESTRATOR_OWN_OPS};
use super::progress::ProgressMode;
use crate::ledger::LedgerFs;
use crate::recent::RecentMean;
use std::path::PathBuf;
use std::time::Duration;

/// Default metadata budget of a run on a shared file system: looks at outboxes per second,
/// for the whole run. About what Nextflow's grid executor spends on 500 jobs (one exit-file
/// check per job every 5 s), and about 1% of what one NFS/Lustre metadata server serves; it
/// covers the liveness look at 3,000 idle agents every 30 s, and for fewer agents the
/// schedule (looks when reports are expected) uses far less of it.
pub const DEFAULT_METADATA_BUDGET: f64 = 100.0;

/// The longest an agent may stay silent on a shared file system: four agent heartbeats, so
/// a heartbeat seen only at the longest gap between looks still counts.
const SHARED_SILENCE_LIMIT: Duration = Duration::from_secs(120);

/// The hand-out round trip to cover on a shared file system (looks at outboxes and inboxes
/// are tens of milliseconds apart at the least).
const SHARED_HANDOUT_LATENCY: Duration = Duration::from_millis(500);

/// Everything `submit` needs besides the backend.
#[derive(Clone, Debug)]
pub struct SubmitOptions {
    /// The task file.
    pub task_file: PathBuf,
    /// The ledger directory.
    pub ledger: PathBuf,
    /// Take the ledger over even if its owner looks alive.
    pub force: bool,
    /// Progress display.
    pub progress: ProgressMode,
    /// Fewest blocks queued per worker slot beyond the one it runs (hides hand-out latency).
    pub prefetch_per_slot: u32,
    /// Most blocks queued per worker slot: short blocks get more, up to this, so that an
    /// agent holds about `handout_latency` of work per slot.
    pub max_prefetch_per_slot: u32,
    /// The hand-out round trip (orchestrator → agent → orchestrator) the queued blocks must
    /// cover, so slots never wait for their next block.
    pub handout_latency: Duration,
    /// Longest time reports wait to share one journal fsync (group commit).
    pub commit_every: Duration,
    /// Longest sleep between iterations when nothing happens.
    pub idle_sleep: Duration,
    /// Time between backend polls (local: waitpid; clusters: one squeue/bjobs).
    pub backend_poll: Duration,
    /// Longest time between backend polls when nothing changes (adaptive back-off).
    pub max_backend_poll: Duration,
    /// Launches in a row per task whose worker ends without finishing a block, not by the
    /// cluster's doing, before the task is stopped; `None` derives `2 × num_workers + 6`.
    /// Replacements after walltime, preemption, node failure or cancellation never count,
    /// nor does any launch whose worker finished a block (it resets the count).
    pub max_failed_starts: Option<u32>,
    /// An agent that said nothing for this long is considered dead.
    pub agent_silence_limit: Duration,
    /// An agent that runs (or was adopted) but has not said Hello for this long is cancelled
    /// and replaced; its blocks go back uncharged (it may never have started, e.g. on a full
    /// disk, and nothing else would tell: a queued job does not count).
    pub hello_timeout: Duration,
    /// After the scheduler says a job ended, how long to wait for its last ledger records
    /// (shared-filesystem lag) before returning its blocks.
    pub loss_grace: Duration,
    /// Time between snapshots of the ledger state.
    pub snapshot_every: Duration,
    /// How long to wait for agents to leave at the end of a run.
    pub shutdown_wait: Duration,
    /// How long scheduler calls may fail in a row before the run ends with exit 1.
    pub scheduler_outage_limit: Duration,
    /// Looks at outboxes per second for the whole run when the ledger is on a shared file
    /// system (`--metadata-budget`; 0: unbounded).
    pub metadata_budget: f64,
}

impl SubmitOptions {
    /// Defaults for the local backend.
    pub fn local(task_file: PathBuf, ledger: PathBuf) -> Self {
        Self {
            task_file,
            ledger,
            force: false,
            progress: ProgressMode::Auto,
            prefetch_per_slot: 2,
            max_prefetch_per_slot: 256,
            handout_latency: Duration::from_millis(10),
            commit_every: Duration::from_millis(2),
            idle_sleep: Duration::from_millis(20),
            backend_poll: Duration::from_millis(100),
            max_backend_poll: Duration::from_millis(500),
            max_failed_starts: None,
            agent_silence_limit: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(30),
            loss_grace: Duration::from_millis(300),
            snapshot_every: Duration::from_secs(30),
            shutdown_wait: Duration::from_secs(30),
            scheduler_outage_limit: super::outage::DEFAULT_SCHEDULER_OUTAGE,
            metadata_budget: DEFAULT_METADATA_BUDGET,
        }
    }

    /// These options for a ledger on `fs`: on a shared file system the hand-out covers at
    /// least [`SHARED_HANDOUT_LATENCY`] and agents may be silent for
    /// [`SHARED_SILENCE_LIMIT`], since outboxes are looked at less often.
    pub fn for_ledger_fs(mut self, fs: LedgerFs) -> Self {
        if fs == LedgerFs::Shared {
            self.handout_latency = self.handout_latency.max(SHARED_HANDOUT_LATENCY);
            self.agent_silence_limit = self.agent_silence_limit.max(SHARED_SILENCE_LIMIT);
        }
        self
    }

    /// These options for a run whose agents have the agent scale `scale`
    /// ([`crate::ledger::agent_scale`]): their heartbeats come `scale` times less often, so
    /// they may be silent `scale` times longer.
    pub fn for_agent_scale(mut self, scale: u32) -> Self {
        self.agent_silence_limit *= scale.max(1);
        self
    }

    /// The agent scale of a run of `agents` agents with a ledger on `fs`: 1 on a local disk,
    /// else what keeps the idle agents within their share of `metadata_budget`.
    pub fn agent_scale(&self, fs: LedgerFs, agents: u64) -> u32 {
        match fs {
            LedgerFs::Local => 1,
            LedgerFs::Shared => crate::ledger::agent_scale(agents, self.metadata_budget),
        }
    }

    /// When to look at outboxes for a ledger on `fs`.
    pub fn probe_policy(&self, fs: LedgerFs) -> ProbePolicy {
        match fs {
            LedgerFs::Local => ProbePolicy::local_disk(self.idle_sleep),
            LedgerFs::Shared => ProbePolicy::shared(self.metadata_budget),
        }
    }

    /// When to look at outboxes in a run of `planned` agents at agent scale `scale` with a
    /// ledger on `fs`: the budget is the run's, so the agents' planned idle load and the
    /// orchestrator's own writes are set aside from the looks, and no look waits longer than
    /// the agents' stretched heartbeat can be apart.
    pub fn run_probe_policy(&self, fs: LedgerFs, planned: u64, scale: u32) -> ProbePolicy {
        let mut policy = self
            .probe_policy(fs)
            .reserving(crate::ledger::agents_idle_load(planned, scale) + ORCHESTRATOR_OWN_OPS);
        policy.max_gap *= scale.max(1);
        policy
    }

    /// Blocks queued per worker slot for a task whose recent attempts took `recent` wall
    /// time: enough to cover `handout_latency` plus `polling` (what the outbox schedule adds
    /// to the round trip), between `prefetch_per_slot` and `max_prefetch_per_slot` (the
    /// minimum until an attempt was seen).
    pub fn prefetch_for(&self, recent: &RecentMean, polling: Duration) -> u32 {
        let min = self.prefetch_per_slot as usize;
        let max = self.max_prefetch_per_slot as usize;
        recent.count_within(self.handout_latency + polling, min, max) as u32
    }

    /// Defaults for a cluster backend (slower, politer polling; longer grace).
    pub fn cluster(
        task_file: PathBuf,
        ledger: PathBuf,
        poll: Duration,
        max_poll: Duration,
    ) -> Self {
        Self {
            prefetch_per_slot: 2,
            max_prefetch_per_slot: 64,
            handout_latency: Duration::from_millis(500),
            commit_every: Duration::from_millis(20),
            idle_sleep: Duration::from_millis(100),
            backend_poll: poll,
            max_backend_poll: max_poll,
            agent_silence_limit: Duration::from_secs(300),
            hello_timeout: Duration::from_secs(300),
            loss_grace: Duration::from_secs(10),
            ..Self::local(task_file, ledger)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(opts: &SubmitOptions, block: Duration) -> u32 {
        let mut recent = RecentMean::default();
        recent.add(block);
        opts.prefetch_for(&recent, Duration::ZERO)
    }

    #[test]
    fn many_agents_on_a_shared_file_system_may_be_silent_longer() {
        let local = SubmitOptions::local("t.json".into(), "t.ledger".into());
        assert_eq!(local.agent_scale(LedgerFs::Local, 5000), 1);
        assert_eq!(local.agent_scale(LedgerFs::Shared, 160), 1);
        let scale = local.agent_scale(LedgerFs::Shared, 1000);
        assert_eq!(scale, 6);
        let shared = local.clone().for_ledger_fs(LedgerFs::Shared);
        let scaled = shared.clone().for_agent_scale(scale);
        assert_eq!(
            scaled.agent_silence_limit,
            shared.agent_silence_limit * 6,
            "four of the slower heartbeats still fit"
        );
        let unbounded = SubmitOptions {
            metadata_budget: 0.0,
            ..local
        };
        assert_eq!(unbounded.agent_scale(LedgerFs::Shared, 5000), 1);
    }

    #[test]
    fn the_runs_budget_leaves_the_looks_what_the_agents_and_its_own_writes_do_not_use() {
        let opts = SubmitOptions::local("t.json".into(), "t.ledger".into());
        // 1,000 idle agents at scale 6 plan 50 ops/s, the orchestrator's writes 3.
        let scale = opts.agent_scale(LedgerFs::Shared, 1000);
        let policy = opts.run_probe_policy(LedgerFs::Shared, 1000, scale);
        let looks = policy.budget.unwrap();
        assert!(
            (looks - (100.0 - 50.0 - ORCHESTRATOR_OWN_OPS)).abs() < 1e-9,
            "{looks}"
        );
        assert_eq!(policy.max_gap, Duration::from_secs(30 * 6));
        // A few agents leave most of it to the looks.
        let few = opts
            .run_probe_policy(LedgerFs::Shared, 10, 1)
            .budget
            .unwrap();
        assert!(
            (few - (100.0 - 3.0 - ORCHESTRATOR_OWN_OPS)).abs() < 1e-9,
            "{few}"
        );
        // A local disk is looked at freely, whatever the agents.
        assert_eq!(opts.run_probe_policy(LedgerFs::Local, 1000, 1).budget, None);
    }

    #[test]
    fn the_hand_out_window_covers_the_round_trip() {
        let local = SubmitOptions::local("t.json".into(), "t.ledger".into());
        assert_eq!(
            local.prefetch_for(&RecentMean::default(), Duration::ZERO),
            2,
            "nothing seen yet"
        );
        assert_eq!(
            after(&local, Duration::from_micros(30)),
            256,
            "no-op blocks: the cap"
        );
        assert_eq!(
            after(&local, Duration::from_millis(1)),
            10,
            "10 ms of 1 ms blocks"
        );
        assert_eq!(
            after(&local, Duration::from_millis(50)),
            2,
            "long blocks: the minimum"
        );
        let cluster = SubmitOptions::cluster(
            "t.json".into(),
            "t.ledger".into(),
            Duration::from_secs(5),
            Duration::from_secs(60),
        );
        assert_eq!(after(&cluster, Duration::from_micros(30)), 64);
        assert_eq!(
            after(&cluster, Duration::from_millis(100)),
            5,
            "500 ms of 100 ms blocks"
        );
        assert_eq!(after(&cluster, Duration::from_secs(2)), 2);
        // The budget's round over 300 agents (3 s at 100 looks/s) is covered too.
        let shared = cluster.clone().for_ledger_fs(LedgerFs::Shared);
        let mut recent = RecentMean::default();
        recent.add(Duration::from_millis(500));
        let polling = shared.probe_policy(LedgerFs::Shared).round_at_budget(300);
        assert_eq!(
            shared.prefetch_for(&recent, polling),
            7,
            "3.5 s of 0.5 s blocks"
        );
        assert_eq!(
            local.clone().for_ledger_fs(LedgerFs::Local).handout_latency,
            local.handout_latency
        );
        assert_eq!(
            local.for_ledger_fs(LedgerFs::Shared).agent_silence_limit,
            SHARED_SILENCE_LIMIT
        );
    }
}
