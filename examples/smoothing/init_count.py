"""init.command of task `count`: starts an empty directory of per-block counts.

It runs before any block of `count`, so nothing in data/counts/ can be a result yet: whatever
a killed earlier attempt left there is removed.
"""

import os
import shutil

shutil.rmtree("data/counts", ignore_errors=True)
os.makedirs("data/counts")
