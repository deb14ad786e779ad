#!/usr/bin/env python3
"""Generate random blockorch task.json specs for the daisy differential test.

    python tests/daisy/gen_specs.py --seed S --count N OUTDIR

Writes OUTDIR/spec-SSSS-NNNN.json. Same seed, same files. Pure Python (no
daisy needed). What the specs cover:
  * 1-, 2- and 3-D; fit valid / overhang / shrink; read_write_conflict on
    and off;
  * contexts zero, smaller than, equal to and larger than the write shape,
    symmetric, on one side only, different per side, on some axes only;
  * negative total offsets; read ROI offsets unrelated to the total ROI
    (daisy only uses the write ROI's position relative to the read ROI);
  * totals that are not a multiple of the write shape (the partial block
    valid drops and overhang / shrink keep), and totals smaller than one
    write shape (a single shrunk block);
  * two-task chains (about a third), three-task chains and fan-ins, where
    the downstream total covers the upstream's written region, nudged
    in or out by a little.
Every task tiles to 1..MAX_BLOCKS blocks, and every downstream block's
(clipped) read ROI intersects, for each upstream task, the (clipped) write
ROI of at least one of its blocks inside that task's total write ROI, which
is what blockorch requires and implies what daisy requires.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refplan import block_count, plan_task  # noqa: E402
from specio import normalize_task, roi_intersect, roi_intersects, total_write_roi  # noqa: E402

MAX_BLOCKS = 300


def _roi_json(begin, shape):
    return {"offset": list(begin), "shape": list(shape)}


def _axis_context(rng, w):
    """(lo, hi) context for one axis with write shape w."""

    def amount():
        kind = rng.choice(["small", "equal", "large", "large"]) if w > 1 else rng.choice(
            ["equal", "large", "large"]
        )
        if kind == "small":
            return rng.randint(1, w - 1)
        if kind == "equal":
            return w
        return rng.randint(w + 1, 3 * w + 2)

    shape = rng.choices(
        ["none", "sym", "lo", "hi", "asym"], weights=[2, 4, 1.5, 1.5, 3]
    )[0]
    if shape == "none":
        return 0, 0
    if shape == "sym":
        c = amount()
        return c, c
    if shape == "lo":
        return amount(), 0
    if shape == "hi":
        return 0, amount()
    return amount(), amount()


def _split_counts(rng, dims):
    """Per-axis full-block counts whose product (counting a partial block
    per axis) stays within MAX_BLOCKS."""
    target = int(round(10 ** rng.uniform(0, 2.45)))  # 1 .. ~280, log-uniform
    counts = []
    left = target
    for a in range(dims):
        rest = dims - a
        share = max(1, int(round(left ** (1.0 / rest))))
        n = max(0, rng.randint(max(1, share // 2), max(1, share + share // 2)))
        if rng.random() < 0.06:
            n = 0  # total smaller than one write shape on this axis
        counts.append(n)
        left = max(1, left // max(1, n))
    return counts


def _geometry(rng, dims, name, w_range=(1, 9), counts=None, region=None):
    """One task's ROIs. With `region` (begin, end) the total write ROI is
    laid over that region, each end nudged by a few units."""
    write_shape, lo, hi = [], [], []
    for a in range(dims):
        if region is not None:
            ext = region[1][a] - region[0][a]
            n = counts[a] if counts else rng.randint(1, 6)
            w = max(1, ext // max(1, n) + rng.randint(-1, 2))
        else:
            w = rng.randint(*w_range)
        write_shape.append(w)
    no_context = rng.random() < 0.1
    some_axes = dims > 1 and rng.random() < 0.2
    for a in range(dims):
        if no_context or (some_axes and rng.random() < 0.5):
            c = (0, 0)
        else:
            c = _axis_context(rng, write_shape[a])
        lo.append(c[0])
        hi.append(c[1])

    if region is None:
        counts = counts or _split_counts(rng, dims)
        extents = []
        for a in range(dims):
            w = write_shape[a]
            rem = rng.randint(0, w - 1) if rng.random() < 0.6 else 0
            if counts[a] == 0 and rem == 0:
                rem = rng.randint(1, w) if w > 1 else 1
            extents.append(counts[a] * w + rem)
        write_begin = [rng.randint(-60, 60) if rng.random() < 0.7 else 0 for _ in range(dims)]
    else:
        write_begin, extents = [], []
        for a in range(dims):
            nudge = max(1, write_shape[a] // 2)
            b = region[0][a] + rng.randint(-nudge, nudge)
            e = region[1][a] + rng.randint(-nudge, nudge)
            if e <= b:
                e = b + 1
            write_begin.append(b)
            extents.append(e - b)

    total_begin = [write_begin[a] - lo[a] for a in range(dims)]
    total_shape = [extents[a] + lo[a] + hi[a] for a in range(dims)]
    read_shape = [lo[a] + write_shape[a] + hi[a] for a in range(dims)]
    r = rng.random()
    if r < 0.3:
        read_begin = [0] * dims
    elif r < 0.5:
        read_begin = list(total_begin)
    else:
        read_begin = [rng.randint(-200, 200) for _ in range(dims)]
    return {
        "name": name,
        "total_roi": _roi_json(total_begin, total_shape),
        "read_roi": _roi_json(read_begin, read_shape),
        "write_roi": _roi_json([read_begin[a] + lo[a] for a in range(dims)], write_shape),
        "fit": rng.choice(["valid", "overhang", "shrink"]),
        "read_write_conflict": rng.random() < 0.7,
        "worker": {"command": ["true"]},
    }


def _written_region(task_json):
    """Bounding box of what the task's blocks write inside its total write
    ROI (with valid, the partial block at the end is not written)."""
    t = normalize_task(task_json, "gen")
    tw = total_write_roi(t)
    blocks = plan_task(t)
    dims = len(tw[0])
    beg = [min(roi_intersect(b["write_roi"], tw)[0][a] for b in blocks) for a in range(dims)]
    end = [max(roi_intersect(b["write_roi"], tw)[1][a] for b in blocks) for a in range(dims)]
    return (tuple(beg), tuple(end))


def _downstream_ok(down_json, ups_json):
    d = normalize_task(down_json, "gen")
    n = block_count(d)
    if n < 1 or n > MAX_BLOCKS:
        return False
    dblocks = plan_task(d)
    for up_json in ups_json:
        u = normalize_task(up_json, "gen")
        tw = total_write_roi(u)
        writes = [roi_intersect(b["write_roi"], tw) for b in plan_task(u)]
        for db in dblocks:
            if not any(roi_intersects(db["read_roi"], w) for w in writes):
                return False
    return True


def _task_ok(task_json):
    n = block_count(normalize_task(task_json, "gen"))
    return 1 <= n <= MAX_BLOCKS


def _source_task(rng, dims, name):
    for _ in range(200):
        t = _geometry(rng, dims, name)
        if _task_ok(t):
            return t
    raise RuntimeError("could not draw a source task")


def _derived_task(rng, dims, name, ups):
    regions = [_written_region(u) for u in ups]
    beg = tuple(max(r[0][a] for r in regions) for a in range(dims))
    end = tuple(min(r[1][a] for r in regions) for a in range(dims))
    if any(e <= b for b, e in zip(beg, end)):
        return None
    region = (beg, end)
    for attempt in range(60):
        counts = _split_counts(rng, dims)
        counts = [max(1, c) for c in counts]
        t = _geometry(rng, dims, name, counts=counts, region=region)
        if attempt > 40:  # fall back to the exact region, no nudging
            t = _geometry(rng, dims, name, counts=counts, region=region)
            tb = t["total_roi"]["offset"]
            rd = t["read_roi"]
            lo = [w - r for w, r in zip(t["write_roi"]["offset"], rd["offset"])]
            hi = [
                rs - ws - l
                for rs, ws, l in zip(rd["shape"], t["write_roi"]["shape"], lo)
            ]
            tb = [beg[a] - lo[a] for a in range(dims)]
            t["total_roi"] = _roi_json(tb, [end[a] - beg[a] + lo[a] + hi[a] for a in range(dims)])
        t["upstream_tasks"] = [u["name"] for u in ups]
        if _downstream_ok(t, ups):
            return t
    return None


NAMES = [("a", "b", "c"), ("up", "down", "final"), ("raw", "pred", "seg"), ("t0", "t1", "t2")]


def gen_spec(rng):
    dims = rng.choices([1, 2, 3], weights=[3, 4, 3])[0]
    n1, n2, n3 = rng.choice(NAMES)
    shape = rng.choices(["single", "chain2", "chain3", "fanin"], weights=[55, 33, 6, 6])[0]
    for _ in range(50):
        a = _source_task(rng, dims, n1)
        if shape == "single":
            return {"tasks": [a]} if rng.random() < 0.5 else a
        if shape == "fanin":
            b = _source_task(rng, dims, n2)
            # lay b over a's written region so that the two overlap
            b2 = _derived_task(rng, dims, n2, [a])
            if b2 is None:
                continue
            b = dict(b2)
            b.pop("upstream_tasks")
            c = _derived_task(rng, dims, n3, [a, b])
            if c is None:
                continue
            return {"tasks": [a, b, c]}
        b = _derived_task(rng, dims, n2, [a])
        if b is None:
            continue
        if shape == "chain2":
            return {"tasks": [a, b]}
        c = _derived_task(rng, dims, n3, [b])
        if c is None:
            continue
        return {"tasks": [a, b, c]}
    raise RuntimeError("could not draw a spec")


def generate(seed, count, outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        spec = gen_spec(rng)
        path = os.path.join(outdir, f"spec-{seed}-{i:04d}.json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
            f.write("\n")
        paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("outdir")
    args = ap.parse_args()
    paths = generate(args.seed, args.count, args.outdir)
    print(f"wrote {len(paths)} specs to {args.outdir}")


if __name__ == "__main__":
    main()
