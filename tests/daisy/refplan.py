"""A small reference implementation, in plain Python, of the block planning
that /work/shared/reference/daisy-semantics.md documents for daisy 2.0.0.

It is NOT the oracle (oracle.py asks daisy itself). It exists so that
  * gen_specs.py can check a spec without importing daisy (block counts,
    and that every downstream block reads something its upstream writes);
  * selfcheck.py can confirm the documented arithmetic against daisy;
  * fake_blockorch.py can stand in for `blockorch plan --json` while the
    Rust planner does not exist yet, so the comparison itself is tested.

Rules (each one checked against daisy 2.0.0 by selfcheck.py):
  * per axis, with context lo/hi = write.begin - read.begin /
    read.end - write.end, E = total extent - lo - hi, w = write shape:
      valid     -> floor(E / w) blocks (0 if E < w)
      overhang  -> ceil(E / w) blocks  (0 if E <= 0)
      shrink    -> as overhang, ROIs then intersected with the total
                   read / total write ROI
    block k reads [T + k*w, T + k*w + read_shape) and writes
    [T + lo + k*w, T + lo + (k+1)*w), T = total read begin (the read
    ROI's own offset is ignored);
  * grid coordinate x = (write.begin - T) // w = k + lo // w;
    block id = sum_{k=1..n} C(s_k + k - 1, k), s_k = x_0 + ... + x_{k-1};
  * level period per axis p = ceil((max(lo, hi) + w) / w) (1 without
    read_write_conflict); num_levels = prod over axes of
    min(p, blocks along the axis) -- daisy counts only non-empty levels;
  * same-task dependencies: see daisy_conflict_deps;
  * a downstream block depends on every upstream block whose UNCLIPPED
    write ROI intersects the downstream block's (clipped) read ROI.
"""

from math import comb

from specio import context_of, roi_intersect, roi_intersects, total_write_roi


def cantor_id(coords):
    total = 0
    s = 0
    for k, x in enumerate(coords, start=1):
        s += x
        total += comb(s + k - 1, k)
    return total


def _axis_count(extent, w, fit):
    if fit == "valid":
        return extent // w if extent >= w else 0
    return -(-extent // w) if extent > 0 else 0


def plan_task(task):
    """Blocks of one task: list of dicts with block_id, coords, read_roi,
    write_roi (as daisy reports them) and the unclipped read/write ROIs."""
    (tb, te), (rb, re_), (wb, we) = task["total_roi"], task["read_roi"], task["write_roi"]
    lo, hi = context_of(task)
    rshape = tuple(e - b for b, e in zip(rb, re_))
    wshape = tuple(e - b for b, e in zip(wb, we))
    dims = len(tb)
    counts = []
    for a in range(dims):
        extent = (te[a] - tb[a]) - lo[a] - hi[a]
        counts.append(_axis_count(extent, wshape[a], task["fit"]))
    total_read = (tb, te)
    total_write = total_write_roi(task)
    blocks = []
    ks = [0] * dims

    def rec(a):
        if a == dims:
            r_b = tuple(tb[i] + ks[i] * wshape[i] for i in range(dims))
            read = (r_b, tuple(r_b[i] + rshape[i] for i in range(dims)))
            w_b = tuple(r_b[i] + lo[i] for i in range(dims))
            write = (w_b, tuple(w_b[i] + wshape[i] for i in range(dims)))
            coords = tuple((w_b[i] - tb[i]) // wshape[i] for i in range(dims))
            if task["fit"] == "shrink":
                cread = roi_intersect(read, total_read)
                cwrite = roi_intersect(write, total_write)
            else:
                cread, cwrite = read, write
            blocks.append(
                {
                    "block_id": cantor_id(coords),
                    "coords": coords,
                    "index": tuple(ks),
                    "read_roi": cread,
                    "write_roi": cwrite,
                    "full_read_roi": read,
                    "full_write_roi": write,
                }
            )
            return
        for k in range(counts[a]):
            ks[a] = k
            rec(a + 1)

    if all(c > 0 for c in counts):
        rec(0)
    return blocks


def block_count(task):
    (tb, te), (wb, we) = task["total_roi"], task["write_roi"]
    lo, hi = context_of(task)
    n = 1
    for a in range(len(tb)):
        extent = (te[a] - tb[a]) - lo[a] - hi[a]
        n *= _axis_count(extent, we[a] - wb[a], task["fit"])
    return n


def has_context(task):
    lo, hi = context_of(task)
    return any(lo) or any(hi)


def level_periods(task):
    """Per axis, how many block positions one level stride spans:
    ceil((max(context_lo, context_hi) + w) / w), or 1 without
    read_write_conflict."""
    lo, hi = context_of(task)
    (wb, we) = task["write_roi"]
    if not task["read_write_conflict"]:
        return [1] * len(wb)
    out = []
    for a in range(len(wb)):
        w = we[a] - wb[a]
        out.append(-(-(max(lo[a], hi[a]) + w) // w))
    return out


def num_levels(task):
    """daisy's num_levels: the number of NON-EMPTY levels, i.e. the product
    over axes of min(level period, blocks along the axis)."""
    (tb, te), (wb, we) = task["total_roi"], task["write_roi"]
    lo, hi = context_of(task)
    n = 1
    for a, p in enumerate(level_periods(task)):
        extent = (te[a] - tb[a]) - lo[a] - hi[a]
        n *= min(p, _axis_count(extent, we[a] - wb[a], task["fit"]))
    return n


def daisy_conflict_deps(task, blocks):
    """daisy 2.0.0's exact same-task dependencies: {block_id: set(block_id)}.

    With p_a the level period and k_a the block's index along axis a
    (0-based from the total read begin, NOT the grid coordinate used for
    the id), a block's level key is (p_0-1 - k_0 % p_0, p_1-1 - k_1 % p_1, ...);
    the non-empty keys, sorted lexicographically, are the levels 0, 1, ...
    A block depends on every block of the PREVIOUS level with
    |k_a - k'_a| <= p_a - 1 on all axes (a box test with the larger of the
    two contexts on both sides, not the exact read/write intersection)."""
    deps = {b["block_id"]: set() for b in blocks}
    if not task["read_write_conflict"]:
        return deps
    p = level_periods(task)

    def key(b):
        return tuple(p[a] - 1 - b["index"][a] % p[a] for a in range(len(p)))

    levels = sorted({key(b) for b in blocks})
    rank = {lv: i for i, lv in enumerate(levels)}
    by_level = [[] for _ in levels]
    for b in blocks:
        by_level[rank[key(b)]].append(b)
    for b in blocks:
        r = rank[key(b)]
        if r == 0:
            continue
        for c in by_level[r - 1]:
            if all(abs(b["index"][a] - c["index"][a]) <= p[a] - 1 for a in range(len(p))):
                deps[b["block_id"]].add(c["block_id"])
    return deps


def upstream_deps(down_blocks, up_name, up_blocks):
    """{down block_id: set((up_name, up block_id))} by the rule above."""
    out = {}
    for d in down_blocks:
        out[d["block_id"]] = {
            (up_name, u["block_id"])
            for u in up_blocks
            if roi_intersects(d["read_roi"], u["full_write_roi"])
        }
    return out


def plan_spec(tasks):
    """{name: blocks} for every task of a spec (see plan_task)."""
    return {t["name"]: plan_task(t) for t in tasks}
