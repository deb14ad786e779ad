"""``Client``: daisy's worker-side loop (``acquire_block()``) on top of the stdin protocol."""

import sys
import traceback
from contextlib import contextmanager

from . import worker as _worker
from ._block import Block, BlockStatus


class Client:
    """Hands a worker program its blocks, as ``daisy.Client``::

        client = blockorch.Client()
        while True:
            with client.acquire_block() as block:
                if block is None:
                    break
                process(block)

    The block is reported done when the ``with`` body ends, failed (with the traceback, also
    printed to stderr) when it raises — the exception propagates, as in daisy — or when the body
    sets ``block.status = BlockStatus.FAILED``. ``context`` is accepted for daisy compatibility
    and ignored: blocks come from the agent on stdin, not over TCP.
    """

    def __init__(self, context=None, stdin=None):
        self.context = context
        self._blocks = None
        self._stdin = stdin

    def _next(self):
        if self._blocks is None:
            _worker._say_ready()
            self._blocks = _worker._read_blocks(self._stdin or sys.stdin)
        return next(self._blocks, None)

    @contextmanager
    def acquire_block(self):
        """Context manager yielding the next :class:`Block`, or None when there are no more."""
        wire = self._next()
        if wire is None:
            yield None
            return
        block = Block.from_worker_block(wire)
        try:
            yield block
        except BaseException:
            error = traceback.format_exc()
            sys.stderr.write(error)
            block.status = BlockStatus.FAILED
            _worker.report(wire.block_id, error)
            raise
        if block.status == BlockStatus.FAILED:
            _worker.report(wire.block_id, "the worker set block.status to FAILED")
        else:
            block.status = BlockStatus.SUCCESS
            _worker.report(wire.block_id)

    def release_block(self, block):
        """No-op: a block is reported when its ``acquire_block()`` context ends."""
