"""Run a named recipe: the same as ``python -m train recipe run NAME`` (``python -m train recipe list``).

    python scripts/run_experiment.py pu-labels|default-1lead|downstream|contrastive|learning-curve [--epochs N]
        [--seeds 0,1] [--workers N]

Kept so that older instructions keep working (their names ``pu`` and ``single-lead`` still work).
"""

from __future__ import annotations

import sys

from train.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["recipe", "run", *sys.argv[1:]]))
