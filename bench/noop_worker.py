"""A blockorch worker program whose block body does nothing (throughput benchmark).

It uses the shipped helper (python/blockorch_worker.py) exactly as a user would, so the
per-block cost measured includes the helper's parsing (Block/Roi objects) and reporting.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from blockorch_worker import run  # noqa: E402


def process(block):
    pass


run(process)
