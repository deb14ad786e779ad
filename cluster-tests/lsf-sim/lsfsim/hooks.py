"""bparams, and `lsf-sim`: the test hooks that real LSF has no command for.

    lsf-sim host-lost HOST | host-back HOST   a host loses / regains contact (UNKWN)
    lsf-sim lose-host-of ID                   marks the host of element ID lost, prints it
    lsf-sim force-exit ID REASON [CODE]       ends ID now: EXIT with REASON (e.g. TERM_HOST)
    lsf-sim system-suspend ID | system-resume ID   SSUSP (as for a loaded host) and back
    lsf-sim fail-next PROGRAM COUNT MESSAGE [--created] [--code N]
                                              the next COUNT calls of PROGRAM (bsub, bjobs,
                                              bkill) print MESSAGE on stderr and exit N (255);
                                              --created: bsub creates the job all the same
    lsf-sim config [KEY=VALUE...]             shows / changes the settings (state.DEFAULTS)
    lsf-sim show ID                           the records of a job, as JSON
    lsf-sim wait ID [SECONDS]                 waits until every element of ID has finished
    lsf-sim kill-all                          SIGKILLs every job and supervisor of this
                                              directory (test clean-up; records stay as they are)
    lsf-sim supervise JOB INDEX               (internal) the supervisor of one element
"""

import json
import sys
import time

from . import bkill, scheduler, state, supervise


def bparams(argv):
    state.log_command("bparams", argv)
    cfg = state.config()
    lines = [
        "System default queues for automatic queue selection:",
        "    DEFAULT_QUEUE = %s" % cfg["default_queue"],
        "",
        "Job Dispatch interval:",
        "    MBD_SLEEP_TIME = 10 seconds",
        "",
        "Maximum number of jobs in a job array:",
        "    MAX_JOB_ARRAY_SIZE = %d" % int(cfg["max_job_array_size"]),
        "",
        "Time interval between SIGINT, SIGTERM and SIGKILL:",
        "    JOB_TERMINATE_INTERVAL = %g" % float(cfg["terminate_interval"]),
        "",
        "Time a finished job is kept in memory:",
        "    CLEAN_PERIOD = %g" % float(cfg["clean_period"]),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def kill_all():
    import os
    import signal
    for job_id in state.job_ids():
        job = state.load_job(job_id)
        for element in state.elements(job) if job else []:
            if state.is_finished(element):
                continue
            for pid, group in ((element.get("supervisor_pid"), False), (element.get("pid"), True)):
                if not pid:
                    continue
                try:
                    if group:
                        os.killpg(pid, signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def one_element(text):
    found = bkill.targets(text)
    if found is None or len(found[1]) != 1:
        raise state.SimError("%s: not exactly one element" % text)
    return found


def main(argv):
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command == "supervise":
            return supervise.main(int(args[0]), int(args[1]))
        if command in ("host-lost", "host-back"):
            with state.locked():
                state.set_host_lost(args[0], command == "host-lost")
                scheduler.dispatch()
            return 0
        if command == "lose-host-of":
            job, (element,) = one_element(args[0])
            if not element.get("exec_host"):
                raise state.SimError("%s has not started" % args[0])
            state.set_host_lost(element["exec_host"], True)
            print(element["exec_host"])
            return 0
        if command == "force-exit":
            reason = args[1]
            code = int(args[2]) if len(args) > 2 else None
            with state.locked():
                found = bkill.targets(args[0])
                if found is None:
                    raise state.SimError("%s: no such job" % args[0])
                job, elements = found
                for element in elements:
                    if state.is_finished(element):
                        continue
                    if element["stat"] in ("PEND", "PSUSP"):
                        element.update(stat="EXIT", exit_code=code, exit_reason=reason, end=time.time())
                        state.save_element(job["id"], element)
                    else:
                        state.write_json(state.element_file(job["id"], element["index"], "kill"),
                                         {"reason": reason, "force": True, "exit_code": code,
                                          "time": time.time()})
                scheduler.dispatch()
            return 0
        if command in ("system-suspend", "system-resume"):
            with state.locked():
                job, (element,) = one_element(args[0])
                bkill.suspend(job, element, "SSUSP" if command == "system-suspend" else None)
            return 0
        if command == "fail-next":
            program, count, message = args[0], int(args[1]), args[2]
            created = "--created" in args[3:]
            code = 255
            if "--code" in args[3:]:
                code = int(args[args.index("--code") + 1])
            with state.locked():
                faults = state.read_json(state.path("faults.json"), {})
                faults[program] = {"count": count, "message": message, "created": created, "code": code}
                state.write_json(state.path("faults.json"), faults)
            return 0
        if command == "config":
            current = state.set_config(args) if args else state.config()
            print(json.dumps(current, indent=2, sort_keys=True))
            return 0
        if command == "show":
            found = bkill.targets(args[0])
            if found is None:
                raise state.SimError("%s: no such job" % args[0])
            job, elements = found
            print(json.dumps({"job": {k: v for k, v in job.items() if k != "env"},
                              "elements": elements}, indent=2, sort_keys=True))
            return 0
        if command == "kill-all":
            kill_all()
            return 0
        if command == "wait":
            limit = time.time() + (float(args[1]) if len(args) > 1 else 60)
            while time.time() < limit:
                found = bkill.targets(args[0])
                if found and all(state.is_finished(e) for e in found[1]):
                    return 0
                time.sleep(0.1)
            raise state.SimError("%s did not finish in time" % args[0])
    except (IndexError, ValueError) as e:
        sys.stderr.write("lsf-sim %s: bad arguments (%s)\n%s" % (command, e, __doc__))
        return 2
    except state.SimError as e:
        sys.stderr.write("lsf-sim %s: %s\n" % (command, e))
        return 1
    sys.stderr.write("lsf-sim: unknown command %r\n%s" % (command, __doc__))
    return 2
