//! `blockorch report`: one self-contained HTML page with charts of a run, from its ledger
//! alone — blocks finished over time, the worker timeline, wall time and peak memory
//! histograms, failures by cause, the block map. Charts are inline SVG drawn here (no
//! JavaScript library, nothing fetched when the page is viewed); every aggregate has a fixed
//! size (time bins, log histograms, sampled attempts, capped rows and map cells), so memory
//! beyond the status snapshot does not grow with the number of blocks.

mod axes;
mod causes;
mod charts;
mod collect;
mod format;
mod histogram;
mod page;
mod sample;
mod svg;
mod time_bins;
mod timeline;

use std::io::Write;
use std::path::Path;

pub use collect::{collect, ReportData};

use crate::ledger::now_us;
use crate::status::StatusError;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the ledger failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// Writing the page failed.
    #[error("cannot write the report")]
    Write(#[from] std::io::Error),
}

/// Reads the ledger at `root` and writes the report page to `out`; returns its size in bytes.
pub fn write_report(root: &Path, out: &mut dyn Write) -> Result<usize, ReportError> {
    write_page(collect(root)?, out)
}

/// Writes the report page of `data` to `out`; returns its size in bytes.
pub fn write_page(data: ReportData, out: &mut dyn Write) -> Result<usize, ReportError> {
    let html = page::render(data, now_us());
    out.write_all(html.as_bytes())?;
    out.flush()?;
    Ok(html.len())
}
