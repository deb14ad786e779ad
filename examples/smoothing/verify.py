"""Checks the blockwise result against a single-process computation of the same thing.

Exit 0 when they agree, 1 otherwise. Missing, truncated or malformed data files are reported
in one line naming the file (never a traceback): run `blockorch submit task.json` (again)
first, or start over by deleting data/ and task.ledger/.
"""

import os
import sys

import volume

START_OVER = "run `blockorch submit task.json` first, or start over: rm -rf data task.ledger"


def fail(message):
    print(f"verify.py: {message}", file=sys.stderr)
    print(f"verify.py: {START_OVER}", file=sys.stderr)
    sys.exit(1)


def open_volume(path):
    """Opens a volume file after checking it exists and is whole."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        fail(f"{path} does not exist")
    if size != volume.expected_size():
        fail(
            f"{path} is {size} bytes, a complete {volume.SHAPE} float32 volume is "
            f"{volume.expected_size()} (torn by a crash, or not this example's file)"
        )
    return os.open(path, os.O_RDONLY)


def read_counts(directory):
    """{block_id: count} from the per-block files count.py writes."""
    if not os.path.isdir(directory):
        fail(f"{directory}/ does not exist (task `count` has not run)")
    counts = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith("."):
            continue  # a temporary left by a killed block: never a result
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                text = f.read(64).decode("ascii").strip()
            counts[int(name)] = int(text)
        except (OSError, ValueError) as err:
            fail(f"{path} is not a block count ({err})")
    return counts


def main():
    data = volume.read_region(open_volume("data/input.raw"), (0, 0, 0), volume.SHAPE)
    got = volume.read_region(open_volume("data/smooth.raw"), (0, 0, 0), volume.SHAPE)
    expected_above = 0
    mismatches = 0
    for key in data:
        want = volume.smooth_at(data, *key)
        if not abs(got[key] - want) <= 1e-6:  # written so that NaN counts as a mismatch
            mismatches += 1
        if want > volume.THRESHOLD:
            expected_above += 1
    counts = read_counts("data/counts")
    total = sum(counts.values())
    print(f"smoothing: {len(data) - mismatches}/{len(data)} voxels equal the single-process result")
    print(
        f"count: {total} voxels above {volume.THRESHOLD} from {len(counts)} blocks, "
        f"single process: {expected_above}"
    )
    if mismatches or total != expected_above:
        print("MISMATCH")
        sys.exit(1)
    print("OK: the blockwise result equals the single-process computation")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as err:
        fail(f"cannot read the data: {err}")
