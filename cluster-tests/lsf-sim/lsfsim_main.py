"""Runs one program of the LSF simulator: `python3 lsfsim_main.py PROGRAM ARGS...`, where
PROGRAM is bsub, bjobs, bkill, bstop, bresume, bparams or lsf-sim (what bin/ does)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lsfsim.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
