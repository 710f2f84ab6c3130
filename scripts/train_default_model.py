"""Train the default 12-lead model and write it to models/ (one command, seeded, ~30 min on 2 CPU cores).

    python scripts/train_default_model.py [--epochs N] [--no-learning-curve] [--models-dir DIR]

See train/recipes/default_12lead.py for the recipe and docs/training.md for the results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.recipes import default_12lead  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (testing only)")
    parser.add_argument("--no-learning-curve", action="store_true")
    parser.add_argument("--models-dir", type=Path, default=default_12lead.REPO / "models")
    parser.add_argument("--work-dir", type=Path, default=default_12lead.REPO / "artifacts" / "default_12lead")
    args = parser.parse_args()
    default_12lead.run(models_dir=args.models_dir, work=args.work_dir, epochs=args.epochs,
                       learning_curve=not args.no_learning_curve, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
