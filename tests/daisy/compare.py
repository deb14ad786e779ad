#!/usr/bin/env python3
"""Differential test: `blockorch plan --json` against daisy 2.0.0.

    python tests/daisy/compare.py --specs DIR_OR_FILE [--specs ...]
    python tests/daisy/compare.py --seed S --count N [--keep DIR]
    (both may be combined; run with the python that has daisy 2.0.0,
     e.g. .venv/bin/python after scripts/setup-python.sh)

The blockorch binary: --blockorch PATH, else $BLOCKORCH_BIN, else
target/release/blockorch, else target/debug/blockorch (repo root).

For every spec, daisy is asked in this process (oracle.daisy_plan, daisy is
loaded once) and `blockorch plan SPEC --json` is run. A spec passes when
  1. both have the same set of (task, block_id);
  2. every block has the same read_roi and write_roi;
  3. every block's upstream-task dependencies (blockorch's depends_on
     entries naming another task) equal daisy's;
  4. blockorch's same-task dependencies order conflicts: within a task
     the graph is acyclic, and for every two blocks where the read ROI of
     one intersects the write ROI of the other exactly one is reachable
     from the other; with read_write_conflict false, or no context, there
     are no same-task dependencies at all;
  5. the longest same-task dependency chain (counted in blocks) is at most
     daisy's num_levels (both are reported per spec).
With --exact-conflicts, blockorch's same-task dependencies must moreover
equal daisy's, block for block (not required by default: any ordering with
the properties above is as good).
Each spec a *.expect.json sidecar sits next to is also checked against
the facts in it (see specs/README in ../README.md).

Prints one line per spec, the first differences of a failing one (spec,
block, field, daisy value, blockorch value), and ends with
"N passed, M failed". Exit status 1 if any spec failed.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from specio import (  # noqa: E402
    SpecError,
    context_of,
    load_spec,
    roi_from_json,
    roi_intersects,
    roi_str,
    spec_files,
)


# -- blockorch side ---------------------------------------------------------


def find_blockorch(explicit=None):
    cands = [explicit, os.environ.get("BLOCKORCH_BIN")]
    cands += [os.path.join(REPO, "target", p, "blockorch") for p in ("release", "debug")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def run_blockorch(binary, spec, timeout=120):
    """Returns (blocks, error): blocks = {(task, id): {"read_roi", "write_roi",
    "depends_on": [(task, id), ...]}}; error a string or None."""
    try:
        p = subprocess.run(
            [binary, "plan", spec, "--json"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, f"`blockorch plan` timed out after {timeout}s"
    except OSError as e:
        return None, f"cannot run {binary}: {e}"
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip())[-2000:]
        return None, f"`blockorch plan {spec} --json` exited {p.returncode}:\n{msg}"
    blocks = {}
    for n, line in enumerate(p.stdout.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None, f"blockorch stdout line {n} is not JSON: {line[:200]!r}"
        if not isinstance(obj, dict) or "block_id" not in obj or "task" not in obj:
            continue  # other kinds of lines may appear; only blocks matter
        try:
            key = (obj["task"], int(obj["block_id"]))
            deps = [(d["task"], int(d["block_id"])) for d in obj.get("depends_on", [])]
            entry = {
                "read_roi": roi_from_json(obj["read_roi"], "read_roi"),
                "write_roi": roi_from_json(obj["write_roi"], "write_roi"),
                "depends_on": deps,
            }
        except (KeyError, TypeError, ValueError, SpecError) as e:
            return None, f"blockorch stdout line {n}: bad block object ({e}): {line[:200]}"
        if key in blocks:
            return None, f"blockorch printed block {key[0]}#{key[1]} twice"
        blocks[key] = entry
    return blocks, None


# -- conflict-ordering property --------------------------------------------


def _conflict_pairs(blocks, cell):
    """Unordered pairs (i, j) of block indices where the read ROI of one
    intersects the write ROI of the other. `blocks` is a list of
    (read_roi, write_roi); `cell` the per-axis bucket size. Bucketing
    keeps this near-linear for the planner's regular grids."""
    dims = len(cell)

    def cells(roi):
        (b, e) = roi
        ranges = [range(b[a] // cell[a], (e[a] - 1) // cell[a] + 1) for a in range(dims)]
        out = [()]
        for r in ranges:
            out = [c + (x,) for c in out for x in r]
        return out

    write_cells = {}
    for j, (_, w) in enumerate(blocks):
        if any(lo >= hi for lo, hi in zip(*w)):
            continue
        for c in cells(w):
            write_cells.setdefault(c, []).append(j)
    pairs = set()
    for i, (r, _) in enumerate(blocks):
        if any(lo >= hi for lo, hi in zip(*r)):
            continue
        for c in cells(r):
            for j in write_cells.get(c, ()):
                if j != i and (min(i, j), max(i, j)) not in pairs:
                    if roi_intersects(r, blocks[j][1]):
                        pairs.add((min(i, j), max(i, j)))
    return pairs


def check_ordering(ids, rois, deps, cell):
    """ids: list of block ids of one task; rois: list of (read, write);
    deps: {block_id: set of same-task block ids it depends on}.
    Returns (problems, longest_chain); problems a list of strings."""
    problems = []
    index = {b: i for i, b in enumerate(ids)}
    n = len(ids)
    preds = [set() for _ in range(n)]
    for b, ds in deps.items():
        for d in ds:
            if d == b:
                problems.append(f"block {b} depends on itself")
                continue
            preds[index[b]].add(index[d])
    # Kahn's topological sort
    succs = [[] for _ in range(n)]
    indeg = [len(p) for p in preds]
    for v in range(n):
        for u in preds[v]:
            succs[u].append(v)
    order = [v for v in range(n) if indeg[v] == 0]
    k = 0
    while k < len(order):
        u = order[k]
        k += 1
        for v in succs[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                order.append(v)
    if len(order) != n:
        stuck = sorted(ids[v] for v in range(n) if indeg[v] > 0)
        problems.append(
            f"same-task dependencies have a cycle through blocks {stuck[:12]}"
            + (" ..." if len(stuck) > 12 else "")
        )
        return problems, None
    reach = [0] * n  # bitset of the blocks each block (transitively) waits for
    chain = [1] * n
    for v in order:
        r = 0
        c = 1
        for u in preds[v]:
            r |= reach[u] | (1 << u)
            c = max(c, chain[u] + 1)
        reach[v] = r
        chain[v] = c
    bad = 0
    for i, j in sorted(_conflict_pairs(rois, cell)):
        ij = (reach[i] >> j) & 1
        ji = (reach[j] >> i) & 1
        if not (ij or ji):
            bad += 1
            if bad <= 5:
                (ri, wi), (rj, wj) = rois[i], rois[j]
                problems.append(
                    f"conflicting blocks {ids[i]} (read {roi_str(ri)} write {roi_str(wi)}) and "
                    f"{ids[j]} (read {roi_str(rj)} write {roi_str(wj)}) are not ordered: "
                    "neither is reachable from the other via depends_on"
                )
    if bad > 5:
        problems.append(f"... {bad} unordered conflicting pairs in all")
    return problems, max(chain) if n else 0


# -- one spec ---------------------------------------------------------------


def _deps_str(ds):
    return "[" + ", ".join(f"{t}#{i}" for t, i in sorted(ds)) + "]"


def compare_spec(spec, tasks, plan, bo_blocks, expect=None, max_diffs=10, exact_conflicts=False):
    """Returns (ok, lines)."""
    diffs = []

    def diff(task, bid, field, dval, bval):
        diffs.append(
            f"  {os.path.basename(spec)}: {task}#{bid} {field}: daisy {dval} | blockorch {bval}"
        )

    daisy_blocks = {(b["task"], b["block_id"]): b for b in plan["blocks"]}
    names = [t["name"] for t in tasks]
    other = []

    # 1. block sets
    for key in sorted(set(daisy_blocks) - set(bo_blocks), key=lambda k: (names.index(k[0]), k[1])):
        b = daisy_blocks[key]
        diff(key[0], key[1], "block", f"read {roi_str(b['read_roi'])} write {roi_str(b['write_roi'])}", "missing")
    for key in sorted(set(bo_blocks) - set(daisy_blocks), key=lambda k: (str(k[0]), k[1])):
        b = bo_blocks[key]
        diff(key[0], key[1], "block", "missing", f"read {roi_str(b['read_roi'])} write {roi_str(b['write_roi'])}")

    # 2. ROIs, 3. upstream-task deps, dangling deps
    for key in sorted(set(daisy_blocks) & set(bo_blocks), key=lambda k: (names.index(k[0]), k[1])):
        d, b = daisy_blocks[key], bo_blocks[key]
        for field in ("read_roi", "write_roi"):
            if d[field] != b[field]:
                diff(key[0], key[1], field, roi_str(d[field]), roi_str(b[field]))
        d_up = set(d["upstream"])
        b_up = {x for x in b["depends_on"] if x[0] != key[0]}
        if d_up != b_up:
            extra = _deps_str(b_up - d_up)
            missing = _deps_str(d_up - b_up)
            diff(key[0], key[1], "upstream deps", _deps_str(d_up),
                 f"{_deps_str(b_up)} (missing {missing}, extra {extra})")
        if exact_conflicts:
            d_same = set(d["conflicts"])
            b_same = {x for x in b["depends_on"] if x[0] == key[0]}
            if d_same != b_same:
                diff(key[0], key[1], "same-task deps", _deps_str(d_same), _deps_str(b_same))
    for key, b in sorted(bo_blocks.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        for dep in b["depends_on"]:
            if dep not in bo_blocks:
                other.append(f"  {os.path.basename(spec)}: {key[0]}#{key[1]} depends_on "
                             f"{dep[0]}#{dep[1]}, a block blockorch did not print")

    # 4./5. same-task ordering and chain length
    report = []
    levels = {s["task"]: s["num_levels"] for s in plan["summary"]}
    for t in tasks:
        name = t["name"]
        keys = sorted(k for k in bo_blocks if k[0] == name)
        ids = [k[1] for k in keys]
        deps = {
            k[1]: {d[1] for d in bo_blocks[k]["depends_on"] if d[0] == name and d in bo_blocks}
            for k in keys
        }
        n_same = sum(len(v) for v in deps.values())
        lo, hi = context_of(t)
        no_conflicts = not t["read_write_conflict"] or not (any(lo) or any(hi))
        if no_conflicts and n_same:
            first = next((b, sorted(v)) for b, v in deps.items() if v)
            why = "read_write_conflict is false" if not t["read_write_conflict"] else "it has no context"
            other.append(f"  {os.path.basename(spec)}: task {name}: {n_same} same-task dependencies "
                         f"although {why} (e.g. {name}#{first[0]} -> {first[1][:6]})")
        cell = tuple(max(1, e - b) for b, e in zip(*t["write_roi"]))
        rois = [(bo_blocks[k]["read_roi"], bo_blocks[k]["write_roi"]) for k in keys]
        problems, chain = check_ordering(ids, rois, deps, cell)
        if t["read_write_conflict"]:
            other.extend(f"  {os.path.basename(spec)}: task {name}: {p}" for p in problems)
        elif problems:
            other.extend(f"  {os.path.basename(spec)}: task {name}: {p}" for p in problems
                         if "cycle" in p or "itself" in p)
        lv = levels.get(name)
        report.append(f"{name}: {len(keys)} blocks, chain {chain}/{lv} levels")
        if chain is not None and lv is not None and chain > lv:
            other.append(f"  {os.path.basename(spec)}: task {name}: longest same-task dependency "
                         f"chain {chain} blocks > daisy's num_levels {lv}")

    # sidecar expectations (checked against daisy and blockorch alike)
    if expect:
        for name, nb in expect.get("num_blocks", {}).items():
            got_d = sum(1 for k in daisy_blocks if k[0] == name)
            got_b = sum(1 for k in bo_blocks if k[0] == name)
            if got_d != nb or got_b != nb:
                other.append(f"  {os.path.basename(spec)}: task {name}: expected {nb} blocks, "
                             f"daisy {got_d}, blockorch {got_b}")
        for name, nl in expect.get("num_levels", {}).items():
            if levels.get(name) != nl:
                other.append(f"  {os.path.basename(spec)}: task {name}: expected {nl} levels, daisy {levels.get(name)}")
        for key, want in expect.get("blocks", {}).items():
            name, bid = key.split("#")
            k = (name, int(bid))
            for field in ("read_roi", "write_roi"):
                if field not in want:
                    continue
                w = roi_from_json(want[field], field)
                for who, blocks in (("daisy", daisy_blocks), ("blockorch", bo_blocks)):
                    got = blocks.get(k, {}).get(field)
                    if got != w:
                        other.append(f"  {os.path.basename(spec)}: {key} {field}: expected "
                                     f"{roi_str(w)}, {who} {roi_str(got)}")

    problems = diffs + other
    lines = []
    status = "PASS" if not problems else "FAIL"
    lines.append(f"{status} {spec}  " + "; ".join(report))
    if problems:
        lines.extend(problems[:max_diffs])
        if len(problems) > max_diffs:
            lines.append(f"  ... {len(problems) - max_diffs} more differences")
    return not problems, lines


def main(argv=None):
    ap = argparse.ArgumentParser(description="blockorch plan vs daisy 2.0.0")
    ap.add_argument("--specs", action="append", default=[], help="spec file or directory (repeatable)")
    ap.add_argument("--seed", type=int, help="generate random specs with this seed")
    ap.add_argument("--count", type=int, default=100, help="how many random specs (with --seed)")
    ap.add_argument("--keep", help="directory for the generated specs (default: a temp dir, "
                    "kept only when something fails)")
    ap.add_argument("--blockorch", help="blockorch binary (default $BLOCKORCH_BIN, target/{release,debug})")
    ap.add_argument("--max-diffs", type=int, default=10, help="differences shown per failing spec")
    ap.add_argument("--max-failed-shown", type=int, default=15, help="failing specs shown in full")
    ap.add_argument("--quiet", "-q", action="store_true", help="no line for passing specs")
    ap.add_argument("--exact-conflicts", action="store_true",
                    help="also require same-task deps identical to daisy's")
    ap.add_argument("--jobs", "-j", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    args = ap.parse_args(argv)

    if not args.specs and args.seed is None:
        ap.error("give --specs and/or --seed/--count")

    binary = find_blockorch(args.blockorch)
    if binary is None:
        print("compare: no blockorch binary: pass --blockorch, set BLOCKORCH_BIN, or "
              "`cargo build --release`", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    try:
        import oracle  # imports daisy
    except ImportError as e:
        print(f"compare: cannot import daisy ({e}); run with the python of "
              "scripts/setup-python.sh (.venv/bin/python)", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    files = spec_files(args.specs)
    gen_dir = None
    if args.seed is not None:
        import gen_specs

        gen_dir = args.keep or tempfile.mkdtemp(prefix="blockorch-daisy-specs-")
        files += gen_specs.generate(args.seed, args.count, gen_dir)
    if not files:
        print("compare: no spec files found", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    print(f"blockorch: {binary}")
    passed = failed = 0
    shown = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {f: pool.submit(run_blockorch, binary, f) for f in files}
        for spec in files:
            lines = []
            try:
                tasks = load_spec(spec)
                plan = oracle.daisy_plan(tasks)
            except (SpecError, oracle.OracleError) as e:
                ok, lines = False, [f"FAIL {spec}  harness: {e}"]
            else:
                bo_blocks, err = futures[spec].result()
                if err:
                    ok, lines = False, [f"FAIL {spec}  blockorch: " + err.replace("\n", "\n    ")]
                else:
                    expect = None
                    side = spec[: -len(".json")] + ".expect.json"
                    if os.path.exists(side):
                        with open(side) as f:
                            expect = json.load(f)
                    ok, lines = compare_spec(spec, tasks, plan, bo_blocks, expect, args.max_diffs,
                                              args.exact_conflicts)
            if ok:
                passed += 1
                if not args.quiet:
                    print(lines[0])
            else:
                failed += 1
                shown += 1
                if shown <= args.max_failed_shown:
                    print("\n".join(lines))
                else:
                    print(lines[0])
            sys.stdout.flush()

    if gen_dir and not args.keep:
        if failed:
            print(f"generated specs kept in {gen_dir}")
        else:
            shutil.rmtree(gen_dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
