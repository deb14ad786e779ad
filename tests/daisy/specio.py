"""Shared helpers for the daisy differential harness: reading task.json
specs and small integer-ROI arithmetic. Pure Python, no daisy import.

A ROI is handled as a pair of tuples ``(begin, end)`` (end exclusive);
on the wire it is ``{"offset": [...], "shape": [...]}``.
"""

import json
import os

FITS = ("valid", "overhang", "shrink")


class SpecError(Exception):
    pass


# -- ROIs -----------------------------------------------------------------


def roi_from_json(obj, what="roi"):
    try:
        off = [int(v) for v in obj["offset"]]
        shp = [int(v) for v in obj["shape"]]
    except (KeyError, TypeError, ValueError) as e:
        raise SpecError(f"{what}: expected {{offset: [...], shape: [...]}}: {e}")
    if len(off) != len(shp):
        raise SpecError(f"{what}: offset and shape differ in length")
    return (tuple(off), tuple(o + s for o, s in zip(off, shp)))


def roi_to_json(roi):
    b, e = roi
    return {"offset": list(b), "shape": [hi - lo for lo, hi in zip(b, e)]}


def roi_intersects(a, b):
    """True when the two ROIs share at least one point (empty ROIs never do)."""
    return all(
        max(lo1, lo2) < min(hi1, hi2)
        for lo1, hi1, lo2, hi2 in zip(a[0], a[1], b[0], b[1])
    )


def roi_intersect(a, b):
    """Intersection (may be empty: then begin >= end on some axis)."""
    beg = tuple(max(x, y) for x, y in zip(a[0], b[0]))
    end = tuple(min(x, y) for x, y in zip(a[1], b[1]))
    end = tuple(max(bg, en) for bg, en in zip(beg, end))
    return (beg, end)


def roi_empty(a):
    return any(lo >= hi for lo, hi in zip(a[0], a[1]))


def roi_str(roi):
    if roi is None:
        return "-"
    return "[" + ", ".join(f"{lo}:{hi}" for lo, hi in zip(roi[0], roi[1])) + ")"


# -- specs ----------------------------------------------------------------


def normalize_task(t, where):
    """Check one task object and fill in daisy's defaults
    (fit "valid", read_write_conflict true, no upstream tasks)."""
    if not isinstance(t, dict):
        raise SpecError(f"{where}: a task must be an object")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: task needs a non-empty string 'name'")
    out = {
        "name": name,
        "total_roi": roi_from_json(t.get("total_roi"), f"{where}.{name}.total_roi"),
        "read_roi": roi_from_json(t.get("read_roi"), f"{where}.{name}.read_roi"),
        "write_roi": roi_from_json(t.get("write_roi"), f"{where}.{name}.write_roi"),
        "fit": t.get("fit", "valid"),
        "read_write_conflict": bool(t.get("read_write_conflict", True)),
        "upstream_tasks": list(t.get("upstream_tasks", []) or []),
    }
    if out["fit"] not in FITS:
        raise SpecError(f"{where}.{name}: unknown fit {out['fit']!r}")
    dims = {len(out[k][0]) for k in ("total_roi", "read_roi", "write_roi")}
    if len(dims) != 1:
        raise SpecError(f"{where}.{name}: ROIs of different dimensionality")
    return out


def load_spec(path):
    """Return the list of normalized tasks of a task.json file (a single
    task object or {"tasks": [...]}), in file order."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: not JSON: {e}")
    raw = doc["tasks"] if isinstance(doc, dict) and "tasks" in doc else [doc]
    tasks = [normalize_task(t, os.path.basename(path)) for t in raw]
    names = [t["name"] for t in tasks]
    if len(set(names)) != len(names):
        raise SpecError(f"{path}: duplicate task names")
    for t in tasks:
        for up in t["upstream_tasks"]:
            if up not in names:
                raise SpecError(f"{path}: task {t['name']} names unknown upstream {up!r}")
    return tasks


def spec_files(paths):
    """Expand directories into their *.json spec files (sorted), skipping
    the *.expect.json sidecars."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                if name.endswith(".json") and not name.endswith(".expect.json"):
                    out.append(os.path.join(p, name))
        else:
            out.append(p)
    return out


def context_of(task):
    """Per-axis (context_lo, context_hi) = write.begin - read.begin,
    read.end - write.end."""
    (rb, re_), (wb, we) = task["read_roi"], task["write_roi"]
    lo = tuple(w - r for w, r in zip(wb, rb))
    hi = tuple(r - w for r, w in zip(re_, we))
    return lo, hi


def total_write_roi(task):
    lo, hi = context_of(task)
    tb, te = task["total_roi"]
    return (
        tuple(b + c for b, c in zip(tb, lo)),
        tuple(e - c for e, c in zip(te, hi)),
    )
