//! Blocks finished over time: one cumulative line per task, and the failed attempts of each
//! time bin as red bars along the bottom.

use super::palette;
use crate::report::axes::{time_axis, value_axis, Frame};
use crate::report::format;
use crate::report::svg::{Anchor, Svg};
use crate::report::time_bins::TimeBins;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 320.0;
/// Tallest failure bar, in pixels.
const FAIL_BAR: f64 = 30.0;

/// Draws `bins` (series `t`: finished blocks of task `t`; `tasks.len() + t`: its failed
/// attempts); `totals` are the tasks' block counts.
pub fn draw(bins: &TimeBins, tasks: &[String], totals: &[u64]) -> String {
    let mut svg = Svg::new("progress", WIDTH, HEIGHT);
    let frame = Frame {
        left: 70.0,
        top: 30.0,
        width: WIDTH - 100.0,
        height: HEIGHT - 80.0,
    };
    let used = bins.used();
    let bin_s = bins.width_us() as f64 / 1e6;
    let span_s = used as f64 * bin_s;
    let ymax = tasks
        .iter()
        .enumerate()
        .map(|(t, _)| bins.total(t).max(totals.get(t).copied().unwrap_or(0)))
        .max()
        .unwrap_or(1) as f64;
    value_axis(&mut svg, &frame, ymax, |v| format::count(v as u64));
    time_axis(&mut svg, &frame, span_s);
    let fail_max = (0..tasks.len())
        .flat_map(|t| bins.series(tasks.len() + t).iter().copied())
        .max()
        .unwrap_or(0);
    for (t, name) in tasks.iter().enumerate() {
        let mut cum = 0u64;
        let mut points = vec![(frame.x(0.0), frame.y(0.0))];
        for (i, &n) in bins.series(t).iter().enumerate() {
            cum += n;
            points.push((
                frame.x((i + 1) as f64 / used as f64),
                frame.y(cum as f64 / ymax),
            ));
        }
        if cum > 0 {
            svg.mark();
        }
        let tip = format!(
            "{name}: {} of {} blocks finished",
            format::count(cum),
            format::count(totals.get(t).copied().unwrap_or(0))
        );
        let style = format!("stroke:{};stroke-width:2", palette::task(t));
        svg.polyline(&points, &style, Some(&tip));
        for (i, &n) in bins.series(tasks.len() + t).iter().enumerate() {
            if n == 0 {
                continue;
            }
            svg.mark();
            let h = (n as f64 / fail_max as f64 * FAIL_BAR).max(2.0);
            let w = (frame.width / used as f64).max(2.0);
            let tip = format!(
                "{name}: {} failed attempts between {} and {}",
                format::count(n),
                format::duration(i as f64 * bin_s),
                format::duration((i + 1) as f64 * bin_s)
            );
            let style = format!("fill:{};opacity:0.8", palette::FAILED);
            svg.rect(
                frame.x(i as f64 / used as f64),
                frame.bottom() - h,
                w,
                h,
                &style,
                Some(&tip),
            );
        }
        let lx = frame.left + 10.0 + 160.0 * t as f64;
        svg.rect(
            lx,
            8.0,
            12.0,
            12.0,
            &format!("fill:{}", palette::task(t)),
            None,
        );
        svg.text((lx + 16.0, 18.0), name, Anchor::Start, "legend");
    }
    svg.text(
        (frame.x(1.0), frame.bottom() + 34.0),
        "time since the ledger was created",
        Anchor::End,
        "axis-label",
    );
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_task_and_a_bar_per_failure_bin() {
        let mut bins = TimeBins::new(0, 4);
        for i in 0..100 {
            bins.add(0, i * 1_000_000, 1);
        }
        bins.add(1, 50_000_000, 7);
        bins.add(2, 20_000_000, 3);
        let out = draw(&bins, &["a".into(), "b<".into()], &[100, 10]);
        assert_eq!(out.matches("<polyline").count(), 2);
        assert!(out.contains("a: 100 of 100 blocks finished"));
        assert!(out.contains("b&lt;: 7 of 10 blocks finished"));
        assert!(out.contains("a: 3 failed attempts between"));
        assert!(out.contains(r#"data-marks="3""#), "{out}");
    }
}
