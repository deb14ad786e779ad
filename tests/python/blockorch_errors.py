"""blockorch only: a block that raises fails alone (its traceback in the slot's stderr log),
and a task definition blockorch refuses raises blockorch.TaskError with blockorch's message."""

import blockorch
import blockorch.compat.daisy

assert blockorch.compat.daisy.Task is blockorch.Task
assert blockorch.compat.daisy.Client is blockorch.Client


def fail_block_3(block):
    if block.block_id[1] == 3:
        raise ValueError("boom in block 3")


task = blockorch.Task(
    "fails",
    blockorch.Roi((0,), (10,)),
    blockorch.Roi((0,), (2,)),
    blockorch.Roi((0,), (2,)),
    fail_block_3,
    max_retries=0,
)
print("run_blockwise:", blockorch.run_blockwise([task], ledger="fails.ledger", progress=False))

bad = blockorch.Task(
    "bad",
    blockorch.Roi((0,), (10,)),
    blockorch.Roi((0,), (2,)),
    blockorch.Roi((1,), (4,)),
    fail_block_3,
)
try:
    blockorch.run_blockwise([bad])
    print("no TaskError")
except blockorch.TaskError as e:
    print("TaskError:", e)
