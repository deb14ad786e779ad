"""init.command of task `smooth`: creates the input volume and an empty output volume."""

import os

import volume

os.makedirs("data", exist_ok=True)
if not os.path.exists("data/input.raw"):
    volume.create("data/input.raw")
    print("wrote data/input.raw", volume.SHAPE)
volume.create("data/smooth.raw", fill=0.0)
print("wrote empty data/smooth.raw")
