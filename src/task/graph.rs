//! The task graph given by `upstream_tasks`: reference checks, cycle detection and the
//! topological order the orchestrator starts tasks in.

use super::error::{Found, Invalid, Problem};
use super::path::FieldPath;
use super::spec::{TaskFile, TaskSpec};
use super::suggest::closest;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

impl TaskFile {
    /// Task indices with every task after all its upstream tasks; among tasks that are ready
    /// at the same time, file order. (A hand-built cyclic `TaskFile` gets its cyclic tasks
    /// appended in file order rather than a panic.)
    pub fn topological_order(&self) -> Vec<usize> {
        topological_order(&self.tasks)
    }
}

/// Upstream indices of every task (unknown names skipped, duplicates collapsed).
fn upstream_indices(tasks: &[TaskSpec]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    tasks
        .iter()
        .map(|t| {
            let mut seen = HashSet::new();
            t.upstream_tasks
                .iter()
                .filter_map(|name| index.get(name.as_str()).copied())
                .filter(|&u| seen.insert(u))
                .collect()
        })
        .collect()
}

fn topological_order(tasks: &[TaskSpec]) -> Vec<usize> {
    let upstream = upstream_indices(tasks);
    let mut downstream = vec![Vec::new(); tasks.len()];
    let mut waiting: Vec<usize> = upstream.iter().map(Vec::len).collect();
    for (i, ups) in upstream.iter().enumerate() {
        for &u in ups {
            downstream[u].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..tasks.len())
        .filter(|&i| waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in &downstream[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    if order.len() < tasks.len() {
        let placed: HashSet<usize> = order.iter().copied().collect();
        order.extend((0..tasks.len()).filter(|i| !placed.contains(i)));
    }
    order
}

/// Checks every `upstream_tasks` entry: it names another task of the file, appears once, and
/// that task has the same dimensionality; then that the graph has no cycle.
pub(crate) fn check_upstreams(
    tasks: &[TaskSpec],
    task_path: &dyn Fn(usize) -> FieldPath,
) -> Found<()> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    for (i, task) in tasks.iter().enumerate() {
        let list = task_path(i).key("upstream_tasks");
        let mut seen = HashSet::new();
        for (j, name) in task.upstream_tasks.iter().enumerate() {
            let at = list.index(j);
            let Some(&u) = index.get(name.as_str()) else {
                let known: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
                let suggestion =
                    closest(name, tasks.iter().map(|t| t.name.as_str())).map(str::to_owned);
                return Err(Invalid::new(
                    at,
                    Problem::UnknownUpstream {
                        name: name.clone(),
                        suggestion,
                        known,
                    },
                ));
            };
            if !seen.insert(u) {
                return Err(Invalid::new(
                    at,
                    Problem::DuplicateUpstream { name: name.clone() },
                ));
            }
            if tasks[u].dims() != task.dims() {
                return Err(Invalid::new(
                    at,
                    Problem::UpstreamDimensions {
                        upstream: name.clone(),
                        upstream_dims: tasks[u].dims(),
                        dims: task.dims(),
                    },
                ));
            }
        }
    }
    match find_cycle(&upstream_indices(tasks)) {
        None => Ok(()),
        Some(cycle) => Err(cycle_error(tasks, &cycle, task_path)),
    }
}

/// A cycle in dependency direction (`[a, b]`: a lists b, b lists a), rotated to start at its
/// lowest task index; `None` if the graph is acyclic.
fn find_cycle(upstream: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; upstream.len()];
    for start in 0..upstream.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (node, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&next) = upstream[node].get(*edge) {
                *edge += 1;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::OnStack;
                        stack.push((next, 0));
                    }
                    Mark::OnStack => {
                        let from = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        let lowest = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                        cycle.rotate_left(lowest);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// The error for a cycle: located at the entry of its first task that starts the cycle,
/// naming the cycle in data-flow direction (`a -> b -> a`).
fn cycle_error(
    tasks: &[TaskSpec],
    cycle: &[usize],
    task_path: &dyn Fn(usize) -> FieldPath,
) -> Invalid {
    let first = cycle[0];
    let next_name = &tasks[cycle[1 % cycle.len()]].name;
    let entry = tasks[first]
        .upstream_tasks
        .iter()
        .position(|n| n == next_name)
        .unwrap_or(0);
    // Dependency order a→b→c means data flows c -> b -> a; print it from `first` onwards.
    let mut names: Vec<String> = std::iter::once(first)
        .chain(cycle[1..].iter().rev().copied())
        .map(|i| tasks[i].name.clone())
        .collect();
    names.push(tasks[first].name.clone());
    Invalid::new(
        task_path(first).key("upstream_tasks").index(entry),
        Problem::Cycle { cycle: names },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_in_dependency_order() {
        assert_eq!(find_cycle(&[vec![1], vec![]]), None);
        assert_eq!(find_cycle(&[vec![0]]), Some(vec![0]));
        assert_eq!(
            find_cycle(&[vec![], vec![2], vec![3], vec![1]]),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            find_cycle(&[vec![], vec![], vec![3], vec![1], vec![]]),
            None
        );
    }
}
