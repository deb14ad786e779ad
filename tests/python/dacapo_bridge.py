"""The DaCapo bridge of docs/python.md: a DaCapo-style worker module that says `import daisy`
runs unchanged; the driver makes `daisy` mean blockorch and passes the worker loop, every
argument bound, as a 0-argument process_function."""

import functools
import os
import sys

import blockorch

sys.modules["daisy"] = blockorch  # before the worker module is imported, here and in workers

import dacapo_worker  # noqa: E402

out = os.path.abspath(sys.argv[1])
task = blockorch.Task(
    "dacapo",
    total_roi=blockorch.Roi((0, 0), (40, 40)),
    read_roi=blockorch.Roi((0, 0), (10, 10)),
    write_roi=blockorch.Roi((0, 0), (10, 10)),
    process_function=functools.partial(dacapo_worker.start_worker, out, 3),
    read_write_conflict=False,
    num_workers=2,
)
print("run_blockwise:", blockorch.run_blockwise([task], progress=False))
