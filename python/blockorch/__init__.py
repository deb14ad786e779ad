"""blockorch's Python API: daisy's ``Task``/``run_blockwise``/``Client`` run by the blockorch
binary (local, SLURM or LSF workers that talk only through a ledger directory).

A daisy script runs with one changed line::

    import blockorch as daisy

See docs/python.md for the API, the porting guide and what differs from daisy.
"""

import importlib

# Where each public name lives. They are imported on first use (PEP 562), so a worker process
# that only needs blockorch.worker does not pay for the driver's modules (subprocess, funlib).
_HOMES = {
    "Block": "._block",
    "BlockStatus": "._block",
    "Client": "._client",
    "Context": "._context",
    "Coordinate": "._geometry",
    "Roi": "._geometry",
    "Task": "._task",
    "TaskError": "._task",
    "run_blockwise": "._task",
}

__all__ = list(_HOMES)


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError("module 'blockorch' has no attribute %r" % (name,))
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))
