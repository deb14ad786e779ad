//! Turns the raw tasks of a file into validated [`TaskSpec`]s: field checks per task in file
//! order, then names, the upstream graph, and finally the planner checks.

use super::commands::check_command;
use super::error::{Found, Invalid, Problem};
use super::graph::check_upstreams;
use super::names::{check_task_name, check_unique};
use super::path::FieldPath;
use super::planner_check::check_plans;
use super::raw::RawTask;
use super::roi_check::check_rois;
use super::schema::enum_variants;
use super::spec::TaskSpec;
use super::suggest::closest;
use crate::plan::Fit;
use serde::Deserialize;

/// Validates all tasks of a file; `task_path(i)` locates task `i` in error messages.
pub(crate) fn validate_tasks(
    raw: Vec<RawTask>,
    task_path: &dyn Fn(usize) -> FieldPath,
) -> Found<Vec<TaskSpec>> {
    let tasks = raw
        .into_iter()
        .enumerate()
        .map(|(i, task)| validate_task(task, &task_path(i)))
        .collect::<Found<Vec<_>>>()?;
    check_unique(&tasks, task_path)?;
    check_upstreams(&tasks, task_path)?;
    check_plans(&tasks, task_path)?;
    Ok(tasks)
}

/// Validates the fields of one task (everything that does not depend on other tasks).
fn validate_task(raw: RawTask, path: &FieldPath) -> Found<TaskSpec> {
    check_task_name(&raw.name).map_err(|p| Invalid::new(path.key("name"), p))?;
    let rois = check_rois(&raw.total_roi, &raw.read_roi, &raw.write_roi, path)?;
    let fit = match &raw.fit {
        None => Fit::default(),
        Some(value) => parse_fit(value).map_err(|p| Invalid::new(path.key("fit"), p))?,
    };
    if raw.num_workers == 0 {
        return Err(Invalid::new(path.key("num_workers"), Problem::ZeroWorkers));
    }
    check_command(&raw.worker.command, &raw.worker.env, &path.key("worker"))?;
    if raw.worker.per_block && !raw.worker.write_ahead {
        return Err(Invalid::new(
            path.key("worker").key("write_ahead"),
            Problem::WriteAheadPerBlock,
        ));
    }
    if raw.worker.per_block && raw.worker.startup_timeout.is_some() {
        return Err(Invalid::new(
            path.key("worker").key("startup_timeout"),
            Problem::StartupTimeoutPerBlock,
        ));
    }
    if let Some(check) = &raw.check {
        check_command(&check.command, &check.env, &path.key("check"))?;
        if check.persistent {
            check_no_placeholders(&check.command, &path.key("check").key("command"))?;
        }
    }
    if let Some(init) = &raw.init {
        check_command(&init.command, &init.env, &path.key("init"))?;
    }
    Ok(TaskSpec {
        name: raw.name,
        total_roi: rois.total,
        read_roi: rois.read,
        write_roi: rois.write,
        fit,
        read_write_conflict: raw.read_write_conflict,
        upstream_tasks: raw.upstream_tasks,
        num_workers: raw.num_workers,
        max_retries: raw.max_retries,
        timeout: raw.timeout,
        worker: raw.worker,
        check: raw.check,
        init: raw.init,
        slurm: raw.slurm,
        lsf: raw.lsf,
    })
}

/// Refuses per-block placeholders (`{block_id}`, …) in the argv of a persistent check.
fn check_no_placeholders(argv: &[String], path: &FieldPath) -> Found<()> {
    for (i, arg) in argv.iter().enumerate() {
        let found = crate::worker::PLACEHOLDERS
            .iter()
            .map(|name| format!("{{{name}}}"))
            .find(|p| arg.contains(p.as_str()));
        if let Some(placeholder) = found {
            return Err(Invalid::new(
                path.index(i),
                Problem::PlaceholderInPersistentCheck { placeholder },
            ));
        }
    }
    Ok(())
}

/// Reads a fit mode by its task-file name, suggesting the closest one for a typo.
fn parse_fit(value: &str) -> Result<Fit, Problem> {
    Fit::deserialize(serde_json::Value::from(value)).map_err(|_| {
        let known = enum_variants::<Fit>();
        Problem::UnknownFit {
            value: value.to_owned(),
            suggestion: closest(value, known.iter().copied()),
            known,
        }
    })
}
