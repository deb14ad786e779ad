"""bsub's options: from the command line and from `#BSUB` lines of the script, checked and
turned into a submission record.

Formats follow IBM's bsub reference: `-J "name[1-10,15]%4"` (index list with ranges and
`:step`, `%M` running limit), `-W [hour:]minute[/host_spec]`, `-wt [hour:]minute`, `-wa signal`,
`-M limit[unit][!]` (unit from LSF_UNIT_FOR_LIMITS when absent), `-R "..."` (repeatable),
`-gpu "num=N..."`, `-n N`, `-o/-oo/-e/-eo file` with `%J` and `%I`. Error messages end with
"Job not submitted." like LSF's; their exact wording is the simulator's own.
"""

import re
import shlex
import signal

# Options that take a value, and options that do not (a subset of bsub's; others are refused).
WITH_VALUE = {
    "-J", "-q", "-P", "-W", "-We", "-n", "-M", "-R", "-gpu", "-o", "-oo", "-e", "-eo", "-cwd",
    "-wa", "-wt", "-app", "-G", "-u", "-m", "-b", "-t", "-w", "-E", "-Ep", "-L", "-sp", "-c",
    "-v", "-D", "-S", "-C", "-F", "-g", "-sla", "-Lp", "-i", "-is", "-env", "-ptl", "-Jd",
    "-k", "-f", "-T", "-p", "-rnc", "-stage", "-data", "-datagrp", "-outdir", "-eptl",
}
WITHOUT_VALUE = {"-x", "-N", "-B", "-r", "-rn", "-H", "-K", "-hl", "-ti", "-Zs", "-I", "-Is", "-Ip", "-IX"}
INTERACTIVE = {"-I", "-Is", "-Ip", "-IX"}
# Options whose later occurrences add to the earlier ones instead of replacing them.
REPEATABLE = {"-R"}

UNITS = {
    "K": 1 << 10, "KB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "G": 1 << 30, "GB": 1 << 30,
    "T": 1 << 40, "TB": 1 << 40, "P": 1 << 50, "PB": 1 << 50, "E": 1 << 60, "EB": 1 << 60,
}


class Rejected(Exception):
    """bsub refuses the submission; the message is printed as is."""


def parse_args(argv, source):
    """Splits bsub arguments into (options, command words). `source` names them in errors."""
    options = {}
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            break
        if word == "--":
            i += 1
            break
        if word in WITH_VALUE:
            if i + 1 >= len(argv):
                raise Rejected("%s: option %s needs a value. Job not submitted." % (source, word))
            value = argv[i + 1]
            if word in REPEATABLE and word in options:
                options[word] = options[word] + [value]
            else:
                options[word] = [value] if word in REPEATABLE else value
            i += 2
        elif word in WITHOUT_VALUE:
            options[word] = True
            i += 1
        else:
            raise Rejected("%s: illegal option %s. Job not submitted." % (source, word))
    return options, argv[i:]


def script_directives(script):
    """The options of the `#BSUB` lines at the top of `script` (before its first command)."""
    options = {}
    for number, line in enumerate(script.splitlines(), 1):
        stripped = line.strip()
        if not stripped or (number == 1 and stripped.startswith("#!")):
            continue
        if stripped.startswith("#BSUB"):
            try:
                words = shlex.split(stripped[len("#BSUB"):])
            except ValueError as e:
                raise Rejected("line %d: %s: %s. Job not submitted." % (number, stripped, e))
            found, rest = parse_args(words, "line %d" % number)
            if rest:
                raise Rejected("line %d: unexpected %r after the options. Job not submitted."
                               % (number, " ".join(rest)))
            for name, value in found.items():
                if name in REPEATABLE and name in options:
                    options[name] = options[name] + value
                else:
                    options[name] = value
            continue
        if stripped.startswith("#"):
            continue
        break
    return options


def merge(directives, command_line):
    """Command-line options take precedence over `#BSUB` lines (repeatable ones add up)."""
    merged = dict(directives)
    for name, value in command_line.items():
        if name in REPEATABLE and name in merged:
            merged[name] = merged[name] + value
        else:
            merged[name] = value
    return merged


def parse_minutes(text, what):
    """`[hour:]minute` → minutes."""
    match = re.fullmatch(r"(?:(\d+):)?(\d+)", text.strip())
    if not match:
        raise Rejected("%s: bad time specification %r; use [hour:]minute. Job not submitted." % (what, text))
    hours, minutes = match.group(1), int(match.group(2))
    if hours is not None:
        if minutes > 59:
            raise Rejected("%s: bad time specification %r: minutes must be below 60 after hours. "
                           "Job not submitted." % (what, text))
        minutes += int(hours) * 60
    return minutes


def parse_index_list(text):
    """`1-10,15,20-30:5` → sorted unique indices (all ≥ 1)."""
    indices = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if not match:
            raise Rejected("Bad job array index list %r. Job not submitted." % text)
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else start
        step = int(match.group(3)) if match.group(3) else 1
        if start < 1 or end < start or step < 1:
            raise Rejected("Bad job array index list %r: indices start at 1. Job not submitted." % text)
        indices.update(range(start, end + 1, step))
    return sorted(indices)


def parse_job_name(text, max_size):
    """`name[list]%M` → (array name, indices or None, max running or None)."""
    match = re.fullmatch(r"(.*)\[([^\[\]]+)\](?:%(\d+))?", text)
    if not match:
        if "[" in text or "]" in text:
            raise Rejected("Bad job name %r. Job not submitted." % text)
        return text, None, None
    name, indices = match.group(1), parse_index_list(match.group(2))
    if len(indices) > max_size:
        raise Rejected("The job array has %d elements, more than MAX_JOB_ARRAY_SIZE (%d). "
                       "Job not submitted." % (len(indices), max_size))
    limit = int(match.group(3)) if match.group(3) else None
    if limit is not None and limit < 1:
        raise Rejected("Bad job array running limit %%%s. Job not submitted." % match.group(3))
    return name, indices, limit


def parse_memory(text, default_unit):
    """`-M 16G`, `-M 500MB!`, `-M 1024` (in LSF_UNIT_FOR_LIMITS) → bytes."""
    match = re.fullmatch(r"(\d+)\s*([A-Za-z]*)(!?)", text.strip())
    unit = (match.group(2) if match else "").upper() or default_unit.upper()
    if not match or unit not in UNITS:
        raise Rejected("Bad memory limit %r. Job not submitted." % text)
    return int(match.group(1)) * UNITS[unit]


def parse_signal(text):
    name = text.strip().upper()
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(signal, name))
    except AttributeError:
        raise Rejected("Bad signal %r. Job not submitted." % text)


def parse_gpu(text):
    """`num=2:mode=shared` → 2; `-` → 1 (the site default)."""
    if text.strip() == "-":
        return 1
    for part in text.split(":"):
        key, _, value = part.partition("=")
        if key.strip() == "num":
            if not value.strip().isdigit():
                raise Rejected("Bad GPU requirement %r. Job not submitted." % text)
            return int(value)
    return 1
