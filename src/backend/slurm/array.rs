//! Job arrays: one `sbatch --array=0-N[%M]` per wave of workers, chunked to `MaxArraySize`.

/// SLURM's default `MaxArraySize`: indices go from 0 to 1000.
pub const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;

/// One array submission: `count` elements with indices `0..count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayChunk {
    /// Number of elements (at least 1).
    pub count: u32,
    /// At most this many elements run at once (`%M`), if limited.
    pub max_running: Option<u32>,
}

impl ArrayChunk {
    /// The `--array` value: `0-9`, `0-9%2`, or `0` for one element.
    pub fn spec(&self) -> String {
        let range = if self.count == 1 {
            "0".to_owned()
        } else {
            format!("0-{}", self.count - 1)
        };
        match self.max_running {
            Some(m) if m < self.count => format!("{range}%{m}"),
            _ => range,
        }
    }
}

/// Splits `count` workers into arrays of at most `max_array_size` elements (indices must stay
/// below MaxArraySize), each limited to `max_running` running at once.
pub fn chunks(count: u32, max_array_size: u32, max_running: Option<u32>) -> Vec<ArrayChunk> {
    let size = max_array_size.max(1);
    let mut left = count;
    let mut out = Vec::new();
    while left > 0 {
        let n = left.min(size);
        out.push(ArrayChunk {
            count: n,
            max_running: max_running.filter(|&m| m > 0),
        });
        left -= n;
    }
    out
}

/// Reads `MaxArraySize` from `scontrol show config` output.
pub fn parse_max_array_size(show_config: &str) -> Option<u32> {
    show_config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
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
    fn chunking() {
        assert_eq!(chunks(0, 1001, None), vec![]);
        let c = chunks(2500, 1001, Some(100));
        assert_eq!(
            c.iter().map(|c| c.count).collect::<Vec<_>>(),
            [1001, 1001, 498]
        );
        assert_eq!(c[0].spec(), "0-1000%100");
        assert_eq!(
            chunks(5, 0, Some(0)),
            vec![
                ArrayChunk {
                    count: 1,
                    max_running: None
                };
                5
            ]
        );
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
