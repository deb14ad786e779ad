//! `blockorch plan`: summaries, one block, or every block as JSON lines.

use super::args::PlanArgs;
use super::exit::{CliFailure, ExitCode};
use crate::geometry::Roi;
use crate::plan::{Plan, TaskSummary};
use crate::task::load_task_file;
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::{BufWriter, Write};

/// One block as printed by `plan --json` (and `plan --block`).
#[derive(Serialize)]
struct BlockLine<'a> {
    task: &'a str,
    block_id: u64,
    read_roi: Roi,
    write_roi: Roi,
    depends_on: Vec<DependencyRef<'a>>,
}

/// A dependency as printed: task name and block id.
#[derive(Serialize)]
struct DependencyRef<'a> {
    task: &'a str,
    block_id: u64,
}

/// Runs `blockorch plan`.
pub fn run(args: &PlanArgs) -> Result<ExitCode> {
    let file = load_task_file(&args.task_file)?;
    let plan = file.plan()?;
    let selected: Vec<usize> = match &args.task {
        Some(name) => vec![plan.index_of(name)?],
        None => (0..plan.len()).collect(),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if let Some(id) = args.block {
        if selected.len() != 1 {
            return Err(CliFailure(
                ExitCode::BadInput,
                "the task file has several tasks: say which one with --task NAME".into(),
            )
            .into());
        }
        print_block(&mut out, &plan, selected[0], id)?;
    } else if args.json {
        for &task in &selected {
            stream_blocks(&mut out, &plan, task)?;
        }
    } else {
        for &task in &selected {
            print_summary(&mut out, &plan.summary(task))?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::Success)
}

/// True when `err` is a closed pipe (`blockorch plan --json | head`): not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn block_line<'a>(plan: &'a Plan, task: usize, block: &crate::plan::Block) -> BlockLine<'a> {
    let mut depends_on = Vec::new();
    plan.for_each_dependency(task, block, |t, b| {
        depends_on.push(DependencyRef {
            task: plan.name(t),
            block_id: b.id,
        })
    });
    BlockLine {
        task: plan.name(task),
        block_id: block.id,
        read_roi: block.read_roi,
        write_roi: block.write_roi,
        depends_on,
    }
}

fn stream_blocks(out: &mut impl Write, plan: &Plan, task: usize) -> Result<()> {
    let mut line = Vec::with_capacity(512);
    for block in plan.task(task).blocks() {
        line.clear();
        serde_json::to_writer(&mut line, &block_line(plan, task, &block))?;
        line.push(b'\n');
        out.write_all(&line).context("writing to stdout")?;
    }
    Ok(())
}

fn print_block(out: &mut impl Write, plan: &Plan, task: usize, id: u64) -> Result<()> {
    let block = plan.task(task).block_by_id(id).ok_or_else(|| {
        CliFailure(
            ExitCode::BadInput,
            format!(
                "task {:?} has no block with id {id} (ids are daisy's Cantor numbers of grid \
                 coordinates; list them with `blockorch plan --json`)",
                plan.name(task)
            ),
        )
    })?;
    let mut line = block_line(plan, task, &block);
    line.depends_on.sort_by_key(|d| (d.task, d.block_id));
    writeln!(out, "task        {}", line.task)?;
    writeln!(out, "block id    {}", line.block_id)?;
    writeln!(out, "grid coords {}", block.coords)?;
    writeln!(
        out,
        "level       {}",
        plan.task(task).level_of(&block.coords)
    )?;
    writeln!(
        out,
        "read_roi    {} (offset {:?}, shape {:?})",
        block.read_roi, block.read_roi.offset, block.read_roi.shape
    )?;
    writeln!(
        out,
        "write_roi   {} (offset {:?}, shape {:?})",
        block.write_roi, block.write_roi.offset, block.write_roi.shape
    )?;
    if line.depends_on.is_empty() {
        writeln!(out, "depends on  nothing")?;
    } else {
        writeln!(out, "depends on  {} blocks:", line.depends_on.len())?;
        for dep in &line.depends_on {
            writeln!(out, "  {} {}", dep.task, dep.block_id)?;
        }
    }
    Ok(())
}

fn print_summary(out: &mut impl Write, s: &TaskSummary) -> Result<()> {
    let grid: Vec<String> = s.grid_shape.iter().map(|n| n.to_string()).collect();
    writeln!(
        out,
        "task {} ({}-D, fit {})",
        s.task,
        s.grid_shape.len(),
        s.fit
    )?;
    writeln!(
        out,
        "  block grid      {} = {} blocks",
        grid.join(" x "),
        s.num_blocks
    )?;
    let border = match s.fit {
        crate::plan::Fit::Valid => {
            "none (fit valid keeps only blocks inside total_roi)".to_string()
        }
        crate::plan::Fit::Overhang => format!("{} overhanging total_roi", s.border_blocks),
        crate::plan::Fit::Shrink => format!("{} shrunk to total_roi", s.border_blocks),
    };
    writeln!(out, "  full blocks     {}", s.full_blocks)?;
    writeln!(out, "  border blocks   {border}")?;
    writeln!(out, "  total write roi {}", s.total_write_roi)?;
    writeln!(
        out,
        "  levels          {} ({} holding blocks)",
        s.levels, s.non_empty_levels
    )?;
    writeln!(
        out,
        "  max parallel    {} blocks at once",
        s.max_parallel_blocks
    )?;
    let ups = if s.upstream_tasks.is_empty() {
        "none".to_string()
    } else {
        s.upstream_tasks.join(", ")
    };
    writeln!(out, "  upstream tasks  {ups}")?;
    Ok(())
}
