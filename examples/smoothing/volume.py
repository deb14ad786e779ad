"""A tiny raw-volume library shared by the example's programs (standard library only).

Volumes are float32, C order (z, y, x), stored as raw files, so any number of worker
processes can read and write disjoint regions with os.pread/os.pwrite.

Crash safety (a worker or the orchestrator may be killed at any moment, and the run resumed):
whole files are written under a temporary name, fsynced and renamed (`atomic_write`), so a
file that exists is complete; a block's region is rewritten entirely when the block runs again,
and fsynced before the block is reported done, so a done block's output is on disk.
"""

import math
import os
import struct

SHAPE = (40, 45, 53)  # z, y, x voxels; the task file's total_roi matches this
THRESHOLD = 0.5


def voxel_count():
    return SHAPE[0] * SHAPE[1] * SHAPE[2]


def synthetic_value(z, y, x):
    """Deterministic 'microscopy-like' signal: two blobs plus structured noise in [0, 1)."""
    blob1 = math.exp(-((z - 12) ** 2 + (y - 20) ** 2 + (x - 18) ** 2) / 60.0)
    blob2 = math.exp(-((z - 28) ** 2 + (y - 30) ** 2 + (x - 40) ** 2) / 90.0)
    noise = ((z * 7919 + y * 104729 + x * 1299709) % 1000) / 1000.0
    return min(0.999, 0.8 * max(blob1, blob2) + 0.25 * noise)


def expected_size():
    """Size in bytes of a complete volume file."""
    return voxel_count() * 4


def is_complete(path):
    """True if `path` exists with exactly the size of a whole volume."""
    try:
        return os.stat(path).st_size == expected_size()
    except FileNotFoundError:
        return False


def atomic_write(path, chunks):
    """Crash-safe write: the bytes go to a temporary file in the same directory, which is
    flushed to disk (fsync) and then renamed over `path`. A kill at any moment leaves either
    the old file or the complete new one, never a torn one; at worst a stray `*.tmp-<pid>`."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(directory)


def fsync_dir(directory):
    """Makes a rename in `directory` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(directory):
    """Deletes `.*.tmp-<pid>` files left by a killed writer (never read by anyone)."""
    for name in os.listdir(directory):
        if name.startswith(".") and ".tmp-" in name:
            os.unlink(os.path.join(directory, name))


def create(path, fill=None):
    """Writes a whole volume (the synthetic signal, or a constant), crash-safely."""

    def planes():
        for z in range(SHAPE[0]):
            row = []
            for y in range(SHAPE[1]):
                for x in range(SHAPE[2]):
                    row.append(fill if fill is not None else synthetic_value(z, y, x))
            yield struct.pack("<%df" % len(row), *row)

    atomic_write(path, planes())


def read_region(fd, begin, end):
    """Reads [begin, end) (clamped to the volume) into a dict {(z, y, x): value}."""
    b = [max(0, v) for v in begin]
    e = [min(s, v) for s, v in zip(SHAPE, end)]
    out = {}
    width = e[2] - b[2]
    if width <= 0:
        return out
    for z in range(b[0], e[0]):
        for y in range(b[1], e[1]):
            offset = ((z * SHAPE[1] + y) * SHAPE[2] + b[2]) * 4
            raw = os.pread(fd, width * 4, offset)
            if len(raw) != width * 4:
                raise ValueError(
                    "short read at byte %d: the volume file is truncated (%d bytes expected)"
                    % (offset, expected_size())
                )
            values = struct.unpack("<%df" % width, raw)
            for i, v in enumerate(values):
                out[(z, y, b[2] + i)] = v
    return out


def write_region(fd, begin, end, value_at):
    """Writes value_at(z, y, x) for every voxel of [begin, end) (inside the volume)."""
    width = end[2] - begin[2]
    for z in range(begin[0], end[0]):
        for y in range(begin[1], end[1]):
            row = [value_at(z, y, x) for x in range(begin[2], end[2])]
            offset = ((z * SHAPE[1] + y) * SHAPE[2] + begin[2]) * 4
            os.pwrite(fd, struct.pack("<%df" % width, *row), offset)


def smooth_at(data, z, y, x):
    """Mean of the 3x3x3 neighbourhood that lies inside the volume."""
    total = 0.0
    n = 0
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                v = data.get((z + dz, y + dy, x + dx))
                if v is not None:
                    total += v
                    n += 1
    return struct.unpack("<f", struct.pack("<f", total / n))[0]
