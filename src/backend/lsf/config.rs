//! What the LSF backend needs to know: the shared array-scheduler configuration over the
//! tasks' `lsf` sections (`signal_grace` becomes `-wa TERM -wt <minutes>`, rounded up to whole
//! minutes; zero leaves the warning out; `requeue` makes the jobs rerunnable, `-r`).

use super::backend::Lsf;
use crate::backend::array_scheduler::{ArrayConfig, ArrayTask};
use crate::task::LsfSettings;

/// One task as the LSF backend sees it.
pub type LsfTask = ArrayTask<LsfSettings>;

/// Configuration of a [`super::LsfBackend`].
pub type LsfConfig = ArrayConfig<Lsf>;
