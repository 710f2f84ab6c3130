"""``python -m ecgcore``: see :mod:`ecgcore.cli`."""

import os
import sys

# Folder scoring overlaps reader processes with the model's OpenMP threads. Spinning idle threads
# would steal the readers' CPU on small machines, so the CLI lets them sleep (measured: 19.4 ->
# 16.5 ms per record on 2 cores). Must be set before torch loads OpenMP; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ecgcore.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
