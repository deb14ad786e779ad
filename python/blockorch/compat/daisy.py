"""daisy's public API on blockorch: ``import blockorch.compat.daisy as daisy`` is the only
change a daisy 1.x/2.x driver or worker needs for what docs/python.md lists as supported.
``import blockorch as daisy`` gives the same names."""

from .. import *  # noqa: F401,F403  (re-exported: the package's public names)
from .. import __all__  # noqa: F401
