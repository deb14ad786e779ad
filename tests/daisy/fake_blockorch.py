#!/usr/bin/env python3
"""Stand-in for `blockorch plan TASK.json --json`, used only by selfcheck.py
to test compare.py while (or without) the Rust planner: a pure-Python
planner (refplan.py) plus a simple level schedule for conflicts.

    fake_blockorch.py plan TASK.json --json

Same-task dependencies: a block's level is its grid coordinate modulo
(level stride / write shape) per axis; it depends on every block of a
lower level whose ROIs conflict with its own. That orders every
conflicting pair directly and keeps chains within daisy's num_levels.

FAKE_BLOCKORCH_CONFLICTS=daisy uses daisy's exact rule instead
(refplan.daisy_conflict_deps).

$FAKE_BLOCKORCH_MUTATE breaks the output on purpose, to prove compare.py
notices: drop-conflicts, cycle, roi, extra-block, drop-block, upstream,
deps-without-conflict, long-chain. When a mutation was applied the spec
path is appended to $FAKE_BLOCKORCH_LOG (if set).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refplan import daisy_conflict_deps, has_context, level_periods, num_levels, plan_task, upstream_deps  # noqa: E402
from specio import load_spec, roi_intersects, roi_to_json  # noqa: E402


def same_task_deps(task, blocks):
    if os.environ.get("FAKE_BLOCKORCH_CONFLICTS") == "daisy":
        return daisy_conflict_deps(task, blocks)
    deps = {b["block_id"]: set() for b in blocks}
    if not task["read_write_conflict"] or not has_context(task):
        return deps
    period = level_periods(task)

    def level(b):
        idx = 0
        for a, x in enumerate(b["coords"]):
            idx = idx * period[a] + x % period[a]
        return idx

    for b in blocks:
        for c in blocks:
            if b is c or level(c) >= level(b):
                continue
            if roi_intersects(b["read_roi"], c["write_roi"]) or roi_intersects(
                c["read_roi"], b["write_roi"]
            ):
                deps[b["block_id"]].add(c["block_id"])
    return deps


def plan(tasks):
    blocks = {}
    deps = {}
    for t in tasks:
        bl = plan_task(t)
        blocks[t["name"]] = bl
        for bid, ds in same_task_deps(t, bl).items():
            deps[(t["name"], bid)] = {(t["name"], d) for d in ds}
    for t in tasks:
        for up in t["upstream_tasks"]:
            for bid, ds in upstream_deps(blocks[t["name"]], up, blocks[up]).items():
                deps[(t["name"], bid)] |= ds
    rows = []
    for t in tasks:
        for b in sorted(blocks[t["name"]], key=lambda b: b["block_id"]):
            rows.append(
                {
                    "task": t["name"],
                    "block_id": b["block_id"],
                    "read_roi": b["read_roi"],
                    "write_roi": b["write_roi"],
                    "depends_on": sorted(deps[(t["name"], b["block_id"])]),
                }
            )
    return rows


def mutate(kind, tasks, rows):
    """Apply one mutation; True if it changed something that must fail."""
    by_task = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    conf_tasks = [t for t in tasks if t["read_write_conflict"] and has_context(t)]
    if kind == "drop-conflicts":
        for r in rows:
            same = [d for d in r["depends_on"] if d[0] == r["task"]]
            if same:
                r["depends_on"] = [d for d in r["depends_on"] if d[0] != r["task"]]
                return True
    elif kind == "cycle":
        idx = {(r["task"], r["block_id"]): r for r in rows}
        for r in rows:
            same = [d for d in r["depends_on"] if d[0] == r["task"]]
            if same:
                idx[same[0]]["depends_on"] = idx[same[0]]["depends_on"] + [(r["task"], r["block_id"])]
                return True
    elif kind == "roi":
        r = rows[len(rows) // 2]
        (b, e) = r["write_roi"]
        r["write_roi"] = (b, (e[0] + 1,) + tuple(e[1:]))
        return True
    elif kind == "extra-block":
        r = dict(rows[-1])
        r["block_id"] = 10**9
        r["depends_on"] = []
        rows.append(r)
        return True
    elif kind == "drop-block":
        rows.pop(len(rows) // 2)
        return True  # (may also leave dangling deps: fails either way)
    elif kind == "upstream":
        for r in rows:
            ups = [d for d in r["depends_on"] if d[0] != r["task"]]
            if ups:
                r["depends_on"].remove(ups[-1])
                return True
    elif kind == "deps-without-conflict":
        for t in tasks:
            if t in conf_tasks:
                continue
            rs = by_task[t["name"]]
            if len(rs) >= 2:
                rs[1]["depends_on"] = rs[1]["depends_on"] + [(t["name"], rs[0]["block_id"])]
                return True
    elif kind == "long-chain":
        # a total order of the blocks: every conflict ordered, no cycle, but a
        # chain longer than daisy's num_levels
        for t in conf_tasks:
            rs = sorted(by_task[t["name"]], key=lambda r: r["block_id"])
            if len(rs) > num_levels(t):
                for prev, cur in zip([None] + rs, rs):
                    ups = [d for d in cur["depends_on"] if d[0] != t["name"]]
                    cur["depends_on"] = ups + ([(t["name"], prev["block_id"])] if prev else [])
                return True
    else:
        raise SystemExit(f"unknown FAKE_BLOCKORCH_MUTATE {kind!r}")
    return False


def main(argv):
    if len(argv) != 3 or argv[0] != "plan" or argv[2] != "--json":
        print("usage: fake_blockorch.py plan TASK.json --json", file=sys.stderr)
        return 2
    spec = argv[1]
    tasks = load_spec(spec)
    rows = plan(tasks)
    kind = os.environ.get("FAKE_BLOCKORCH_MUTATE")
    if kind and mutate(kind, tasks, rows) and os.environ.get("FAKE_BLOCKORCH_LOG"):
        with open(os.environ["FAKE_BLOCKORCH_LOG"], "a") as f:
            f.write(spec + "\n")
    for r in rows:
        print(
            json.dumps(
                {
                    "task": r["task"],
                    "block_id": r["block_id"],
                    "read_roi": roi_to_json(r["read_roi"]),
                    "write_roi": roi_to_json(r["write_roi"]),
                    "depends_on": [{"task": t, "block_id": i} for t, i in r["depends_on"]],
                    "status": "planned",
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
