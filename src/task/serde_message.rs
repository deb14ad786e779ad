//! Rewrites serde's type-error messages into task-file vocabulary ("array", "object",
//! "a whole number") and drops the line/column suffix (the field path is more precise).

/// Replacements applied in order; serde's wording on the left.
const REWRITES: &[(&str, &str)] = &[
    ("invalid type: map,", "invalid type: object,"),
    ("invalid type: sequence,", "invalid type: array,"),
    ("invalid type: unit value,", "invalid type: null,"),
    (
        "expected a nonzero u32",
        "expected a whole number from 1 to 4294967295",
    ),
    (
        "expected u32",
        "expected a whole number from 0 to 4294967295",
    ),
    ("expected i64", "expected an integer"),
    ("expected a sequence", "expected an array"),
    ("expected a map", "expected an object"),
    ("expected a borrowed string", "expected a string"),
];

/// The user-facing text of a serde_json error met while reading typed values.
pub(crate) fn humanize(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let mut message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    for (from, to) in REWRITES {
        message = message.replace(from, to);
    }
    if let Some(field) = between(&message, "missing field `", "`") {
        return format!("missing required field {field:?}; add it (see docs/task-file.md)");
    }
    if let Some(field) = between(&message, "duplicate field `", "`") {
        return format!("the field {field:?} appears twice in one object; keep one");
    }
    message
}

/// The text between `start` (at the beginning of `text`) and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(start)?;
    rest.split(end).next()
}

/// Strips the location suffix of a syntax error (reported separately as line and column).
pub(crate) fn without_location(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_serde_vocabulary() {
        let err = serde_json::from_str::<u32>("-1").unwrap_err();
        assert_eq!(
            humanize(&err),
            "invalid value: integer `-1`, expected a whole number from 0 to 4294967295"
        );
        let err = serde_json::from_str::<Vec<i64>>("{}").unwrap_err();
        assert_eq!(humanize(&err), "invalid type: object, expected an array");
        let err = serde_json::from_str::<Vec<i64>>("[1.5]").unwrap_err();
        assert_eq!(
            humanize(&err),
            "invalid type: floating point `1.5`, expected an integer"
        );
    }
}
