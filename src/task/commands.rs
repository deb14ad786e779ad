//! Validation of the `worker`, `check` and `init` commands: a non-empty argv that can be
//! exec'd (no NUL bytes) and well-formed environment variables.

use super::error::{Found, Invalid, Problem};
use super::path::FieldPath;
use std::collections::BTreeMap;

/// Prefix of the environment variables blockorch sets for workers itself.
pub const RESERVED_ENV_PREFIX: &str = "BLOCKORCH_";

/// Checks a command's argv and environment at `path` (the `worker`/`check`/`init` object).
pub(crate) fn check_command(
    command: &[String],
    env: &BTreeMap<String, String>,
    path: &FieldPath,
) -> Found<()> {
    let argv = path.key("command");
    let Some(program) = command.first() else {
        return Err(Invalid::new(argv, Problem::EmptyCommand));
    };
    if program.is_empty() {
        return Err(Invalid::new(argv.index(0), Problem::EmptyProgram));
    }
    if let Some(i) = command.iter().position(|arg| arg.contains('\0')) {
        return Err(Invalid::new(argv.index(i), Problem::NulCharacter));
    }
    for (name, value) in env {
        let at = path.key("env").key(name);
        if !is_shell_var_name(name) {
            return Err(Invalid::new(at, Problem::BadEnvName { name: name.clone() }));
        }
        if name.starts_with(RESERVED_ENV_PREFIX) {
            return Err(Invalid::new(
                at,
                Problem::ReservedEnvName { name: name.clone() },
            ));
        }
        if value.contains('\0') {
            return Err(Invalid::new(at, Problem::NulCharacter));
        }
    }
    Ok(())
}

/// Whether `name` is a valid shell variable name (`[A-Za-z_][A-Za-z0-9_]*`): what task files
/// may set in `env`, and what job scripts may export.
pub fn is_shell_var_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(argv: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check_command(&argv, &env, &FieldPath::root().key("worker"))
            .map_err(|e| format!("{}: {}", e.path, e.problem))
    }

    #[test]
    fn commands() {
        assert!(check(
            &["python", "w.py", "{block_id}"],
            &[("OMP_NUM_THREADS", "4")]
        )
        .is_ok());
        assert!(check(&[], &[])
            .unwrap_err()
            .starts_with("worker.command: the command is empty"));
        assert!(check(&["", "x"], &[])
            .unwrap_err()
            .starts_with("worker.command[0]:"));
        assert!(check(&["a", "b\0"], &[])
            .unwrap_err()
            .starts_with("worker.command[1]:"));
        assert!(check(&["a"], &[("1X", "v")])
            .unwrap_err()
            .starts_with("worker.env.1X:"));
        assert!(check(&["a"], &[("A=B", "v")]).is_err());
        assert!(check(&["a"], &[("BLOCKORCH_BLOCK", "v")])
            .unwrap_err()
            .contains("reserved"));
    }
}
