"""Train the default 12-lead model into models/: the same as ``python -m train recipe run default-12lead``.

    python scripts/train_default_model.py [--epochs N] [--models-dir DIR] [--work DIR] [--workers N]

Kept so that older instructions keep working; the recipe is train/recipes/shipped/default_12lead.py.
"""

from __future__ import annotations

import sys

from train.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["recipe", "run", "default-12lead", *sys.argv[1:]]))
