"""init.command of task `smooth`: creates the input volume and an empty output volume.

Both are written crash-safely (temporary name, fsync, rename: see volume.atomic_write). If
this init is killed, blockorch runs it again on the next `submit`; an input that is already
complete is kept, anything else (a stray temporary, a torn file left by an older version of
this example) is replaced.
"""

import os

import volume

os.makedirs("data", exist_ok=True)
volume.remove_stale_temporaries("data")
if volume.is_complete("data/input.raw"):
    print("kept data/input.raw", volume.SHAPE)
else:
    volume.create("data/input.raw")
    print("wrote data/input.raw", volume.SHAPE)
volume.create("data/smooth.raw", fill=0.0)
print("wrote empty data/smooth.raw")
