//! Job-script templates: render a minijinja template with a typed context.
//!
//! Templates are strict: an undefined variable is an error, not an empty string, so a typo in
//! a user's copy of `templates/slurm.sbatch` fails at submission with the file and line instead
//! of producing a script that silently lacks an option. Two filters quote values defensively
//! (the values are validated when the task file is read, these are a second line of defence):
//!
//! - `shell` quotes a value for the script's shell body (`'it'\''s'`);
//! - `directive` checks a value for a `#SBATCH`/`#BSUB` line: it refuses newlines, quotes and
//!   shell metacharacters, and wraps a value containing spaces (a path) in double quotes;
//! - `escape_percent` doubles every `%` of a path that goes into a SLURM filename pattern
//!   (`--output=`, `--error=`), where `%j`, `%A`, `%a`… would otherwise be expanded.

use minijinja::{Environment, Error as JinjaError, ErrorKind, UndefinedBehavior, Value};
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a template could not be rendered.
#[derive(Debug, Error)]
pub enum TemplateError {
    /// The template file could not be read.
    #[error("cannot read job-script template {}", path.display())]
    Read {
        /// The template file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A template of the user's never reads a variable the task sets (a copy made before the
    /// variable existed): rendering it would silently drop the task's setting.
    #[error(
        "job-script template {} never uses `{variable}`, but the task sets {field}: the job \
         would run without it; add the `{variable}` part of the bundled {builtin} to the \
         template (it was probably copied before `{variable}` existed) or remove {field}",
        path.display()
    )]
    Unused {
        /// The template file.
        path: PathBuf,
        /// The variable the template never reads (`setup`).
        variable: &'static str,
        /// The task-file field that sets it (`slurm.setup`).
        field: String,
        /// The bundled template to copy the missing part from (`templates/slurm.sbatch`).
        builtin: &'static str,
    },
    /// The template has a syntax error, uses an undefined variable, or a filter refused a value.
    #[error("job-script template {}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Render {
        /// The template file (or the built-in template's name).
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
        /// minijinja's error.
        #[source]
        source: JinjaError,
    },
}

/// A variable a user's template must read because the task sets it.
#[derive(Clone, Debug)]
pub struct Required {
    /// The template variable (`setup`).
    pub variable: &'static str,
    /// The task-file field that sets it (`slurm.setup`).
    pub field: String,
    /// The bundled template that reads it (`templates/slurm.sbatch`).
    pub builtin: &'static str,
}

/// Renders the template file at `path` with `context`, refusing a template that never reads
/// one of the `required` variables.
pub fn render_file<C: Serialize>(
    path: &Path,
    context: &C,
    required: &[Required],
) -> Result<String, TemplateError> {
    let source = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.to_owned(),
        source,
    })?;
    render_checked(path, &source, context, required)
}

/// Renders `source` (named `path` in errors) with `context`.
pub fn render_str<C: Serialize>(
    path: &Path,
    source: &str,
    context: &C,
) -> Result<String, TemplateError> {
    render_checked(path, source, context, &[])
}

fn render_checked<C: Serialize>(
    path: &Path,
    source: &str,
    context: &C,
    required: &[Required],
) -> Result<String, TemplateError> {
    let name = path.display().to_string();
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_filter("shell", shell_filter);
    env.add_filter("directive", directive_filter);
    env.add_filter("escape_percent", |value: Value| {
        escape_percent(&value_text(&value))
    });
    let wrap = |source: JinjaError| TemplateError::Render {
        path: path.to_owned(),
        line: source.line(),
        message: describe(&source),
        source,
    };
    env.add_template(&name, source).map_err(wrap)?;
    let template = env.get_template(&name).map_err(wrap)?;
    if !required.is_empty() {
        let read = template.undeclared_variables(false);
        if let Some(missing) = required.iter().find(|r| !read.contains(r.variable)) {
            return Err(TemplateError::Unused {
                path: path.to_owned(),
                variable: missing.variable,
                field: missing.field.clone(),
                builtin: missing.builtin,
            });
        }
    }
    template
        .render(Value::from_serialize(context))
        .map_err(wrap)
}

/// The message of a minijinja error without its location (which the caller adds).
fn describe(error: &JinjaError) -> String {
    let kind = match error.kind() {
        ErrorKind::UndefinedError => {
            "undefined variable (see the documented template variables)".to_owned()
        }
        kind => kind.to_string(),
    };
    match error.detail() {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind,
    }
}

/// Quotes `value` as one POSIX shell word.
pub fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// `value` with every `%` doubled: SLURM's filename patterns (sbatch/srun `--output`,
/// `--error`) read `%%` as a literal `%` and expand `%` followed by a letter.
pub fn escape_percent(value: &str) -> String {
    value.replace('%', "%%")
}

/// Checks `value` for a scheduler directive line; `None` if it cannot be made safe.
pub fn directive_value(value: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,[]*~|&!()^".contains(c);
    if value.is_empty() || !value.chars().all(|c| plain(c) || c == ' ') {
        return None;
    }
    if value.contains(' ') {
        Some(format!("\"{value}\""))
    } else {
        Some(value.to_owned())
    }
}

fn value_text(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_owned(),
        None => value.to_string(),
    }
}

fn shell_filter(value: Value) -> String {
    shell_quote(&value_text(&value))
}

fn directive_filter(value: Value) -> Result<String, JinjaError> {
    let text = value_text(&value);
    directive_value(&text).ok_or_else(|| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!(
                "{} cannot go on a directive line (only letters, digits, spaces and \
                 _-./:=@%+,[]*~|&!()^ are allowed)",
                serde_json::Value::from(text.as_str())
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Ctx {
        name: String,
        path: String,
        list: Vec<String>,
    }

    fn ctx() -> Ctx {
        Ctx {
            name: "it's".into(),
            path: "/a b/c".into(),
            list: vec!["--x".into(), "--y=1".into()],
        }
    }

    #[test]
    fn escape_percent_doubles_every_percent() {
        assert_eq!(escape_percent("/a/100%j/%%b"), "/a/100%%j/%%%%b");
        let out = render_str(
            Path::new("t.sbatch"),
            "#X --output={{ path | escape_percent | directive }}/%A.out\n",
            &Ctx {
                path: "/run%x y".into(),
                ..ctx()
            },
        )
        .unwrap();
        assert_eq!(out, "#X --output=\"/run%%x y\"/%A.out\n");
    }

    #[test]
    fn renders_with_filters() {
        let out = render_str(
            Path::new("t.sbatch"),
            "#X --out={{ path | directive }}\necho {{ name | shell }}\n{% for d in list %}#X {{ d }}\n{% endfor %}",
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            out,
            "#X --out=\"/a b/c\"\necho 'it'\\''s'\n#X --x\n#X --y=1\n"
        );
    }

    #[test]
    fn undefined_variable_names_file_and_line() {
        let err = render_str(Path::new("/t/my.sbatch"), "a\nb\n{{ nope }}\n", &ctx()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("job-script template /t/my.sbatch, line 3: undefined variable"),
            "{text}"
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let err = render_str(Path::new("x"), "ok\n{% if %}\n", &ctx()).unwrap_err();
        assert!(
            matches!(err, TemplateError::Render { line: Some(2), .. }),
            "{err}"
        );
    }

    #[test]
    fn directive_refuses_injection() {
        let err = render_str(Path::new("x"), "#X {{ name | directive }}", &ctx()).unwrap_err();
        assert!(
            err.to_string().contains("cannot go on a directive line"),
            "{err}"
        );
        assert_eq!(directive_value("a\nb"), None);
        assert_eq!(directive_value("$(id)"), None);
        assert_eq!(directive_value("gpu:1"), Some("gpu:1".into()));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/usr/bin/blockorch"), "/usr/bin/blockorch");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }

    #[test]
    fn missing_file_is_named() {
        let err = render_file(Path::new("/nonexistent/t.sbatch"), &ctx(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read job-script template /nonexistent/t.sbatch"
        );
    }
}
