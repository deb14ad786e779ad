//! The human rendering of `blockorch logs` ([`AttemptLog`]).

use std::fmt::Write as _;

use super::attempt_log::AttemptLog;
use super::slot_log::LogCut;
use super::units::{format_bytes, format_seconds};
use crate::ledger::format_utc;

/// The attempt as text: a header of facts, the failure message, then each stream's lines.
pub fn render_attempt(a: &AttemptLog) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "task {}, block {}, attempt {} of {}: {}{}",
        a.task,
        a.block_id,
        a.attempt,
        a.attempts,
        a.outcome,
        a.failure_kind
            .as_ref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "block state: {}", a.block_state);
    let mut place = format!("worker: {}", a.worker);
    if let Some(host) = &a.host {
        let _ = write!(place, " on {host}");
    }
    if let Some(job) = &a.job_id {
        let _ = write!(place, ", job {job}");
    }
    if let Some(backend) = &a.backend {
        let _ = write!(place, " ({backend})");
    }
    if let Some(slot) = a.slot {
        let _ = write!(place, ", slot {slot}");
    }
    let _ = writeln!(out, "{place}");
    if let Some(start) = a.start_us {
        let _ = write!(out, "started: {}", format_utc(start));
        if let Some(end) = a.end_us {
            let _ = write!(out, ", ended: {}", format_utc(end));
        }
        out.push('\n');
    }
    let mut stats = Vec::new();
    if let Some(w) = a.wall_s {
        stats.push(format!("wall {}", format_seconds(w)));
    }
    if let Some(c) = a.cpu_s {
        stats.push(format!("cpu {}", format_seconds(c)));
    }
    if let Some(m) = a.peak_rss_bytes {
        stats.push(format!("peak memory {}", format_bytes(m)));
    }
    if let Some(code) = a.exit_code {
        stats.push(format!("exit code {code}"));
    }
    if let Some(sig) = a.signal {
        stats.push(format!("signal {sig}"));
    }
    if !stats.is_empty() {
        let _ = writeln!(out, "stats: {}", stats.join(", "));
    }
    match (&a.message, &a.block_error) {
        (Some(m), _) => section(&mut out, "message", m),
        (None, Some(e)) if a.attempt == a.attempts && a.block_state == "failed" => {
            section(&mut out, "error (recorded by the orchestrator)", e)
        }
        _ => {}
    }
    stream(&mut out, "stdout", &a.stdout);
    stream(&mut out, "stderr", &a.stderr);
    out
}

fn section(out: &mut String, title: &str, text: &str) {
    let _ = writeln!(out, "--- {title} ---");
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

fn stream(out: &mut String, name: &str, cut: &LogCut) {
    if cut.path.is_empty() {
        let _ = writeln!(out, "--- {name}: the attempt never started on a slot ---");
        return;
    }
    if !cut.found {
        let _ = writeln!(out, "--- {name}: {} does not exist ---", cut.path);
        return;
    }
    let _ = writeln!(out, "--- {name} ({}) ---", cut.path);
    out.push_str(&cut.text);
    if !cut.text.is_empty() && !cut.text.ends_with('\n') {
        out.push('\n');
    }
    if cut.omitted_bytes > 0 {
        let _ = writeln!(
            out,
            "[… {} more left out; the whole log is {}]",
            format_bytes(cut.omitted_bytes),
            cut.path
        );
    }
    if !cut.marked {
        let _ = writeln!(out, "[no marker line of this attempt in the log]");
    }
    if cut.ambiguous {
        let _ = writeln!(
            out,
            "[blocks were written ahead to this program and it prints no `(started)` lines: \
             this output may include theirs or miss some of its own (see docs/workers.md#logs)]"
        );
    }
}
