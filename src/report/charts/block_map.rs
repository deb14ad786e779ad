//! The block map of one task: the slice `status --map` draws (at most 120 × 120 cells, each
//! standing for a square of blocks on large grids), one coloured square per cell.

use super::palette;
use crate::report::svg::{Anchor, Svg};
use crate::status::{CellState, MapView};

/// Largest drawing side in pixels.
const SIDE: f64 = 480.0;
const LEGEND_W: f64 = 130.0;

/// Draws `map`.
pub fn draw(map: &MapView) -> String {
    let rows = map.cells.len().max(1);
    let cols = map.cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let cell = (SIDE / rows.max(cols) as f64).clamp(2.0, 24.0);
    let (w, h) = (cols as f64 * cell, rows as f64 * cell);
    let mut svg = Svg::new("block-map", w + LEGEND_W + 20.0, h.max(110.0) + 10.0);
    let axis = |a: Option<usize>| a.map_or("-".to_string(), |a| a.to_string());
    for (r, row) in map.cells.iter().enumerate() {
        for (c, &state) in row.iter().enumerate() {
            svg.mark();
            let tip = format!(
                "grid row {} col {} (axes {}, {}; {}×{} blocks): {}",
                r as u64 * map.scale,
                c as u64 * map.scale,
                axis(map.row_axis),
                axis(map.col_axis),
                map.scale,
                map.scale,
                state.name()
            );
            // Cell borders only where cells are large enough for them not to wash out colour.
            let border = if cell >= 6.0 {
                ";stroke:#fff;stroke-width:0.5"
            } else {
                ""
            };
            let style = format!("fill:{}{border}", palette::state(state));
            svg.rect(
                c as f64 * cell,
                r as f64 * cell,
                cell,
                cell,
                &style,
                Some(&tip),
            );
        }
    }
    for (i, state) in CellState::ALL.iter().enumerate() {
        let (x, y) = (w + 20.0, 10.0 + 16.0 * i as f64);
        svg.rect(
            x,
            y,
            11.0,
            11.0,
            &format!("fill:{}", palette::state(*state)),
            None,
        );
        let label = format!("{} {}", state.name(), map.counts.get(*state));
        svg.text((x + 15.0, y + 10.0), &label, Anchor::Start, "legend");
    }
    svg.finish()
}
