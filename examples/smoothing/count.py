"""Worker of task `count`: counts smoothed voxels above the threshold in each block and writes
the count to data/counts/<block_id> (temporary name, fsync, rename), so a block killed midway
leaves no partial result and a block run again after a crash just replaces its own file."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
from blockorch_worker import run  # noqa: E402

import volume  # noqa: E402

source = os.open("data/smooth.raw", os.O_RDONLY)


def process(block):
    data = volume.read_region(source, block.write_roi.begin, block.write_roi.end)
    above = sum(1 for v in data.values() if v > volume.THRESHOLD)
    volume.atomic_write("data/counts/%d" % block.block_id, [b"%d\n" % above])


run(process)
