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

A worker answers the pre-check itself with ``run(process, check=is_done)``: a block for which
``is_done(block)`` is true is reported skipped without running ``process``. A separate
persistent check program (``"check": {"command": [...], "persistent": true}``) is
``run_check(is_done)``.

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
import re
import sys
import time
import traceback

__all__ = ["Roi", "Block", "blocks", "run", "run_check", "block_from_env", "report"]


class Roi:
    """A region: ``offset`` (first cell) and ``shape`` (extent); ``end`` is exclusive."""

    __slots__ = ("offset", "shape")

    def __init__(self, offset, shape):
        self.offset = tuple(map(int, offset))
        self.shape = tuple(map(int, shape))

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


_UNSET = object()


class _LazyRoi:
    """A block's ROI attribute, built by the block's ``_roi(key)`` on first use and kept in
    the slot ``slot``; assignable."""

    def __init__(self, key, slot, doc):
        self.key, self.slot, self.__doc__ = key, slot, doc

    def __get__(self, block, owner=None):
        if block is None:
            return self
        value = getattr(block, self.slot)
        if value is _UNSET:
            value = block._roi(self.key)
            setattr(block, self.slot, value)
        return value

    def __set__(self, block, value):
        setattr(block, self.slot, value)


class Block:
    """One block: ``task``, ``block_id``, ``attempt`` and its ``read_roi``, ``write_roi``,
    ``total_roi`` (:class:`Roi`).

    A block read from the agent builds its ROIs on first use, so a worker that does not look
    at a ROI does not pay for it."""

    __slots__ = ("task", "block_id", "attempt", "_wire", "_read", "_write", "_total")

    def __init__(self, task, block_id, attempt, read_roi, write_roi, total_roi):
        self.task = task
        self.block_id = block_id
        self.attempt = attempt
        self._wire = None
        self._read, self._write, self._total = read_roi, write_roi, total_roi

    @classmethod
    def from_dict(cls, d):
        """A block from the JSON object the agent sends, or from a ``blockorch plan --json``
        line (no ``attempt``: 1; no ``total_roi``: None), to run a worker by hand."""
        block = cls(d["task"], int(d["block_id"]), int(d.get("attempt", 1)), _UNSET, _UNSET, _UNSET)
        block._wire = d
        return block

    @classmethod
    def _from_line(cls, task, block_id, attempt, line):
        block = cls(task, block_id, attempt, _UNSET, _UNSET, _UNSET)
        block._wire = line  # decoded on first use of a ROI
        return block

    def _roi(self, key):
        if isinstance(self._wire, str):
            self._wire = _decode(self._wire)
        value = self._wire[key] if key != "total_roi" else self._wire.get(key)
        return None if value is None else Roi.from_dict(value)

    read_roi = _LazyRoi("read_roi", "_read", "The region the block reads.")
    write_roi = _LazyRoi("write_roi", "_write", "The region the block writes.")
    total_roi = _LazyRoi(
        "total_roi", "_total", "The task's total read region (None for a `plan --json` line)."
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
_report_fd = None  # its file descriptor, written directly for the common reports
_current = None  # the block handed out by blocks() and not yet reported
_hooked = False


def _report_stream():
    global _reports, _report_fd
    if _reports is None:
        fd = int(os.environ.get("BLOCKORCH_REPORT_FD", "3"))
        try:
            _reports = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=False)
        except OSError as e:
            raise RuntimeError(
                "cannot open the report file descriptor %d (%s); run this program under "
                "`blockorch worker`, or by hand as `python worker.py 3>&1 < blocks.jsonl`" % (fd, e)
            ) from e
        _report_fd = fd
    return _reports


def report(block_id, error=None, exiting=False, status=None):
    """Reports ``block_id`` done (``error`` is None) or failed with the text ``error``;
    ``exiting=True`` tells the agent this program ends after the report. ``status`` names
    another answer: ``"skipped"`` (the block was already done, nothing was run) or, from a
    check program, ``"not_done"``.

    :func:`blocks`, :func:`run` and :func:`run_check` call this for you."""
    if status is None:
        status = "done" if error is None else "failed"
    if error is None and not exiting and status in _PLAIN:
        # The common case, formatted without building a dict and written with one system call
        # (a no-op block's report; the stream is flushed after every line, so they never mix).
        if _reports is None:
            _report_stream()
        line = '{"block_id": %d, "status": "%s", "time": %r}\n' % (
            int(block_id),
            status,
            time.time(),
        )
        data = line.encode()
        while data:
            data = data[os.write(_report_fd, data) :]
        return
    message = {"block_id": int(block_id), "status": status}
    if error is not None:
        message["error"] = str(error)
    message["time"] = time.time()
    if exiting:
        message["exit"] = True
    stream = _reports or _report_stream()
    stream.write(json.dumps(message) + "\n")
    stream.flush()


_PLAIN = ("done", "skipped", "not_done")
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


_decode = json.JSONDecoder().decode
# The start of a block line as the agent writes it (serde's key order, no spaces; task names
# need no escapes): the block is made from it, and the rest is decoded when a ROI is used.
_AGENT_LINE = re.compile(r'\{"task":"([A-Za-z0-9_.-]+)","block_id":(\d+),"attempt":(\d+),"')


# Under an agent (not run by hand): whether to print "(started)" marker lines.
_UNDER_AGENT = "BLOCKORCH_SLOT" in os.environ


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
    if not _UNDER_AGENT:
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
    from_dict, from_line, agent_line = Block.from_dict, Block._from_line, _AGENT_LINE.match
    for line in iter(stdin.readline, ""):  # "" once stdin is closed: no more blocks
        m = agent_line(line)
        if m is not None:
            yield from_line(m[1], int(m[2]), int(m[3]), line)
            continue
        line = line.strip()
        if line:
            yield from_dict(_decode(line))


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


def run(process_block, stdin=None, check=None):
    """Calls ``process_block(block)`` for every assigned block until stdin closes.

    A block is done when ``process_block`` returns, and failed (with the traceback) when it
    raises; either way the program goes on with the next block, like a daisy worker.
    ``KeyboardInterrupt`` and ``SystemExit`` are not caught.

    With ``check``, the program answers the pre-check itself: ``check(block)`` is called first,
    and when it returns a true value the block is reported skipped (already done) and
    ``process_block`` is not called (an exception in ``check`` fails the block). This costs
    what ``check`` costs, with no process start and no separate check program (the task file
    has no ``check``), so blocks are still written ahead.
    """
    _say_ready()
    for block in _read_blocks(stdin or sys.stdin):
        status = None
        _mark_started(block)
        try:
            if check is not None and check(block):
                status = "skipped"
            else:
                process_block(block)
        except Exception:
            error = traceback.format_exc()
            sys.stderr.write(error)  # also in the slot's stderr log, next to the block's output
            _flush_output()
            report(block.block_id, error)
        else:
            _flush_output()
            report(block.block_id, status=status)


def run_check(check_block, stdin=None):
    """A persistent check program (``"check": {"command": [...], "persistent": true}``):
    answers ``check_block(block)`` for every block it is given until stdin closes — a true
    value reports the block ``done`` (before the block: skip it; after it: the block is done),
    a false one ``not_done``; an exception reports ``failed`` with the traceback (the block
    is then run, or, after the block, its check fails)."""
    _say_ready()
    for block in _read_blocks(stdin or sys.stdin):
        try:
            done = check_block(block)
        except Exception:
            error = traceback.format_exc()
            sys.stderr.write(error)
            _flush_output()
            report(block.block_id, error)
        else:
            _flush_output()
            report(block.block_id, status="done" if done else "not_done")


def block_from_env():
    """The block of a per-block worker or check, from ``BLOCKORCH_BLOCK``."""
    text = os.environ.get("BLOCKORCH_BLOCK")
    if text is None:
        raise RuntimeError(
            "BLOCKORCH_BLOCK is not set: this program must run as a per-block worker or check "
            "of blockorch"
        )
    return Block.from_dict(json.loads(text))
