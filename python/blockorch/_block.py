"""``Block`` and ``BlockStatus`` as daisy hands them to process and check functions."""

from .worker import _UNSET, _LazyRoi


class BlockStatus:
    """A block's state, as daisy's ``BlockStatus`` constants."""

    CREATED = "CREATED"
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class Block:
    """One block: ``block_id == (task_id, spatial id)`` as in daisy, ``read_roi`` and
    ``write_roi`` (funlib ``Roi`` when funlib is installed), ``status`` and ``task_id``; also
    ``attempt`` (1 for the first try) and ``total_roi``.

    A block received from the agent builds its ROI objects on first use, so a block function
    that does not look at a ROI does not pay for it."""

    __slots__ = ("task_id", "status", "attempt", "_id", "_wire", "_read", "_write", "_total")

    def __init__(self, total_roi, read_roi, write_roi, task_id=None, block_id=0, attempt=1):
        self.task_id = task_id
        self.status = BlockStatus.CREATED
        self.attempt = attempt
        self._id = int(block_id)
        self._wire = None
        self._read, self._write, self._total = read_roi, write_roi, total_roi

    @classmethod
    def from_worker_block(cls, b):
        """The daisy-style block of a :class:`blockorch.worker.Block` (the wire form)."""
        block = cls(_UNSET, _UNSET, _UNSET, task_id=b.task, block_id=b.block_id, attempt=b.attempt)
        block._wire = b
        block.status = BlockStatus.PROCESSING
        return block

    def _roi(self, key):
        wire_roi = getattr(self._wire, key)
        if wire_roi is None:
            return None
        from ._geometry import Roi  # on first use: it imports funlib when installed

        return Roi(wire_roi.offset, wire_roi.shape)

    read_roi = _LazyRoi("read_roi", "_read", "The region this block reads.")
    write_roi = _LazyRoi("write_roi", "_write", "The region this block writes.")
    total_roi = _LazyRoi(
        "total_roi",
        "_total",
        "The task's total read region (None for a block read from ``blockorch plan --json``).",
    )

    @property
    def block_id(self):
        """``(task_id, id)``; ``block_id[1]`` is daisy's spatial block id."""
        return (self.task_id, self._id)

    def __eq__(self, other):
        return isinstance(other, Block) and self.block_id == other.block_id

    def __hash__(self):
        return hash(self.block_id)

    def __reduce__(self):
        block = (
            self.total_roi,
            self.read_roi,
            self.write_roi,
            self.task_id,
            self._id,
            self.attempt,
        )
        return (_rebuild, block + (self.status,))

    def __repr__(self):
        return "Block(id=%r, read_roi=%r, write_roi=%r, status=%s)" % (
            self.block_id,
            self.read_roi,
            self.write_roi,
            self.status,
        )


def _rebuild(total_roi, read_roi, write_roi, task_id, block_id, attempt, status):
    block = Block(total_roi, read_roi, write_roi, task_id, block_id, attempt)
    block.status = status
    return block
