"""Termination reasons as `bjobs -o exit_reason` prints them: `KEYWORD: description`.

The keywords are those of IBM's table "Termination reasons displayed by bacct, bhist, and bjobs";
the descriptions are short lower-case paraphrases of that table. TERM_HOST is not in IBM's table
but is accepted by `lsf-sim force-exit` because blockorch's design documents name it.
"""

DESCRIPTIONS = {
    "TERM_ADMIN": "job killed by root or LSF administrator",
    "TERM_BUCKET_KILL": "job killed with bkill -b",
    "TERM_CHKPNT": "job killed after checkpointing",
    "TERM_CPULIMIT": "job killed after reaching LSF CPU usage limit",
    "TERM_CWD_NOTEXIST": "current working directory is not accessible on the execution host",
    "TERM_DEADLINE": "job killed after deadline expires",
    "TERM_EXTERNAL_SIGNAL": "job killed by a signal external to LSF",
    "TERM_FORCE_ADMIN": "job killed by root or LSF administrator without time for cleanup",
    "TERM_FORCE_OWNER": "job killed by owner without time for cleanup",
    "TERM_HOST": "job killed because its execution host failed",
    "TERM_LOAD": "job killed after load exceeds threshold",
    "TERM_MEMLIMIT": "job killed after reaching LSF memory usage limit",
    "TERM_OWNER": "job killed by owner",
    "TERM_PREEMPT": "job killed after preemption",
    "TERM_PROCESSLIMIT": "job killed after reaching LSF process limit",
    "TERM_REMOVE_HUNG_JOB": "job removed from LSF",
    "TERM_RUNLIMIT": "job killed after reaching LSF run time limit",
    "TERM_SWAP": "job killed after reaching LSF swap usage limit",
    "TERM_THREADLIMIT": "job killed after reaching LSF thread limit",
    "TERM_WINDOW": "job killed after queue run window closed",
    "TERM_ZOMBIE": "job exited while LSF is not available",
}


def text(keyword):
    """`TERM_RUNLIMIT: job killed after reaching LSF run time limit`."""
    return "%s: %s" % (keyword, DESCRIPTIONS.get(keyword, "job terminated"))
