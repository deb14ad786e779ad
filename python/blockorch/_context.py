"""``Context``: daisy's worker context, from the environment blockorch gives a worker."""

import os


class Context(dict):
    """The worker's identity, as the string mapping ``daisy.Context`` is: ``task_id``,
    ``worker_id``, ``slot`` and ``ledger`` (from ``BLOCKORCH_TASK``, ``BLOCKORCH_WORKER_ID``,
    ``BLOCKORCH_SLOT``, ``BLOCKORCH_LEDGER``). blockorch workers need no connection details."""

    @staticmethod
    def from_env():
        """The context of this worker process (empty values outside a blockorch worker)."""
        return Context(
            task_id=os.environ.get("BLOCKORCH_TASK", ""),
            worker_id=os.environ.get("BLOCKORCH_WORKER_ID", ""),
            slot=os.environ.get("BLOCKORCH_SLOT", ""),
            ledger=os.environ.get("BLOCKORCH_LEDGER", ""),
        )

    def to_env(self):
        """Not needed by blockorch (workers get their environment from the agent)."""
        return ",".join("%s:%s" % kv for kv in self.items())
