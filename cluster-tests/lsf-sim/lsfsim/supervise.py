"""The supervisor of one running element: the simulator's sbatchd/res for one job.

It starts the job script as a real process (in its own session, so the whole job can be
signalled as LSF signals a job's processes), with LSF's environment, working directory and
output files, then watches it until it exits:

- a termination request (bkill) sends SIGINT and SIGTERM, then SIGKILL after
  `terminate_interval` seconds (LSF's JOB_TERMINATE_INTERVAL); `bkill -r` and `lsf-sim
  force-exit` send SIGKILL at once. While the element's host is marked lost, requests wait
  (the job shows ZOMBI), as LSF cannot reach an unreachable sbatchd.
- the run limit (-W): the warning action (-wa) `-wt` minutes before it, SIGUSR2 at the limit,
  SIGKILL ten simulated minutes later (bsub -W reference); the end is EXIT with TERM_RUNLIMIT.
- the memory limit (-M): the resident memory of every process of the job's session is summed
  five times a second; over the limit: SIGINT, SIGTERM, then SIGKILL, EXIT with TERM_MEMLIMIT.
- bstop/bresume: SIGSTOP/SIGCONT (USUSP/SSUSP and back to RUN).

At the end it records DONE (exit 0, no termination reason) or EXIT with the exit code
(128 + signal number when killed by a signal) and the reason, kills what is left of the job's
session, appends a job report to the output file and dispatches waiting elements.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time

from . import reasons, scheduler, state

PAGE = os.sysconf("SC_PAGE_SIZE")


def expand(template, job, index):
    return template.replace("%J", str(job["id"])).replace("%I", str(index))


def session_rss(sid):
    """Bytes of resident memory of every process in session `sid`."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 21 and fields[3] == str(sid):
            total += int(fields[21]) * PAGE
    return total


def killpg(pgid, sig):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def job_env(job, element):
    env = dict(job["env"])
    index = element["index"]
    host = element["exec_host"]
    slots = job["slots"]
    env.update(
        LSB_JOBID=str(job["id"]),
        LSB_JOBINDEX=str(index),
        LSB_JOBNAME=job["name"] + ("[%d]" % index if job["array"] else ""),
        LSB_QUEUE=job["queue"],
        LSB_HOSTS=" ".join([host] * slots),
        LSB_MCPU_HOSTS="%s %d" % (host, slots),
        LSB_DJOB_NUMPROC=str(slots),
        LSB_JOBFILENAME=job["script"],
        LS_SUBCWD=job["sub_cwd"],
        LSB_SUB_HOST=job["from_host"],
        LSB_EXEC_CLUSTER="blockorch-sim",
    )
    if job["array"]:
        env["LSB_JOBINDEX_END"] = str(max(job["indices"]))
    if job.get("project"):
        env["LSB_PROJECT_NAME"] = job["project"]
    if job.get("out"):
        env["LSB_OUTPUTFILE"] = expand(job["out"], job, index)
    if job.get("gpus"):
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in range(job["gpus"]))
    return env


def open_output(file, overwrite):
    directory = os.path.dirname(file)
    if directory:
        os.makedirs(directory, exist_ok=True)
    return open(file, "w" if overwrite else "a")


def finish(job, index, code, reason, forced_code=None):
    with state.locked():
        element = state.load_element(job["id"], index)
        if element is not None and not state.is_finished(element):
            if forced_code is not None:
                code = forced_code
            element.update(
                stat="DONE" if code == 0 and reason is None else "EXIT",
                exit_code=code,
                exit_reason=reason,
                end=time.time(),
            )
            state.save_element(job["id"], element)
        scheduler.dispatch()
    return element


def report(job, element, out_file):
    """Appends a job report to the output file, as LSF does when the job ends."""
    if element is None or not out_file:
        return
    name = job["name"] + ("[%d]" % element["index"] if job["array"] else "")
    ident = "%d[%d]" % (job["id"], element["index"]) if job["array"] else str(job["id"])
    lines = [
        "",
        "------------------------------------------------------------",
        "Sender: LSF System (simulated) <lsf@%s>" % element.get("exec_host"),
        "Subject: Job %s: <%s> in cluster <blockorch-sim> %s"
        % (ident, name, "Done" if element["stat"] == "DONE" else "Exited"),
        "",
        "Job <%s> ran on host <%s> in queue <%s>." % (name, element.get("exec_host"), job["queue"]),
        "------------------------------------------------------------",
        "",
    ]
    if element["stat"] == "DONE":
        lines.append("Successfully completed.")
    else:
        if element.get("exit_reason"):
            lines.append(reasons.text(element["exit_reason"]) + ".")
        if element.get("exit_code") is not None:
            lines.append("Exited with exit code %d." % element["exit_code"])
    run_time = (element.get("end") or time.time()) - (element.get("start") or time.time())
    lines += ["", "Resource usage summary:", "", "    Run time :   %d sec." % run_time, ""]
    with contextlib.suppress(OSError):
        with open(out_file, "a") as f:
            f.write("\n".join(lines) + "\n")


def main(job_id, index):
    cfg = state.config()
    minute = float(cfg["minute_seconds"])
    job = state.load_job(job_id)
    element = state.load_element(job_id, index)
    if job is None or element is None or element["stat"] != "RUN":
        return 0
    default_out = state.element_file(job_id, index, "out")
    out_file = expand(job["out"], job, index) if job.get("out") else default_out
    err_file = expand(job["err"], job, index) if job.get("err") else None
    cwd = expand(job["cwd"], job, index) if job.get("cwd") else job["sub_cwd"]
    with open(job["script"]) as f:
        shebang = f.readline().startswith("#!")
    argv = [job["script"]] if shebang else ["/bin/sh", job["script"]]
    try:
        stdout = open_output(out_file, job.get("out_overwrite"))
        stderr = open_output(err_file, job.get("err_overwrite")) if err_file else stdout
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=job_env(job, element),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as e:
        with contextlib.suppress(OSError):
            with open(out_file if job.get("out") else default_out, "a") as f:
                f.write("cannot start the job: %s\n" % e)
        reason = "TERM_CWD_NOTEXIST" if not os.path.isdir(cwd) else None
        element = finish(job, index, 2 if reason else 127, reason)
        report(job, element, out_file if job.get("out") else None)
        return 0
    with state.locked():
        current = state.load_element(job_id, index)
        current["pid"] = child.pid
        current["run_host"] = socket.gethostname()
        # Run time (and so the run limit) counts from the job's start, not its dispatch.
        current["start"] = element["start"] = time.time()
        state.save_element(job_id, current)

    started = element["start"]
    limit_at = started + job["runlimit_minutes"] * minute if job.get("runlimit_minutes") else None
    warn_at = None
    if limit_at is not None and job.get("warn_signal") and job.get("warn_minutes") is not None:
        warn_at = limit_at - job["warn_minutes"] * minute
    reason = None
    forced_code = None
    kill_at = None
    stopped = None
    handled_kill = False
    next_mem_check = 0.0
    kill_file = state.element_file(job_id, index, "kill")
    ctl_file = state.element_file(job_id, index, "ctl")
    while True:
        code = child.poll()
        if code is not None:
            break
        now = time.time()
        reachable = state.host_lost_since(element["exec_host"]) is None
        request = state.read_json(kill_file) if not handled_kill else None
        if request and (reachable or request.get("force")):
            if request.get("signal"):
                killpg(child.pid, int(request["signal"]))
                with contextlib.suppress(FileNotFoundError):
                    os.remove(kill_file)
            else:
                handled_kill = True
                reason = request.get("reason") or reason
                forced_code = request.get("exit_code")
                if stopped:
                    killpg(child.pid, signal.SIGCONT)
                if request.get("force"):
                    killpg(child.pid, signal.SIGKILL)
                else:
                    killpg(child.pid, signal.SIGINT)
                    killpg(child.pid, signal.SIGTERM)
                    kill_at = now + float(cfg["terminate_interval"])
        control = state.read_json(ctl_file) if reachable else None
        if control is not None and control.get("stop") != stopped:
            stopped = control.get("stop")
            killpg(child.pid, signal.SIGSTOP if stopped else signal.SIGCONT)
            with state.locked():
                current = state.load_element(job_id, index)
                if current and not state.is_finished(current):
                    current["stat"] = stopped or "RUN"
                    state.save_element(job_id, current)
        if warn_at is not None and now >= warn_at:
            warn_at = None
            killpg(child.pid, job["warn_signal"])
        if limit_at is not None and now >= limit_at:
            limit_at = None
            if reason is None:
                reason = "TERM_RUNLIMIT"
            killpg(child.pid, signal.SIGUSR2)
            deadline = now + float(cfg["runlimit_kill_minutes"]) * minute
            kill_at = deadline if kill_at is None else min(kill_at, deadline)
        if job.get("memlimit_bytes") and now >= next_mem_check and reason is None:
            next_mem_check = now + 0.2
            if session_rss(child.pid) > job["memlimit_bytes"]:
                reason = "TERM_MEMLIMIT"
                killpg(child.pid, signal.SIGINT)
                killpg(child.pid, signal.SIGTERM)
                kill_at = now + float(cfg["terminate_interval"])
        if kill_at is not None and now >= kill_at:
            kill_at = None
            killpg(child.pid, signal.SIGKILL)
        time.sleep(0.05)
    # What is left of the job (background children of the script) goes with it.
    killpg(child.pid, signal.SIGKILL)
    exit_code = code if code >= 0 else 128 - code
    element = finish(job, index, exit_code, reason, forced_code)
    report(job, element, out_file)
    return 0
