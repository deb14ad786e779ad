//! A histogram of a per-attempt value (wall time, peak memory) on a log scale: one set of
//! translucent bars per task, over the range of bins any task uses.

use super::palette;
use crate::report::axes::{log_axis, value_axis, Frame};
use crate::report::format;
use crate::report::histogram::LogHistogram;
use crate::report::svg::{Anchor, Svg};

const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 260.0;
/// Fewest bins drawn (two decades).
const MIN_BINS: usize = 10;

/// Draws `hists` (one per task) as chart `name`, values labelled by `label`.
pub fn draw(
    name: &'static str,
    hists: &[LogHistogram],
    tasks: &[String],
    label: fn(f64) -> String,
) -> String {
    let mut svg = Svg::new(name, WIDTH, HEIGHT);
    let frame = Frame {
        left: 60.0,
        top: 30.0,
        width: WIDTH - 80.0,
        height: HEIGHT - 70.0,
    };
    let range = hists
        .iter()
        .filter_map(LogHistogram::occupied)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    let Some((lo, hi)) = range else {
        let below: u64 = hists.iter().map(LogHistogram::below).sum();
        let text = match hists.first() {
            Some(h) if below > 0 => format!(
                "all {} attempts below {}",
                format::count(below),
                label(h.edge(0))
            ),
            _ => "no finished attempts with this measure".into(),
        };
        svg.text((WIDTH / 2.0, HEIGHT / 2.0), &text, Anchor::Middle, "empty");
        return svg.finish();
    };
    let h0 = &hists[0];
    // At least MIN_BINS wide, so a narrow distribution still has ticks around it.
    let pad = MIN_BINS.saturating_sub(hi + 1 - lo).div_ceil(2);
    let first = lo.saturating_sub(pad);
    let last = (hi + pad).min(h0.counts().len() - 1);
    let n = last + 1 - first;
    let ymax = hists
        .iter()
        .flat_map(|h| h.counts()[first..=last].iter().copied())
        .max()
        .unwrap_or(1) as f64;
    value_axis(&mut svg, &frame, ymax, |v| format::count(v as u64));
    log_axis(&mut svg, &frame, h0.edge(first), h0.edge(last + 1), label);
    let bar_w = frame.width / n as f64;
    for (t, (h, task)) in hists.iter().zip(tasks).enumerate() {
        for (i, &c) in h.counts()[first..=last].iter().enumerate() {
            if c == 0 {
                continue;
            }
            svg.mark();
            let tip = format!(
                "{task}: {} attempts from {} to {}",
                format::count(c),
                label(h.edge(first + i)),
                label(h.edge(first + i + 1))
            );
            let top = frame.y(c as f64 / ymax);
            let style = format!("fill:{};opacity:0.6", palette::task(t));
            svg.rect(
                frame.left + i as f64 * bar_w,
                top,
                bar_w - 1.0,
                frame.bottom() - top,
                &style,
                Some(&tip),
            );
        }
        if h.total() > 0 {
            let q = |q: f64| h.quantile(q).map_or("-".into(), label);
            let legend = format!(
                "{task}: p50 {}  p95 {}  max {}",
                q(0.5),
                q(0.95),
                label(h.max())
            );
            let y = 14.0 + 13.0 * t as f64;
            svg.rect(
                frame.left,
                y - 9.0,
                10.0,
                10.0,
                &format!("fill:{}", palette::task(t)),
                None,
            );
            svg.text((frame.left + 14.0, y), &legend, Anchor::Start, "legend");
        }
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_quantiles_per_task() {
        let mut a = LogHistogram::seconds();
        let mut b = LogHistogram::seconds();
        for i in 1..=10 {
            a.add(f64::from(i));
        }
        b.add(100.0);
        let out = draw("wall", &[a, b], &["a".into(), "b".into()], format::duration);
        assert!(out.contains("a: p50 "), "{out}");
        assert!(out.contains("b: 1 attempts from"), "{out}");
        assert!(!out.contains(r#"data-marks="0""#));
        let empty = draw(
            "rss",
            &[LogHistogram::bytes()],
            &["a".into()],
            format::bytes,
        );
        assert!(empty.contains(r#"data-marks="0""#) && empty.contains("no finished attempts"));
    }
}
