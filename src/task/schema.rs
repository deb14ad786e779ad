//! Unknown-field detection with "did you mean" suggestions, at every level of a task.
//!
//! The field lists come from the serde derives themselves (a capturing deserializer records
//! the `FIELDS` a derived `Deserialize` announces), so they can never drift from the types.

use super::error::{Found, Invalid, Problem};
use super::lsf_settings::LsfSettings;
use super::orchestrator_settings::OrchestratorSettings;
use super::path::FieldPath;
use super::raw::{RawRoi, RawTask, RawTaskList};
use super::slurm_settings::SlurmSettings;
use super::spec::{CheckSpec, CommandSpec, WorkerSpec};
use super::suggest::closest;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;

/// The field names a derived struct `Deserialize` accepts (empty for non-structs).
pub(crate) fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names = None;
    let _ = T::deserialize(Capture(&mut names));
    names.unwrap_or(&[])
}

/// The variant names a derived enum `Deserialize` accepts (empty for non-enums).
pub(crate) fn enum_variants<T: DeserializeOwned>() -> &'static [&'static str] {
    struct_fields::<T>()
}

/// A deserializer that records the field or variant names it is asked for, then fails.
struct Capture<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Capture<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("names captured"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("names captured"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(variants);
        Err(de::Error::custom("names captured"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// Checks the top level of a `{"tasks": [...]}` file and every task in it.
pub(crate) fn check_task_list(doc: &Value) -> Found<()> {
    let root = FieldPath::root();
    check_object(doc, &root, struct_fields::<RawTaskList>(), &[], "")?;
    if let Some(Value::Array(tasks)) = doc.get("tasks") {
        let list = root.key("tasks");
        for (i, task) in tasks.iter().enumerate() {
            check_task(task, &list.index(i), &[])?;
        }
    }
    Ok(())
}

/// Checks a single-task file (where a misspelt `"tasks"` is also worth suggesting).
pub(crate) fn check_single_task(doc: &Value) -> Found<()> {
    check_task(doc, &FieldPath::root(), struct_fields::<RawTaskList>())
}

/// Checks one task object and the objects nested in it.
fn check_task(task: &Value, path: &FieldPath, also_suggest: &[&'static str]) -> Found<()> {
    check_object(
        task,
        path,
        struct_fields::<RawTask>(),
        also_suggest,
        "a task object",
    )?;
    const ROI: &str = "an object with \"offset\" and \"shape\" lists";
    const COMMAND: &str = "an object with a \"command\" list";
    let nested: [(&str, &'static [&'static str], &str); 8] = [
        ("total_roi", struct_fields::<RawRoi>(), ROI),
        ("read_roi", struct_fields::<RawRoi>(), ROI),
        ("write_roi", struct_fields::<RawRoi>(), ROI),
        ("worker", struct_fields::<WorkerSpec>(), COMMAND),
        ("check", struct_fields::<CheckSpec>(), COMMAND),
        ("init", struct_fields::<CommandSpec>(), COMMAND),
        (
            "slurm",
            struct_fields::<SlurmSettings>(),
            "an object of SLURM settings",
        ),
        (
            "lsf",
            struct_fields::<LsfSettings>(),
            "an object of LSF settings",
        ),
    ];
    for (key, fields, expecting) in nested {
        if let Some(value) = task.get(key) {
            check_object(value, &path.key(key), fields, &[], expecting)?;
        }
    }
    if let Some(value) = task.get("slurm").and_then(|s| s.get("orchestrator")) {
        check_object(
            value,
            &path.key("slurm").key("orchestrator"),
            struct_fields::<OrchestratorSettings>(),
            &[],
            "an object of orchestrator job settings",
        )?;
    }
    check_nulls(task, path)
}

/// Task fields whose `null` serde would read as "absent" and so silently replace with a
/// default value, with what to write instead. (`null` stays allowed where it means "unset":
/// `timeout`, `check`, `init`, `worker.startup_timeout` and the scheduler settings.)
const NULL_REFUSED: &[(&str, &str)] = &[(
    "fit",
    "leave \"fit\" out for the default \"valid\", or write \"valid\", \"overhang\" or \"shrink\"",
)];

/// Refuses `null` for the fields of [`NULL_REFUSED`].
fn check_nulls(task: &Value, path: &FieldPath) -> Found<()> {
    for (key, hint) in NULL_REFUSED {
        if task.get(key).is_some_and(Value::is_null) {
            return Err(Invalid::new(path.key(key), Problem::Null { hint }));
        }
    }
    Ok(())
}

/// Fails on the first key of `value` (if an object) that is not in `known`, and on an array
/// where an object belongs (serde would otherwise read the array as the fields in order,
/// with confusing messages). Other type errors are left to the typed pass.
fn check_object(
    value: &Value,
    path: &FieldPath,
    known: &'static [&'static str],
    also_suggest: &[&'static str],
    expecting: &str,
) -> Found<()> {
    let map = match value {
        Value::Object(map) => map,
        Value::Array(_) if !expecting.is_empty() => {
            let message = format!("invalid type: array, expected {expecting}");
            return Err(Invalid::new(path.clone(), Problem::Type { message }));
        }
        _ => return Ok(()),
    };
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => {
            let candidates = known.iter().chain(also_suggest).copied();
            Err(Invalid::new(
                path.key(key),
                Problem::UnknownField {
                    suggestion: closest(key, candidates),
                    known,
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Fit;

    #[test]
    fn captures_names_from_the_derives() {
        assert_eq!(struct_fields::<RawRoi>(), ["offset", "shape"]);
        assert!(struct_fields::<RawTask>().contains(&"upstream_tasks"));
        assert!(struct_fields::<SlurmSettings>().contains(&"extra_directives"));
        assert_eq!(enum_variants::<Fit>(), ["valid", "overhang", "shrink"]);
        assert!(struct_fields::<u32>().is_empty());
    }

    #[test]
    fn reports_the_nested_unknown_field_with_a_suggestion() {
        let doc: Value =
            serde_json::json!({"tasks": [{"name": "a", "slurm": {"partiton": "gpu"}}]});
        let err = check_task_list(&doc).unwrap_err();
        assert_eq!(err.path.to_string(), "tasks[0].slurm.partiton");
        assert!(matches!(
            err.problem,
            Problem::UnknownField {
                suggestion: Some("partition"),
                ..
            }
        ));
    }
}
