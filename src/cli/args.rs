//! Command-line arguments (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// Run huge block-wise jobs (daisy semantics) on this machine, SLURM or LSF, with a ledger on
/// the shared filesystem as the single source of truth.
#[derive(Debug, Parser)]
#[command(name = "blockorch", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Also append the log lines to this file (with timestamps, never colour codes).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show how a task file tiles into blocks (summary, one block, or every block as JSON).
    Plan(PlanArgs),
    /// Run a task file to the end (or resume it) on this machine, SLURM or LSF.
    Submit(SubmitArgs),
    /// Show a run's progress from its ledger (works from any node, read-only).
    Status(StatusArgs),
    /// Show one attempt of one block: its output (cut out of the slot logs), failure message
    /// and traceback, wall time, CPU, peak memory, worker, host and job.
    Logs(LogsArgs),
    /// Cancel every scheduler job of a run (and nothing else).
    Cancel(CancelArgs),
    /// Write a self-contained HTML report of a run with charts, from its ledger alone.
    Report(ReportArgs),
    /// The agent inside each worker job: runs the task's program on the blocks the ledger
    /// assigns to it (started by the backends, not by hand).
    Worker(WorkerArgs),
}

/// Which backend runs the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Child processes on this machine.
    Local,
    /// SLURM jobs (sbatch arrays), or job steps inside an allocation.
    Slurm,
    /// LSF jobs (bsub arrays).
    Lsf,
}

/// Arguments of `blockorch submit`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct SubmitArgs {
    /// The task file.
    pub task_file: PathBuf,
    /// Where workers run [default: the task file's "backend", else BLOCKORCH_BACKEND, else
    /// the config file's "backend", else local].
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// The ledger directory [default: TASK_FILE without .json, plus .ledger, next to it].
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,
    /// Start the orchestrator in the background (local: a detached process; slurm: its own
    /// small job) and return; follow it with `blockorch status --watch`.
    #[arg(long)]
    pub detach: bool,
    /// No progress output (the summary is still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Take the ledger over even if its owner looks alive (only when you know it is dead, e.g.
    /// its node crashed).
    #[arg(long)]
    pub force: bool,
    /// Print the rendered job script and the exact submission command, submit nothing
    /// (slurm, lsf).
    #[arg(long)]
    pub dry_run: bool,
    /// Job script template [default: the task's `slurm.template`/`lsf.template`, else the
    /// bundled templates/slurm.sbatch or templates/lsf.bsub].
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Shortest scheduler poll interval in seconds (slurm, lsf); it backs off when nothing
    /// changes.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub poll_interval: f64,
    /// Longest scheduler poll interval in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub max_poll_interval: f64,
    /// Most workers in a row per task that end without finishing a block (failed to start,
    /// crashed before their first block) before the task is stopped; replacements after
    /// walltime, preemption, node failure or cancellation never count [default: 2 ×
    /// num_workers + 6].
    #[arg(long, value_name = "N", alias = "max-launches")]
    pub max_failed_starts: Option<u32>,
    /// Seconds the scheduler may fail in a row (sbatch/squeue/bsub/bjobs errors, a controller
    /// restart) before the run ends with exit 1; the ledger stays resumable.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = seconds)]
    pub scheduler_timeout: f64,
    /// Seconds a started worker (running, or adopted from an earlier run) may take to say
    /// Hello before it is cancelled and replaced, its blocks given back uncharged [default:
    /// 30 local, 300 slurm/lsf].
    #[arg(long, value_name = "SECS")]
    pub hello_timeout: Option<f64>,
    /// Metadata operations per second the whole run may cost when the ledger is on a shared
    /// file system (NFS, Lustre, GPFS, FUSE): the workers' planned idle load and the
    /// orchestrator's own writes are set aside and its looks at the workers' outboxes get the
    /// rest; 0: unbounded. A ledger on a local disk is looked at freely.
    #[arg(long, value_name = "OPS", default_value_t = crate::orchestrator::DEFAULT_METADATA_BUDGET)]
    pub metadata_budget: f64,
    /// SLURM: `submit` sends job arrays with sbatch; `allocation` runs workers as job steps
    /// (one per GPU) inside the current salloc/sbatch allocation; `auto` picks `allocation`
    /// when SLURM_JOB_ID is set.
    #[arg(long, value_enum, default_value = "auto")]
    pub slurm_mode: SlurmModeArg,
    /// Trust a ledger that members of your groups may write (group-writable, or files of
    /// other users of your groups) and create it group-writable; never one writable by
    /// everyone. Same as BLOCKORCH_SHARED_GROUP=1, which `status`, `cancel` and the
    /// workers read.
    #[arg(long)]
    pub shared_group: bool,
}

/// How the SLURM backend starts workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SlurmModeArg {
    /// Job steps inside an allocation when SLURM_JOB_ID is set, job arrays otherwise.
    Auto,
    /// Always submit job arrays.
    Submit,
    /// Always start job steps in the current allocation.
    Allocation,
}

/// Arguments of `blockorch status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The ledger directory [default: the only *.ledger directory here].
    pub ledger: Option<PathBuf>,
    /// One JSON document (for --map: the map) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Redraw every 2 s until the run is over (or Ctrl-C).
    #[arg(long)]
    pub watch: bool,
    /// One JSON line per block (every block with a record, and orphaned blocks), streamed
    /// in plan order; filter with --task and --state.
    #[arg(long, conflicts_with_all = ["map", "watch", "failed", "stats"])]
    pub blocks: bool,
    /// With --blocks: only blocks in this state.
    #[arg(long, value_name = "STATE", requires = "blocks",
          value_parser = ["pending", "running", "done", "skipped", "failed", "orphaned"])]
    pub state: Option<String>,
    /// With --blocks: add every attempt as the workers reported it (worker, times, CPU, peak
    /// memory, exit, error, log). Reads every outbox into memory first.
    #[arg(long, requires = "blocks")]
    pub attempts: bool,
    /// Failed and orphaned blocks grouped by cause, with example block ids and the
    /// `blockorch logs` command for one of each.
    #[arg(long, conflicts_with_all = ["map", "watch", "stats"])]
    pub failed: bool,
    /// Per task: count, p50, p95 and max of wall time, CPU time and peak memory of the
    /// finished attempts, and suggested `timeout` and `mem` settings.
    #[arg(long, conflicts_with_all = ["map", "watch"])]
    pub stats: bool,
    /// Draw a 2-D slice of a task's block grid coloured by state (letters when piped:
    /// . pending, r running, # done, s skipped, F failed, o orphaned).
    #[arg(long)]
    pub map: bool,
    /// With --map: the task to draw [default: the first]. With --blocks: only this task.
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// With --map on a grid of 3 or more axes: an axis (0-based) held fixed; repeat for
    /// more. Axes not drawn and not given are held where the slice has the most failed
    /// blocks (else at the first slice not all done; at their middle when all are).
    #[arg(long, value_name = "N")]
    pub axis: Vec<usize>,
    /// With --map: the 0-based grid index along each --axis, in the same order [default:
    /// the middle].
    #[arg(long, value_name = "K")]
    pub index: Vec<i64>,
}

/// Arguments of `blockorch logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The ledger directory [default: the only *.ledger directory here].
    pub ledger: Option<PathBuf>,
    /// The block's task.
    #[arg(long, value_name = "NAME")]
    pub task: String,
    /// The daisy block id (as in `status --failed`, `status --blocks`, `plan`).
    #[arg(long, value_name = "ID")]
    pub block: u64,
    /// The attempt [default: the latest].
    #[arg(long, value_name = "N")]
    pub attempt: Option<u32>,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `blockorch cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The ledger directory [default: the only *.ledger directory here]. Cancels the jobs
    /// its worker registry lists as not ended (scancel/bkill by job id, SIGTERM to local
    /// agents on this host) and stops its orchestrator if it runs on this host.
    pub ledger: Option<PathBuf>,
}

/// Arguments of `blockorch report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The ledger directory [default: the only *.ledger directory here].
    pub ledger: Option<PathBuf>,
    /// The HTML file to write (replaced if it exists).
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
}

/// Arguments of `blockorch worker` (the agent).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The ledger directory.
    #[arg(long, value_name = "DIR")]
    pub ledger: PathBuf,
    /// The task this agent serves.
    #[arg(long, value_name = "NAME")]
    pub task: String,
    /// Worker identity [default: from SLURM/LSF environment variables].
    #[arg(long, value_name = "ID")]
    pub worker_id: Option<String>,
    /// Working directory of the task's programs [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Worker program slots (blocks run at once).
    #[arg(long, default_value_t = 1)]
    pub slots: u32,
    /// Stop when this process is gone (used by the local backend).
    #[arg(long, value_name = "PID")]
    pub parent_pid: Option<u32>,
    /// Longest wait between inbox polls when idle, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub poll_ms: Option<u64>,
    /// When the job's walltime ends (seconds since the UNIX epoch) [default: asked from
    /// SLURM/LSF when running under them].
    #[arg(long, value_name = "SECS")]
    pub deadline_unix: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL when stopping a program.
    #[arg(long, value_name = "SECS")]
    pub kill_grace: Option<f64>,
    /// Safety margin before the walltime deadline: a block starts only if the mean block
    /// duration plus this margin still fits.
    #[arg(long, value_name = "SECS")]
    pub deadline_margin: Option<f64>,
    /// Give up when a slot's program dies this many times in a row without finishing a block.
    #[arg(long, value_name = "N")]
    pub max_program_crashes: Option<u32>,
    /// One word to put before the worker command (repeat for each word, e.g.
    /// `--command-prefix=apptainer --command-prefix=exec --command-prefix=image.sif`); the job
    /// scripts pass the task's `container_prefix` this way.
    #[arg(long, value_name = "WORD", allow_hyphen_values = true)]
    pub command_prefix: Vec<String>,
}

/// Arguments of `blockorch plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The task file (one task object, or {"tasks": [...]}).
    pub task_file: PathBuf,
    /// Print every block as one JSON line (task, block_id, read_roi, write_roi, depends_on).
    #[arg(long, conflicts_with = "block")]
    pub json: bool,
    /// Show one block (its ROIs and dependencies) by daisy block id.
    #[arg(long, value_name = "ID")]
    pub block: Option<u64>,
    /// The task the --block id or --json output refers to (default: every task for --json;
    /// required for --block when the file has several tasks).
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
}

impl SubmitArgs {
    /// The arguments of the orchestrator that `submit --detach` starts in the background:
    /// these same arguments in the foreground (no `--detach`, no `--json`, `--quiet`), with
    /// the absolute `task_file`, `ledger` and `template` the caller resolved; on SLURM the
    /// workers are submitted as arrays (inside its own job SLURM_JOB_ID is set, which `auto`
    /// would read as an allocation).
    pub fn detached_child(
        &self,
        task_file: PathBuf,
        ledger: PathBuf,
        template: Option<PathBuf>,
    ) -> SubmitArgs {
        SubmitArgs {
            task_file,
            ledger: Some(ledger),
            template,
            detach: false,
            json: false,
            quiet: true,
            slurm_mode: if self.backend == Some(BackendKind::Slurm) {
                SlurmModeArg::Submit
            } else {
                self.slurm_mode
            },
            ..self.clone()
        }
    }

    /// The command line (after the program name) that parses back into exactly these
    /// arguments: every flag is written, defaults included.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec!["submit".into()];
        let mut flag = |name: &str, value: Option<OsString>| {
            argv.push(format!("--{name}").into());
            argv.extend(value);
        };
        if let Some(backend) = self.backend {
            flag("backend", Some(value_name(backend)));
        }
        if let Some(ledger) = &self.ledger {
            flag("ledger", Some(ledger.into()));
        }
        for (set, name) in [
            (self.detach, "detach"),
            (self.quiet, "quiet"),
            (self.json, "json"),
            (self.force, "force"),
            (self.dry_run, "dry-run"),
            (self.shared_group, "shared-group"),
        ] {
            if set {
                flag(name, None);
            }
        }
        if let Some(template) = &self.template {
            flag("template", Some(template.into()));
        }
        // `Display` of an f64 is the shortest text that parses back to the same value.
        flag("poll-interval", Some(self.poll_interval.to_string().into()));
        flag(
            "max-poll-interval",
            Some(self.max_poll_interval.to_string().into()),
        );
        if let Some(n) = self.max_failed_starts {
            flag("max-failed-starts", Some(n.to_string().into()));
        }
        flag(
            "scheduler-timeout",
            Some(self.scheduler_timeout.to_string().into()),
        );
        if let Some(secs) = self.hello_timeout {
            flag("hello-timeout", Some(secs.to_string().into()));
        }
        flag(
            "metadata-budget",
            Some(self.metadata_budget.to_string().into()),
        );
        flag("slurm-mode", Some(value_name(self.slurm_mode)));
        // Last, after `--`: a task file whose name starts with `-` is not read as a flag.
        argv.push("--".into());
        argv.push(self.task_file.clone().into());
        argv
    }
}

/// The command-line spelling of a value enum's variant.
fn value_name(value: impl ValueEnum) -> OsString {
    value
        .to_possible_value()
        .expect("every variant has a name")
        .get_name()
        .into()
}

#[cfg(test)]
#[path = "submit_argv_tests.rs"]
mod submit_argv_tests;

/// A number of seconds: finite and not negative (`Duration` cannot hold anything else).
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..1e12).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a number of seconds (0 or more), got {text:?}"
        )),
    }
}
