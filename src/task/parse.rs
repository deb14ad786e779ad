//! Reading a task file: JSON syntax, file layout (one task or `{"tasks": [...]}`), unknown
//! fields, typed values, then validation.

use super::backend_name::BackendName;
use super::error::{Found, Invalid, Problem, TaskError};
use super::path::FieldPath;
use super::raw::{RawTask, RawTaskList};
use super::schema::{check_single_task, check_task_list};
use super::serde_message::{humanize, without_location};
use super::spec::TaskFile;
use super::validate::validate_tasks;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Reads and validates the task file at `path`; errors name the file as `path` displays.
pub fn load_task_file(path: &Path) -> Result<TaskFile, TaskError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TaskError::Read {
        file: file.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        Invalid::new(FieldPath::root(), Problem::NotUtf8 { offset }).in_file(&file)
    })?;
    let mut task_file = parse_task_file(&file, &text)?;
    task_file.path = path.to_path_buf();
    Ok(task_file)
}

/// Parses and validates task-file text; `display_name` starts every error message and becomes
/// [`TaskFile::path`].
pub fn parse_task_file(display_name: &str, text: &str) -> Result<TaskFile, TaskError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Invalid::new(FieldPath::root(), Problem::EmptyFile).in_file(display_name));
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| TaskError::Syntax {
        file: display_name.to_owned(),
        line: e.line(),
        column: e.column(),
        message: without_location(&e),
    })?;
    let (backend, tasks) = read_tasks(&doc, text).map_err(|e| e.in_file(display_name))?;
    Ok(TaskFile {
        path: PathBuf::from(display_name),
        tasks,
        backend,
    })
}

/// The file's backend and its validated tasks.
type ReadTasks = (Option<BackendName>, Vec<super::spec::TaskSpec>);

fn read_tasks(doc: &Value, text: &str) -> Found<ReadTasks> {
    let Value::Object(top) = doc else {
        return Err(Invalid::new(
            FieldPath::root(),
            Problem::NotAnObject {
                found: json_type(doc),
            },
        ));
    };
    if top.contains_key("tasks") {
        check_task_list(doc)?;
        let list: RawTaskList = typed(text)?;
        if list.tasks.is_empty() {
            return Err(Invalid::new(
                FieldPath::root().key("tasks"),
                Problem::NoTasks,
            ));
        }
        let task_path = |i| FieldPath::root().key("tasks").index(i);
        if let Some(i) = list.tasks.iter().position(|t| t.backend.is_some()) {
            return Err(Invalid::new(
                task_path(i).key("backend"),
                Problem::BackendPerTask,
            ));
        }
        Ok((list.backend, validate_tasks(list.tasks, &task_path)?))
    } else {
        check_single_task(doc)?;
        let task: RawTask = typed(text)?;
        let backend = task.backend;
        Ok((backend, validate_tasks(vec![task], &|_| FieldPath::root())?))
    }
}

/// Deserializes `text` into `T`, locating type errors by field path.
pub(crate) fn typed<T: DeserializeOwned>(text: &str) -> Found<T> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = FieldPath::from_serde(&FieldPath::root(), e.path());
        Invalid::new(
            path,
            Problem::Type {
                message: humanize(e.inner()),
            },
        )
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
