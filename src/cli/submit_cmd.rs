//! `blockorch submit`: run (or resume) a task file to the end.

use super::args::{BackendKind, SlurmModeArg, SubmitArgs};
use super::exit::{CliFailure, ExitCode};
use crate::backend::local::LocalBackend;
use crate::backend::lsf::{LsfBackend, LsfConfig};
use crate::backend::slurm::{
    orchestrator_job_name, orchestrator_script, resolve_mode, submit_orchestrator,
    AllocationBackend, CommandConfig, ModeRequest, OrchestratorJob, SlurmBackend, SlurmConfig,
    SlurmMode,
};
use crate::backend::{Backend, BackendError, LaunchRequest};
use crate::ledger::{Layout, LedgerError, LedgerFs};
use crate::orchestrator::{submit, OrchestratorError, ProgressMode, SubmitOptions};
use crate::task::{BackendName, TaskFile, UserDefaults};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// The default ledger: next to the task file, named after it (`task.json` → `task.ledger`).
pub fn default_ledger(task_file: &Path) -> PathBuf {
    let stem = task_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "blockorch".into());
    task_file.with_file_name(format!("{stem}.ledger"))
}

/// Absolute form of `path` (it may not exist yet).
fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(path)
    })
}

/// The backend of the run: `--backend`, else the task file's, else the user's default
/// (`BLOCKORCH_BACKEND`, else the config file), else local.
fn chosen_backend(
    cli: Option<BackendKind>,
    file: &TaskFile,
    defaults: &UserDefaults,
) -> BackendKind {
    let from_name = |name: BackendName| match name {
        BackendName::Local => BackendKind::Local,
        BackendName::Slurm => BackendKind::Slurm,
        BackendName::Lsf => BackendKind::Lsf,
    };
    cli.or(file.backend.map(from_name))
        .or(defaults.backend().map(from_name))
        .unwrap_or(BackendKind::Local)
}

/// The task-file name of `kind`.
fn backend_name(kind: BackendKind) -> BackendName {
    match kind {
        BackendKind::Local => BackendName::Local,
        BackendKind::Slurm => BackendName::Slurm,
        BackendKind::Lsf => BackendName::Lsf,
    }
}

/// Warns about each task's section of a scheduler other than `backend` that is set: it is
/// not used (a forgotten `--backend` would otherwise go unnoticed).
fn warn_unused_sections(file: &TaskFile, backend: BackendKind) {
    for task in &file.tasks {
        let sections = [
            (
                "slurm",
                BackendKind::Slurm,
                task.slurm != Default::default(),
            ),
            ("lsf", BackendKind::Lsf, task.lsf != Default::default()),
        ];
        for (section, kind, set) in sections {
            if set && kind != backend {
                let used = backend_name(backend);
                tracing::warn!(
                    "task {:?}: its \"{section}\" section is ignored: the backend is {used} \
                     (set \"backend\" in the task file or pass --backend {section} to use it)",
                    task.name
                );
            }
        }
    }
}

/// Runs `blockorch submit`; `log_file`: the global `--log-file`, which a detached
/// orchestrator keeps.
pub fn run(args: &SubmitArgs, log_file: Option<&Path>) -> Result<ExitCode> {
    let task_file = absolute(&args.task_file)?;
    let ledger = absolute(
        &args
            .ledger
            .clone()
            .unwrap_or_else(|| default_ledger(&task_file)),
    )?;
    // Read and validated once here: bad input is reported before anything starts.
    let mut file = crate::task::load_task_file(&task_file)?;
    let defaults = UserDefaults::load(&|name| std::env::var(name).ok())?;
    let backend = chosen_backend(args.backend, &file, &defaults);
    defaults.apply(&mut file, backend_name(backend));
    warn_unused_sections(&file, backend);
    // From here on the arguments name the backend (the detached orchestrator gets it too).
    let args = &SubmitArgs {
        backend: Some(backend),
        ..args.clone()
    };
    if args.dry_run && backend == BackendKind::Local {
        return Err(CliFailure(
            ExitCode::BadInput,
            "--dry-run shows job scripts: use it with --backend slurm or --backend lsf".into(),
        )
        .into());
    }
    // A dry run never creates, claims or submits anything, whatever else is asked: --detach
    // only changes where the orchestrator would run, which the dry run says.
    if args.detach && !args.dry_run {
        return detach(args, &file, &task_file, &ledger, log_file);
    }
    let exe = std::env::current_exe().context("locating the blockorch executable")?;
    let poll = Duration::from_secs_f64(args.poll_interval.max(0.05));
    let max_poll = Duration::from_secs_f64(args.max_poll_interval.max(args.poll_interval));
    let run_name = crate::orchestrator::run_name(&ledger);
    let template = args.template.as_deref().map(absolute).transpose()?;
    let (mut runner, mut opts): (Box<dyn Backend>, SubmitOptions) = match backend {
        BackendKind::Local => (
            Box::new(LocalBackend::new(exe)),
            SubmitOptions::local(task_file.clone(), ledger.clone()),
        ),
        BackendKind::Slurm => {
            let mut config = SlurmConfig::from_task_file(&file, &run_name, exe);
            if let Some(template) = &template {
                for task in &mut config.tasks {
                    task.template = Some(template.clone());
                }
            }
            let slurm_job = std::env::var("SLURM_JOB_ID").ok();
            let mode = match args.slurm_mode {
                SlurmModeArg::Auto => ModeRequest::Auto,
                SlurmModeArg::Submit => ModeRequest::Submit,
                SlurmModeArg::Allocation => ModeRequest::Allocation,
            };
            let mode = resolve_mode(mode, slurm_job.as_deref())
                .map_err(|e| CliFailure(ExitCode::BadInput, e))?;
            let backend: Box<dyn Backend> = match mode {
                SlurmMode::Allocation { job_id } if !args.dry_run => {
                    tracing::warn!("inside SLURM allocation {job_id}: workers run as job steps");
                    Box::new(AllocationBackend::new(&job_id, config))
                }
                _ => Box::new(SlurmBackend::new(config)),
            };
            let opts = SubmitOptions::cluster(task_file.clone(), ledger.clone(), poll, max_poll);
            (backend, opts)
        }
        BackendKind::Lsf => {
            let mut config = LsfConfig::from_task_file(&file, &run_name, exe);
            if let Some(template) = &template {
                for task in &mut config.tasks {
                    task.template = Some(template.clone());
                }
            }
            let opts = SubmitOptions::cluster(task_file.clone(), ledger.clone(), poll, max_poll);
            (Box::new(LsfBackend::new(config)), opts)
        }
    };
    opts.metadata_budget = args.metadata_budget.max(0.0);
    if args.dry_run {
        if args.detach {
            println!(
                "# --detach: the orchestrator would run in the background{}; nothing was started\n",
                if backend == BackendKind::Slurm {
                    " as a job of its own"
                } else {
                    ""
                }
            );
            if backend == BackendKind::Slurm && args.slurm_mode != SlurmModeArg::Allocation {
                dry_run_orchestrator(args, &file, &task_file, &ledger)?;
            }
        }
        let planned = crate::orchestrator::planned_agents(&file, runner.as_ref());
        let agent_scale = opts.agent_scale(LedgerFs::of_planned(&ledger), planned);
        return dry_run(&file, runner.as_mut(), &ledger, &run_name, agent_scale);
    }
    opts.force = args.force;
    opts.max_failed_starts = args.max_failed_starts;
    opts.scheduler_outage_limit = Duration::from_secs_f64(args.scheduler_timeout.max(0.0));
    if let Some(secs) = args.hello_timeout {
        opts.hello_timeout = Duration::from_secs_f64(secs.max(0.0));
    }
    if args.quiet || args.json {
        opts.progress = ProgressMode::Quiet;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("installing the Ctrl-C handler")?;
    }
    let report = submit(file, opts, runner, interrupted).map_err(classify)?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        report.render()
    };
    crate::console::print_out(text).context("writing the run report to stdout")?;
    Ok(if report.interrupted {
        ExitCode::Interrupted
    } else if report.all_ok() {
        ExitCode::Success
    } else {
        ExitCode::BlocksFailed
    })
}

/// Maps orchestrator errors onto the documented exit codes.
fn classify(err: OrchestratorError) -> anyhow::Error {
    let code = match err {
        // Unwrapped (the variants are transparent) so that the exit code mapping sees them.
        OrchestratorError::Task(err) => return err.into(),
        OrchestratorError::Plan(err) => return err.into(),
        err @ OrchestratorError::Busy { .. } => (ExitCode::LedgerBusy, err),
        err @ OrchestratorError::PlanChanged { .. } => (ExitCode::LedgerMismatch, err),
        err @ OrchestratorError::Backend(BackendError::Script { .. }) => (ExitCode::BadInput, err),
        // The --ledger directory given is not a ledger (or one this version cannot read).
        err @ OrchestratorError::Ledger(
            LedgerError::NotALedger { .. }
            | LedgerError::BadHeader { .. }
            | LedgerError::UnsupportedVersion { .. },
        ) => (ExitCode::BadInput, err),
        err => return err.into(),
    };
    CliFailure(code.0, code.1.to_string()).into()
}

/// Starts the same submit in the background, detached from the terminal, and returns.
fn detach(
    args: &SubmitArgs,
    file: &crate::task::TaskFile,
    task_file: &Path,
    ledger: &Path,
    log_file: Option<&Path>,
) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the blockorch executable")?;
    // Create (or check) the ledger here: a bad task file or a ledger of another definition is
    // reported now rather than in a log, and the directory is a ledger before the detached
    // orchestrator's output goes into it (a non-empty directory without ledger.json is refused).
    file.plan()
        .and_then(|plan| crate::plan::check_run_size(&plan))
        .map_err(OrchestratorError::from)
        .map_err(classify)?;
    crate::orchestrator::open_ledger(file, ledger).map_err(classify)?;
    let template = args.template.as_deref().map(absolute).transpose()?;
    let mut child = args
        .detached_child(task_file.to_path_buf(), ledger.to_path_buf(), template)
        .to_argv();
    if let Some(log_file) = log_file {
        let log_file = absolute(log_file)?;
        child.splice(0..0, ["--log-file".into(), log_file.into_os_string()]);
    }
    if args.backend == Some(BackendKind::Slurm) {
        return detach_slurm(args, file, task_file, ledger, exe, child);
    }
    let log_path = Layout::new(ledger).detached_log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut command = std::process::Command::new(exe);
    command.args(child);
    use std::os::unix::process::CommandExt;
    command
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    let child = command
        .spawn()
        .context("starting the detached orchestrator")?;
    crate::console::print_out(format_args!(
        "started orchestrator (pid {}) on ledger {}\nfollow it with: blockorch status {} --watch\nits output: {}\n",
        child.id(),
        ledger.display(),
        ledger.display(),
        log_path.display()
    ))
    .context("writing to stdout")?;
    Ok(ExitCode::Success)
}

/// `submit --detach --backend slurm`: the orchestrator runs as a small job of its own (login
/// nodes kill long-running processes), named `<run>-orchestrator`, with the `child` arguments
/// and its output in the ledger.
fn detach_slurm(
    args: &SubmitArgs,
    file: &crate::task::TaskFile,
    task_file: &Path,
    ledger: &Path,
    exe: PathBuf,
    child: Vec<std::ffi::OsString>,
) -> Result<ExitCode> {
    if args.slurm_mode == SlurmModeArg::Allocation {
        return Err(CliFailure(
            ExitCode::BadInput,
            "--detach runs the orchestrator as a job of its own, which submits worker arrays: \
             it cannot be combined with --slurm-mode allocation"
                .into(),
        )
        .into());
    }
    let run_name = crate::orchestrator::run_name(ledger);
    let workdir = task_file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let default_settings = crate::task::SlurmSettings::default();
    let job = orchestrator_job(
        &run_name,
        ledger,
        &workdir,
        file.tasks.first().map_or(&default_settings, |t| &t.slurm),
        exe,
        child,
    );
    let (id, script) = submit_orchestrator(&job, CommandConfig::default())
        .map_err(|e| anyhow::anyhow!("cannot start the detached orchestrator: {e}"))?;
    let output = Layout::new(ledger).detached_slurm_output_path(id);
    crate::console::print_out(format_args!(
        "submitted orchestrator job {id} ({}) on ledger {}\nfollow it with: blockorch status {} \
         --watch\nits output: {}\nits job script: {}\nstop the run with: blockorch cancel {}\n",
        orchestrator_job_name(&run_name),
        ledger.display(),
        ledger.display(),
        output.display(),
        script.display(),
        ledger.display()
    ))
    .context("writing to stdout")?;
    Ok(ExitCode::Success)
}

/// The job of a detached orchestrator on SLURM: `exe` with the `child` arguments, run in
/// `workdir` with the first task's `settings`, exporting what the run needs from here.
fn orchestrator_job<'a>(
    run_name: &'a str,
    ledger: &'a Path,
    workdir: &'a Path,
    settings: &'a crate::task::SlurmSettings,
    exe: PathBuf,
    child: Vec<std::ffi::OsString>,
) -> OrchestratorJob<'a> {
    let argv: Vec<String> = std::iter::once(exe.into_os_string())
        .chain(child)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let env: Vec<(String, String)> = [
        "SLURM_CONF",
        "RUST_LOG",
        crate::ledger::USER_UMASK_ENV,
        crate::ledger::SHARED_GROUP_ENV,
    ]
    .iter()
    .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
    .collect();
    OrchestratorJob {
        run_name,
        ledger,
        workdir,
        settings,
        argv,
        env,
    }
}

/// `submit --dry-run --detach --backend slurm`: the orchestrator's own job script, written or
/// submitted nowhere.
fn dry_run_orchestrator(
    args: &SubmitArgs,
    file: &TaskFile,
    task_file: &Path,
    ledger: &Path,
) -> Result<()> {
    let exe = std::env::current_exe().context("locating the blockorch executable")?;
    let template = args.template.as_deref().map(absolute).transpose()?;
    // The command the job would run: the same submit, for real.
    let real = SubmitArgs {
        dry_run: false,
        ..args.clone()
    };
    let child = real
        .detached_child(task_file.to_path_buf(), ledger.to_path_buf(), template)
        .to_argv();
    let run_name = crate::orchestrator::run_name(ledger);
    let workdir = task_file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let default_settings = crate::task::SlurmSettings::default();
    let settings = file.tasks.first().map_or(&default_settings, |t| &t.slurm);
    let job = orchestrator_job(&run_name, ledger, &workdir, settings, exe, child);
    let script = orchestrator_script(&job).map_err(|e| CliFailure(ExitCode::BadInput, e))?;
    crate::console::print_out(format_args!("# the orchestrator's job:\n{script}\n"))
        .context("writing to stdout")?;
    Ok(())
}

/// `submit --dry-run`: the rendered job script and exact submission command of every task's
/// first wave, submitting nothing; the scripts carry the run's `agent_scale` as a real
/// submission's would.
fn dry_run(
    file: &crate::task::TaskFile,
    backend: &mut dyn Backend,
    ledger: &Path,
    run_name: &str,
    agent_scale: u32,
) -> Result<ExitCode> {
    let workdir = std::fs::canonicalize(file.working_dir()).unwrap_or_else(|_| file.working_dir());
    for (index, task) in file.tasks.iter().enumerate() {
        let request = LaunchRequest {
            task: index,
            task_name: task.name.clone(),
            count: task.num_workers,
            slots_per_agent: backend.slots_per_agent(task.num_workers),
            ledger: ledger.to_path_buf(),
            run_name: run_name.to_string(),
            epoch: 0,
            workdir: workdir.clone(),
            agent_scale,
        };
        let Some(submissions) = backend.dry_run(&request) else {
            return Err(CliFailure(
                ExitCode::BadInput,
                format!("the {} backend has no job scripts to show", backend.name()),
            )
            .into());
        };
        let submissions = submissions.map_err(|e| classify(e.into()))?;
        for submission in submissions {
            crate::console::print_out(format_args!(
                "# task {}: {}\n{}\n# submit with:\n{}\n\n",
                task.name,
                submission.script_path.display(),
                submission.script,
                submission.command_line
            ))
            .context("writing to stdout")?;
        }
    }
    Ok(ExitCode::Success)
}
