"""Worker of task `count`: counts smoothed voxels above the threshold in each block and appends
`block_id count` to data/counts.txt (one short O_APPEND write per block). A block run again
after a crash appends the same line again; verify.py counts each block once."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
from blockorch_worker import run  # noqa: E402

import volume  # noqa: E402

source = os.open("data/smooth.raw", os.O_RDONLY)
out = os.open("data/counts.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def process(block):
    data = volume.read_region(source, block.write_roi.begin, block.write_roi.end)
    above = sum(1 for v in data.values() if v > volume.THRESHOLD)
    os.write(out, f"{block.block_id} {above}\n".encode())


run(process)
