//! User defaults for the backend and the `slurm`/`lsf` sections: a per-user config file and
//! `BLOCKORCH_*` environment variables. Precedence, highest first: the command line, the task
//! file, the environment, the config file (see `docs/task-file.md`, *User defaults*).

use super::backend_name::BackendName;
use super::error::{Invalid, Problem, TaskError};
use super::lsf_settings::LsfSettings;
use super::parse::typed;
use super::path::FieldPath;
use super::schema::struct_fields;
use super::slurm_settings::SlurmSettings;
use super::spec::TaskFile;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The config file as written: the same sections as a task file, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "an object with \"backend\", \"slurm\" and \"lsf\""
)]
struct RawConfig {
    backend: Option<BackendName>,
    slurm: Option<SlurmSettings>,
    lsf: Option<LsfSettings>,
}

/// One layer of defaults (the environment, or the config file).
#[derive(Clone, Debug, Default, PartialEq)]
struct Layer {
    backend: Option<BackendName>,
    slurm: Map<String, Value>,
    lsf: Map<String, Value>,
}

/// The user's defaults, each layer validated like the task file's own sections.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserDefaults {
    environment: Layer,
    config: Layer,
    /// The config file read, if one exists.
    pub config_file: Option<PathBuf>,
}

/// Where the per-user config file lives: `$XDG_CONFIG_HOME/blockorch/config.json`, else
/// `$HOME/.config/blockorch/config.json`; `BLOCKORCH_CONFIG` names another file.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(file) = set("BLOCKORCH_CONFIG") {
        return Some(PathBuf::from(file));
    }
    let base = match set("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(set("HOME")?).join(".config"),
    };
    Some(base.join("blockorch").join("config.json"))
}

impl UserDefaults {
    /// Reads the config file (if it exists; one `BLOCKORCH_CONFIG` names must) and the `BLOCKORCH_BACKEND`,
    /// `BLOCKORCH_SLURM_<FIELD>` and `BLOCKORCH_LSF_<FIELD>` variables of `env`.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<UserDefaults, TaskError> {
        let mut defaults = UserDefaults {
            environment: environment_layer(env)?,
            ..UserDefaults::default()
        };
        // A file named by BLOCKORCH_CONFIG must exist; the usual place may be empty.
        let named = env("BLOCKORCH_CONFIG").is_some_and(|v| !v.is_empty());
        if let Some(path) = config_path(env).filter(|p| named || p.exists()) {
            defaults.config = config_layer(&path)?;
            defaults.config_file = Some(path);
        }
        Ok(defaults)
    }

    /// The backend of the environment, else of the config file.
    pub fn backend(&self) -> Option<BackendName> {
        self.environment.backend.or(self.config.backend)
    }

    /// Fills every field of `backend`'s section that the task file leaves unset, from the
    /// environment, else from the config file.
    pub fn apply(&self, file: &mut TaskFile, backend: BackendName) {
        for task in &mut file.tasks {
            match backend {
                BackendName::Slurm => {
                    task.slurm = filled(&task.slurm, &self.environment.slurm, &self.config.slurm)
                }
                BackendName::Lsf => {
                    task.lsf = filled(&task.lsf, &self.environment.lsf, &self.config.lsf)
                }
                BackendName::Local => {}
            }
        }
    }
}

/// `section` with its unset fields taken from `first`, then `second`.
fn filled<T: Serialize + DeserializeOwned + Clone>(
    section: &T,
    first: &Map<String, Value>,
    second: &Map<String, Value>,
) -> T {
    let Ok(Value::Object(mut map)) = serde_json::to_value(section) else {
        return section.clone();
    };
    fill(&mut map, first);
    fill(&mut map, second);
    // Both sides hold only validated values of the same type: this cannot fail.
    serde_json::from_value(Value::Object(map)).unwrap_or_else(|_| section.clone())
}

/// Sets each key of `defaults` that `target` leaves unset (absent, null or an empty list);
/// nested objects (`orchestrator`) are filled key by key.
fn fill(target: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (key, value) in defaults {
        match target.get_mut(key) {
            Some(Value::Object(inner)) => {
                if let Value::Object(value) = value {
                    fill(inner, value);
                }
            }
            Some(Value::Null) | None => {
                target.insert(key.clone(), value.clone());
            }
            Some(Value::Array(list)) if list.is_empty() => {
                target.insert(key.clone(), value.clone());
            }
            Some(_) => {}
        }
    }
}

/// The set fields of a validated section, as JSON.
fn set_fields<T: Serialize>(section: &T) -> Map<String, Value> {
    match serde_json::to_value(section) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            .collect(),
        _ => Map::new(),
    }
}

fn config_layer(path: &Path) -> Result<Layer, TaskError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TaskError::Read {
        file: file.clone(),
        source,
    })?;
    serde_json::from_str::<Value>(&text).map_err(|e| TaskError::Syntax {
        file: file.clone(),
        line: e.line(),
        column: e.column(),
        message: super::serde_message::without_location(&e),
    })?;
    let raw: RawConfig = typed(&text).map_err(|e| e.in_file(&file))?;
    Ok(Layer {
        backend: raw.backend,
        slurm: raw.slurm.as_ref().map(set_fields).unwrap_or_default(),
        lsf: raw.lsf.as_ref().map(set_fields).unwrap_or_default(),
    })
}

/// `BLOCKORCH_BACKEND` and one `BLOCKORCH_<SECTION>_<FIELD>` variable per field of the
/// `slurm` and `lsf` sections. A value is read as a string, or else as JSON (numbers,
/// `true`, lists such as `["module load cuda"]`).
fn environment_layer(env: &dyn Fn(&str) -> Option<String>) -> Result<Layer, TaskError> {
    let mut layer = Layer::default();
    if let Some(text) = env("BLOCKORCH_BACKEND").filter(|v| !v.is_empty()) {
        layer.backend = Some(BackendName::parse_or_explain(&text).map_err(|message| {
            Invalid::new(FieldPath::root(), Problem::Type { message })
                .in_file("environment variable BLOCKORCH_BACKEND")
        })?);
    }
    layer.slurm = section_from_env::<SlurmSettings>("SLURM", env)?;
    layer.lsf = section_from_env::<LsfSettings>("LSF", env)?;
    Ok(layer)
}

fn section_from_env<T: DeserializeOwned + Serialize>(
    section: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map<String, Value>, TaskError> {
    let mut map = Map::new();
    for field in struct_fields::<T>() {
        let name = format!("BLOCKORCH_{section}_{}", field.to_ascii_uppercase());
        let Some(text) = env(&name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let as_string = Value::String(text.clone());
        let as_json = serde_json::from_str::<Value>(&text).ok();
        let check = |value: &Value| {
            let doc = serde_json::json!({ *field: value }).to_string();
            typed::<T>(&doc).map(|_| value.clone())
        };
        let value = match check(&as_string) {
            Ok(value) => value,
            Err(first) => match as_json.as_ref().map(check) {
                Some(Ok(value)) => value,
                _ => {
                    return Err(Invalid::new(FieldPath::root(), first.problem)
                        .in_file(&format!("environment variable {name}")))
                }
            },
        };
        map.insert((*field).to_owned(), value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn config_path_follows_xdg_then_home() {
        let path = |vars: &[(&str, &str)]| config_path(&env_of(vars));
        assert_eq!(
            path(&[("HOME", "/home/u")]),
            Some(PathBuf::from("/home/u/.config/blockorch/config.json"))
        );
        assert_eq!(
            path(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x")]),
            Some(PathBuf::from("/x/blockorch/config.json"))
        );
        assert_eq!(path(&[]), None);
        let err = UserDefaults::load(&env_of(&[("BLOCKORCH_CONFIG", "/nonexistent/c.json")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/c.json: cannot read"), "{err}");
    }

    #[test]
    fn environment_values_are_strings_or_json_and_validated() {
        let env = env_of(&[
            ("BLOCKORCH_SLURM_PARTITION", "gpu"),
            ("BLOCKORCH_SLURM_CPUS_PER_WORKER", "4"),
            ("BLOCKORCH_SLURM_SETUP", r#"["module load cuda"]"#),
            ("BLOCKORCH_SLURM_DIR", "/tmp/not-a-field"),
            ("BLOCKORCH_BACKEND", "slurm"),
        ]);
        let layer = environment_layer(&env).unwrap();
        assert_eq!(layer.backend, Some(BackendName::Slurm));
        assert_eq!(layer.slurm["partition"], "gpu");
        assert_eq!(layer.slurm["cpus_per_worker"], 4);
        assert_eq!(layer.slurm["setup"][0], "module load cuda");
        assert_eq!(layer.slurm.len(), 3);
        let err = environment_layer(&env_of(&[("BLOCKORCH_SLURM_TIME", "2h")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable BLOCKORCH_SLURM_TIME: invalid value \"2h\""),
            "{err}"
        );
        let err = environment_layer(&env_of(&[("BLOCKORCH_BACKEND", "slrum")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown backend \"slrum\""), "{err}");
    }

    #[test]
    fn the_task_file_wins_over_the_environment_which_wins_over_the_config_file() {
        let mut environment = Layer::default();
        environment.slurm.insert("partition".into(), "env".into());
        environment.slurm.insert("account".into(), "env".into());
        let mut config = Layer::default();
        config.slurm.insert("partition".into(), "conf".into());
        config.slurm.insert("account".into(), "conf".into());
        config.slurm.insert("qos".into(), "conf".into());
        let defaults = UserDefaults {
            environment,
            config,
            config_file: None,
        };
        let mut file = super::super::parse_task_file(
            "t.json",
            r#"{"name": "a", "total_roi": {"offset": [0], "shape": [10]},
                "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
                "worker": {"command": ["w"]}, "slurm": {"partition": "file"}}"#,
        )
        .unwrap();
        defaults.apply(&mut file, BackendName::Slurm);
        let slurm = &file.tasks[0].slurm;
        let text = |v: Option<&super::super::SchedulerName>| v.map(|v| v.to_string());
        assert_eq!(
            slurm.partition.as_ref().map(|p| p.to_string()),
            Some("file".into())
        );
        assert_eq!(text(slurm.account.as_ref()), Some("env".into()));
        assert_eq!(text(slurm.qos.as_ref()), Some("conf".into()));
    }
}
