//! Task names: they become file and directory names, so only a safe alphabet is allowed, and
//! they must be unique within a file.

use super::error::{Found, Invalid, Problem};
use super::path::FieldPath;
use super::spec::TaskSpec;
use std::collections::HashMap;

/// Longest accepted task name (file names are limited to 255 bytes; leave room for suffixes).
pub const MAX_NAME_LEN: usize = 100;

/// Checks one task name: non-empty, `[A-Za-z0-9_.-]`, not starting with `.` or `-` (hidden
/// files, `..`, command-line options), at most [`MAX_NAME_LEN`] characters.
pub(crate) fn check_task_name(name: &str) -> Result<(), Problem> {
    let Some(first) = name.chars().next() else {
        return Err(Problem::EmptyName);
    };
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(Problem::BadNameCharacter {
            name: name.to_owned(),
            found: describe(bad),
        });
    }
    if first == '.' || first == '-' {
        return Err(Problem::BadNameStart {
            name: name.to_owned(),
            first,
        });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Problem::NameTooLong {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

/// Fails on the first task whose name an earlier task already uses.
pub(crate) fn check_unique(
    tasks: &[TaskSpec],
    task_path: &dyn Fn(usize) -> FieldPath,
) -> Found<()> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        if let Some(&first) = seen.get(task.name.as_str()) {
            return Err(Invalid::new(
                task_path(i).key("name"),
                Problem::DuplicateName {
                    name: task.name.clone(),
                    first: task_path(first).to_string(),
                },
            ));
        }
        seen.insert(&task.name, i);
    }
    Ok(())
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\n' => "a newline".to_owned(),
        '\t' => "a tab".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{:?}", c.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_names() {
        for name in ["predict", "a", "step_2.v1-final", "0", "_x"] {
            assert!(check_task_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        assert!(matches!(check_task_name(""), Err(Problem::EmptyName)));
        assert!(matches!(
            check_task_name("a/b"),
            Err(Problem::BadNameCharacter { .. })
        ));
        assert!(matches!(
            check_task_name("a b"),
            Err(Problem::BadNameCharacter { .. })
        ));
        assert!(matches!(
            check_task_name("é"),
            Err(Problem::BadNameCharacter { .. })
        ));
        assert!(matches!(
            check_task_name(".."),
            Err(Problem::BadNameStart { .. })
        ));
        assert!(matches!(
            check_task_name("-rf"),
            Err(Problem::BadNameStart { .. })
        ));
        assert!(matches!(
            check_task_name(&"a".repeat(101)),
            Err(Problem::NameTooLong { .. })
        ));
    }
}
