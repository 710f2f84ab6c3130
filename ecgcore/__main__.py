"""``python -m ecgcore``: see :mod:`ecgcore.cli`."""

import sys

from ecgcore.cli import main

if __name__ == "__main__":
    sys.exit(main())
