"""Entry point shared by the programs in ../bin: dispatches on the program's name."""

import sys

from . import bjobs, bkill, bsub, hooks, state


def main(program, argv):
    commands = {
        "bsub": bsub.main,
        "bjobs": bjobs.main,
        "bkill": bkill.bkill,
        "bstop": lambda a: bkill.control(a, True),
        "bresume": lambda a: bkill.control(a, False),
        "bparams": hooks.bparams,
        "lsf-sim": hooks.main,
    }
    if program not in commands:
        sys.stderr.write("lsf-sim: unknown program name %r\n" % program)
        return 2
    try:
        return commands[program](argv)
    except state.SimError as e:
        sys.stderr.write("%s: %s\n" % (program, e))
        return 2
