"""A daisy 2.0.0 driver written as daisy's documentation shows: two tasks chained with
upstream_tasks, fit="shrink", read_write_conflict=True. tests/python_package.rs runs it with
daisy and, with only the import line changed, with blockorch, and compares the outputs.

Every block writes OUT/<task>-<id>.json: its id, ROIs and a result. Task "sum" reads the
"label" outputs its read ROI overlaps (they must exist: the upstream blocks it depends on ran
before it) and records which it found.
"""

import json
import os
import sys

import daisy

out = os.path.abspath(sys.argv[1])


def record(block, result):
    path = os.path.join(out, "%s-%d.json" % (block.block_id[0], block.block_id[1]))
    with open(path, "w") as f:
        json.dump(
            {
                "block_id": list(block.block_id),
                "read_roi": [list(block.read_roi.get_begin()), list(block.read_roi.get_shape())],
                "write_roi": [list(block.write_roi.get_begin()), list(block.write_roi.get_shape())],
                "result": result,
            },
            f,
            sort_keys=True,
        )


def label(block):
    # the result: the write ROI's cell count and the sum of its begin coordinates
    roi = block.write_roi
    record(block, [roi.size, sum(roi.get_begin())])


def add_up(block):
    seen = []
    for name in sorted(os.listdir(out)):
        if name.startswith("label-"):
            with open(os.path.join(out, name)) as f:
                up = json.load(f)
            roi = daisy.Roi(*up["write_roi"])
            if roi.intersects(block.read_roi):
                seen.append([up["block_id"][1], up["result"][0]])
    record(block, sorted(seen))


labels = daisy.Task(
    "label",
    total_roi=daisy.Roi((0, 0, 0), (60, 50, 40)),
    read_roi=daisy.Roi((0, 0, 0), (24, 24, 24)),
    write_roi=daisy.Roi((4, 4, 4), (16, 16, 16)),
    process_function=label,
    read_write_conflict=True,
    fit="shrink",
    num_workers=2,
)
sums = daisy.Task(
    "sum",
    total_roi=daisy.Roi((4, 4, 4), (52, 42, 32)),
    read_roi=daisy.Roi((0, 0, 0), (20, 20, 20)),
    write_roi=daisy.Roi((2, 2, 2), (16, 16, 16)),
    process_function=add_up,
    read_write_conflict=True,
    fit="shrink",
    num_workers=2,
    upstream_tasks=[labels],
)
print("run_blockwise:", daisy.run_blockwise([labels, sums]))
