//! The plot area of a chart ([`Frame`]) and its axes: elapsed time, counts, and logarithmic
//! value axes, with tick steps a reader can count in.

use super::svg::{Anchor, Svg};

/// Tick steps of the time axis, in seconds.
const TIME_STEPS: [f64; 19] = [
    0.001, 0.01, 0.1, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    7200.0, 21600.0, 43200.0, 86400.0,
];
/// At most this many ticks per axis.
const MAX_TICKS: f64 = 8.0;
const GRID: &str = "stroke:#e3e3e3;stroke-width:1";
const AXIS: &str = "stroke:#555;stroke-width:1";

/// The rectangle data is drawn in, inside a chart's margins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl Frame {
    /// The x of a fraction (0 left, 1 right) of the width.
    pub fn x(&self, frac: f64) -> f64 {
        self.left + frac.clamp(0.0, 1.0) * self.width
    }

    /// The y of a fraction (0 bottom, 1 top) of the height.
    pub fn y(&self, frac: f64) -> f64 {
        self.top + self.height - frac.clamp(0.0, 1.0) * self.height
    }

    /// The bottom edge.
    pub fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// Draws the bottom axis line.
    fn baseline(&self, svg: &mut Svg) {
        svg.line(
            (self.left, self.bottom()),
            (self.left + self.width, self.bottom()),
            AXIS,
        );
    }
}

/// The x axis as time elapsed since its start, `span_s` seconds wide.
pub fn time_axis(svg: &mut Svg, frame: &Frame, span_s: f64) {
    frame.baseline(svg);
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|&s| span_s / s <= MAX_TICKS)
        .unwrap_or_else(|| (span_s / MAX_TICKS / 86400.0).ceil() * 86400.0);
    let mut t = 0.0;
    while t <= span_s * 1.0001 {
        let x = frame.x(t / span_s);
        svg.line((x, frame.bottom()), (x, frame.bottom() + 4.0), AXIS);
        let label = if t == 0.0 {
            "0".into()
        } else {
            super::format::duration(t)
        };
        svg.text((x, frame.bottom() + 16.0), &label, Anchor::Middle, "tick");
        t += step;
    }
}

/// The y axis of a count from 0 to `max`, with grid lines, labelled by `label`.
pub fn value_axis(svg: &mut Svg, frame: &Frame, max: f64, label: impl Fn(f64) -> String) {
    let max = max.max(1.0);
    let raw = max / MAX_TICKS;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0); // counts: no fractional ticks
    let mut v = 0.0;
    while v <= max * 1.0001 {
        let y = frame.y(v / max);
        svg.line((frame.left, y), (frame.left + frame.width, y), GRID);
        svg.text((frame.left - 6.0, y + 4.0), &label(v), Anchor::End, "tick");
        v += step;
    }
}

/// The x axis on a log scale between `lo` and `hi` (both > 0), ticked at powers of ten.
pub fn log_axis(svg: &mut Svg, frame: &Frame, lo: f64, hi: f64, label: impl Fn(f64) -> String) {
    frame.baseline(svg);
    let (a, b) = (lo.log10(), hi.log10());
    let mut e = a.ceil();
    while e <= b + 1e-9 {
        let x = frame.x((e - a) / (b - a));
        svg.line((x, frame.bottom()), (x, frame.bottom() + 4.0), AXIS);
        svg.text(
            (x, frame.bottom() + 16.0),
            &label(10f64.powf(e)),
            Anchor::Middle,
            "tick",
        );
        e += 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_few_and_labelled() {
        let frame = Frame {
            left: 50.0,
            top: 10.0,
            width: 400.0,
            height: 100.0,
        };
        let mut svg = Svg::new("t", 500.0, 150.0);
        time_axis(&mut svg, &frame, 3.5 * 3600.0);
        value_axis(&mut svg, &frame, 1234.0, |v| format!("{v}"));
        log_axis(&mut svg, &frame, 0.001, 100.0, |v| format!("{v}"));
        let out = svg.finish();
        let ticks = out.matches(r#"class="tick""#).count();
        assert!((10..=3 * 9).contains(&ticks), "{ticks}: {out}");
        assert!(out.contains(">1h00m<") && out.contains(">3h00m<"), "{out}");
        assert!(out.contains(">1000<") && out.contains(">0.001<"), "{out}");
    }
}
