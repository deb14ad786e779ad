"""bjobs: job states, default or `-o "field ... [delimiter='c']"` output.

Documented behaviour reproduced: `-noheader`; `-o` fields by name (case-insensitive, an
optional `:width` is accepted and ignored), `delimiter='c'` (default: a space); an unknown
value prints `-`; array elements are one row each, `jobid` holds the array's id and `jobindex`
the element's index (0 for a plain job); `Job <id> is not found` on stderr for an unknown id;
with ids, jobs in every state are shown (until CLEAN_PERIOD after they end), without ids only
unfinished ones unless -a (all) or -d (finished); exit status 255 when some id was not found and
nothing was printed (or always with LSB_BJOBS_CONSISTENT_EXIT_CODE=Y).

States are reconciled from the element records: an element whose host was marked lost shows
UNKWN (ZOMBI once bkill was asked for it), as does a running element whose supervisor is gone.
"""

import fnmatch
import os
import re
import sys
import time

from . import reasons, scheduler, state

FIELDS = {
    "jobid": "JOBID", "id": "JOBID",
    "jobindex": "JOBINDEX",
    "stat": "STAT",
    "exit_code": "EXIT_CODE",
    "exec_host": "EXEC_HOST",
    "exit_reason": "EXIT_REASON",
    "time_left": "TIME_LEFT",
    "job_name": "JOB_NAME", "name": "JOB_NAME",
    "queue": "QUEUE",
    "user": "USER",
    "proj_name": "PROJ_NAME", "project": "PROJ_NAME",
    "from_host": "FROM_HOST",
    "slots": "SLOTS",
    "submit_time": "SUBMIT_TIME",
}


class Usage(Exception):
    pass


def parse_target(text):
    """`123` → (123, None); `123[7]` or `123[1-5,9]` → (123, [indices])."""
    match = re.fullmatch(r"(\d+)(?:\[([0-9,:\-]+)\])?", text.strip())
    if not match:
        return None
    if match.group(2) is None:
        return int(match.group(1)), None
    from .options import Rejected, parse_index_list
    try:
        return int(match.group(1)), parse_index_list(match.group(2))
    except Rejected:
        return None


def parse_format(text):
    delimiter = " "
    match = re.search(r"delimiter\s*=\s*(['\"])(.*?)\1", text)
    if match:
        delimiter = match.group(2)
        text = text[: match.start()] + text[match.end():]
    fields = []
    for word in text.split():
        name = word.split(":")[0].lower()
        if name not in FIELDS:
            raise Usage("%s: Illegal field name in the -o format. Job not displayed." % name)
        fields.append(name)
    if not fields:
        raise Usage("-o: no field given.")
    return fields, delimiter


def displayed_stat(job, element, now):
    stat = element["stat"]
    host = element.get("exec_host")
    if host and stat != "PEND" and stat != "PSUSP":
        lost = state.host_lost_since(host)
        if lost is not None and (not state.is_finished(element) or (element.get("end") or 0) >= lost):
            killing = os.path.exists(state.element_file(job["id"], element["index"], "kill"))
            return "ZOMBI" if killing else "UNKWN"
    if stat in scheduler.ACTIVE:
        supervisor = element.get("supervisor_pid")
        if supervisor and now - (element.get("start") or now) > 2 and not state.pid_alive(supervisor):
            return "UNKWN"
    return stat


def time_left(job, element, stat, cfg, now):
    if not job.get("runlimit_minutes") or stat not in ("RUN", "USUSP", "SSUSP"):
        return "-"
    minute = float(cfg["minute_seconds"])
    left = job["runlimit_minutes"] * minute - (now - element["start"])
    minutes = max(0, int(left // minute))
    return "%d:%02d L" % (minutes // 60, minutes % 60)


def value(field, job, element, stat, cfg, now):
    finished = stat in state.FINISHED
    if field in ("jobid", "id"):
        return str(job["id"])
    if field == "jobindex":
        return str(element["index"])
    if field == "stat":
        return stat
    if field == "exit_code":
        code = element.get("exit_code")
        return str(code) if stat == "EXIT" and code is not None else "-"
    if field == "exec_host":
        host = element.get("exec_host")
        if not host or stat in ("PEND", "PSUSP"):
            return "-"
        return host if job["slots"] == 1 else "%d*%s" % (job["slots"], host)
    if field == "exit_reason":
        reason = element.get("exit_reason")
        return reasons.text(reason) if finished and reason else "-"
    if field == "time_left":
        return time_left(job, element, stat, cfg, now)
    if field in ("job_name", "name"):
        return job["name"] + ("[%d]" % element["index"] if job["array"] else "")
    if field == "queue":
        return job["queue"]
    if field == "user":
        return job["user"]
    if field in ("proj_name", "project"):
        return job.get("project") or "default"
    if field == "from_host":
        return job["from_host"]
    if field == "slots":
        return str(job["slots"])
    if field == "submit_time":
        return time.strftime("%b %d %H:%M", time.localtime(job["submit_time"]))
    return "-"


def visible(element, cfg, now):
    if not state.is_finished(element):
        return True
    return now - (element.get("end") or now) <= float(cfg["clean_period"])


def name_matches(job, element, pattern):
    full = job["name"] + ("[%d]" % element["index"] if job["array"] else "")
    return fnmatch.fnmatchcase(job["name"], pattern) or fnmatch.fnmatchcase(full, pattern)


def parse_args(argv):
    opts = {"all": False, "done": False, "running": False, "pending": False, "header": True,
            "format": None, "name": None, "queue": None, "ids": []}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "-a":
            opts["all"] = True
        elif word == "-d":
            opts["done"] = True
        elif word == "-r":
            opts["running"] = True
        elif word == "-p":
            opts["pending"] = True
        elif word == "-noheader":
            opts["header"] = False
        elif word in ("-w", "-W", "-l", "-UF", "-X"):
            pass
        elif word in ("-o", "-J", "-u", "-q", "-m", "-P", "-G", "-g", "-app"):
            if i + 1 >= len(argv):
                raise Usage("%s: option needs a value." % word)
            i += 1
            if word == "-o":
                opts["format"] = argv[i]
            elif word == "-J":
                opts["name"] = argv[i]
            elif word == "-q":
                opts["queue"] = argv[i]
        elif word.startswith("-"):
            raise Usage("%s: illegal option." % word)
        else:
            opts["ids"].append(word)
        i += 1
    return opts


def main(argv):
    state.log_command("bjobs", argv)
    cfg = state.config()
    now = time.time()
    try:
        opts = parse_args(argv)
        fields, delimiter = parse_format(opts["format"] or "jobid user stat queue from_host exec_host job_name submit_time")
        if "exit_reason" in fields and not cfg["exit_reason_field"]:
            raise Usage("exit_reason: Illegal field name in the -o format. Job not displayed.")
    except Usage as e:
        return state.fail("bjobs: %s" % e)
    with state.locked():
        fault = state.take_fault("bjobs")
        if fault is None:
            scheduler.dispatch()
    if fault is not None:
        return state.fail(fault["message"], int(fault.get("code", 255)))

    rows = []
    not_found = []

    def wanted(stat):
        if opts["running"] and stat not in ("RUN", "USUSP", "SSUSP", "UNKWN"):
            return False
        if opts["pending"] and stat not in ("PEND", "PSUSP"):
            return False
        if opts["done"] and stat not in state.FINISHED:
            return False
        return True

    def add(job, element):
        stat = displayed_stat(job, element, now)
        if not wanted(stat):
            return
        if opts["name"] and not name_matches(job, element, opts["name"]):
            return
        if opts["queue"] and job["queue"] != opts["queue"]:
            return
        rows.append([value(f, job, element, stat, cfg, now) for f in fields])

    if opts["ids"]:
        for text in opts["ids"]:
            target = parse_target(text)
            job = state.load_job(target[0]) if target else None
            shown = [e for e in state.elements(job) if visible(e, cfg, now)] if job else []
            if target and target[1] is not None:
                shown = [e for e in shown if e["index"] in target[1]]
            if not shown:
                not_found.append(text)
            for element in shown:
                add(job, element)
    else:
        ids = state.job_ids() if (opts["all"] or opts["done"]) else scheduler.active_ids()
        for job_id in ids:
            job = state.load_job(job_id)
            if job is None:
                continue
            for element in state.elements(job):
                if not visible(element, cfg, now):
                    continue
                if not (opts["all"] or opts["done"]) and state.is_finished(element):
                    continue
                add(job, element)

    out = []
    if rows and opts["header"]:
        out.append(delimiter.join(FIELDS[f] for f in fields))
    out += [delimiter.join(r) for r in rows]
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    for text in not_found:
        sys.stderr.write("Job <%s> is not found\n" % text)
    if not opts["ids"] and not rows:
        sys.stderr.write("No unfinished job found\n" if not (opts["all"] or opts["done"]) else "No job found\n")
        return 255 if cfg["bjobs_consistent_exit_code"] else 0
    if not_found and (not rows or cfg["bjobs_consistent_exit_code"]):
        return 255
    return 0
