"""Run one of issue #7's experiments and write its table + plot to docs/experiments/ (seeded).

    python scripts/run_experiment.py pu            # PU vs BCE with 30%/60% hidden positives (~35 min)
    python scripts/run_experiment.py single-lead   # electrical-axis augmentation, single-lead bundle (~40 min)
    python scripts/run_experiment.py downstream    # linear probe vs fine-tune vs scratch (~35 min)
    python scripts/run_experiment.py contrastive   # SimCLR pretraining, then the same probes (~15 min)
    python scripts/run_experiment.py learning-curve  # the default recipe at 25/50/100% of the data, 3 seeds (~70 min)

Options: --epochs N, --seeds 0,1, --workers N (default: one per core). Intermediate fits go to
artifacts/<experiment>/ (the learning curve: artifacts/default_12lead/, sharing the shipped recipe's fits; resumable: finished fits are reused when the same command runs again).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXPERIMENTS = {"pu": "train.recipes.pu_labels", "single-lead": "train.recipes.single_lead",
               "downstream": "train.recipes.downstream", "contrastive": "train.recipes.contrastive",
               "learning-curve": "train.recipes.learning_curve"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: the recipe's)")
    parser.add_argument("--workers", type=int, default=None, help="parallel fits (default: one per core)")
    args = parser.parse_args()
    recipe = importlib.import_module(EXPERIMENTS[args.experiment])
    options = {"log": lambda m: print(m, flush=True), "workers": args.workers}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.seeds:
        options["seeds"] = tuple(int(s) for s in args.seeds.split(","))
    recipe.run(**options)
    from train.experiments import write_experiments_index

    print(f"updated {write_experiments_index(Path(__file__).resolve().parents[1] / 'docs' / 'experiments')}")


if __name__ == "__main__":
    main()
