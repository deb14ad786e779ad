"""A worker file in DaCapo's style: ``start_worker`` is a daisy.Client loop, imported from a
module of its own (by reference in the workers). Used by dacapo_bridge.py."""

import json
import os

import daisy


def start_worker(out, scale):
    client = daisy.Client()
    while True:
        with client.acquire_block() as block:
            if block is None:
                break
            path = os.path.join(out, "%s-%d.json" % block.block_id)
            with open(path, "w") as f:
                json.dump({"id": block.block_id[1], "scaled": block.write_roi.size * scale}, f)
