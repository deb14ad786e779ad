//! Field paths such as `tasks[1].write_roi.shape[2]`, the locator every task-file error carries.

use std::fmt;

/// Where in a task file a value lives, in the `a.b[2].c` form users see in error messages.
///
/// The empty path is the whole file (or, in a single-task file, the task object itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(String);

impl FieldPath {
    /// The path of the whole document.
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    /// The path of member `key` of the object at `self`.
    pub(crate) fn key(&self, key: &str) -> Self {
        if self.0.is_empty() {
            Self(key.to_owned())
        } else {
            Self(format!("{}.{key}", self.0))
        }
    }

    /// The path of element `index` of the array at `self`.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// Converts the path `serde_path_to_error` recorded, relative to `base`.
    pub(crate) fn from_serde(base: &FieldPath, path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        path.iter()
            .fold(base.clone(), |acc, segment| match segment {
                Segment::Seq { index } => acc.index(*index),
                Segment::Map { key } => acc.key(key),
                Segment::Enum { variant } => acc.key(variant),
                Segment::Unknown => acc.key("?"),
            })
    }

    /// The path as text (empty for the root).
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_dotted_paths() {
        let p = FieldPath::root()
            .key("tasks")
            .index(1)
            .key("write_roi")
            .key("shape")
            .index(2);
        assert_eq!(p.to_string(), "tasks[1].write_roi.shape[2]");
        assert_eq!(FieldPath::root().key("name").to_string(), "name");
        assert_eq!(FieldPath::root().to_string(), "");
    }
}
