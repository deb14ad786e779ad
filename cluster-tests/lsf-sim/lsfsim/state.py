"""The simulator's state directory: configuration, the global lock, job and element records.

Everything lives under $BLOCKORCH_LSF_SIM_DIR:

    config.json            simulator settings (written on first use from BLOCKORCH_LSF_SIM_* vars)
    lock                   flock(2) lock taken by every command that reads-modifies-writes
    next_id                the next job id
    commands.log           one JSON line per bsub/bjobs/bkill/bstop/bresume/bparams call
    faults.json            injected failures (see `lsf-sim fail-next`)
    hosts/<host>.lost      the host lost contact with the master (its jobs show UNKWN)
    jobs/<id>.json         a submission (immutable once written)
    jobs/<id>/script       the job script as bsub read it
    jobs/<id>/<index>.json one element (index 0 for a job that is not an array)
    jobs/<id>/<index>.kill a pending termination request, read by the element's supervisor
    jobs/<id>/<index>.ctl  a pending stop/resume request, read by the element's supervisor
"""

import contextlib
import fcntl
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "lsfsim_main.py")

# Settings and their defaults. Each can be given as BLOCKORCH_LSF_SIM_<NAME upper-case> the
# first time a command runs against a fresh directory, or changed with `lsf-sim config`.
DEFAULTS = {
    # Real seconds in one simulated minute (-W, -wt and the 10-minute run-limit kill delay are
    # in minutes); tests use 1 so that `-W 2` lasts two seconds.
    "minute_seconds": 60.0,
    # Seconds between SIGINT/SIGTERM and SIGKILL for bkill and memory-limit kills
    # (LSF's JOB_TERMINATE_INTERVAL, default 10).
    "terminate_interval": 10.0,
    # Simulated minutes between SIGUSR2 and SIGKILL when the run limit is reached (LSF: ten).
    "runlimit_kill_minutes": 10.0,
    # MAX_JOB_ARRAY_SIZE of lsb.params.
    "max_job_array_size": 1000,
    # Job slots of the whole simulated cluster (running elements use `-n` slots each).
    "slots": 64,
    "hosts": "simhost1 simhost2 simhost3 simhost4",
    "queues": "normal short long gpu",
    "default_queue": "normal",
    # Unit of a memory limit given without one (LSF_UNIT_FOR_LIMITS; LSF's default is KB).
    "unit_for_limits": "KB",
    # Seconds a finished job stays visible to bjobs (CLEAN_PERIOD in lsb.params, default 3600).
    "clean_period": 3600.0,
    "first_id": 101,
    # LSB_BJOBS_CONSISTENT_EXIT_CODE.
    "bjobs_consistent_exit_code": False,
    # False simulates an LSF whose `bjobs -o` has no exit_reason field.
    "exit_reason_field": True,
}


class SimError(Exception):
    """A problem with the simulator itself (not an LSF error message)."""


def sim_dir():
    path = os.environ.get("BLOCKORCH_LSF_SIM_DIR")
    if not path:
        raise SimError("BLOCKORCH_LSF_SIM_DIR is not set: point it at the simulator's state directory")
    os.makedirs(os.path.join(path, "jobs"), exist_ok=True)
    os.makedirs(os.path.join(path, "hosts"), exist_ok=True)
    return path


def path(*parts):
    return os.path.join(sim_dir(), *parts)


def _coerce(name, text):
    default = DEFAULTS[name]
    if isinstance(default, bool):
        return str(text).lower() in ("1", "y", "yes", "true")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return str(text)


def write_json(file, value):
    tmp = "%s.tmp.%d" % (file, os.getpid())
    with open(tmp, "w") as f:
        json.dump(value, f, sort_keys=True)
    os.replace(tmp, file)


def read_json(file, default=None):
    try:
        with open(file) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def config():
    file = path("config.json")
    current = read_json(file)
    if current is None:
        current = {}
        for name in DEFAULTS:
            env = os.environ.get("BLOCKORCH_LSF_SIM_" + name.upper())
            current[name] = _coerce(name, env) if env is not None else DEFAULTS[name]
        with locked():
            if read_json(file) is None:
                write_json(file, current)
            current = read_json(file)
    for name, default in DEFAULTS.items():
        current.setdefault(name, default)
    return current


def set_config(pairs):
    with locked():
        current = config()
        for pair in pairs:
            name, _, value = pair.partition("=")
            if name not in DEFAULTS:
                raise SimError("unknown setting %r (known: %s)" % (name, ", ".join(sorted(DEFAULTS))))
            current[name] = _coerce(name, value)
        write_json(path("config.json"), current)
    return current


_HELD = [0]


@contextlib.contextmanager
def locked():
    """The global lock (re-entrant within one process)."""
    if _HELD[0]:
        _HELD[0] += 1
        try:
            yield
        finally:
            _HELD[0] -= 1
        return
    fd = os.open(path("lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD[0] = 1
        yield
    finally:
        _HELD[0] = 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def log_command(program, argv):
    line = json.dumps({"t": time.time(), "program": program, "argv": argv, "pid": os.getpid()})
    with open(path("commands.log"), "a") as f:
        f.write(line + "\n")


def new_job_id():
    """Called with the lock held."""
    file = path("next_id")
    try:
        with open(file) as f:
            job_id = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        job_id = int(config()["first_id"])
    with open(file, "w") as f:
        f.write(str(job_id + 1))
    return job_id


def job_ids():
    ids = []
    for name in os.listdir(path("jobs")):
        if name.endswith(".json") and name[:-5].isdigit():
            ids.append(int(name[:-5]))
    return sorted(ids)


def load_job(job_id):
    return read_json(path("jobs", "%d.json" % job_id))


def save_job(job):
    os.makedirs(path("jobs", str(job["id"])), exist_ok=True)
    write_json(path("jobs", "%d.json" % job["id"]), job)


def element_file(job_id, index, suffix="json"):
    return path("jobs", str(job_id), "%d.%s" % (index, suffix))


def load_element(job_id, index):
    return read_json(element_file(job_id, index))


def save_element(job_id, element):
    write_json(element_file(job_id, element["index"]), element)


def elements(job):
    out = []
    for index in job["indices"]:
        element = load_element(job["id"], index)
        if element is not None:
            out.append(element)
    return out


FINISHED = ("DONE", "EXIT")


def is_finished(element):
    return element["stat"] in FINISHED


def host_lost_since(host):
    value = read_json(path("hosts", "%s.lost" % host))
    return None if value is None else value.get("since")


def set_host_lost(host, lost):
    file = path("hosts", "%s.lost" % host)
    if lost:
        if read_json(file) is None:
            write_json(file, {"since": time.time()})
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(file)


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def take_fault(program):
    """Consumes one injected failure for `program`, if any (called with the lock held)."""
    file = path("faults.json")
    faults = read_json(file, {})
    fault = faults.get(program)
    if not fault or fault.get("count", 0) <= 0:
        return None
    fault["count"] -= 1
    if fault["count"] <= 0:
        del faults[program]
    write_json(file, faults)
    return fault


def fail(message, code=255):
    sys.stderr.write(message.rstrip("\n") + "\n")
    return code
