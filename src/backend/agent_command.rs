//! What every job script needs to start the worker agent (`blockorch worker …`), whatever
//! the scheduler: the same fields in the SLURM and the LSF template contexts.

use super::LaunchRequest;
use serde::Serialize;
use std::path::Path;

/// One environment variable exported by the script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// Name (`[A-Za-z_][A-Za-z0-9_]*`, checked by [`EnvVar::new`]).
    pub name: String,
    /// Value (shell-quoted by the template).
    pub value: String,
}

impl EnvVar {
    /// A variable, `None` if `name` is not a valid shell variable name.
    pub fn new(name: &str, value: &str) -> Option<EnvVar> {
        crate::task::is_shell_var_name(name).then(|| EnvVar {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// The agent's command line and environment, as template fields (flattened into each
/// scheduler's script context: `blockorch`, `ledger`, `task`, `slots`, `epoch`, `env`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentCommand {
    /// Absolute path of the blockorch binary.
    pub blockorch: String,
    /// The ledger directory.
    pub ledger: String,
    /// The task name.
    pub task: String,
    /// Worker program slots per agent (`--slots`).
    pub slots: u32,
    /// The orchestrator's ownership epoch.
    pub epoch: u64,
    /// Environment to export before starting the agent.
    pub env: Vec<EnvVar>,
}

impl AgentCommand {
    /// The agent of `request`, run from `blockorch`, exporting the variables `passthrough`
    /// names with their value from `overrides` (the scheduler commands' own environment) or
    /// else from this process's environment; unset or invalid names are left out.
    pub fn for_request(
        blockorch: &Path,
        request: &LaunchRequest,
        passthrough: &[String],
        overrides: &[(String, String)],
    ) -> AgentCommand {
        let mut env: Vec<EnvVar> = passthrough
            .iter()
            .filter_map(|name| {
                let value = overrides
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var(name).ok())?;
                EnvVar::new(name, &value)
            })
            .collect();
        if request.agent_scale > 1 {
            env.extend(EnvVar::new(
                crate::ledger::AGENT_SCALE_ENV,
                &request.agent_scale.to_string(),
            ));
        }
        AgentCommand {
            blockorch: blockorch.display().to_string(),
            ledger: request.ledger.display().to_string(),
            task: request.task_name.clone(),
            slots: request.slots_per_agent.max(1),
            epoch: request.epoch,
            env,
        }
    }
}

/// The agent of the script-template tests: `/opt/bin/blockorch` on `/ledger`, task `seg`,
/// one slot, epoch 3, exporting `env`.
#[cfg(test)]
pub(crate) fn test_agent(env: Vec<EnvVar>) -> AgentCommand {
    AgentCommand {
        blockorch: "/opt/bin/blockorch".into(),
        ledger: "/ledger".into(),
        task: "seg".into(),
        slots: 1,
        epoch: 3,
        env,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_prefers_overrides_and_skips_unset_and_invalid_names() {
        let mut request = crate::backend::test_request(1);
        request.slots_per_agent = 0;
        request.epoch = 4;
        let names = [
            "SLURM_CONF".to_owned(),
            "BLOCKORCH_SURELY_UNSET_VARIABLE".to_owned(),
            "1BAD".to_owned(),
        ];
        let overrides = [
            ("SLURM_CONF".to_owned(), "/etc/slurm.conf".to_owned()),
            ("1BAD".to_owned(), "x".to_owned()),
        ];
        let agent = AgentCommand::for_request(Path::new("/bin/bo"), &request, &names, &overrides);
        assert_eq!(
            agent.env,
            [EnvVar::new("SLURM_CONF", "/etc/slurm.conf").unwrap()]
        );
        assert_eq!((agent.slots, agent.epoch), (1, 4));
        assert_eq!(agent.ledger, "/ledger");
        assert_eq!(agent.blockorch, "/bin/bo");
    }

    #[test]
    fn a_run_of_many_agents_passes_its_agent_scale() {
        let mut request = crate::backend::test_request(1);
        let plain = AgentCommand::for_request(Path::new("/bin/bo"), &request, &[], &[]);
        assert!(plain.env.is_empty(), "scale 1 exports nothing");
        request.agent_scale = 3;
        let scaled = AgentCommand::for_request(Path::new("/bin/bo"), &request, &[], &[]);
        assert_eq!(
            scaled.env,
            [EnvVar::new(crate::ledger::AGENT_SCALE_ENV, "3").unwrap()]
        );
    }
}
