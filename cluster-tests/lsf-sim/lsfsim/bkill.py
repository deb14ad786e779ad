"""bkill, bstop and bresume.

bkill id...: a pending element ends at once (EXIT, TERM_OWNER, or TERM_ADMIN when the caller
has BLOCKORCH_LSF_SIM_ADMIN=1); a running one gets SIGINT and SIGTERM, then SIGKILL after
JOB_TERMINATE_INTERVAL, and ends EXIT with that reason. Replies, one per id as given:
`Job <123[4]> is being terminated`, `Job <123[4]>: Job has already finished`,
`Job <999>: No matching job found` (the last two on stderr, exit status 255).
`-r` removes the job at once (TERM_FORCE_OWNER/TERM_FORCE_ADMIN) and SIGKILLs it; `-s SIG`
only sends a signal (`Job <123> is being signaled`).

bstop/bresume id...: PEND ↔ PSUSP, RUN ↔ USUSP (SIGSTOP/SIGCONT through the supervisor).
"""

import os
import sys
import time

from . import scheduler, state
from .bjobs import parse_target
from .options import Rejected, parse_signal


def targets(text):
    """(job, elements) for an id as given, or None."""
    target = parse_target(text)
    job = state.load_job(target[0]) if target else None
    if job is None:
        return None
    elements = state.elements(job)
    if target[1] is not None:
        elements = [e for e in elements if e["index"] in target[1]]
    return (job, elements) if elements else None


def terminate(job, element, reason, force):
    """Asks for the end of one unfinished element (lock held)."""
    if element["stat"] in ("PEND", "PSUSP"):
        element.update(stat="EXIT", exit_code=None, exit_reason=reason, end=time.time())
        state.save_element(job["id"], element)
        return
    state.write_json(state.element_file(job["id"], element["index"], "kill"),
                     {"reason": reason, "force": force, "time": time.time()})
    if force:
        element.update(stat="EXIT", exit_code=None, exit_reason=reason, end=time.time())
        state.save_element(job["id"], element)


def bkill(argv):
    state.log_command("bkill", argv)
    admin = os.environ.get("BLOCKORCH_LSF_SIM_ADMIN") == "1"
    force = False
    sig = None
    ids = []
    i = 0
    try:
        while i < len(argv):
            word = argv[i]
            if word == "-r":
                force = True
            elif word == "-s":
                if i + 1 >= len(argv):
                    return state.fail("bkill: -s needs a signal")
                i += 1
                sig = parse_signal(argv[i])
            elif word.startswith("-"):
                return state.fail("bkill: %s: option not simulated" % word)
            elif word == "0":
                return state.fail("bkill: job id 0 (all jobs) is not simulated")
            else:
                ids.append(word)
            i += 1
    except Rejected as e:
        return state.fail("bkill: %s" % e)
    if not ids:
        return state.fail("bkill: no job id given")
    if force:
        reason = "TERM_FORCE_ADMIN" if admin else "TERM_FORCE_OWNER"
    else:
        reason = "TERM_ADMIN" if admin else "TERM_OWNER"
    failed = False
    with state.locked():
        fault = state.take_fault("bkill")
        if fault is not None:
            return state.fail(fault["message"], int(fault.get("code", 255)))
        for text in ids:
            found = targets(text)
            if found is None:
                sys.stderr.write("Job <%s>: No matching job found\n" % text)
                failed = True
                continue
            job, elements = found
            live = [e for e in elements if not state.is_finished(e)]
            if not live:
                sys.stderr.write("Job <%s>: Job has already finished\n" % text)
                failed = True
                continue
            for element in live:
                if sig is not None:
                    if element["stat"] not in ("PEND", "PSUSP"):
                        state.write_json(state.element_file(job["id"], element["index"], "kill"),
                                         {"signal": sig, "time": time.time()})
                else:
                    terminate(job, element, reason, force)
            verb = "signaled" if sig is not None else "terminated"
            sys.stdout.write("Job <%s> is being %s\n" % (text, verb))
        scheduler.dispatch()
    return 255 if failed else 0


def control(argv, stop):
    program = "bstop" if stop else "bresume"
    state.log_command(program, argv)
    if not argv:
        return state.fail("%s: no job id given" % program)
    failed = False
    with state.locked():
        for text in argv:
            found = targets(text)
            if found is None:
                sys.stderr.write("Job <%s>: No matching job found\n" % text)
                failed = True
                continue
            job, elements = found
            live = [e for e in elements if not state.is_finished(e)]
            if not live:
                sys.stderr.write("Job <%s>: Job has already finished\n" % text)
                failed = True
                continue
            for element in live:
                suspend(job, element, "USUSP" if stop else None)
            sys.stdout.write("Job <%s> is being %s\n" % (text, "stopped" if stop else "resumed"))
        scheduler.dispatch()
    return 255 if failed else 0


def suspend(job, element, stat):
    """`stat` USUSP/SSUSP suspends, None resumes (lock held)."""
    if element["stat"] in ("PEND", "PSUSP"):
        element["stat"] = "PSUSP" if stat else "PEND"
        state.save_element(job["id"], element)
    else:
        state.write_json(state.element_file(job["id"], element["index"], "ctl"), {"stop": stat})
