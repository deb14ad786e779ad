"""Checks the blockwise result against a single-process computation of the same thing."""

import os
import struct
import sys

import volume

fd = os.open("data/input.raw", os.O_RDONLY)
data = volume.read_region(fd, (0, 0, 0), volume.SHAPE)
expected_above = 0
mismatches = 0
out = os.open("data/smooth.raw", os.O_RDONLY)
got = volume.read_region(out, (0, 0, 0), volume.SHAPE)
for key in data:
    want = volume.smooth_at(data, *key)
    if abs(got[key] - want) > 1e-6:
        mismatches += 1
    if want > volume.THRESHOLD:
        expected_above += 1

counts = {}
with open("data/counts.txt") as f:
    for line in f:
        block_id, n = line.split()
        # A block re-run after a crash appends its (deterministic) line again: duplicates
        # must agree, and count once.
        if block_id in counts and counts[block_id] != int(n):
            print(f"block {block_id} was counted twice with different results")
            sys.exit(1)
        counts[block_id] = int(n)
total = sum(counts.values())
print(f"smoothing: {len(data) - mismatches}/{len(data)} voxels equal the single-process result")
print(f"count: {total} voxels above {volume.THRESHOLD} from {len(counts)} blocks, single process: {expected_above}")
if mismatches or total != expected_above:
    print("MISMATCH")
    sys.exit(1)
print("OK: the blockwise result equals the single-process computation")
