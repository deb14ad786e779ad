#!/usr/bin/env python3
"""Self-check of the harness itself (no blockorch needed).

    .venv/bin/python tests/daisy/selfcheck.py [--seed S] [--count N]

1. gen_specs.py specs are accepted by daisy (the oracle runs on all).
2. daisy agrees with the documented arithmetic in refplan.py: block ids,
   ROIs, num_blocks, num_levels, and the cross-task dependency rule.
3. daisy's own dependencies, fed to compare.compare_spec as if blockorch had
   printed them, pass every check (so the checks hold daisy to nothing it
   does not do itself).
4. compare.py passes fake_blockorch.py, and fails it under each
   FAKE_BLOCKORCH_MUTATE mutation on exactly the specs it was applied to.
Prints what the generated specs cover, and "N passed, M failed" (checks).
"""

import argparse
import collections
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402
import gen_specs  # noqa: E402
import oracle  # noqa: E402
import refplan  # noqa: E402
from specio import context_of, load_spec, roi_str, spec_files  # noqa: E402

MUTATIONS = [
    "drop-conflicts",
    "cycle",
    "roi",
    "extra-block",
    "drop-block",
    "upstream",
    "deps-without-conflict",
    "long-chain",
]


def coverage(tasks, stats):
    stats["specs"] += 1
    stats[f"tasks/spec={len(tasks)}"] += 1
    if any(len(t["upstream_tasks"]) > 1 for t in tasks):
        stats["fan-in"] += 1
    for t in tasks:
        dims = len(t["total_roi"][0])
        stats[f"dims={dims}"] += 1
        stats[f"fit={t['fit']}"] += 1
        stats[f"conflict={t['read_write_conflict']}"] += 1
        lo, hi = context_of(t)
        ws = [e - b for b, e in zip(*t["write_roi"])]
        if not any(lo) and not any(hi):
            stats["context: none"] += 1
        for a in range(dims):
            for c in (lo[a], hi[a]):
                if c == 0:
                    continue
                stats["axis context < w" if c < ws[a] else "axis context = w" if c == ws[a] else "axis context > w"] += 1
            if (lo[a] == 0) != (hi[a] == 0):
                stats["axis context one side only"] += 1
            elif lo[a] and hi[a] and lo[a] != hi[a]:
                stats["axis context lo != hi"] += 1
        if (any(lo) or any(hi)) and (0 in [l + h for l, h in zip(lo, hi)]):
            stats["context on some axes only"] += 1
        if any(b < 0 for b in t["total_roi"][0]):
            stats["negative total offset"] += 1
        if t["read_roi"][0] != t["total_roi"][0]:
            stats["read offset != total offset"] += 1
        n = refplan.block_count(t)
        stats["blocks 1"] += n == 1
        stats["blocks 2..50"] += 2 <= n <= 50
        stats["blocks 51..300"] += n > 50
        if any(l >= w for l, w in zip(lo, ws)):
            stats["first grid coordinate >= 1"] += 1
        tb, te = t["total_roi"]
        if any(((te[a] - tb[a] - lo[a] - hi[a]) % ws[a]) for a in range(dims)):
            stats[f"partial last block ({t['fit']})"] += 1


def check_against_refplan(spec, tasks, plan):
    problems = []
    ref = refplan.plan_spec(tasks)
    levels = {s["task"]: s["num_levels"] for s in plan["summary"]}
    for t in tasks:
        name = t["name"]
        if levels[name] != refplan.num_levels(t):
            problems.append(f"{name}: num_levels daisy {levels[name]} refplan {refplan.num_levels(t)}")
        dblocks = {b["block_id"]: b for b in plan["blocks"] if b["task"] == name}
        rblocks = {b["block_id"]: b for b in ref[name]}
        if set(dblocks) != set(rblocks):
            problems.append(f"{name}: block ids differ: daisy-only {sorted(set(dblocks) - set(rblocks))[:8]} "
                            f"refplan-only {sorted(set(rblocks) - set(dblocks))[:8]}")
            continue
        for bid, d in dblocks.items():
            r = rblocks[bid]
            for f in ("read_roi", "write_roi"):
                if d[f] != r[f]:
                    problems.append(f"{name}#{bid} {f}: daisy {roi_str(d[f])} refplan {roi_str(r[f])}")
        up_ref = collections.defaultdict(set)
        for up in t["upstream_tasks"]:
            for bid, ds in refplan.upstream_deps(ref[name], up, ref[up]).items():
                up_ref[bid] |= ds
        conf_ref = refplan.daisy_conflict_deps(t, ref[name])
        for bid, d in dblocks.items():
            got = {i for _, i in d["conflicts"]}
            if got != conf_ref[bid]:
                problems.append(f"{name}#{bid} conflicts: daisy {sorted(got)} refplan {sorted(conf_ref[bid])}")
            if set(d["upstream"]) != up_ref[bid]:
                problems.append(f"{name}#{bid} upstream: daisy {sorted(d['upstream'])} refplan {sorted(up_ref[bid])}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--mutation-specs", type=int, default=40,
                    help="random specs used per mutation run (they are slow with the fake)")
    args = ap.parse_args()

    passed = failed = 0

    def result(ok, what, details=()):
        nonlocal passed, failed
        passed += ok
        failed += not ok
        print(("ok   " if ok else "FAIL ") + what)
        for d in list(details)[:10]:
            print("     " + d)

    tmp = tempfile.mkdtemp(prefix="daisy-selfcheck-")
    files = spec_files([os.path.join(HERE, "specs")])
    files += gen_specs.generate(args.seed, args.count, os.path.join(tmp, "gen"))

    stats = collections.Counter()
    errors, ref_problems, daisy_self = [], [], []
    chain_eq = chain_lt = 0
    for spec in files:
        tasks = load_spec(spec)
        coverage(tasks, stats)
        try:
            plan = oracle.daisy_plan(tasks)
        except oracle.OracleError as e:
            errors.append(f"{spec}: {e}")
            continue
        ref_problems += [f"{os.path.basename(spec)}: {p}" for p in check_against_refplan(spec, tasks, plan)]
        as_blockorch = {
            (b["task"], b["block_id"]): {
                "read_roi": b["read_roi"],
                "write_roi": b["write_roi"],
                "depends_on": list(b["upstream"]) + list(b["conflicts"]),
            }
            for b in plan["blocks"]
        }
        ok, lines = compare.compare_spec(spec, tasks, plan, as_blockorch)
        if not ok:
            daisy_self.append("\n     ".join(lines))
        for line in lines[:1]:
            for part in line.split("  ", 1)[1].split("; "):
                c, lv = part.split("chain ")[1].split(" ")[0].split("/")
                chain_eq += c == lv
                chain_lt += c != lv

    result(not errors, f"daisy accepts all {len(files)} specs (hand-written + generated)", errors)
    result(not ref_problems, "daisy matches refplan.py (ids, ROIs, levels, conflict and upstream rules)", ref_problems)
    result(not daisy_self, "daisy's own dependencies pass compare.py's checks "
           f"(daisy chain == num_levels for {chain_eq} tasks, < for {chain_lt})", daisy_self)

    print("coverage of the specs:")
    for k in sorted(stats):
        print(f"     {k}: {stats[k]}")

    fake = os.path.join(HERE, "fake_blockorch.py")
    mdir = os.path.join(tmp, "mut")
    gen_specs.generate(args.seed + 1, args.mutation_specs, mdir)
    mfiles = [os.path.join(HERE, "specs"), mdir]

    def run_compare(mutation, extra=(), fake_env=None):
        env = dict(os.environ)
        env.pop("FAKE_BLOCKORCH_CONFLICTS", None)
        env.update(fake_env or {})
        log = os.path.join(tmp, f"log-{mutation}")
        env.pop("FAKE_BLOCKORCH_MUTATE", None)
        if mutation:
            env["FAKE_BLOCKORCH_MUTATE"] = mutation
            env["FAKE_BLOCKORCH_LOG"] = log
        cmd = [sys.executable, os.path.join(HERE, "compare.py"), "--blockorch", fake, "-q",
               "--max-failed-shown", "1", "--max-diffs", "2", *extra]
        for m in mfiles:
            cmd += ["--specs", m]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        applied = set()
        if mutation and os.path.exists(log):
            applied = set(open(log).read().split())
        failed_specs = {l.split()[1] for l in p.stdout.splitlines() if l.startswith("FAIL ")}
        return p, applied, failed_specs

    p, _, failed_specs = run_compare(None)
    result(p.returncode == 0 and not failed_specs, "compare.py passes fake_blockorch.py",
           p.stdout.splitlines()[-12:])
    p, _, failed_specs = run_compare(None, ["--exact-conflicts"], {"FAKE_BLOCKORCH_CONFLICTS": "daisy"})
    result(p.returncode == 0 and not failed_specs,
           "compare.py --exact-conflicts passes fake_blockorch.py with daisy's conflict rule",
           p.stdout.splitlines()[-12:])
    p, _, failed_specs = run_compare(None, ["--exact-conflicts"])
    result(p.returncode == 1 and bool(failed_specs),
           f"compare.py --exact-conflicts fails fake_blockorch.py's own level scheme ({len(failed_specs)} specs)",
           p.stdout.splitlines()[-12:])
    for m in MUTATIONS:
        p, applied, failed_specs = run_compare(m)
        ok = bool(applied) and applied == failed_specs and p.returncode == 1
        result(ok, f"compare.py catches mutation {m} ({len(applied)} specs mutated, "
               f"{len(failed_specs)} failed)",
               [f"mutated, not failed: {sorted(applied - failed_specs)[:3]}",
                f"failed, not mutated: {sorted(failed_specs - applied)[:3]}"] if not ok else
               [l for l in p.stdout.splitlines() if l.startswith("  ")][:2])
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
