//! The `"backend"` field of a task file: where the workers run.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::suggest::closest;

/// Where a run's workers run; the command line's `--backend` overrides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    /// Child processes on this machine.
    Local,
    /// SLURM jobs.
    Slurm,
    /// LSF jobs.
    Lsf,
}

impl BackendName {
    /// The name as written in a task file (`slurm`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackendName::Local => "local",
            BackendName::Slurm => "slurm",
            BackendName::Lsf => "lsf",
        }
    }

    /// Every backend, in the order the documentation lists them.
    pub const ALL: [BackendName; 3] = [BackendName::Local, BackendName::Slurm, BackendName::Lsf];

    /// The name written as `text`, if it is one.
    pub fn parse(text: &str) -> Option<BackendName> {
        Self::ALL.into_iter().find(|b| b.as_str() == text)
    }

    /// The name written as `text`, or the message for a name that is none (with the closest
    /// name for a typo), worded like the other task-file fields' messages.
    pub fn parse_or_explain(text: &str) -> Result<BackendName, String> {
        Self::parse(text).ok_or_else(|| {
            let names = Self::ALL.map(BackendName::as_str);
            let hint = closest(text, names)
                .map(|s| format!(" did you mean {s:?}?"))
                .unwrap_or_default();
            let list: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            format!(
                "unknown backend {text:?};{hint} backend is one of {}",
                list.join(", ")
            )
        })
    }
}

impl<'de> Deserialize<'de> for BackendName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_or_explain(&text).map_err(de::Error::custom)
    }
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::BackendName;

    #[test]
    fn a_misspelt_backend_is_named_with_the_closest_one() {
        let err = serde_json::from_str::<BackendName>("\"slrum\"").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unknown backend \"slrum\"; did you mean \"slurm\"? \
                 backend is one of \"local\", \"slurm\", \"lsf\""
            ),
            "{err}"
        );
        let far = BackendName::parse_or_explain("kubernetes").unwrap_err();
        assert_eq!(
            far,
            "unknown backend \"kubernetes\"; backend is one of \"local\", \"slurm\", \"lsf\""
        );
        assert_eq!(
            serde_json::from_str::<BackendName>("\"lsf\"").unwrap(),
            BackendName::Lsf
        );
    }
}
