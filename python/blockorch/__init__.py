"""blockorch's Python API: daisy's ``Task``/``run_blockwise``/``Client`` run by the blockorch
binary (local, SLURM or LSF workers that talk only through a ledger directory).

A daisy script runs with one changed line::

    import blockorch as daisy

See docs/python.md for the API, the porting guide and what differs from daisy.
"""

from ._block import Block, BlockStatus
from ._client import Client
from ._context import Context
from ._geometry import Coordinate, Roi
from ._task import Task, TaskError, run_blockwise

__all__ = [
    "Block",
    "BlockStatus",
    "Client",
    "Context",
    "Coordinate",
    "Roi",
    "Task",
    "TaskError",
    "run_blockwise",
]
