//! The worker timeline: one row per worker (its life from registration to its end, shaded by
//! how many attempts it finished when), sampled single attempts on top, failures in red, a
//! bar where it ended (with the scheduler's or agent's reason) and a dashed link to the
//! worker that replaced it.

use super::palette;
use crate::ledger::format_utc;
use crate::report::axes::{time_axis, Frame};
use crate::report::format;
use crate::report::svg::{Anchor, Svg};
use crate::report::timeline::{AttemptMark, TimelineAxes, WorkerRow, TIMELINE_BINS};

const WIDTH: f64 = 900.0;
const LABEL_CHARS: usize = 24;

/// Draws the rows and sampled attempts of a timeline.
pub fn draw(
    axes: &TimelineAxes,
    rows: &[WorkerRow],
    marks: &[AttemptMark],
    tasks: &[String],
) -> String {
    let row_h = if rows.len() > 60 { 6.0 } else { 16.0 };
    let frame = Frame {
        left: 170.0,
        top: 10.0,
        width: WIDTH - 190.0,
        height: (rows.len().max(1) as f64) * row_h,
    };
    let mut svg = Svg::new("timeline", WIDTH, frame.height + 50.0);
    let span_us = (axes.end_us - axes.start_us) as f64;
    let x_of = |t: u64| frame.x(t.saturating_sub(axes.start_us) as f64 / span_us);
    let task_name = |t: Option<u32>| {
        t.and_then(|t| tasks.get(t as usize))
            .map_or("?", String::as_str)
    };
    let bin_w = frame.width / TIMELINE_BINS as f64;
    let max_bin = rows
        .iter()
        .flat_map(|r| r.finished.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    for (i, row) in rows.iter().enumerate() {
        let y = frame.top + i as f64 * row_h;
        let colour = palette::task(row.task.unwrap_or(0) as usize);
        if row_h > 8.0 {
            let label: String = row.worker_id.chars().take(LABEL_CHARS).collect();
            svg.text(
                (frame.left - 6.0, y + row_h - 4.0),
                &label,
                Anchor::End,
                "row",
            );
        }
        let from = row.registered_us.unwrap_or(axes.start_us);
        let to = row
            .ended
            .as_ref()
            .map(|e| e.1)
            .or(row.last_seen_us)
            .unwrap_or(axes.end_us);
        let life = format!(
            "{} (task {}, job {}, host {}): registered {}, {}",
            row.worker_id,
            task_name(row.task),
            row.job_id.as_deref().unwrap_or("-"),
            row.host.as_deref().unwrap_or("-"),
            row.registered_us.map_or("-".into(), format_utc),
            match &row.ended {
                Some((reason, t)) => format!("ended {}: {reason}", format_utc(*t)),
                None => "not ended".into(),
            }
        );
        svg.rect(
            x_of(from),
            y + 1.0,
            (x_of(to) - x_of(from)).max(1.0),
            row_h - 2.0,
            &format!("fill:{colour};opacity:0.18"),
            Some(&life),
        );
        for (b, (&n, &failed)) in row.finished.iter().zip(&row.failed).enumerate() {
            if n == 0 {
                continue;
            }
            svg.mark();
            let opacity = 0.3 + 0.7 * n as f64 / max_bin as f64;
            let bin_s = span_us / 1e6 / TIMELINE_BINS as f64;
            let tip = format!(
                "{}: {} attempts finished, {} failed, between {} and {}",
                row.worker_id,
                format::count(u64::from(n)),
                format::count(u64::from(failed)),
                format::duration(b as f64 * bin_s),
                format::duration((b + 1) as f64 * bin_s)
            );
            let x = frame.x(b as f64 / TIMELINE_BINS as f64);
            let style = format!("fill:{colour};opacity:{opacity:.2}");
            svg.rect(x, y + 1.0, bin_w, row_h - 2.0, &style, Some(&tip));
            if failed > 0 {
                let style = format!("fill:{}", palette::FAILED);
                svg.rect(x, y + row_h * 0.6, bin_w, row_h * 0.4 - 1.0, &style, None);
            }
        }
        if let Some((reason, t)) = &row.ended {
            let x = x_of(*t);
            let tip = format!("{} ended: {reason}", row.worker_id);
            svg.rect(x - 1.0, y, 2.0, row_h, "fill:#222", Some(&tip));
            if let Some(j) = row.replaced_by {
                let to = rows[j].registered_us.unwrap_or(*t);
                let y2 = frame.top + j as f64 * row_h + row_h / 2.0;
                svg.polyline(
                    &[(x, y + row_h / 2.0), (x_of(to), y2)],
                    "stroke:#222;stroke-width:1;stroke-dasharray:3 2",
                    Some(&format!(
                        "{} replaced by {}",
                        row.worker_id, rows[j].worker_id
                    )),
                );
            }
        }
    }
    for m in marks {
        svg.mark();
        let y = frame.top + m.row as f64 * row_h + row_h / 2.0 - 1.5;
        let (x0, x1) = (x_of(m.start_us), x_of(m.end_us));
        let tip = format!(
            "{} block {} attempt {}: {} in {}",
            task_name(Some(m.task)),
            m.block,
            m.attempt,
            if m.failed { "failed" } else { "finished" },
            format::duration(m.end_us.saturating_sub(m.start_us) as f64 / 1e6)
        );
        let fill = if m.failed { palette::FAILED } else { "#222" };
        svg.rect(
            x0,
            y,
            (x1 - x0).max(1.5),
            3.0,
            &format!("fill:{fill}"),
            Some(&tip),
        );
    }
    time_axis(&mut svg, &frame, span_us / 1e6);
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::Timeline;

    #[test]
    fn rows_ends_replacements_and_attempts_are_drawn() {
        let worker = |id: &str, reg: u64, ended: Option<u64>| WorkerRow {
            worker_id: id.into(),
            task: Some(0),
            registered_us: Some(reg),
            ended: ended.map(|t| ("job TIMEOUT".to_string(), t)),
            ..WorkerRow::default()
        };
        let mut t = Timeline::new(
            0,
            10_000_000,
            vec![
                worker("w1", 0, Some(5_000_000)),
                worker("w2", 5_000_000, None),
            ],
        );
        t.add(AttemptMark {
            row: 0,
            task: 0,
            block: 42,
            attempt: 2,
            start_us: 1_000_000,
            end_us: 2_000_000,
            failed: true,
        });
        let (axes, rows, marks, _) = t.into_parts();
        let out = draw(&axes, &rows, &marks, &["predict".into()]);
        assert!(out.contains("w1 ended: job TIMEOUT"), "{out}");
        assert!(out.contains("w1 replaced by w2"));
        assert!(out.contains("predict block 42 attempt 2: failed in 1s"));
        assert!(out.contains(r#"data-marks="2""#));
    }
}
