//! What exactly is started for a slot: the persistent program, a per-block process, a check or
//! the persistent check program, with their argv (placeholders expanded), environment, working
//! directory and log files.
//!
//! Environment: `BLOCKORCH_TASK`, `BLOCKORCH_WORKER_ID`, `BLOCKORCH_SLOT`, `BLOCKORCH_LEDGER`,
//! and `CUDA_VISIBLE_DEVICES` of the slot when the agent was given devices (local backend);
//! persistent programs and check programs also get `BLOCKORCH_REPORT_FD=3`; per-block
//! processes and checks get `BLOCKORCH_BLOCK` (the block as one JSON object) instead. Then the
//! command's own `env`.

use super::context::TaskContext;
use super::placeholders::expand_argv;
use super::program::{Launch, REPORT_FD};
use super::wire::BlockMessage;
use crate::backend::local_gpus::slot_gpu;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Builds [`Launch`]es for the slots of one agent.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// The served task.
    pub ctx: TaskContext,
    /// Worker id.
    pub worker_id: String,
    /// Absolute ledger directory.
    pub ledger: PathBuf,
    /// Per slot, the stdout and stderr log files.
    pub logs: Vec<(PathBuf, PathBuf)>,
    /// GPUs to hand out, slot `i` gets entry `i mod n` as `CUDA_VISIBLE_DEVICES` (empty: the
    /// variable is left as inherited).
    pub gpus: Vec<String>,
    /// Words put before the worker command (a container runtime: `apptainer exec image.sif`).
    pub command_prefix: Vec<String>,
}

impl Launcher {
    fn base(&self, slot: u32, argv: Vec<String>, extra: &BTreeMap<String, String>) -> Launch {
        let (stdout_log, stderr_log) = self.logs[slot as usize].clone();
        let mut env = vec![
            ("BLOCKORCH_TASK".to_owned(), self.ctx.spec.name.clone()),
            ("BLOCKORCH_WORKER_ID".to_owned(), self.worker_id.clone()),
            ("BLOCKORCH_SLOT".to_owned(), slot.to_string()),
            (
                "BLOCKORCH_LEDGER".to_owned(),
                self.ledger.display().to_string(),
            ),
        ];
        if let Some(gpu) = slot_gpu(&self.gpus, slot) {
            env.push(("CUDA_VISIBLE_DEVICES".to_owned(), gpu.to_owned()));
        }
        env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        Launch {
            argv,
            env,
            cwd: self.ctx.workdir.clone(),
            stdout_log,
            stderr_log,
            stdin_pipe: false,
            report_pipe: false,
        }
    }

    /// `argv` of the worker command behind the command prefix.
    fn prefixed(&self, argv: Vec<String>) -> Vec<String> {
        self.command_prefix.iter().cloned().chain(argv).collect()
    }

    /// The slot's persistent worker program.
    pub fn program(&self, slot: u32) -> Launch {
        let worker = &self.ctx.spec.worker;
        let argv = self.prefixed(worker.command.clone());
        let mut launch = self.base(slot, argv, &worker.env);
        launch
            .env
            .push(("BLOCKORCH_REPORT_FD".to_owned(), REPORT_FD.to_string()));
        launch.stdin_pipe = true;
        launch.report_pipe = true;
        launch
    }

    /// A per-block worker process for `block`.
    pub fn per_block(&self, slot: u32, block: &BlockMessage) -> Launch {
        let worker = &self.ctx.spec.worker;
        let argv = self.prefixed(expand_argv(&worker.command, block));
        let mut launch = self.base(slot, argv, &worker.env);
        launch
            .env
            .push(("BLOCKORCH_BLOCK".to_owned(), block.to_json()));
        launch
    }

    /// The slot's persistent check program (stdin and fd-3 pipes, like a worker program).
    pub fn checker(&self, slot: u32) -> Option<Launch> {
        let check = self.ctx.spec.check.as_ref()?;
        let mut launch = self.base(slot, check.command.clone(), &check.env);
        launch
            .env
            .push(("BLOCKORCH_REPORT_FD".to_owned(), REPORT_FD.to_string()));
        launch.stdin_pipe = true;
        launch.report_pipe = true;
        Some(launch)
    }

    /// The check command for `block` (same placeholders and `BLOCKORCH_BLOCK` as per-block).
    pub fn check(&self, slot: u32, block: &BlockMessage) -> Option<Launch> {
        let check = self.ctx.spec.check.as_ref()?;
        let mut launch = self.base(slot, expand_argv(&check.command, block), &check.env);
        launch
            .env
            .push(("BLOCKORCH_BLOCK".to_owned(), block.to_json()));
        Some(launch)
    }
}
