//! `blockorch status`: a run's progress from its ledger (read-only, from any node).

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::args::StatusArgs;
use super::exit::{render, CliFailure, ExitCode};
use crate::ledger::now_us;
use crate::status::{
    find_ledger, read_fresh, scheduler_probe, write_block_lines, BlockDumpError, BlockFilter,
    CellState, CompactSnapshot, FailedReport, HumanOutput, JsonOutput, LedgerSnapshot, MapView,
    SliceRequest, StatsReport, StatusError, StatusOutput,
};

/// Time between refreshes of `--watch`.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// `--watch` gives up after this many failed reads in a row (a single one is usually a file
/// being replaced on a network file system).
const WATCH_MAX_FAILURES: u32 = 5;
/// Clears a terminal and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Runs `blockorch status`.
pub fn run(args: &StatusArgs) -> Result<ExitCode> {
    if !args.map && (!args.axis.is_empty() || !args.index.is_empty()) {
        return Err(CliFailure(
            ExitCode::BadInput,
            "--axis and --index only apply to --map".into(),
        )
        .into());
    }
    if !args.map && !args.blocks && args.task.is_some() {
        return Err(CliFailure(
            ExitCode::BadInput,
            "--task only applies to --map and --blocks".into(),
        )
        .into());
    }
    let root = resolve_ledger(args.ledger.as_deref())?;
    if args.blocks {
        let filter = BlockFilter {
            task: args.task.clone(),
            state: args
                .state
                .as_deref()
                .and_then(|s| CellState::ALL.into_iter().find(|c| c.name() == s)),
            attempts: args.attempts,
        };
        return dump_blocks(&root, &filter);
    }
    if args.failed || args.stats {
        return failures_or_stats(&root, args);
    }
    let output: Box<dyn StatusOutput> = if args.json {
        Box::new(JsonOutput {
            pretty: !args.watch,
        })
    } else {
        Box::new(HumanOutput { color: use_color() })
    };
    let request = SliceRequest {
        axes: args.axis.clone(),
        indexes: args.index.clone(),
    };
    // `--watch` refreshes after the first frame show the report the running orchestrator
    // recorded (one file, no scheduler query), so watchers add no load that grows with
    // their number; a single `status` and the first frame read the ledger and the scheduler.
    let rendered = std::cell::Cell::new(false);
    let render_once = |need_report: bool| -> Result<(String, bool)> {
        if args.watch && !args.map && rendered.replace(true) {
            if let Some(report) = read_fresh(&root, now_us()).map_err(failure)? {
                return Ok((output.status(&report), report.run_over));
            }
        }
        let snap = LedgerSnapshot::load(&root).map_err(failure)?;
        let report = if need_report || !args.map {
            Some(snap.report(scheduler_probe().as_mut()).map_err(failure)?)
        } else {
            None
        };
        let text = if args.map {
            let map = MapView::build(&snap, args.task.as_deref(), &request).map_err(failure)?;
            output.map(&map)
        } else {
            output.status(report.as_ref().expect("built above"))
        };
        Ok((text, report.is_some_and(|r| r.run_over)))
    };
    if !args.watch {
        let (text, _) = render_once(false)?;
        print_flush(&text)?;
        return Ok(ExitCode::Success);
    }
    watch(render_once, !args.json && std::io::stdout().is_terminal())
}

/// Redraws every [`WATCH_INTERVAL`] until the run is over or Ctrl-C.
fn watch(render_once: impl Fn(bool) -> Result<(String, bool)>, clear: bool) -> Result<ExitCode> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("installing the Ctrl-C handler")?;
    }
    let mut failures = 0;
    let mut first = true;
    loop {
        match render_once(true) {
            Ok((text, over)) => {
                failures = 0;
                if clear {
                    print_flush(&format!("{CLEAR}{text}"))?;
                } else {
                    if !first {
                        print_flush("\n")?;
                    }
                    print_flush(&text)?;
                }
                first = false;
                if over {
                    return Ok(ExitCode::Success);
                }
            }
            Err(err) if first => return Err(err),
            Err(err) => {
                failures += 1;
                if failures >= WATCH_MAX_FAILURES {
                    return Err(err);
                }
                crate::console::eprint_line(format_args!("warning: {} (retrying)", render(&err)));
            }
        }
        let until = Instant::now() + WATCH_INTERVAL;
        while Instant::now() < until {
            if interrupted.load(Ordering::SeqCst) {
                return Ok(ExitCode::Success);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `--failed` or `--stats`: one report, as text or JSON.
fn failures_or_stats(root: &Path, args: &StatusArgs) -> Result<ExitCode> {
    let shown = root.display().to_string();
    let text = if args.failed {
        let snap = CompactSnapshot::load(root).map_err(failure)?;
        let report = FailedReport::build(&snap, &shown);
        if args.json {
            json_text(&report)
        } else {
            report.render()
        }
    } else {
        let report = StatsReport::build(root).map_err(failure)?;
        if args.json {
            json_text(&report)
        } else {
            report.render()
        }
    };
    print_flush(&text)?;
    Ok(ExitCode::Success)
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("status reports always serialize");
    text.push('\n');
    text
}

/// `--blocks`: JSON lines on stdout.
fn dump_blocks(root: &Path, filter: &BlockFilter) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match write_block_lines(root, filter, &mut out) {
        Ok(_) => Ok(ExitCode::Success),
        Err(BlockDumpError::Write(e)) => Err(anyhow::Error::new(e).context("writing to stdout")),
        Err(BlockDumpError::Status(e)) => Err(failure(e)),
    }
}

/// The ledger named on the command line, or the only `*.ledger` directory here (shown
/// relative to the current directory).
pub(super) fn resolve_ledger(given: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = find_ledger(given, &cwd).map_err(failure)?;
    Ok(match given {
        Some(_) => root,
        None => root
            .strip_prefix(&cwd)
            .map(Path::to_path_buf)
            .unwrap_or(root),
    })
}

/// Maps status errors onto the documented exit codes (2 for a bad ledger or option).
pub(super) fn failure(err: StatusError) -> anyhow::Error {
    if err.is_bad_input() {
        let text = render(&anyhow::Error::new(err));
        CliFailure(ExitCode::BadInput, text).into()
    } else {
        err.into()
    }
}

/// ANSI colours only on a terminal, and not with `NO_COLOR` or `TERM=dumb`.
fn use_color() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

pub(super) fn print_flush(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")
}
