//! How blocks at the border of the total region are handled (daisy's `fit`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Border policy, exactly daisy's: which blocks exist at the edge and what their ROIs are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Only blocks whose read ROI lies fully inside the total ROI.
    #[default]
    Valid,
    /// Every block whose write ROI begins inside the total write ROI; ROIs may stick out.
    Overhang,
    /// Like `Overhang`, but border ROIs are cut to the total read / total write ROIs.
    Shrink,
}

impl Fit {
    /// The name used in task files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Fit::Valid => "valid",
            Fit::Overhang => "overhang",
            Fit::Shrink => "shrink",
        }
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
