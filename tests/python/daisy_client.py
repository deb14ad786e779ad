"""A daisy worker loop written against daisy.Client, with a check_function that skips every
third block. tests/python_package.rs runs it with daisy and, with only the import line
changed, with blockorch, and compares the blocks the loop processed.
"""

import json
import os
import sys

import daisy

out = os.path.abspath(sys.argv[1])


def start_worker():
    client = daisy.Client()
    while True:
        with client.acquire_block() as block:
            if block is None:
                break
            path = os.path.join(out, "%s-%d.json" % block.block_id)
            with open(path, "w") as f:
                json.dump(
                    {
                        "block_id": list(block.block_id),
                        "read_roi": [list(block.read_roi.begin), list(block.read_roi.shape)],
                        "write_roi": [list(block.write_roi.begin), list(block.write_roi.shape)],
                    },
                    f,
                    sort_keys=True,
                )
            block.status = daisy.BlockStatus.SUCCESS


def is_done(block):
    return block.block_id[1] % 3 == 0


task = daisy.Task(
    "loop",
    daisy.Roi((0, 0), (90, 70)),
    daisy.Roi((0, 0), (20, 20)),
    daisy.Roi((5, 5), (10, 10)),
    process_function=start_worker,
    check_function=is_done,
    read_write_conflict=False,
    num_workers=2,
    fit="overhang",
)
print("run_blockwise:", daisy.run_blockwise([task]))
