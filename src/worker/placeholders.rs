//! Placeholders in per-block and check argv: `{task}`, `{block_id}`, `{attempt}`,
//! `{read_roi}`, `{write_roi}`, `{total_roi}`; a ROI becomes `offset:shape` with
//! comma-separated integers (`0,0,-4:10,10,8`). Other text, braces included, is left alone.

use super::wire::BlockMessage;

/// The placeholder names this module expands (without braces).
pub const PLACEHOLDERS: &[&str] = &[
    "task",
    "block_id",
    "attempt",
    "read_roi",
    "write_roi",
    "total_roi",
];

/// `argv` with every known placeholder replaced by the block's value.
pub fn expand_argv(argv: &[String], block: &BlockMessage) -> Vec<String> {
    argv.iter().map(|arg| expand(arg, block)).collect()
}

/// One argument with every known placeholder replaced (one pass: values are never re-expanded).
pub fn expand(arg: &str, block: &BlockMessage) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| value_of(&after[..close], block).map(|value| (value, close)));
        match value {
            Some((value, close)) => {
                out.push_str(&value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn value_of(name: &str, block: &BlockMessage) -> Option<String> {
    Some(match name {
        "task" => block.task.clone(),
        "block_id" => block.block_id.to_string(),
        "attempt" => block.attempt.to_string(),
        "read_roi" => block.read_roi.to_arg(),
        "write_roi" => block.write_roi.to_arg(),
        "total_roi" => block.total_roi.to_arg(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Coordinate, Roi};

    fn block() -> BlockMessage {
        BlockMessage {
            task: "predict".into(),
            block_id: 42,
            attempt: 3,
            read_roi: Roi::new(Coordinate::new(&[0, 0, -4]), Coordinate::new(&[10, 10, 8])),
            write_roi: Roi::new(Coordinate::new(&[1, 1, -3]), Coordinate::new(&[8, 8, 6])),
            total_roi: Roi::new(
                Coordinate::new(&[0, 0, -4]),
                Coordinate::new(&[100, 100, 80]),
            ),
        }
    }

    #[test]
    fn expands_every_placeholder() {
        let argv: Vec<String> = [
            "run",
            "--task={task}",
            "{block_id}",
            "a{attempt}b",
            "{read_roi}",
            "{write_roi}",
            "{total_roi}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            expand_argv(&argv, &block()),
            [
                "run",
                "--task=predict",
                "42",
                "a3b",
                "0,0,-4:10,10,8",
                "1,1,-3:8,8,6",
                "0,0,-4:100,100,80"
            ]
        );
    }

    #[test]
    fn leaves_other_braces_alone() {
        let b = block();
        assert_eq!(expand("{}", &b), "{}");
        assert_eq!(expand("${HOME}/{nope}", &b), "${HOME}/{nope}");
        assert_eq!(expand("{{block_id}}", &b), "{42}");
        assert_eq!(expand("{block_id", &b), "{block_id");
        assert_eq!(expand("{\"a\": {block_id}}", &b), "{\"a\": 42}");
    }

    #[test]
    fn values_are_not_re_expanded() {
        let mut b = block();
        b.task = "{block_id}".into();
        assert_eq!(expand("{task}", &b), "{block_id}");
    }
}
