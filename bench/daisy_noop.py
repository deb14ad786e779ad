"""daisy 2.0.0 side of the benchmarks: a no-op 3-D task with blockorch's benchmark geometry.

    python daisy_noop.py run N TRACKING [--workers 2]    # run_blockwise, print JSON
    python daisy_noop.py hang N TRACKING                 # start a run whose blocks never end
    python daisy_noop.py plan-summary NX NY NZ           # BlockwiseDependencyGraph counts
    python daisy_noop.py plan-enumerate N                # enumerate_all_dependencies on N^3

Geometry (same as bench/run_bench.py writes for blockorch): write ROI 10^3 at offset 2,
read ROI 14^3 (context 2 on each side), read_write_conflict=True, fit="valid", so a total
read ROI of 10*n+4 per axis holds n blocks per axis.
"""

import json
import sys
import time

T0 = time.perf_counter()
import daisy  # noqa: E402
from funlib.geometry import Roi  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def rois(nx, ny, nz):
    total = Roi((0, 0, 0), (10 * nx + 4, 10 * ny + 4, 10 * nz + 4))
    return total, Roi((0, 0, 0), (14, 14, 14)), Roi((2, 2, 2), (10, 10, 10))


def noop(block):
    pass


def hang(block):
    time.sleep(3600)


def make_task(n, tracking, workers, fn):
    total, read, write = rois(n, n, n)
    return daisy.Task(
        "noop",
        total_roi=total,
        read_roi=read,
        write_roi=write,
        process_function=fn,
        read_write_conflict=True,
        fit="valid",
        max_workers=workers,
        tracking_path=tracking,
    )


def emit(**kw):
    kw["import_s"] = IMPORT_S
    print(json.dumps(kw), flush=True)


def main(argv):
    mode = argv[1]
    if mode in ("run", "hang"):
        n, tracking = int(argv[2]), argv[3]
        workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 2
        task = make_task(n, tracking, workers, noop if mode == "run" else hang)
        t = time.perf_counter()
        states = daisy.run_blockwise([task], progress=False, summary=False, return_states=True)
        run_s = time.perf_counter() - t
        s = states["noop"]
        emit(
            blocks=s.total_block_count,
            completed=s.completed_count,
            skipped=s.skipped_count,
            failed=s.failed_count,
            run_s=run_s,
        )
    elif mode == "plan-summary":
        nx, ny, nz = (int(v) for v in argv[2:5])
        total, read, write = rois(nx, ny, nz)
        t = time.perf_counter()
        g = daisy.BlockwiseDependencyGraph(
            "noop", read, write, True, "valid", total_read_roi=total
        )
        num_blocks, num_levels = g.num_blocks, g.num_levels
        emit(num_blocks=num_blocks, num_levels=num_levels, graph_s=time.perf_counter() - t)
    elif mode == "plan-enumerate":
        n = int(argv[2])
        total, read, write = rois(n, n, n)
        t = time.perf_counter()
        g = daisy.BlockwiseDependencyGraph(
            "noop", read, write, True, "valid", total_read_roi=total
        )
        deps = g.enumerate_all_dependencies()
        enumerate_s = time.perf_counter() - t
        edges = sum(len(d) for _, d in deps)
        emit(num_blocks=len(deps), edges=edges, enumerate_s=enumerate_s)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
