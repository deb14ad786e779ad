//! Human-readable differences between two canonical task files, one line per changed value,
//! so a refused resume says exactly what changed.

use super::path::FieldPath;
use serde_json::Value;
use std::collections::BTreeSet;

/// Lines like `tasks[0].write_roi.shape: [100,100,100] -> [50,50,50]`, in a stable order;
/// empty when the two values are equal.
///
/// Meant for the output of [`super::TaskFile::canonical_json`]: tasks are matched by name
/// (paths use the index in `new`), and a changed list of task names is reported first as
/// `tasks: ["a","b"] -> ["a","c"]`. Missing values show as `(absent)`.
pub fn diff_task_files(old: &Value, new: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let root = FieldPath::root();
    match (task_names(old), task_names(new)) {
        (Some(old_names), Some(new_names)) => {
            if old_names != new_names {
                lines.push(format!(
                    "tasks: {} -> {}",
                    compact_names(&old_names),
                    compact_names(&new_names)
                ));
            }
            let (old_tasks, new_tasks) = (tasks_of(old), tasks_of(new));
            for (i, name) in new_names.iter().enumerate() {
                if let Some(j) = old_names.iter().position(|n| n == name) {
                    diff_values(
                        &root.key("tasks").index(i),
                        &old_tasks[j],
                        &new_tasks[i],
                        &mut lines,
                    );
                }
            }
            diff_objects(&root, old, new, &["tasks"], &mut lines);
        }
        _ => diff_values(&root, old, new, &mut lines),
    }
    lines
}

/// The task names of a `{"tasks": [...]}` value, if every task has a unique string name.
fn task_names(value: &Value) -> Option<Vec<&str>> {
    let names: Vec<&str> = tasks_of(value)
        .iter()
        .map(|t| t.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    (unique.len() == names.len() && value.get("tasks").is_some_and(Value::is_array))
        .then_some(names)
}

fn tasks_of(value: &Value) -> &[Value] {
    value
        .get("tasks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn compact_names(names: &[&str]) -> String {
    Value::from(names.to_vec()).to_string()
}

fn diff_values(path: &FieldPath, old: &Value, new: &Value, lines: &mut Vec<String>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(_), Value::Object(_)) => diff_objects(path, old, new, &[], lines),
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len() && a.iter().chain(b).any(is_container) =>
        {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(&path.index(i), x, y, lines);
            }
        }
        _ => lines.push(format!("{}: {} -> {}", shown_path(path), old, new)),
    }
}

fn diff_objects(
    path: &FieldPath,
    old: &Value,
    new: &Value,
    skip: &[&str],
    lines: &mut Vec<String>,
) {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return;
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys.into_iter().filter(|k| !skip.contains(&k.as_str())) {
        let at = path.key(key);
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => diff_values(&at, x, y, lines),
            (Some(x), None) => lines.push(format!("{}: {} -> (absent)", shown_path(&at), x)),
            (None, Some(y)) => lines.push(format!("{}: (absent) -> {}", shown_path(&at), y)),
            (None, None) => {}
        }
    }
}

fn is_container(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

fn shown_path(path: &FieldPath) -> String {
    match path.to_string() {
        p if p.is_empty() => "(whole file)".to_owned(),
        p => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(name: &str, shape: i64) -> Value {
        json!({"name": name, "write_roi": {"offset": [0, 0, 0], "shape": [shape, shape, shape]}, "timeout": null})
    }

    #[test]
    fn equal_files_have_no_diff() {
        let a = json!({"tasks": [task("a", 100)]});
        assert!(diff_task_files(&a, &a.clone()).is_empty());
    }

    #[test]
    fn reports_changed_leaves_with_paths() {
        let old = json!({"tasks": [task("a", 100), task("b", 10)]});
        let mut new = json!({"tasks": [task("a", 50), task("b", 10)]});
        new["tasks"][1]["timeout"] = json!(600);
        assert_eq!(
            diff_task_files(&old, &new),
            [
                "tasks[0].write_roi.shape: [100,100,100] -> [50,50,50]",
                "tasks[1].timeout: null -> 600",
            ]
        );
    }

    #[test]
    fn matches_tasks_by_name_and_reports_the_name_list() {
        let old = json!({"tasks": [task("a", 1), task("b", 2)]});
        let new = json!({"tasks": [task("c", 3), task("b", 5), task("a", 1)]});
        assert_eq!(
            diff_task_files(&old, &new),
            [
                "tasks: [\"a\",\"b\"] -> [\"c\",\"b\",\"a\"]",
                "tasks[1].write_roi.shape: [2,2,2] -> [5,5,5]",
            ]
        );
    }

    #[test]
    fn added_and_removed_fields() {
        let old = json!({"tasks": [{"name": "a", "slurm": {"qos": "x"}}]});
        let new = json!({"tasks": [{"name": "a", "slurm": {"mem": "1G"}}]});
        assert_eq!(
            diff_task_files(&old, &new),
            [
                "tasks[0].slurm.mem: (absent) -> \"1G\"",
                "tasks[0].slurm.qos: \"x\" -> (absent)"
            ]
        );
    }

    #[test]
    fn falls_back_to_a_plain_diff() {
        assert_eq!(
            diff_task_files(&json!(1), &json!(2)),
            ["(whole file): 1 -> 2"]
        );
        let old = json!({"tasks": [{"x": 1}]});
        let new = json!({"tasks": [{"x": 2}]});
        assert_eq!(diff_task_files(&old, &new), ["tasks[0].x: 1 -> 2"]);
    }
}
