//! The HTML page: a header with the run's counts, one section per chart, styles and a tiny
//! script inline, so the file opens anywhere without a network (see docs/status.md).

use std::fmt::Write;

use super::charts::{block_map, failures, histogram, progress, timeline};
use super::collect::ReportData;
use super::format;
use super::svg::escape;
use crate::ledger::format_utc;
use crate::status::{InitState, MapView};

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:940px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px}h3{font-size:14px}
.meta{color:#555}table{border-collapse:collapse;margin:8px 0}
td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child,td:first-child{text-align:left}
.note{color:#555;font-size:12px}.pair{display:flex;gap:12px;flex-wrap:wrap}
svg.chart{display:block;margin:6px 0}svg text{font:11px system-ui,sans-serif;fill:#333}
svg text.legend{font-size:12px}svg text.empty{font-size:13px;fill:#888}
.report-script-error{color:#b00;font-weight:bold}
";

/// Runs before anything else: a script error is written into the page, where a reader (and
/// the browser test) sees it.
const ERROR_HOOK: &str = "window.onerror=function(m,s,l){var p=document.createElement('pre');\
p.className='report-script-error';p.textContent='report-script-error: '+m+' ('+s+':'+l+')';\
(document.body||document.documentElement).appendChild(p);};";

/// Runs last: marks the page as fully loaded, with the number of charts found.
const READY: &str = "document.body.setAttribute('data-report-ready',\
String(document.querySelectorAll('svg[data-chart]').length));";

/// The whole page for `data`; `generated_us` is when it was made.
pub fn render(data: ReportData, generated_us: u64) -> String {
    let ReportData {
        status,
        tasks,
        progress: bins,
        timeline: tl,
        wall,
        rss,
        causes,
        maps,
    } = data;
    let mut html = String::with_capacity(1 << 20);
    let title = format!("blockorch report: {}", status.ledger);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style><script>{ERROR_HOOK}</script></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let run = match status.owner.as_ref().and_then(|o| o.run_end.as_ref()) {
        Some(end) => format!("run ended {} ({})", format_utc(end.time_us), end.reason),
        None if status.run_over => "run not running".into(),
        None => "run in progress".into(),
    };
    let _ = writeln!(
        html,
        "<p class=\"meta\">ledger created {} · {run} · report made {} from the ledger alone</p>",
        format_utc(status.created_us),
        format_utc(generated_us)
    );
    html.push_str(
        "<table class=\"counts\"><tr><th>task</th><th>total</th><th>done</th><th>skipped</th>\
         <th>running</th><th>failed</th><th>orphaned</th><th>pending</th><th>init</th></tr>\n",
    );
    for t in &status.tasks {
        let c = &t.counts;
        let init = match &t.init {
            InitState::None => "-",
            InitState::NotRun => "not run",
            InitState::Ok { .. } => "ok",
            InitState::Failed { .. } => "FAILED",
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{init}</td></tr>",
            escape(&t.name),
            format::count(c.total),
            format::count(c.done),
            format::count(c.skipped),
            format::count(c.running + c.queued),
            format::count(c.failed),
            format::count(c.orphaned),
            format::count(c.pending),
        );
    }
    html.push_str("</table>\n");

    let totals: Vec<u64> = status.tasks.iter().map(|t| t.counts.total).collect();
    section(
        &mut html,
        "progress",
        "Blocks finished over time",
        &progress::draw(&bins, &tasks, &totals),
        &format!(
            "Blocks done or skipped as the orchestrator recorded them, cumulative per task; red \
             bars: failed attempts per {} interval.",
            format::duration(bins.width_us() as f64 / 1e6)
        ),
    );

    let (axes, rows, marks, seen) = tl.into_parts();
    section(
        &mut html,
        "timeline",
        "Workers",
        &timeline::draw(&axes, &rows, &marks, &tasks),
        &format!(
            "{} of {} workers drawn, in registration order; shading: attempts finished per \
             interval; black marks: {} of {} attempts (a uniform sample; failures in red); a \
             black bar is where a worker ended (hover for the reason), a dashed line leads to \
             the worker that replaced it.",
            rows.len(),
            axes.workers_total,
            format::count(marks.len() as u64),
            format::count(seen)
        ),
    );

    html.push_str(
        "<section id=\"usage\"><h2>Block wall time and peak memory</h2><div class=\"pair\">",
    );
    html.push_str(&histogram::draw(
        "wall-time",
        &wall,
        &tasks,
        format::duration,
    ));
    html.push_str(&histogram::draw("peak-memory", &rss, &tasks, format::bytes));
    html.push_str(
        "</div><p class=\"note\">Every finished attempt as its worker measured it (wall clock; \
         peak resident memory of the block's program). Quantiles are upper bounds within one \
         bin (a factor of 1.6).</p></section>\n",
    );

    let mut note = String::from(
        "Failed attempts grouped by failure kind and the last line of their message; \
         \"given back\" attempts were returned by an infrastructure event and did not use up a retry.",
    );
    if causes.sorted().len() > failures::DRAWN || causes.other() > 0 {
        let _ = write!(
            note,
            " Only the {} most frequent causes are drawn.",
            failures::DRAWN
        );
    }
    section(
        &mut html,
        "failures",
        "Failures by cause",
        &failures::draw(&causes, &tasks),
        &note,
    );
    cause_list(&mut html, &causes, &tasks, &status.ledger);

    html.push_str("<section id=\"block-map\"><h2>Block map</h2>\n");
    for (name, map) in tasks.iter().zip(&maps) {
        let _ = write!(html, "<h3>{}</h3>", escape(name));
        match map {
            Ok(map) => {
                html.push_str(&block_map::draw(map));
                let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(&map_note(map)));
            }
            Err(why) => {
                let _ = writeln!(html, "<p class=\"note\">no map: {}</p>", escape(why));
            }
        }
    }
    html.push_str("</section>\n");
    let _ = writeln!(
        html,
        "<p class=\"note\">Made by blockorch {}: one self-contained file (inline SVG, no \
         external resources).</p><script>{READY}</script></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    html
}

/// A section with one chart and a note under it.
fn section(html: &mut String, id: &str, title: &str, svg: &str, note: &str) {
    let _ = writeln!(
        html,
        "<section id=\"{id}\"><h2>{}</h2>{svg}<p class=\"note\">{}</p></section>",
        escape(title),
        escape(note)
    );
}

/// The causes as a table with example blocks and the command that shows one's output.
fn cause_list(
    html: &mut String,
    causes: &super::causes::FailureCauses,
    tasks: &[String],
    ledger: &str,
) {
    let sorted = causes.sorted();
    if sorted.is_empty() {
        return;
    }
    html.push_str(
        "<table class=\"causes\"><tr><th>cause</th><th>attempts</th><th>example blocks</th></tr>\n",
    );
    for c in sorted.iter().take(failures::DRAWN) {
        let task = |t: u32| tasks.get(t as usize).map_or("?", String::as_str);
        let ids: Vec<String> = c.examples.iter().map(|e| e.1.to_string()).collect();
        let first = c.examples[0];
        let _ = writeln!(
            html,
            "<tr><td>{}: {}</td><td>{}</td><td title=\"{}\">{} {}</td></tr>",
            escape(&c.kind),
            escape(&c.headline),
            format::count(c.count),
            escape(&format!(
                "blockorch logs {ledger} --task {} --block {} --attempt {}",
                task(first.0),
                first.1,
                first.2
            )),
            escape(task(first.0)),
            escape(&ids.join(", "))
        );
    }
    html.push_str("</table>\n");
}

/// What a map shows: the slice, the scale, whether cells were sampled.
fn map_note(map: &MapView) -> String {
    let shape: Vec<String> = map.grid_shape.iter().map(i64::to_string).collect();
    let mut note = format!("grid {} blocks", shape.join(" × "));
    for f in &map.fixed {
        let _ = write!(note, ", axis {} at {}", f.axis, f.index);
    }
    if map.scale > 1 {
        let _ = write!(
            note,
            "; each cell is {0} × {0} blocks, coloured by the worst state in it",
            map.scale
        );
    }
    if map.sampled {
        note.push_str(" (sampled)");
    }
    note
}
