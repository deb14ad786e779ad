"""``Client``: daisy's worker-side loop (``acquire_block()``) on top of the stdin protocol."""

import sys
import traceback
from contextlib import contextmanager

from . import worker as _worker
from ._block import Block, BlockStatus

# Set by blockorch.worker_main when the task has a check_function: the worker answers the
# pre-check itself, so Client skips (and reports skipped) the blocks it says are done.
_pre_check = None


def set_pre_check(check):
    """Makes :class:`Client` report as skipped, without handing them out, the blocks for which
    ``check(block)`` (a daisy :class:`Block`) is true."""
    global _pre_check
    _pre_check = check


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
        from ._context import Context

        self.context = Context.from_env() if context is None else context
        self._blocks = None
        self._stdin = stdin

    def _next(self):
        if self._blocks is None:
            _worker._say_ready()
            self._blocks = _worker._read_blocks(self._stdin or sys.stdin)
        for wire in self._blocks:
            if _pre_check is None:
                return wire
            try:
                done = _pre_check(Block.from_worker_block(wire))
            except Exception:
                error = traceback.format_exc()
                sys.stderr.write(error)
                _worker.report(wire.block_id, error)
                continue
            if not done:
                return wire
            _worker.report(wire.block_id, status="skipped")
        return None

    @contextmanager
    def acquire_block(self):
        """Context manager yielding the next :class:`Block`, or None when there are no more."""
        wire = self._next()
        if wire is None:
            yield None
            return
        _worker._mark_started(wire)
        block = Block.from_worker_block(wire)
        try:
            yield block
        except BaseException:
            error = traceback.format_exc()
            sys.stderr.write(error)
            block.status = BlockStatus.FAILED
            _worker._flush_output()
            _worker.report(wire.block_id, error)
            raise
        _worker._flush_output()
        if block.status == BlockStatus.FAILED:
            _worker.report(wire.block_id, "the worker set block.status to FAILED")
        else:
            block.status = BlockStatus.SUCCESS
            _worker.report(wire.block_id)

    def release_block(self, block):
        """No-op: a block is reported when its ``acquire_block()`` context ends."""
