"""bsub: `bsub [options] < script` or `bsub [options] command [args]`.

Answers as documented: `Job <123> is submitted to queue <gpu>.` when -q was given,
`Job <123> is submitted to default queue <normal>.` otherwise, preceded by
`Job is submitted to <proj> project.` when -P was given. Refusals go to stderr, exit 255.
"""

import getpass
import os
import socket
import sys
import time

from . import options as opt
from . import scheduler, state


def build_job(cli, words, script, cfg):
    """The submission record (without its id) of one bsub call; raises opt.Rejected."""
    merged = opt.merge(opt.script_directives(script) if not words else {}, cli)
    interactive = opt.INTERACTIVE.intersection(merged)
    if interactive:
        raise opt.Rejected("Interactive jobs (%s) are not simulated. Job not submitted."
                           % ", ".join(sorted(interactive)))
    queues = cfg["queues"].split()
    queue = merged.get("-q")
    if queue is not None and queue not in queues:
        raise opt.Rejected("%s: No such queue. Job not submitted." % queue)
    first_command = next(
        (l.strip() for l in script.splitlines() if l.strip() and not l.strip().startswith("#")),
        "sh",
    )
    name, indices, max_running = opt.parse_job_name(
        merged.get("-J", first_command[:60]), int(cfg["max_job_array_size"]))
    slots = 1
    if "-n" in merged:
        text = merged["-n"].split(",")[0]
        if not text.isdigit() or int(text) < 1:
            raise opt.Rejected("Bad number of slots %r. Job not submitted." % merged["-n"])
        slots = int(text)
    runlimit = None
    if "-W" in merged:
        runlimit = opt.parse_minutes(merged["-W"].split("/")[0], "-W")
    warn_minutes = opt.parse_minutes(merged["-wt"], "-wt") if "-wt" in merged else None
    warn_signal = opt.parse_signal(merged["-wa"]) if "-wa" in merged else None
    memlimit = opt.parse_memory(merged["-M"], cfg["unit_for_limits"]) if "-M" in merged else None
    gpus = opt.parse_gpu(merged["-gpu"]) if "-gpu" in merged else 0
    out = merged.get("-oo", merged.get("-o"))
    err = merged.get("-eo", merged.get("-e"))
    return {
        "name": name,
        "array": indices is not None,
        "indices": indices if indices is not None else [0],
        "max_running": max_running,
        "queue": queue or cfg["default_queue"],
        "default_queue": queue is None,
        "project": merged.get("-P"),
        "slots": slots,
        "runlimit_minutes": runlimit,
        "warn_minutes": warn_minutes,
        "warn_signal": warn_signal,
        "memlimit_bytes": memlimit,
        "gpus": gpus,
        "resource": merged.get("-R", []),
        "out": out,
        "out_overwrite": "-oo" in merged,
        "err": err,
        "err_overwrite": "-eo" in merged,
        "cwd": merged.get("-cwd"),
        "sub_cwd": os.getcwd(),
        "env": dict(os.environ),
        "submit_time": time.time(),
        "user": getpass.getuser(),
        "from_host": socket.gethostname(),
        "wait": "-K" in merged,
        "options": {k: v for k, v in merged.items()},
    }


def submit(job, script):
    """Stores the job and dispatches it (call with the lock held); returns its id."""
    job_id = state.new_job_id()
    job["id"] = job_id
    directory = state.path("jobs", str(job_id))
    os.makedirs(directory, exist_ok=True)
    job["script"] = os.path.join(directory, "script")
    with open(job["script"], "w") as f:
        f.write(script)
    os.chmod(job["script"], 0o755)
    state.save_job(job)
    for index in job["indices"]:
        state.save_element(job_id, {
            "index": index, "stat": "PEND", "exec_host": None, "start": None, "end": None,
            "exit_code": None, "exit_reason": None, "pid": None, "supervisor_pid": None,
        })
    scheduler.activate(job_id)
    scheduler.dispatch()
    return job_id


def wait_for(job_id):
    sys.stdout.write("<<Waiting for dispatch ...>>\n")
    sys.stdout.flush()
    while True:
        job = state.load_job(job_id)
        elements = state.elements(job)
        if all(state.is_finished(e) for e in elements):
            sys.stdout.write("<<Job is finished>>\n")
            codes = [e.get("exit_code") or 0 for e in elements if e["stat"] == "EXIT"]
            return max(codes) if codes else 0
        time.sleep(0.1)


def main(argv):
    state.log_command("bsub", argv)
    cfg = state.config()
    try:
        cli, words = opt.parse_args(argv, "bsub")
        # Like LSF, the command words are joined with spaces and run by the shell.
        script = (" ".join(words) + "\n") if words else sys.stdin.read()
        if not script.strip():
            raise opt.Rejected("No command or script given. Job not submitted.")
        job = build_job(cli, words, script, cfg)
    except opt.Rejected as e:
        return state.fail(str(e))
    with state.locked():
        fault = state.take_fault("bsub")
        job_id = submit(job, script) if fault is None or fault.get("created") else None
    if fault is not None:
        return state.fail(fault["message"], int(fault.get("code", 255)))
    if job.get("project"):
        sys.stdout.write("Job is submitted to <%s> project.\n" % job["project"])
    if job["default_queue"]:
        sys.stdout.write("Job <%d> is submitted to default queue <%s>.\n" % (job_id, job["queue"]))
    else:
        sys.stdout.write("Job <%d> is submitted to queue <%s>.\n" % (job_id, job["queue"]))
    sys.stdout.flush()
    if job["wait"]:
        return wait_for(job_id)
    return 0
