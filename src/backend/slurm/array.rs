//! Job arrays: one `sbatch --array=0-N[%M]` per wave of workers, chunked to `MaxArraySize`.

use crate::backend::array_scheduler::{parse_setting, ArrayLimit};

pub use crate::backend::array_scheduler::{chunks, ArrayChunk};

/// SLURM's default `MaxArraySize`: indices go from 0 to 1000.
pub const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;

/// `MaxArraySize`, read from `scontrol show config`.
pub const MAX_ARRAY_SIZE: ArrayLimit = ArrayLimit {
    setting: "MaxArraySize",
    query: ("scontrol", &["show", "config"]),
    default: DEFAULT_MAX_ARRAY_SIZE,
};

impl ArrayChunk {
    /// The `--array` value: `0-9`, `0-9%2`, or `0` for one element.
    pub fn spec(&self) -> String {
        let range = if self.count == 1 {
            "0".to_owned()
        } else {
            format!("0-{}", self.count - 1)
        };
        match self.effective_limit() {
            Some(m) => format!("{range}%{m}"),
            None => range,
        }
    }
}

/// Reads `MaxArraySize` from `scontrol show config` output.
pub fn parse_max_array_size(show_config: &str) -> Option<u32> {
    parse_setting(show_config, MAX_ARRAY_SIZE.setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            ArrayChunk {
                count: 1,
                max_running: None
            }
            .spec(),
            "0"
        );
        assert_eq!(
            ArrayChunk {
                count: 10,
                max_running: None
            }
            .spec(),
            "0-9"
        );
        assert_eq!(
            ArrayChunk {
                count: 10,
                max_running: Some(2)
            }
            .spec(),
            "0-9%2"
        );
        assert_eq!(
            ArrayChunk {
                count: 3,
                max_running: Some(5)
            }
            .spec(),
            "0-2"
        );
    }

    #[test]
    fn a_full_chunk_is_limited() {
        assert_eq!(chunks(2500, 1001, Some(100))[0].spec(), "0-1000%100");
    }

    #[test]
    fn max_array_size_from_this_cluster() {
        assert_eq!(
            parse_max_array_size(include_str!("testdata/scontrol_show_config.txt")),
            Some(10001)
        );
        assert_eq!(parse_max_array_size("Foo = 1\n"), None);
    }
}
