"""Benchmark of fast checks (docs/design/checks.md; docs/performance.md, "Checks"). Not a test.

    python bench/checks_bench.py [--blockorch target/release/blockorch] [--python python3]
                                 [--done 100000] [--short 64000] [--runs 3] [--workers 2]

Scenarios, each a `blockorch submit -q` of a 1-D task on a fresh ledger (blocks of 10 cells,
no read/write conflicts, `--workers` workers), whole command timed (agents and Python start-up
included):

  done-worker    --done blocks, all already done; the worker answers the pre-check itself
                 (`run(process, check=is_done)`): every block is reported skipped.
  done-checker   the same with a separate persistent check program (`"check": {"command":
                 [...], "persistent": true}`, `run_check(is_done)`).
  short-nocheck  --short no-op blocks, no check.
  short-check    the same no-op blocks with the worker answering the pre-check (not done).
  short-checker  the same blocks with the separate persistent check program: not done before,
                 the block sets its done byte, done after (checked before and after each).

`is_done` looks the block up in a memory-mapped file with one byte per block (1 = done), as a
real check would consult a done-marker store. Prints one JSON line per run and a summary.
"""

import argparse
import json
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

WORKER = r'''
import mmap, os, sys
from blockorch_worker import run, run_check

with open(os.environ["DONE_BITS"], "rb") as f:
    bits = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

def is_done(block):
    return bits[block.block_id] == 1

def process(block):
    pass

def mark_done(block):
    marks[block.block_id] = 1

mode = sys.argv[1]
if mode == "marking":
    with open(os.environ["DONE_BITS"], "r+b") as f:
        marks = mmap.mmap(f.fileno(), 0)
    run(mark_done)
elif mode == "checker":
    run_check(is_done)
elif mode == "worker-check":
    run(process, check=is_done)
else:
    run(process)
'''


def task(n, workers, python, script, bits, mode):
    env = {"PYTHONPATH": os.path.join(REPO, "python"), "DONE_BITS": bits}
    worker_mode = {"done-worker": "worker-check", "short-check": "worker-check",
                   "short-checker": "marking"}.get(mode, "plain")
    t = {
        "name": "t",
        "total_roi": {"offset": [0], "shape": [10 * n]},
        "read_roi": {"offset": [0], "shape": [10]},
        "write_roi": {"offset": [0], "shape": [10]},
        "read_write_conflict": False,
        "num_workers": workers,
        "worker": {"command": [python, script, worker_mode], "env": env},
    }
    if mode in ("done-checker", "short-checker"):
        t["check"] = {"command": [python, script, "checker"], "env": env, "persistent": True}
    return {"tasks": [t]}


def one(args, work, mode, n, done):
    bits = os.path.join(work, "done-%d-%d.bits" % (n, done))
    if mode == "short-checker":  # its blocks set their byte: a fresh file each run
        bits = os.path.join(work, "marks-%d.bits" % n)
    if mode == "short-checker" or not os.path.exists(bits):
        with open(bits, "wb") as f:
            f.write((b"\x01" if done else b"\x00") * n)
    script = os.path.join(work, "bench_worker.py")
    with open(script, "w") as f:
        f.write(WORKER)
    tf = os.path.join(work, mode + ".json")
    with open(tf, "w") as f:
        json.dump(task(n, args.workers, args.python, script, bits, mode), f)
    ledger = os.path.join(work, mode + ".ledger")
    shutil.rmtree(ledger, ignore_errors=True)
    start = time.perf_counter()
    out = subprocess.run(
        [args.blockorch, "submit", "-q", tf, "--ledger", ledger], capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit("%s failed:\n%s\n%s" % (mode, out.stdout, out.stderr))
    row = [ln.split() for ln in out.stdout.splitlines() if ln.startswith("t ")]
    shutil.rmtree(ledger, ignore_errors=True)
    return {
        "mode": mode,
        "blocks": n,
        "wall_s": round(wall, 3),
        "blocks_per_s": round(n / wall),
        "summary": row[0][1:] if row else None,
        "load": os.getloadavg()[0],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blockorch", default=os.path.join(REPO, "target/release/blockorch"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--done", type=int, default=100_000)
    ap.add_argument("--short", type=int, default=64_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    plan = [
        ("done-worker", args.done, True),
        ("done-checker", args.done, True),
        ("short-nocheck", args.short, False),
        ("short-check", args.short, False),
        ("short-checker", args.short, False),
    ]
    if args.only:
        plan = [p for p in plan if p[0] in args.only]
    rates = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as work:
        for _ in range(args.runs):
            for mode, n, done in plan:
                r = one(args, work, mode, n, done)
                print(json.dumps(r), flush=True)
                rates.setdefault(mode, []).append(r["blocks_per_s"])
    for mode, values in rates.items():
        print("%-14s median %8.0f blocks/s  (%s)" % (
            mode, statistics.median(values), ", ".join("%.0f" % v for v in values)))
    if "short-check" in rates and "short-nocheck" in rates:
        pairs = [a / b for a, b in zip(rates["short-nocheck"], rates["short-check"])]
        print("short blocks, no check / with check: %s" % ", ".join("%.2f" % p for p in pairs))
    if "short-checker" in rates and "short-nocheck" in rates:
        pairs = [a / b for a, b in zip(rates["short-nocheck"], rates["short-checker"])]
        print("short blocks, no check / check program: %s" % ", ".join("%.2f" % p for p in pairs))


if __name__ == "__main__":
    main()
