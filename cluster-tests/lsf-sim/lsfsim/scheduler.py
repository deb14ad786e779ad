"""Dispatch: starts pending elements while slots, hosts and each array's `%M` limit allow.

There is no daemon. Every command that changes something (bsub, bkill, bresume, the hooks),
every bjobs, and every supervisor whose element ends calls `dispatch()` with the global lock
held, so an array keeps moving as long as its elements run.
"""

import os
import subprocess
import sys
import time

from . import state

ACTIVE = ("RUN", "USUSP", "SSUSP")


def active_ids():
    return state.read_json(state.path("active.json"), [])


def set_active(ids):
    state.write_json(state.path("active.json"), sorted(set(ids)))


def activate(job_id):
    set_active(active_ids() + [job_id])


def deactivate_finished():
    keep = []
    for job_id in active_ids():
        job = state.load_job(job_id)
        if job and not all(state.is_finished(e) for e in state.elements(job)):
            keep.append(job_id)
    set_active(keep)


def dispatch():
    """Starts what can start (call with the lock held)."""
    cfg = state.config()
    all_hosts = cfg["hosts"].split()
    hosts = [h for h in all_hosts if state.host_lost_since(h) is None]
    load = {h: 0 for h in all_hosts}
    jobs = []
    for job_id in active_ids():
        job = state.load_job(job_id)
        if job is None:
            continue
        elements = state.elements(job)
        for e in elements:
            if e["stat"] in ACTIVE and e.get("exec_host") in load:
                load[e["exec_host"]] += job["slots"]
        jobs.append((job, elements))
    free = int(cfg["slots"]) - sum(load.values())
    for job, elements in jobs:
        running = sum(1 for e in elements if e["stat"] in ACTIVE)
        for element in elements:
            if element["stat"] != "PEND":
                continue
            if job.get("max_running") and running >= job["max_running"]:
                break
            if not hosts or free < job["slots"]:
                return
            host = min(hosts, key=lambda h: (load[h], all_hosts.index(h)))
            start(job, element, host)
            load[host] += job["slots"]
            free -= job["slots"]
            running += 1
    deactivate_finished()


def start(job, element, host):
    element.update(stat="RUN", exec_host=host, start=time.time(), supervisor_pid=None, pid=None)
    state.save_element(job["id"], element)
    env = dict(os.environ)
    env["BLOCKORCH_LSF_SIM_DIR"] = state.sim_dir()
    supervisor = subprocess.Popen(
        [sys.executable, state.MAIN, "lsf-sim", "supervise", str(job["id"]), str(element["index"])],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    element["supervisor_pid"] = supervisor.pid
    state.save_element(job["id"], element)
