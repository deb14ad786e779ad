"""``Task`` and ``run_blockwise`` with daisy's signatures, run by the ``blockorch`` binary."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import time

from ._geometry import roi_to_dict


class TaskError(ValueError):
    """A task definition blockorch refuses; the message is blockorch's (field, value, what to do)."""


class Task:
    """A block-wise task, constructed as ``daisy.Task`` (daisy 2.0.0's positional order; the
    daisy 1.x keywords ``num_workers``, ``upstream_tasks`` and ``init_callback_fn`` too).

    ``total_roi`` is the total *read* region; ``read_roi``/``write_roi`` describe the first
    block. ``process_function(block)`` runs once per block in persistent worker processes; a
    ``process_function()`` without argument is a daisy worker loop that takes its blocks with
    :class:`blockorch.Client`. ``check_function(block) -> bool`` says a block is already done
    (it is then skipped) and is checked again after the block ran. ``timeout`` (seconds) bounds
    each block attempt; None (the default) means no limit.
    """

    def __init__(
        self,
        task_id,
        total_roi,
        read_roi,
        write_roi,
        process_function=None,
        check_function=None,
        read_write_conflict=True,
        fit="valid",
        max_workers=None,
        max_retries=2,
        timeout=None,
        done_marker_path=None,
        resource_tracking=False,
        requires=None,
        max_worker_restarts=None,
        skip_mask=None,
        *,
        num_workers=None,
        upstream_tasks=None,
        init_callback_fn=None,
        tracking_path=None,
    ):
        if num_workers is not None and max_workers is not None:
            raise TypeError(
                "pass either max_workers (daisy 2) or num_workers (daisy 1.x), not both"
            )
        if requires:
            raise TaskError(
                "Task %r: requires=%r is not supported by blockorch; ask for GPUs per worker in "
                "the slurm/lsf options instead (docs/python.md)" % (task_id, requires)
            )
        if skip_mask is not None:
            raise TaskError(
                "Task %r: skip_mask is not supported by blockorch; use check_function" % (task_id,)
            )
        self.task_id = str(task_id)
        self.total_roi = total_roi
        self.read_roi = read_roi
        self.write_roi = write_roi
        self.process_function = process_function
        self.check_function = check_function
        self.init_callback_fn = init_callback_fn
        self.read_write_conflict = bool(read_write_conflict)
        self.fit = fit
        self.max_workers = int(
            num_workers
            if num_workers is not None
            else (max_workers if max_workers is not None else 1)
        )
        self.max_retries = int(max_retries)
        self.timeout = timeout
        self.upstream_tasks = list(upstream_tasks or [])
        for up in self.upstream_tasks:
            if not isinstance(up, Task):
                raise TypeError(
                    "Task %r: upstream_tasks must hold Task objects, got %r" % (self.task_id, up)
                )

    @property
    def num_workers(self):
        """daisy 1.x's name of :attr:`max_workers`."""
        return self.max_workers

    @property
    def timeout_secs(self):
        """``timeout`` in seconds (a float), or None."""
        return None if self.timeout is None else float(_seconds(self.timeout))

    def __repr__(self):
        return "Task(%r)" % (self.task_id,)


def _seconds(timeout):
    if hasattr(timeout, "total_seconds"):  # datetime.timedelta
        return timeout.total_seconds()
    return float(timeout)


def _all_tasks(tasks):
    """The given tasks and every task upstream of them, each once, upstream ones first."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    ordered, seen = [], set()

    def visit(task):
        if id(task) in seen:
            return
        seen.add(id(task))
        for up in task.upstream_tasks:
            visit(up)
        ordered.append(task)

    for task in tasks:
        if not isinstance(task, Task):
            raise TypeError("run_blockwise takes blockorch.Task objects, got %r" % (task,))
        visit(task)
    return ordered


def _store_function(fn, path):
    import cloudpickle

    import blockorch
    import blockorch.compat.daisy

    stored = {
        "sys_path": [os.path.abspath(p) if p else os.getcwd() for p in sys.path],
        "cwd": os.getcwd(),
        # A driver that made `import daisy` mean blockorch (sys.modules["daisy"] = blockorch,
        # the DaCapo bridge) gets the same in its workers, before its modules are imported.
        "daisy_is_blockorch": sys.modules.get("daisy") in (blockorch, blockorch.compat.daisy),
        "function": cloudpickle.dumps(fn),
    }
    with open(path, "wb") as f:
        pickle.dump(stored, f)


def _command(mode, fn, path, pre_check=None):
    _store_function(fn, path)
    argv = [sys.executable, "-m", "blockorch.worker_main"]
    if mode:
        argv.append("--" + mode)
    if pre_check is not None:
        _store_function(pre_check[0], pre_check[1])
        argv += ["--pre-check", pre_check[1]]
    # The package's own directory first, so workers import this blockorch even when it is not
    # installed (a source checkout); the caller's sys.path is restored from the pickle.
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {"command": argv + [path], "env": {"PYTHONPATH": package_parent}}


def _task_json(task, workdir):
    """The task-file object of ``task`` (docs/task-file.md), its functions stored in ``workdir``."""
    if not task.task_id or "/" in task.task_id or task.task_id in (".", ".."):
        raise TaskError(
            "Task %r: task_id must be a name of letters, digits, '_', '.' and '-'" % task.task_id
        )
    if task.process_function is None:
        raise TaskError("Task %r: process_function is required" % (task.task_id,))
    obj = {
        "name": task.task_id,
        "total_roi": roi_to_dict(task.total_roi, "Task %r: total_roi" % task.task_id),
        "read_roi": roi_to_dict(task.read_roi, "Task %r: read_roi" % task.task_id),
        "write_roi": roi_to_dict(task.write_roi, "Task %r: write_roi" % task.task_id),
        "fit": task.fit,
        "read_write_conflict": task.read_write_conflict,
        "num_workers": task.max_workers,
        "max_retries": task.max_retries,
        "timeout": task.timeout_secs,
        "upstream_tasks": [up.task_id for up in task.upstream_tasks],
    }
    stem = os.path.join(workdir, task.task_id)
    # A check_function is answered by the worker itself before each block (daisy calls it only
    # before a block): no check program, and blocks are still written ahead.
    pre_check = None
    if task.check_function is not None:
        pre_check = (task.check_function, stem + ".check.pkl")
    obj["worker"] = _command(None, task.process_function, stem + ".process.pkl", pre_check)
    if task.init_callback_fn is not None:
        obj["init"] = _command("init", task.init_callback_fn, stem + ".init.pkl")
    return obj


def binary():
    """The ``blockorch`` command: ``$BLOCKORCH_BIN``, the one installed next to this Python
    (``pip install blockorch``), or the first on ``PATH``."""
    explicit = os.environ.get("BLOCKORCH_BIN")
    if explicit:
        return explicit
    beside = os.path.join(os.path.dirname(sys.executable), "blockorch")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("blockorch")
    if found:
        return found
    raise FileNotFoundError(
        "the blockorch command was not found: install the package (pip install blockorch), put "
        "blockorch on PATH, or set BLOCKORCH_BIN"
    )


# daisy run_blockwise keywords with no meaning here (daisy's own server, progress and tracking).
_DAISY_RUN_OPTIONS = ("multiprocessing", "resources", "block_tracking", "host", "summary")


def write_task_file(tasks, ledger):
    """Writes ``<ledger>.task/task.json`` (and the pickled functions beside it) for ``tasks``;
    returns the task file's path."""
    workdir = ledger + ".task"
    os.makedirs(workdir, exist_ok=True)
    spec = {"tasks": [_task_json(t, workdir) for t in _all_tasks(tasks)]}
    path = os.path.join(workdir, "task.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    return path


def run_blockwise(tasks, backend=None, ledger=None, **backend_options):
    """Runs ``tasks`` (and the tasks upstream of them) to the end with ``blockorch submit``;
    True when every block is done or skipped, as daisy's ``run_blockwise``.

    ``backend`` is ``"local"``, ``"slurm"`` or ``"lsf"``; without it, ``$BLOCKORCH_BACKEND``
    or ``"local"`` (so an unchanged daisy script runs on a cluster). ``ledger`` is the run's
    directory; give the same one again to resume (done blocks do not
    run again). Without it every call is a fresh run in ``./blockorch_runs/``. Further keywords
    become ``submit`` options (``max_failed_starts=5`` → ``--max-failed-starts 5``, ``True`` →
    the bare flag); ``progress=False`` is ``--quiet``. A task definition blockorch refuses
    raises :class:`TaskError` with blockorch's message.
    """
    tasks = _all_tasks(tasks)
    if not tasks:
        return True
    if ledger is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        ledger = os.path.join(
            "blockorch_runs", "%s-%s-%d" % (tasks[-1].task_id, stamp, os.getpid())
        )
    ledger = os.path.abspath(os.fspath(ledger))
    task_file = write_task_file(tasks, ledger)
    exe = binary()
    plan = subprocess.run([exe, "plan", task_file], capture_output=True, text=True)
    if plan.returncode != 0:
        message = (plan.stderr.strip() or plan.stdout.strip()).removeprefix("error: ")
        raise TaskError(message)
    backend = backend or os.environ.get("BLOCKORCH_BACKEND") or "local"
    argv = [exe, "submit", task_file, "--backend", backend, "--ledger", ledger]
    if backend_options.pop("return_states", False):
        raise TypeError(
            "run_blockwise(return_states=True) is not supported; use `blockorch status --json`"
        )
    if backend_options.pop("progress", True) is False:
        argv.append("--quiet")
    for name in _DAISY_RUN_OPTIONS:
        backend_options.pop(name, None)
    for name, value in backend_options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (False, None):
            argv += [flag, str(value)]
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.run(argv).returncode == 0
