"""The generic worker program ``run_blockwise`` starts for a Python ``process_function``::

    python -m blockorch.worker_main [--pre-check CHECK.pkl] FUNCTION.pkl   # persistent worker
    python -m blockorch.worker_main --check FUNCTION.pkl   # per-block check (BLOCKORCH_BLOCK)
    python -m blockorch.worker_main --init FUNCTION.pkl    # the task's init callback

``FUNCTION.pkl`` is written by :func:`blockorch.run_blockwise`: the caller's ``sys.path`` and
working directory, and the function serialised with cloudpickle. A function of one argument is
called once per block (an exception fails only that block, as in daisy); a function of no
argument is a daisy worker loop that takes its own blocks with :class:`blockorch.Client`.
With ``--pre-check``, the worker answers the pre-check itself: a block for which the stored
``check_function`` is true is reported skipped and never reaches the process function (daisy,
too, calls ``check_function`` only before a block).
"""

import os
import pickle
import sys

from . import worker as _worker
from ._block import Block, BlockStatus
from ._client import set_pre_check


def load(path):
    """The function stored at ``path``, after restoring the caller's ``sys.path`` and cwd."""
    with open(path, "rb") as f:
        stored = pickle.load(f)
    for entry in reversed(stored["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.chdir(stored["cwd"])
    if stored.get("daisy_is_blockorch"):
        import blockorch

        sys.modules["daisy"] = blockorch
    import cloudpickle  # noqa: F401  (functions pickled by value need it to load)

    return pickle.loads(stored["function"])


def arity(fn):
    """Positional parameters of ``fn`` (without ``self``), as daisy decides worker loops."""
    code = getattr(fn, "__code__", None)
    if code is not None:
        args = code.co_varnames[: code.co_argcount]
    else:
        import inspect  # only for other callables: it takes a while to import

        try:
            args = inspect.getfullargspec(fn).args
        except TypeError:
            return 1
    return len([a for a in args if a != "self"])


def _process_one(fn):
    from_worker_block = Block.from_worker_block
    failed = BlockStatus.FAILED

    def process(wire):
        block = from_worker_block(wire)
        fn(block)
        if block.status == failed:
            raise RuntimeError("the process function set block.status to FAILED")

    return process


def _check_one(fn):
    from_worker_block = Block.from_worker_block
    return lambda wire: fn(from_worker_block(wire))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = "process"
    if argv and argv[0] in ("--check", "--init"):
        mode = argv.pop(0)[2:]
    pre_check = None
    if mode == "process" and len(argv) == 3 and argv[0] == "--pre-check":
        pre_check = argv[1]
        argv = argv[2:]
    if len(argv) != 1:
        sys.stderr.write(
            "usage: python -m blockorch.worker_main [--check|--init|--pre-check CHECK.pkl] "
            "FUNCTION.pkl\n"
        )
        return 2
    fn = load(argv[0])
    if mode == "check":
        wire = _worker.block_from_env()
        return 0 if fn(Block.from_worker_block(wire)) else 1
    if mode == "init":
        fn() if arity(fn) == 0 else fn(None)
        return 0
    check = load(pre_check) if pre_check is not None else None
    if arity(fn) == 0:
        set_pre_check(check)
        fn()  # a daisy worker loop: it acquires its own blocks through blockorch.Client
    else:
        _worker.run(_process_one(fn), check=None if check is None else _check_one(check))
    return 0


if __name__ == "__main__":
    sys.exit(main())
