"""Throughput of a no-op process_function through run_blockwise: the blockorch Python package
(``import blockorch as daisy``) against daisy 2.0.0, the same script, runs alternating.

    python bench/python_api_noop.py [--runs 3] [--n 40] [--workers 2]

Needs daisy 2.0.0 and the blockorch package (installed, or ``PYTHONPATH=python`` with
``BLOCKORCH_BIN=target/release/blockorch``) in the same Python. Geometry as bench/daisy_noop.py:
n^3 blocks, write ROI 10^3 at offset 2, read ROI 14^3, read_write_conflict=True, fit="valid".
Prints one JSON line per run and the medians.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

SCRIPT = r"""
import sys, time
if sys.argv[1] == "blockorch":
    import blockorch as daisy
else:
    import daisy
n, workers = int(sys.argv[2]), int(sys.argv[3])

def noop(block):
    pass

task = daisy.Task(
    "noop",
    total_roi=daisy.Roi((0, 0, 0), (10 * n + 4,) * 3),
    read_roi=daisy.Roi((0, 0, 0), (14, 14, 14)),
    write_roi=daisy.Roi((2, 2, 2), (10, 10, 10)),
    process_function=noop,
    read_write_conflict=True,
    fit="valid",
    num_workers=workers,
)
start = time.perf_counter()
ok = daisy.run_blockwise([task], progress=False)
print("WALL", time.perf_counter() - start, ok)
"""


def one(kind, n, workers, workdir):
    script = os.path.join(workdir, "noop_driver.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-W", "ignore", script, kind, str(n), str(workers)],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("WALL")]
    if out.returncode != 0 or not line or not line[0].endswith("True"):
        sys.exit("%s run failed:\n%s\n%s" % (kind, out.stdout, out.stderr))
    wall = float(line[0].split()[1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the whole run (driver, orchestrator, agents, workers: all waited for), start-up
    # included: less sensitive to other load on the machine than the wall time.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "cpu_s": round(cpu, 3),
        "blocks_per_cpu_s": round(n**3 / cpu),
        "kind": kind,
        "blocks": n**3,
        "wall_s": wall,
        "blocks_per_s": n**3 / wall,
        "load": os.getloadavg()[0],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    # The runs happen in a scratch directory: relative paths given here must still work.
    if os.environ.get("BLOCKORCH_BIN"):
        os.environ["BLOCKORCH_BIN"] = os.path.abspath(os.environ["BLOCKORCH_BIN"])
    if os.environ.get("PYTHONPATH"):
        os.environ["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep)
        )
    rates = {"blockorch": [], "daisy": []}
    cpu = {"blockorch": [], "daisy": []}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.runs):
            for kind in ("blockorch", "daisy"):
                r = one(kind, args.n, args.workers, workdir)
                print(json.dumps(r), flush=True)
                rates[kind].append(r["blocks_per_s"])
                cpu[kind].append(r["cpu_s"])
    b, d = statistics.median(rates["blockorch"]), statistics.median(rates["daisy"])
    print("median blocks/s: blockorch %.0f, daisy %.0f, ratio %.2f" % (b, d, b / d))
    pairs = [x / y for x, y in zip(rates["blockorch"], rates["daisy"])]
    print("pairs: " + ", ".join("%.2f" % p for p in pairs))
    cb, cd = statistics.median(cpu["blockorch"]), statistics.median(cpu["daisy"])
    print("median CPU s for the run: blockorch %.2f, daisy %.2f, ratio %.2f" % (cb, cd, cd / cb))


if __name__ == "__main__":
    main()
