//! One module per chart; each turns [`ReportData`](super::ReportData) parts into one `<svg>`.

pub mod block_map;
pub mod failures;
pub mod histogram;
pub mod palette;
pub mod progress;
pub mod timeline;
