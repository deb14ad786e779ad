//! Validated scalar values of the `slurm` and `lsf` sections.
//!
//! Each value ends up in a `#SBATCH`/`#BSUB` line or a scheduler command line, so each type
//! admits only a strict pattern: no newlines, quotes, backticks, `$`, `;` or other shell
//! metacharacters can get through, whatever the backend later does with the text. A value of
//! one of these types is valid by construction (the field is private, the only way in is
//! `TryFrom<String>`, which serde uses).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// Why a scheduler setting was rejected; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettingError {
    /// A character outside the field's alphabet (newline, quote, `$`, …).
    #[error("invalid value {value}: {found} is not allowed; {rule}")]
    ForbiddenCharacter {
        /// The value, JSON-quoted (so a newline shows as `\n`).
        value: String,
        /// The offending character, described ("a newline", `";"`).
        found: String,
        /// What the field accepts.
        rule: &'static str,
    },
    /// An empty string.
    #[error("must not be empty; {rule}")]
    Empty {
        /// What the field accepts.
        rule: &'static str,
    },
    /// Right characters, wrong shape (e.g. a time of `"1:2:3:4"`).
    #[error("invalid value {value}: expected {expected}")]
    BadFormat {
        /// The value, JSON-quoted.
        value: String,
        /// The accepted forms.
        expected: &'static str,
    },
    /// An extra directive that blockorch sets itself or that has its own field.
    #[error("invalid value {value}: {option} cannot be given here because {reason}")]
    ReservedDirective {
        /// The value, JSON-quoted.
        value: String,
        /// The option name as written (`--array`, `-J`).
        option: String,
        /// Why, and what to use instead.
        reason: String,
    },
}

/// Defines a string newtype that can only hold values accepted by `$check`.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The value exactly as written in the task file.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = SettingError;
            fn try_from(value: String) -> Result<Self, SettingError> {
                $check(&value)?;
                Ok(Self(value))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = SettingError;
            fn try_from(value: &str) -> Result<Self, SettingError> {
                Self::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_string!(
    /// A queue, account, QoS or project name: `[A-Za-z0-9_.-]+`.
    SchedulerName,
    check_name
);

validated_string!(
    /// One SLURM partition or several separated by commas (`gpu` or `gpu,gpu-long`).
    PartitionList,
    check_partitions
);

validated_string!(
    /// A SLURM time limit: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM` or `D-HH:MM:SS`.
    SlurmTime,
    check_slurm_time
);

validated_string!(
    /// An LSF run limit (`bsub -W`): `[hours:]minutes`.
    LsfWalltime,
    check_lsf_walltime
);

validated_string!(
    /// A memory amount: digits with an optional unit `K`, `M`, `G` or `T` (`16G`, `500M`, `1024`).
    Memory,
    check_memory
);

validated_string!(
    /// A SLURM `--constraint` expression of features (`a100`, `a100|v100`, `[rack1*2&rack2*2]`).
    SlurmConstraint,
    check_constraint
);

validated_string!(
    /// An LSF `-R` resource requirement (`select[mem>4000] rusage[mem=4000] span[hosts=1]`).
    LsfResource,
    check_lsf_resource
);

validated_string!(
    /// An extra `#SBATCH` option: `--name` or `--name=value`.
    SlurmDirective,
    check_slurm_directive
);

validated_string!(
    /// An extra `#BSUB` option: `-name` or `-name value` (one word).
    LsfDirective,
    check_lsf_directive
);

validated_string!(
    /// Path of a job-script template, relative to the task file's directory unless absolute.
    TemplatePath,
    check_template_path
);

validated_string!(
    /// One shell line of a job script's set-up (`module load cuda/12`, `conda activate seg`,
    /// `source venv/bin/activate`): run as written, so it may use any shell syntax, but it is
    /// one line (no newline, carriage return or other control character).
    SetupLine,
    check_setup_line
);

validated_string!(
    /// One word of a container command prefix (`apptainer`, `exec`, `--nv`, `image.sif`): one
    /// argument, not empty, without control characters.
    CommandWord,
    check_command_word
);

impl SlurmTime {
    /// The limit as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(slurm_time_seconds(&self.0).unwrap_or(0))
    }
}

impl LsfWalltime {
    /// The limit as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(lsf_walltime_seconds(&self.0).unwrap_or(0))
    }
}

impl Memory {
    /// The amount in mebibytes, reading a bare number as megabytes (SLURM's default unit;
    /// LSF sites may configure another unit, see `LSF_UNIT_FOR_LIMITS`).
    pub fn megabytes(&self) -> u64 {
        let (digits, unit) = split_memory(&self.0);
        let amount: u64 = digits.parse().unwrap_or(0);
        match unit.to_ascii_uppercase().as_str() {
            "K" => amount.div_ceil(1024),
            "G" => amount.saturating_mul(1024),
            "T" => amount.saturating_mul(1024 * 1024),
            _ => amount,
        }
    }
}

impl PartitionList {
    /// The partitions, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split(',')
    }
}

impl TemplatePath {
    /// The path as written (resolve relative paths against the task file's directory).
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }
}

const NAME_RULE: &str = "names use only letters, digits, \"_\", \".\" and \"-\"";
const PARTITION_RULE: &str = "partition names use only letters, digits, \"_\", \".\" and \"-\"; \
                              separate several partitions with \",\"";
const SLURM_TIME_RULE: &str = "a SLURM time limit is MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or \
                               D-HH:MM:SS (e.g. \"02:00:00\" or \"1-12\")";
const SLURM_TIME_FORMS: &str = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. \
                                \"02:00:00\" or \"1-12\"), with minutes and seconds below 60 \
                                after the first field and hours below 24 after a day count";
const LSF_WALLTIME_RULE: &str = "an LSF run limit is [hours:]minutes, e.g. \"120\" or \"2:00\"";
const LSF_WALLTIME_FORMS: &str = "[hours:]minutes, e.g. \"120\" or \"2:00\" (LSF run limits \
                                  have no seconds; minutes below 60 after hours)";
const MEMORY_RULE: &str = "memory is digits with an optional unit K, M, G or T, e.g. \"16G\", \
                           \"500M\" or \"1024\"";
const MEMORY_FORMS: &str = "digits with an optional unit K, M, G or T and more than 0, e.g. \
                            \"16G\", \"500M\" or \"1024\"";
const CONSTRAINT_RULE: &str = "a constraint uses feature names (letters, digits, \"_\", \".\", \
                               \"-\") joined by \"&\", \"|\", \",\", \"*\", \":\", \"!\", \
                               brackets and parentheses, without spaces";
const RESOURCE_RULE: &str = "a resource requirement uses letters, digits, spaces and \
                             []()=<>!&|:,._*/+~- only";
const SLURM_DIRECTIVE_RULE: &str = "an extra SLURM directive is one option such as \
                                    \"--exclusive\" or \"--gres=gpu:2\" (letters, digits and \
                                    _.,:=@%/+[]*~- only, no spaces)";
const SLURM_DIRECTIVE_FORMS: &str = "one long option: \"--name\" or \"--name=value\", e.g. \
                                     \"--exclusive\" or \"--gres=gpu:2\"";
const LSF_DIRECTIVE_RULE: &str = "an extra LSF directive is one option such as \"-x\" or \
                                  \"-app gpu_app\" (letters, digits, one space and \
                                  _.,:=@%/+[]*~- only)";
const LSF_DIRECTIVE_FORMS: &str = "one option: \"-name\" or \"-name value\" with a one-word \
                                   value, e.g. \"-x\" or \"-app gpu_app\"";
const TEMPLATE_RULE: &str = "a template path is a file path on one line";
const SETUP_RULE: &str = "a setup line is one shell line (write several lines as several \
                          list entries)";
const WORD_RULE: &str = "a container prefix is a list of arguments, e.g. [\"apptainer\", \
                         \"exec\", \"--nv\", \"image.sif\"], each one non-empty argument \
                         without control characters";

/// Describes a character for an error message (`a newline`, `"$"`).
fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        '\0' => "a NUL character".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => serde_json::Value::from(c.to_string()).to_string(),
    }
}

fn quote(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

/// Rejects empty values and the first character outside `allowed`.
fn only(
    value: &str,
    allowed: impl Fn(char) -> bool,
    rule: &'static str,
) -> Result<(), SettingError> {
    if value.is_empty() {
        return Err(SettingError::Empty { rule });
    }
    match value.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(SettingError::ForbiddenCharacter {
            value: quote(value),
            found: describe(c),
            rule,
        }),
        None => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn check_name(value: &str) -> Result<(), SettingError> {
    only(value, is_name_char, NAME_RULE)
}

fn check_partitions(value: &str) -> Result<(), SettingError> {
    only(value, |c| is_name_char(c) || c == ',', PARTITION_RULE)?;
    if value.split(',').any(str::is_empty) {
        return Err(SettingError::BadFormat {
            value: quote(value),
            expected:
                "partition names separated by single commas, e.g. \"gpu\" or \"gpu,gpu-long\"",
        });
    }
    Ok(())
}

/// A field of digits (at most 9, so sums cannot overflow).
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A field of digits below `limit`, written with one or two digits.
fn bounded(text: &str, limit: u64) -> Option<u64> {
    (text.len() <= 2)
        .then(|| number(text))
        .flatten()
        .filter(|&v| v < limit)
}

/// Seconds of a SLURM time limit, `None` if malformed.
fn slurm_time_seconds(value: &str) -> Option<u64> {
    let (days, rest) = match value.split_once('-') {
        Some((days, rest)) => (Some(number(days)?), rest),
        None => (None, value),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    match (days, parts.as_slice()) {
        (None, [m]) => Some(number(m)? * 60),
        (None, [m, s]) => Some(number(m)? * 60 + bounded(s, 60)?),
        (None, [h, m, s]) => Some(number(h)? * 3600 + bounded(m, 60)? * 60 + bounded(s, 60)?),
        (Some(d), [h]) => Some(d * 86_400 + bounded(h, 24)? * 3600),
        (Some(d), [h, m]) => Some(d * 86_400 + bounded(h, 24)? * 3600 + bounded(m, 60)? * 60),
        (Some(d), [h, m, s]) => {
            Some(d * 86_400 + bounded(h, 24)? * 3600 + bounded(m, 60)? * 60 + bounded(s, 60)?)
        }
        _ => None,
    }
}

fn check_slurm_time(value: &str) -> Result<(), SettingError> {
    only(
        value,
        |c| c.is_ascii_digit() || c == ':' || c == '-',
        SLURM_TIME_RULE,
    )?;
    match slurm_time_seconds(value) {
        Some(_) => Ok(()),
        None => Err(SettingError::BadFormat {
            value: quote(value),
            expected: SLURM_TIME_FORMS,
        }),
    }
}

/// Seconds of an LSF run limit, `None` if malformed.
fn lsf_walltime_seconds(value: &str) -> Option<u64> {
    match value.split_once(':') {
        Some((h, m)) => Some(number(h)? * 3600 + bounded(m, 60)? * 60),
        None => Some(number(value)? * 60),
    }
}

fn check_lsf_walltime(value: &str) -> Result<(), SettingError> {
    only(value, |c| c.is_ascii_digit() || c == ':', LSF_WALLTIME_RULE)?;
    match lsf_walltime_seconds(value) {
        Some(_) => Ok(()),
        None => Err(SettingError::BadFormat {
            value: quote(value),
            expected: LSF_WALLTIME_FORMS,
        }),
    }
}

/// Splits `16G` into `("16", "G")`.
fn split_memory(value: &str) -> (&str, &str) {
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    value.split_at(digits)
}

fn check_memory(value: &str) -> Result<(), SettingError> {
    only(
        value,
        |c| c.is_ascii_digit() || "KMGTkmgt".contains(c),
        MEMORY_RULE,
    )?;
    let (digits, unit) = split_memory(value);
    let amount_ok = digits.parse::<u64>().is_ok_and(|v| v > 0);
    if !amount_ok || unit.len() > 1 {
        return Err(SettingError::BadFormat {
            value: quote(value),
            expected: MEMORY_FORMS,
        });
    }
    Ok(())
}

fn check_constraint(value: &str) -> Result<(), SettingError> {
    only(
        value,
        |c| is_name_char(c) || "&|,*:![]()".contains(c),
        CONSTRAINT_RULE,
    )
}

fn check_lsf_resource(value: &str) -> Result<(), SettingError> {
    only(
        value,
        |c| is_name_char(c) || " []()=<>!&|:,*/+~".contains(c),
        RESOURCE_RULE,
    )?;
    if value.trim().is_empty() {
        return Err(SettingError::Empty {
            rule: RESOURCE_RULE,
        });
    }
    Ok(())
}

/// Characters allowed in the value part of an extra directive.
fn is_directive_value_char(c: char) -> bool {
    is_name_char(c) || ",:=@%/+[]*~".contains(c)
}

/// SLURM options blockorch sets itself, or that have a typed field, with the reason.
const SLURM_RESERVED: &[(&str, &str)] = &[
    ("array", "blockorch submits workers as a job array itself"),
    ("job-name", "blockorch names the jobs to find them again"),
    ("output", "blockorch chooses the log files"),
    ("error", "blockorch chooses the log files"),
    ("wrap", "blockorch writes the batch script"),
    ("chdir", "commands run in the task file's directory"),
    (
        "signal",
        "blockorch asks for a signal before the time limit to return blocks cleanly",
    ),
    ("uid", "jobs run as the user who submits them"),
    ("gid", "jobs run as the user who submits them"),
    ("partition", "it has its own field: use slurm.partition"),
    ("account", "it has its own field: use slurm.account"),
    ("qos", "it has its own field: use slurm.qos"),
    ("time", "it has its own field: use slurm.time"),
    (
        "cpus-per-task",
        "it has its own field: use slurm.cpus_per_worker",
    ),
    ("mem", "it has its own field: use slurm.mem"),
    ("gpus", "it has its own field: use slurm.gpus_per_worker"),
    (
        "gpus-per-task",
        "it has its own field: use slurm.gpus_per_worker",
    ),
    ("constraint", "it has its own field: use slurm.constraint"),
    // Options that would break what the job script guarantees: one agent per array element,
    // started now, submitted for real, with its exit reported to blockorch.
    (
        "ntasks",
        "each array element runs one worker agent (the script sets --ntasks=1)",
    ),
    (
        "ntasks-per-node",
        "each array element runs one worker agent (the script sets --ntasks=1)",
    ),
    (
        "nodes",
        "each array element runs one worker agent on one node",
    ),
    (
        "hold",
        "a held job never starts, and the run would wait for it forever",
    ),
    (
        "test-only",
        "blockorch must really submit the jobs it waits for",
    ),
    ("wait", "sbatch must return at once: blockorch polls the jobs itself"),
    ("parsable", "blockorch reads sbatch's output itself"),
    ("requeue", "it has its own field: use slurm.requeue"),
    ("no-requeue", "it has its own field: use slurm.requeue"),
    (
        "export",
        "the script exports what the agent needs; a changed environment can hide blockorch and the worker program",
    ),
    ("dependency", "blockorch orders tasks itself"),
];

fn check_slurm_directive(value: &str) -> Result<(), SettingError> {
    only(value, is_directive_value_char, SLURM_DIRECTIVE_RULE)?;
    let bad_format = || SettingError::BadFormat {
        value: quote(value),
        expected: SLURM_DIRECTIVE_FORMS,
    };
    let Some(option) = value.strip_prefix("--") else {
        return Err(bad_format());
    };
    let name = option.split_once('=').map_or(option, |(name, _)| name);
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && option.split_once('=').is_none_or(|(_, v)| !v.is_empty());
    if !well_formed {
        return Err(bad_format());
    }
    // sbatch accepts any unambiguous prefix of a long option, so `--arr` means `--array`.
    if let Some((_, reason)) = SLURM_RESERVED
        .iter()
        .find(|(reserved, _)| reserved.starts_with(name))
    {
        return Err(SettingError::ReservedDirective {
            value: quote(value),
            option: format!("--{name}"),
            reason: (*reason).to_owned(),
        });
    }
    Ok(())
}

/// LSF options blockorch sets itself, or that have a typed field, with the reason.
const LSF_RESERVED: &[(&str, &str)] = &[
    ("J", "blockorch names the jobs (and their arrays) itself"),
    ("o", "blockorch chooses the log files"),
    ("oo", "blockorch chooses the log files"),
    ("e", "blockorch chooses the log files"),
    ("eo", "blockorch chooses the log files"),
    ("i", "blockorch feeds the job script itself"),
    ("is", "blockorch feeds the job script itself"),
    ("cwd", "commands run in the task file's directory"),
    ("q", "it has its own field: use lsf.queue"),
    ("P", "it has its own field: use lsf.project"),
    ("W", "it has its own field: use lsf.walltime"),
    ("n", "it has its own field: use lsf.cpus_per_worker"),
    ("M", "it has its own field: use lsf.mem"),
    ("gpu", "it has its own field: use lsf.gpus_per_worker"),
    ("R", "it has its own field: use lsf.resource"),
    // Options that would break what the job script guarantees: the agent is the job's only
    // program, started now and once, submitted for real, with its exit reported to blockorch.
    ("E", "a pre-execution command runs outside the agent and can requeue or fail the job"),
    ("Ep", "a post-execution command runs after the agent, outside the ledger's view"),
    ("H", "a held job never starts, and the run would wait for it forever"),
    ("K", "bsub must return at once: blockorch polls the jobs itself"),
    ("I", "worker jobs are batch jobs, not interactive ones"),
    ("Ip", "worker jobs are batch jobs, not interactive ones"),
    ("Is", "worker jobs are batch jobs, not interactive ones"),
    ("IS", "worker jobs are batch jobs, not interactive ones"),
    ("ISp", "worker jobs are batch jobs, not interactive ones"),
    ("ISs", "worker jobs are batch jobs, not interactive ones"),
    ("IX", "worker jobs are batch jobs, not interactive ones"),
    ("r", "it has its own field: use lsf.requeue"),
    (
        "Q",
        "a requeued worker would run again under the same identity: blockorch replaces lost workers itself",
    ),
    (
        "mig",
        "a migrated worker would run again under the same identity: blockorch replaces lost workers itself",
    ),
    (
        "k",
        "a checkpointed worker would restart under the same identity: blockorch replaces lost workers itself",
    ),
    ("w", "blockorch orders tasks itself"),
    ("outdir", "blockorch chooses the log files"),
    ("pack", "blockorch submits one job array per script"),
    ("jsdl", "blockorch writes the job description itself"),
    ("jsdl_strict", "blockorch writes the job description itself"),
    ("Zs", "blockorch feeds the job script itself"),
    ("env", "the script exports what the agent needs; a changed environment can hide blockorch and the worker program"),
];

fn check_lsf_directive(value: &str) -> Result<(), SettingError> {
    only(
        value,
        |c| is_directive_value_char(c) || c == ' ',
        LSF_DIRECTIVE_RULE,
    )?;
    let bad_format = || SettingError::BadFormat {
        value: quote(value),
        expected: LSF_DIRECTIVE_FORMS,
    };
    let Some(option) = value.strip_prefix('-') else {
        return Err(bad_format());
    };
    let (name, argument) = match option.split_once(' ') {
        Some((name, argument)) => (name, Some(argument)),
        None => (option, None),
    };
    let well_formed = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && argument.is_none_or(|a| !a.is_empty() && !a.contains(' '));
    if !well_formed {
        return Err(bad_format());
    }
    if let Some((_, reason)) = LSF_RESERVED.iter().find(|(reserved, _)| *reserved == name) {
        return Err(SettingError::ReservedDirective {
            value: quote(value),
            option: format!("-{name}"),
            reason: (*reason).to_owned(),
        });
    }
    Ok(())
}

fn check_template_path(value: &str) -> Result<(), SettingError> {
    only(value, |c| !c.is_control(), TEMPLATE_RULE)
}

fn check_setup_line(value: &str) -> Result<(), SettingError> {
    only(value, |c| !c.is_control(), SETUP_RULE)?;
    if value.trim().is_empty() {
        return Err(SettingError::Empty { rule: SETUP_RULE });
    }
    Ok(())
}

fn check_command_word(value: &str) -> Result<(), SettingError> {
    only(value, |c| !c.is_control(), WORD_RULE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_injection() {
        assert!(SchedulerName::try_from("gpu_a100.long-1").is_ok());
        let err = SchedulerName::try_from("gpu\n#SBATCH --uid=0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"gpu\\n#SBATCH --uid=0\": a newline is not allowed; names use only \
             letters, digits, \"_\", \".\" and \"-\""
        );
        for bad in ["a;b", "a$b", "a`b`", "a'b", "a\"b", "a b", "a|b", ""] {
            assert!(SchedulerName::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(PartitionList::try_from("gpu,gpu-long").is_ok());
        assert!(PartitionList::try_from("gpu,,x").is_err());
        assert_eq!(
            PartitionList::try_from("a,b")
                .unwrap()
                .names()
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn slurm_times() {
        let secs = |v: &str| SlurmTime::try_from(v).map(|t| t.duration().as_secs());
        assert_eq!(secs("90"), Ok(5400));
        assert_eq!(secs("90:30"), Ok(5430));
        assert_eq!(secs("02:00:00"), Ok(7200));
        assert_eq!(secs("1-12"), Ok(129_600));
        assert_eq!(secs("1-12:30"), Ok(131_400));
        assert_eq!(secs("1-0:0:5"), Ok(86_405));
        for bad in [
            "1:2:3:4", "1-2-3", "10:60", "1:60:00", "1-24", ":", "", "1-", "2h", "1:5:",
        ] {
            assert!(SlurmTime::try_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lsf_walltimes() {
        let secs = |v: &str| LsfWalltime::try_from(v).map(|t| t.duration().as_secs());
        assert_eq!(secs("120"), Ok(7200));
        assert_eq!(secs("2:30"), Ok(9000));
        for bad in ["2:60", "1:00:00", "", "2h", ":30"] {
            assert!(LsfWalltime::try_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn memory_amounts() {
        assert_eq!(Memory::try_from("16G").unwrap().megabytes(), 16 * 1024);
        assert_eq!(Memory::try_from("500M").unwrap().megabytes(), 500);
        assert_eq!(Memory::try_from("1024").unwrap().megabytes(), 1024);
        assert_eq!(Memory::try_from("2048K").unwrap().megabytes(), 2);
        for bad in ["16GB", "G", "0", "0G", "-1G", "16 G", "1.5G", ""] {
            assert!(Memory::try_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn directives() {
        for good in [
            "--exclusive",
            "--gres=gpu:2",
            "--mail-type=END,FAIL",
            "--mail-user=a@b.org",
            "--nodelist=n[1-3]",
        ] {
            assert!(SlurmDirective::try_from(good).is_ok(), "{good:?}");
        }
        for bad in [
            "-x",
            "--",
            "--Exclusive",
            "--gres=",
            "--a b",
            "--x;rm",
            "--x=$(id)",
            "--x\n#SBATCH --y",
        ] {
            assert!(SlurmDirective::try_from(bad).is_err(), "{bad:?}");
        }
        let err = SlurmDirective::try_from("--arr=0-5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--arr cannot be given here"), "{err}");
        let err = SlurmDirective::try_from("--partition=gpu")
            .unwrap_err()
            .to_string();
        assert!(err.contains("use slurm.partition"), "{err}");
        assert!(SlurmDirective::try_from("--mem-per-cpu=4G").is_ok());
        for (bad, option) in [
            ("--ntasks=64", "--ntasks"),
            ("--ntasks-per-node=8", "--ntasks-per-node"),
            ("--nodes=2", "--nodes"),
            ("--hold", "--hold"),
            ("--test-only", "--test-only"),
            ("--wait", "--wait"),
            ("--requeue", "--requeue"),
            ("--export=NONE", "--export"),
            ("--output=/tmp/x", "--output"),
            ("--wrap=id", "--wrap"),
        ] {
            let err = SlurmDirective::try_from(bad).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{option} cannot be given here")),
                "{err}"
            );
        }
        // Prefixes sbatch would expand to a refused option are refused too.
        assert!(SlurmDirective::try_from("--ntask=4").is_err());
        for good in [
            "--nice=10",
            "--hint=nomultithread",
            "--wckey=x",
            "--no-kill",
        ] {
            assert!(SlurmDirective::try_from(good).is_ok(), "{good:?}");
        }

        for good in ["-x", "-app gpu_app", "-U res1", "-ptl 30"] {
            assert!(LsfDirective::try_from(good).is_ok(), "{good:?}");
        }
        for bad in [
            "x", "-", "-a b c", "-app ", "-R \"x\"", "-x;y", "-J name", "-q gpu",
        ] {
            assert!(LsfDirective::try_from(bad).is_err(), "{bad:?}");
        }
        for (bad, option) in [
            ("-E /bin/pre", "-E"),
            ("-Ep /bin/post", "-Ep"),
            ("-H", "-H"),
            ("-K", "-K"),
            ("-Is", "-Is"),
            ("-r", "-r"),
            ("-Q all", "-Q"),
            ("-outdir /tmp", "-outdir"),
            ("-o /tmp/x", "-o"),
        ] {
            let err = LsfDirective::try_from(bad).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{option} cannot be given here")),
                "{err}"
            );
        }
    }

    #[test]
    fn setup_lines_and_prefix_words() {
        assert!(SetupLine::try_from("module load cuda/12 && conda activate \"seg\"").is_ok());
        let err = SetupLine::try_from("a\nb").unwrap_err().to_string();
        assert!(err.contains("a newline is not allowed"), "{err}");
        assert!(SetupLine::try_from("  ").is_err());
        assert!(CommandWord::try_from("--nv").is_ok());
        assert!(CommandWord::try_from("").is_err());
        assert!(CommandWord::try_from("a\tb").is_err());
    }

    #[test]
    fn constraints_and_resources() {
        assert!(SlurmConstraint::try_from("a100|v100").is_ok());
        assert!(SlurmConstraint::try_from("[rack1*2&rack2*2]").is_ok());
        assert!(SlurmConstraint::try_from("a100 v100").is_err());
        assert!(LsfResource::try_from("select[mem>4000] rusage[mem=4000] span[hosts=1]").is_ok());
        assert!(LsfResource::try_from("select[x]\"; rm -rf /").is_err());
        assert!(LsfResource::try_from("   ").is_err());
        assert!(TemplatePath::try_from("templates/slurm.sbatch").is_ok());
        assert!(TemplatePath::try_from("a\nb").is_err());
    }
}
