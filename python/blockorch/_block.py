"""``Block`` and ``BlockStatus`` as daisy hands them to process and check functions."""

from . import _geometry


class BlockStatus:
    """A block's state, as daisy's ``BlockStatus`` constants."""

    CREATED = "CREATED"
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class Block:
    """One block: ``block_id == (task_id, spatial id)`` as in daisy, ``read_roi`` and
    ``write_roi`` (funlib ``Roi`` when funlib is installed), ``status`` and ``task_id``; also
    ``attempt`` (1 for the first try) and ``total_roi``."""

    __slots__ = ("task_id", "read_roi", "write_roi", "status", "attempt", "total_roi", "_id")

    def __init__(self, total_roi, read_roi, write_roi, task_id=None, block_id=0, attempt=1):
        self.task_id = task_id
        self.total_roi = total_roi
        self.read_roi = read_roi
        self.write_roi = write_roi
        self.status = BlockStatus.CREATED
        self.attempt = attempt
        self._id = int(block_id)

    @property
    def block_id(self):
        """``(task_id, id)``; ``block_id[1]`` is daisy's spatial block id."""
        return (self.task_id, self._id)

    @classmethod
    def from_worker_block(cls, b):
        """The daisy-style block of a :class:`blockorch.worker.Block` (the wire form)."""
        roi = _geometry.Roi
        total = b.total_roi
        block = cls(
            None if total is None else roi(total.offset, total.shape),
            roi(b.read_roi.offset, b.read_roi.shape),
            roi(b.write_roi.offset, b.write_roi.shape),
            task_id=b.task,
            block_id=b.block_id,
            attempt=b.attempt,
        )
        block.status = BlockStatus.PROCESSING
        return block

    def __eq__(self, other):
        return isinstance(other, Block) and self.block_id == other.block_id

    def __hash__(self):
        return hash(self.block_id)

    def __repr__(self):
        return "Block(id=%r, read_roi=%r, write_roi=%r, status=%s)" % (
            self.block_id,
            self.read_roi,
            self.write_roi,
            self.status,
        )
