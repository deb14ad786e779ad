"""Helper for blockorch worker programs (Python standard library only; copy or import it).

Installed with the ``blockorch`` Python package as :mod:`blockorch.worker`; the same file is
``python/blockorch_worker.py`` in the repository, to copy next to a worker as a single file.

A persistent worker (``"worker": {"command": ["python", "worker.py"]}``) is started once per
slot and fed many blocks, so expensive set-up (loading a model) happens once::

    from blockorch_worker import blocks

    model = load_model()                    # once per program, before asking for blocks
    for block in blocks():                  # one block at a time, as the agent assigns them
        data = read(block.read_roi)         # block.read_roi.to_slices() for numpy/zarr
        write(block.write_roi, model(data))
        # leaving the body (asking for the next block) reports this block as done

If the loop body raises, the block is reported failed with the traceback and the exception
ends the program (Python cannot resume a ``for`` loop after an exception); the agent restarts
the program for the next block. To keep one process across failures — what daisy does with a
``process_function`` — use :func:`run` instead::

    from blockorch_worker import run

    def process(block):
        ...                                 # an exception fails only this block

    run(process)

A per-block worker (``"per_block": true``) reads its one block with :func:`block_from_env` and
exits 0 for done, anything else for failed.

Protocol (see docs/workers.md): blocks arrive as JSON lines on stdin; reports go as JSON lines
to the file descriptor in ``BLOCKORCH_REPORT_FD`` (3), so ``print`` can never disturb them.
When the loop first asks for a block, the helper tells the agent the program is ready
(``{"ready": true}``): the start-up before it (loading a model) does not count against the
first block's timeout.
"""

import atexit
import json
import os
import sys
import time
import traceback

__all__ = ["Roi", "Block", "blocks", "run", "block_from_env", "report"]


class Roi:
    """A region: ``offset`` (first cell) and ``shape`` (extent); ``end`` is exclusive."""

    __slots__ = ("offset", "shape")

    def __init__(self, offset, shape):
        self.offset = tuple(int(v) for v in offset)
        self.shape = tuple(int(v) for v in shape)

    @classmethod
    def from_dict(cls, d):
        """A ROI from ``{"offset": [...], "shape": [...]}``."""
        return cls(d["offset"], d["shape"])

    @property
    def begin(self):
        """First cell per axis (same as ``offset``)."""
        return self.offset

    @property
    def end(self):
        """One past the last cell per axis."""
        return tuple(o + s for o, s in zip(self.offset, self.shape))

    @property
    def dims(self):
        """Number of dimensions."""
        return len(self.offset)

    def to_slices(self):
        """``(slice(begin, end), ...)``, for indexing arrays in the ROI's own units."""
        return tuple(slice(b, e) for b, e in zip(self.begin, self.end))

    def __eq__(self, other):
        return isinstance(other, Roi) and (self.offset, self.shape) == (other.offset, other.shape)

    def __hash__(self):
        return hash((self.offset, self.shape))

    def __repr__(self):
        return "Roi(offset=%r, shape=%r)" % (self.offset, self.shape)


class Block:
    """One block: ``task``, ``block_id``, ``attempt`` and its ``read_roi``, ``write_roi``,
    ``total_roi`` (:class:`Roi`)."""

    __slots__ = ("task", "block_id", "attempt", "read_roi", "write_roi", "total_roi")

    def __init__(self, task, block_id, attempt, read_roi, write_roi, total_roi):
        self.task = task
        self.block_id = block_id
        self.attempt = attempt
        self.read_roi = read_roi
        self.write_roi = write_roi
        self.total_roi = total_roi

    @classmethod
    def from_dict(cls, d):
        """A block from the JSON object the agent sends, or from a ``blockorch plan --json``
        line (no ``attempt``: 1; no ``total_roi``: None), to run a worker by hand."""
        total = d.get("total_roi")
        return cls(
            d["task"],
            int(d["block_id"]),
            int(d.get("attempt", 1)),
            Roi.from_dict(d["read_roi"]),
            Roi.from_dict(d["write_roi"]),
            None if total is None else Roi.from_dict(total),
        )

    def __repr__(self):
        return "Block(task=%r, block_id=%d, attempt=%d, read_roi=%r, write_roi=%r)" % (
            self.task,
            self.block_id,
            self.attempt,
            self.read_roi,
            self.write_roi,
        )


_reports = None  # the report stream, opened on first use
_current = None  # the block handed out by blocks() and not yet reported
_hooked = False


def _report_stream():
    global _reports
    if _reports is None:
        fd = int(os.environ.get("BLOCKORCH_REPORT_FD", "3"))
        try:
            _reports = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=False)
        except OSError as e:
            raise RuntimeError(
                "cannot open the report file descriptor %d (%s); run this program under "
                "`blockorch worker`, or by hand as `python worker.py 3>&1 < blocks.jsonl`" % (fd, e)
            ) from e
    return _reports


def report(block_id, error=None, exiting=False):
    """Reports ``block_id`` done (``error`` is None) or failed with the text ``error``;
    ``exiting=True`` tells the agent this program ends after the report.

    :func:`blocks` and :func:`run` call this for you."""
    message = {"block_id": int(block_id), "status": "done"}
    if error is not None:
        message = {"block_id": int(block_id), "status": "failed", "error": str(error)}
    message["time"] = time.time()
    if exiting:
        message["exit"] = True
    stream = _report_stream()
    stream.write(json.dumps(message) + "\n")
    stream.flush()


_said_ready = False


def _say_ready():
    """Tells the agent, once, that the program is set up and asks for its first block: its
    start-up (imports, loading a model) is over, and the block's timeout starts now."""
    global _said_ready
    if not _said_ready:
        _said_ready = True
        stream = _report_stream()
        stream.write('{"ready": true}\n')
        stream.flush()


def _flush_output():
    """Flushes ``print`` output, so that it lands in the slot's logs before the next marker."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or gone: nothing to keep in order


def _mark_started(block):
    """Says in the slot's stdout and stderr logs, in order with this program's own output,
    that ``block`` starts here: with blocks written ahead into stdin, the agent's own marker
    line comes before the earlier block ended, and ``blockorch logs`` cuts a block's output
    at this line instead. Only under an agent (``BLOCKORCH_SLOT`` set): run by hand, the
    output stays the program's own."""
    if "BLOCKORCH_SLOT" not in os.environ:
        return
    line = "=== blockorch: task %s block %d attempt %d (started) ===\n" % (
        block.task,
        block.block_id,
        block.attempt,
    )
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            pass


def _read_blocks(stdin):
    while True:
        line = stdin.readline()
        if not line:
            return  # stdin closed: no more blocks
        line = line.strip()
        if line:
            yield Block.from_dict(json.loads(line))


def _excepthook(kind, value, tb):
    global _current
    if _current is not None:
        block, _current = _current, None
        _flush_output()
        report(block.block_id, "".join(traceback.format_exception(kind, value, tb)), exiting=True)
    _previous_excepthook(kind, value, tb)


def _at_exit():
    global _current
    if _current is not None:
        block, _current = _current, None
        report(
            block.block_id,
            "the program left the blocks() loop before finishing the block",
            exiting=True,
        )


_previous_excepthook = sys.excepthook


def blocks(stdin=None):
    """Yields the blocks the agent assigns, one at a time, until stdin closes.

    A block is reported done when the loop asks for the next one (or ends normally). If the
    loop body raises, the block is reported failed with the traceback and the exception ends
    the program as usual (the agent restarts it). Leaving the loop with ``break`` reports the
    unfinished block as failed when the program exits.
    """
    global _current, _hooked
    if not _hooked:
        _hooked = True
        sys.excepthook = _excepthook
        atexit.register(_at_exit)
    _say_ready()
    for block in _read_blocks(stdin or sys.stdin):
        _mark_started(block)
        _current = block
        yield block
        _current = None
        _flush_output()
        report(block.block_id)


def run(process_block, stdin=None):
    """Calls ``process_block(block)`` for every assigned block until stdin closes.

    A block is done when ``process_block`` returns, and failed (with the traceback) when it
    raises; either way the program goes on with the next block, like a daisy worker.
    ``KeyboardInterrupt`` and ``SystemExit`` are not caught.
    """
    _say_ready()
    for block in _read_blocks(stdin or sys.stdin):
        _mark_started(block)
        try:
            process_block(block)
        except Exception:
            error = traceback.format_exc()
            sys.stderr.write(error)  # also in the slot's stderr log, next to the block's output
            _flush_output()
            report(block.block_id, error)
        else:
            _flush_output()
            report(block.block_id)


def block_from_env():
    """The block of a per-block worker or check, from ``BLOCKORCH_BLOCK``."""
    text = os.environ.get("BLOCKORCH_BLOCK")
    if text is None:
        raise RuntimeError(
            "BLOCKORCH_BLOCK is not set: this program must run as a per-block worker or check "
            "of blockorch"
        )
    return Block.from_dict(json.loads(text))
