//! Failures by cause: one horizontal bar per cause (kind and message headline), longest
//! first, with example blocks in the tooltip and the list below the chart.

use super::palette;
use crate::report::causes::{Cause, FailureCauses};
use crate::report::format;
use crate::report::svg::{Anchor, Svg};

const WIDTH: f64 = 900.0;
/// Causes drawn; the rest are summed in the caption.
pub const DRAWN: usize = 15;
const BAR_H: f64 = 22.0;
const LABEL_CHARS: usize = 90;

/// Draws the most frequent causes.
pub fn draw(causes: &FailureCauses, tasks: &[String]) -> String {
    let sorted = causes.sorted();
    let drawn: Vec<&Cause> = sorted.iter().take(DRAWN).copied().collect();
    let height = 20.0 + BAR_H * drawn.len().max(1) as f64;
    let mut svg = Svg::new("failures", WIDTH, height);
    if drawn.is_empty() {
        svg.text(
            (WIDTH / 2.0, 24.0),
            "no failed attempts",
            Anchor::Middle,
            "empty",
        );
        return svg.finish();
    }
    let max = drawn[0].count as f64;
    let (left, width) = (10.0, WIDTH - 120.0);
    for (i, cause) in drawn.iter().enumerate() {
        svg.mark();
        let y = 10.0 + i as f64 * BAR_H;
        let w = (cause.count as f64 / max * width).max(2.0);
        let examples: Vec<String> = cause
            .examples
            .iter()
            .map(|&(t, b, a)| {
                let task = tasks.get(t as usize).map_or("?", String::as_str);
                format!("{task} block {b} attempt {a}")
            })
            .collect();
        let tip = format!(
            "{}: {}\n{} attempts, e.g. {}",
            cause.kind,
            cause.headline,
            format::count(cause.count),
            examples.join(", ")
        );
        let colour = if cause.kind == "given back" {
            "#9c755f"
        } else {
            palette::FAILED
        };
        svg.rect(
            left,
            y,
            w,
            BAR_H - 4.0,
            &format!("fill:{colour};opacity:0.25"),
            Some(&tip),
        );
        let label: String = format!("{}: {}", cause.kind, cause.headline)
            .chars()
            .take(LABEL_CHARS)
            .collect();
        svg.text(
            (left + 6.0, y + BAR_H - 9.0),
            &label,
            Anchor::Start,
            "bar-label",
        );
        svg.text(
            (WIDTH - 10.0, y + BAR_H - 9.0),
            &format::count(cause.count),
            Anchor::End,
            "bar-value",
        );
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_cause_first_with_examples() {
        let mut c = FailureCauses::default();
        c.add("timeout", "timed out", (0, 3, 1));
        for b in 0..4 {
            c.add("block error", "ValueError: bad", (1, b, 1));
        }
        c.add("given back", "worker ended: NODE_FAIL", (0, 9, 2));
        let out = draw(&c, &["a".into(), "b".into()]);
        let first = out.find("block error: ValueError: bad").unwrap();
        assert!(first < out.find("timeout: timed out").unwrap());
        assert!(out.contains("4 attempts, e.g. b block 0 attempt 1, b block 1 attempt 1"));
        assert!(out.contains(r#"data-marks="3""#));
        let none = draw(&FailureCauses::default(), &[]);
        assert!(none.contains("no failed attempts") && none.contains(r#"data-marks="0""#));
    }
}
