"""Worker of task `smooth`: 3x3x3 mean filter, block by block (read ROI = write ROI + 1 voxel).

The program is started once per worker slot and fed many blocks (see docs/workers.md).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
from blockorch_worker import run  # noqa: E402

import volume  # noqa: E402

source = os.open("data/input.raw", os.O_RDONLY)
target = os.open("data/smooth.raw", os.O_WRONLY)


def process(block):
    data = volume.read_region(source, block.read_roi.begin, block.read_roi.end)
    volume.write_region(
        target,
        block.write_roi.begin,
        block.write_roi.end,
        lambda z, y, x: volume.smooth_at(data, z, y, x),
    )
    # The block is reported done when this returns: its output must be on disk by then. A
    # block killed midway is run again and rewrites its whole region.
    os.fsync(target)


run(process)
