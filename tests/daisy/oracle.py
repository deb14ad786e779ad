#!/usr/bin/env python3
"""daisy 2.0.0 oracle: print daisy's block plan for task.json spec files.

    python tests/daisy/oracle.py TASK.json [MORE.json | DIR ...]

(a directory stands for its *.json files, *.expect.json sidecars excepted)

For every task (in file order) one line per block, sorted by block id:

    {"task": "a", "block_id": 7,
     "read_roi": {"offset": [...], "shape": [...]},
     "write_roi": {"offset": [...], "shape": [...]},
     "upstream": [{"task": "up", "block_id": 3}, ...],   # cross-task deps
     "conflicts": [{"task": "a", "block_id": 6}, ...]}  # same-task deps

then one summary line per task:

    {"summary": true, "task": "a", "num_blocks": 13, "num_levels": 2}

With more than one spec file every line also carries "spec": PATH, and a
spec daisy refuses gives {"spec": PATH, "error": "..."} (exit status 1).

How daisy is asked:
  * blocks, ROIs, num_levels and same-task (conflict) dependencies come from
    daisy.BlockwiseDependencyGraph(task_id, read_roi, write_roi,
    read_write_conflict, fit, total_read_roi=total_roi)
    .enumerate_all_dependencies();
  * cross-task dependencies come from the scheduler of the whole pipeline:
    daisy.v2.Scheduler(daisy.v2.Pipeline(tasks=[...], edges=[(up, down)]))
    .dependency_graph.upstream(block), whose answer holds both the same-task
    and the upstream-task blocks; the same-task part is cross-checked
    against the dependency graph's.
"""

import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from specio import SpecError, load_spec, roi_to_json, spec_files  # noqa: E402

warnings.simplefilter("ignore", DeprecationWarning)
# daisy's Rust core prints a backtrace for panics when this is set; the
# oracle reports panics itself.
os.environ.setdefault("RUST_BACKTRACE", "0")

import daisy.v2 as dv  # noqa: E402
from funlib.geometry import Roi  # noqa: E402


class OracleError(Exception):
    pass


def _roi(r):
    b, e = r
    return Roi(b, tuple(hi - lo for lo, hi in zip(b, e)))


def _unroi(roi):
    b = tuple(int(v) for v in roi.offset)
    s = tuple(int(v) for v in roi.shape)
    return (b, tuple(x + y for x, y in zip(b, s)))


def daisy_plan(tasks):
    """Ask daisy for the plan of a list of normalized tasks (specio).

    Returns {"blocks": [...], "summary": [...]} with blocks as dicts
    {task, block_id, read_roi, write_roi, upstream, conflicts} (ROIs as
    (begin, end) tuples, deps as sorted lists of (task, block_id)) and
    summary entries {task, num_blocks, num_levels}, both in task order."""
    graphs = {}
    enumerated = {}
    summary = []
    for t in tasks:
        name = t["name"]
        try:
            g = dv.BlockwiseDependencyGraph(
                name,
                _roi(t["read_roi"]),
                _roi(t["write_roi"]),
                t["read_write_conflict"],
                t["fit"],
                total_read_roi=_roi(t["total_roi"]),
            )
            nb, nl = g.num_blocks, g.num_levels
            enumerated[name] = g.enumerate_all_dependencies()
        except BaseException as e:  # pyo3 PanicException is a BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise OracleError(f"daisy rejects task {name!r}: {type(e).__name__}: {e}")
        if nb == 0:
            raise OracleError(
                f"task {name!r} tiles to zero blocks (daisy 2.0.0's Scheduler panics on that)"
            )
        if nb != len(enumerated[name]):
            raise OracleError(f"task {name!r}: num_blocks {nb} but {len(enumerated[name])} enumerated")
        graphs[name] = g
        summary.append({"task": name, "num_blocks": nb, "num_levels": nl})

    by_name = {}
    for t in tasks:
        by_name[t["name"]] = dv.Task(
            t["name"],
            _roi(t["total_roi"]),
            _roi(t["read_roi"]),
            _roi(t["write_roi"]),
            process_function=None,
            read_write_conflict=t["read_write_conflict"],
            fit=t["fit"],
        )
    edges = [(by_name[up], by_name[t["name"]]) for t in tasks for up in t["upstream_tasks"]]
    try:
        sched = dv.Scheduler(dv.Pipeline(tasks=list(by_name.values()), edges=edges))
        dgraph = sched.dependency_graph
        counts = {k: v.total_block_count for k, v in sched.task_states.items()}
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise OracleError(f"daisy's Scheduler rejects the pipeline: {type(e).__name__}: {e}")
    for s in summary:
        if counts.get(s["task"]) != s["num_blocks"]:
            raise OracleError(
                f"task {s['task']!r}: Scheduler has {counts.get(s['task'])} blocks, "
                f"BlockwiseDependencyGraph {s['num_blocks']}"
            )

    blocks = []
    for t in tasks:
        name = t["name"]
        rows = []
        for blk, deps in enumerated[name]:
            task_id, bid = blk.block_id
            conflicts = sorted((d.block_id[0], int(d.block_id[1])) for d in deps)
            sched_deps = [(d.block_id[0], int(d.block_id[1])) for d in dgraph.upstream(blk)]
            same = sorted(d for d in sched_deps if d[0] == name)
            upstream = sorted({d for d in sched_deps if d[0] != name})
            if same != conflicts:
                raise OracleError(
                    f"task {name!r} block {bid}: Scheduler same-task deps {same} differ from "
                    f"BlockwiseDependencyGraph deps {conflicts}"
                )
            rows.append(
                {
                    "task": name,
                    "block_id": int(bid),
                    "read_roi": _unroi(blk.read_roi),
                    "write_roi": _unroi(blk.write_roi),
                    "upstream": upstream,
                    "conflicts": conflicts,
                }
            )
        rows.sort(key=lambda r: r["block_id"])
        blocks.extend(rows)
    return {"blocks": blocks, "summary": summary}


def plan_lines(plan, spec=None):
    """JSON lines (strings) of a daisy_plan result."""
    extra = {} if spec is None else {"spec": spec}
    out = []
    for b in plan["blocks"]:
        out.append(
            json.dumps(
                {
                    **extra,
                    "task": b["task"],
                    "block_id": b["block_id"],
                    "read_roi": roi_to_json(b["read_roi"]),
                    "write_roi": roi_to_json(b["write_roi"]),
                    "upstream": [{"task": t, "block_id": i} for t, i in b["upstream"]],
                    "conflicts": [{"task": t, "block_id": i} for t, i in b["conflicts"]],
                }
            )
        )
    for s in plan["summary"]:
        out.append(json.dumps({**extra, "summary": True, **s}))
    return out


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    paths = spec_files(argv)
    multi = len(paths) > 1 or len(argv) > 1 or any(os.path.isdir(p) for p in argv)
    status = 0
    for path in paths:
        try:
            plan = daisy_plan(load_spec(path))
        except (SpecError, OracleError) as e:
            status = 1
            if multi:
                print(json.dumps({"spec": path, "error": str(e)}), flush=True)
            else:
                print(f"oracle: {path}: {e}", file=sys.stderr)
            continue
        sys.stdout.write("\n".join(plan_lines(plan, path if multi else None)) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
