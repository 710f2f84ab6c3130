"""``python -m train build-dataset|fit|evaluate|linear-probe|recipe ...`` (``ecg train ...`` is the same command;
``torchrun --nproc_per_node N -m train fit ...`` on GPUs).

``from-reviews`` fine-tunes the review store's current default model on the reviewed records into a
candidate bundle, compared with it (docs/learning_loop.md); an admin promotes it with
``python -m db models promote``.

``recipe list`` shows the named recipes (the shipped models and the experiments), ``recipe show NAME``
their settings, ``recipe run NAME`` runs one.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from pathlib import Path

import numpy as np


def _folds(text: str | None) -> list[int] | None:
    return None if not text else [int(v) for v in text.split(",")]


def _seeds(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _show_logs() -> None:
    """Progress of fits and recipes (``logging`` at INFO) on stderr, unless the caller set up logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")


def _recipe_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from train.recipes import RECIPES, get_recipe, settings_dict

    if args.recipe_command == "list":
        width = max(map(len, RECIPES))
        for kind in ("shipped", "experiment"):
            print(f"{kind}:")
            for r in RECIPES.values():
                if r.kind == kind:
                    print(f"  {r.name:<{width}}  {r.summary} (~{r.minutes} min) -> {r.writes}")
        return 0
    try:
        recipe = get_recipe(args.name)
        settings = recipe.resolved(epochs=args.epochs, seeds=_seeds(args.seeds) if args.seeds else None)
    except (KeyError, ValueError) as error:
        parser.error(str(error.args[0]))
    if args.recipe_command == "show":
        print(json.dumps({"name": recipe.name, "kind": recipe.kind, "settings": settings_dict(settings)}, indent=1))
        return 0
    accepted = inspect.signature(recipe.run).parameters
    options = {"workers": args.workers}
    for key in ("work", "models_dir", "docs"):
        value = getattr(args, key)
        if value is not None:
            if key not in accepted:
                parser.error(f"recipe {recipe.name!r} takes no --{key.replace('_', '-')}")
            options[key] = Path(value)
    _show_logs()
    recipe.run(settings, **options)
    if "docs" in accepted:
        from train.experiments import write_experiments_index
        from train.paths import EXPERIMENT_DOCS_DIR

        print(f"updated {write_experiments_index(options.get('docs', EXPERIMENT_DOCS_DIR))}")
    return 0


def _from_reviews(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm

    from train.candidate import CandidateConfig, candidate_from_store, train_candidate

    try:
        config = CandidateConfig(holdout_fraction=args.holdout_fraction, epochs=args.epochs, lr=args.lr,
                                 batch_size=args.batch_size, seed=args.seed, n_boot=args.n_boot)
    except ValueError as error:
        parser.error(str(error))
    bar = tqdm(total=100, unit="%", desc="candidate")

    def progress(fraction: float, stage: str) -> None:
        bar.set_description(stage[:60])
        bar.update(round(100 * fraction) - bar.n)

    from db import config as store_config
    from ecgcore.errors import ECGError

    rehearsal = args.rehearsal_set or store_config.rehearsal_set()
    reference = args.reference_set or store_config.reference_test_set()
    try:
        if args.export:  # an export made earlier (python -m db export): no store needed
            from db.model_registry import default_bundle
            from db.session import Database

            store = Database() if store_config.db_url() else None  # the store's default when one is configured
            result = train_candidate(args.export, args.base or default_bundle(store, args.leads),
                                     args.candidates_dir or store_config.candidates_dir(), rehearsal_set=rehearsal,
                                     reference_set=reference, config=config, started_by=args.by, on_progress=progress)
        else:
            from db.session import Database

            result = candidate_from_store(Database(), actor=args.by, base_bundle=args.base, n_leads=args.leads,
                                          candidates_dir=args.candidates_dir, rehearsal_set=rehearsal,
                                          reference_set=reference, config=config, on_progress=progress)
    except (ECGError, ValueError, OSError) as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 1
    bar.close()
    from train.compare import comparison_table

    print(f"candidate: {result.bundle_dir} ({result.card.display_name}); held out {len(result.holdout_records)} "
          "reviewed records")
    for name, summary in result.comparison["sets"].items():
        if summary.get("macro_diff") is not None:
            low, high = summary["macro_diff_ci"]
            print(f"{name}: macro AUROC {summary['macro_auroc_base']:.3f} -> {summary['macro_auroc_candidate']:.3f} "
                  f"(difference {summary['macro_diff']:+.3f}, 95% CI {low:+.3f} to {high:+.3f}), "
                  f"{summary['n_changed_calls']} calls changed")
    table = comparison_table(result.comparison)
    if len(table):
        print(table[["set", "label", "n", "positives", "AUROC current", "AUROC candidate", "difference",
                     "difference 95% CI"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("promote (admin): python -m db models promote " + str(result.bundle_dir) + " --by NAME")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build-dataset", help="adapters -> one on-disk training set (built once, reused)")
    b.add_argument("kind", choices=["ptbxl", "challenge", "code15", "review-export", "shared", "cinc2017"])
    b.add_argument("root", help="dataset folder (PTB-XL root, Challenge folder, export folder, ../shared/data)")
    b.add_argument("out", help="output folder, e.g. data/local/ptbxl")
    b.add_argument("--sampling-rate", type=int, default=None, help="PTB-XL: 100 or 500 Hz (default 500)")
    b.add_argument("--limit", type=int, default=None)

    f = sub.add_parser("fit", help="train from scratch, fine-tune a bundle/official .pth, or linear-probe")
    f.add_argument("dataset")
    f.add_argument("out_dir")
    f.add_argument("--model", default="net1d-small-12lead")
    f.add_argument("--init", default=None, help="bundle folder or official ECGFounder .pth to start from")
    f.add_argument("--linear-probe", action="store_true", help="freeze the backbone, train the head only")
    f.add_argument("--labels", default=None, help="comma-separated label names (default: >= --min-positives)")
    f.add_argument("--min-positives", type=int, default=10)
    f.add_argument("--train-split", default="train")
    f.add_argument("--val-split", default="val", help="'' for none (then fixed epochs)")
    f.add_argument("--train-folds", default=None, help="comma-separated folds instead of --train-split")
    f.add_argument("--val-folds", default=None)
    f.add_argument("--epochs", type=int, default=30)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--lr", type=float, default=3e-3)
    f.add_argument("--weight-decay", type=float, default=0.05)
    f.add_argument("--patience", type=int, default=8, help="early stopping patience (0: off)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-augment", action="store_true")
    f.add_argument("--loss", choices=["bce", "pu"], default="bce",
                   help="pu: positive-unlabeled (nnPU) for incomplete labels; give --label-frequency or --prior")
    f.add_argument("--label-frequency", type=float, default=None,
                   help="PU: chance that a true positive carries its label (e.g. 0.7 if ~30%% are missing)")
    f.add_argument("--prior", type=float, default=None, help="PU: true prevalence of every label instead")
    f.add_argument("--single-lead", default=None, metavar="LEAD",
                   help="train a single-lead model on this lead of a 12-lead set (e.g. I)")
    f.add_argument("--axis-augment", action="store_true",
                   help="with --single-lead: virtual leads from the frontal-plane dipole (electrical-axis augmentation)")
    f.add_argument("--extra-dataset", action="append", default=[],
                   help="with --single-lead: another (e.g. single-lead CinC 2017) set to train on as well")
    f.add_argument("--no-resume", action="store_true", help="start over even if OUT_DIR/last.pt exists")
    f.add_argument("--name", default="net1d-model", help="bundle name")

    e = sub.add_parser("evaluate", help="AUROC/AUPRC with CIs, thresholds from validation, report + plots")
    e.add_argument("--bundle", required=True)
    e.add_argument("--dataset", required=True)
    e.add_argument("--test-split", default="test")
    e.add_argument("--val-split", default="val", help="thresholds chosen here; '' = use the card's thresholds")
    e.add_argument("--out", default=None, help="folder for report.md, metrics.json, plots")
    e.add_argument("--write-thresholds", action="store_true", help="store the validation thresholds in the card")
    e.add_argument("--n-boot", type=int, default=1000)

    lp = sub.add_parser("linear-probe", help="fit and evaluate a probe on `ecg embed` output (AUROC with CIs)")
    lp.add_argument("--embeddings", required=True, help="Parquet file written by `ecg embed`")
    lp.add_argument("--labels", required=True, help="CSV: record_id or path, then one 0/1 column per label")
    lp.add_argument("--key", choices=["record_id", "path"], default=None, help="join column (default: the CSV's)")
    lp.add_argument("--folds", type=int, default=5)
    lp.add_argument("--C", dest="c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    lp.add_argument("--n-boot", type=int, default=1000)
    lp.add_argument("--out", default=None, help="folder for report.md, metrics.json and the fitted probe.json")

    r = sub.add_parser("recipe", help="the named recipes: shipped models and experiments (list, show, run)")
    rsub = r.add_subparsers(dest="recipe_command", required=True)
    rsub.add_parser("list", help="every recipe: name, kind, what it writes")
    for command, text in (("show", "the recipe's resolved settings as JSON"),
                          ("run", "run the recipe (seeded; finished fits in its work folder are reused)")):
        c = rsub.add_parser(command, help=text)
        c.add_argument("name", help="a name from `recipe list`")
        c.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (quick runs, testing)")
        c.add_argument("--seeds", default=None, help="comma-separated seeds, for recipes that take several")
        if command == "run":
            c.add_argument("--workers", type=int, default=None, help="parallel fits (default: one per core)")
            c.add_argument("--work", default=None, help="folder for the intermediate fits (default: artifacts/...)")
            c.add_argument("--models-dir", default=None, help="shipped recipes: where the bundle goes (default: models/)")
            c.add_argument("--docs", default=None, help="where the tables go (default: docs/experiments/)")

    c = sub.add_parser("from-reviews", help="candidate model from the review store's verdicts (issue #21): "
                       "fine-tune the default, compare, write models/candidates/<name>-<version>")
    c.add_argument("--by", default=None, help="the cardiologist or admin starting it (checked and audited)")
    c.add_argument("--export", default=None, help="an existing expert-review export instead of exporting the store")
    c.add_argument("--base", default=None, help="bundle to fine-tune (default: the store's current default)")
    c.add_argument("--leads", type=int, default=12, choices=[1, 12],
                   help="which default to fine-tune: the 12-lead or the single-lead (lead I) model")
    c.add_argument("--candidates-dir", default=None, help="default: ECG_CANDIDATES_DIR or <models>/candidates")
    c.add_argument("--rehearsal-set", default=None, help="built training set of the shipped data (ECG_REHEARSAL_SET)")
    c.add_argument("--reference-set", default=None, help="labelled folder in the export layout (ECG_REFERENCE_TEST_SET)")
    c.add_argument("--holdout-fraction", type=float, default=0.3)
    c.add_argument("--epochs", type=int, default=5)
    c.add_argument("--lr", type=float, default=3e-4)
    c.add_argument("--batch-size", type=int, default=32)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--n-boot", type=int, default=500)

    args = parser.parse_args(argv)
    if args.command == "from-reviews":
        return _from_reviews(args, parser)
    if args.command == "recipe":
        return _recipe_command(args, parser)
    if args.command == "build-dataset":
        from train.data import build_dataset

        options = {"sampling_rate": args.sampling_rate} if args.sampling_rate and args.kind in ("ptbxl", "shared") else {}
        result = build_dataset(args.kind, args.root, args.out, limit=args.limit, **options)
        print(f"{result.path}: {result.n_records} records, {len(result.skipped)} skipped")
        return 0
    if args.command == "fit":
        from train.augment import NO_AUGMENT, AugmentConfig
        from train.data import TrainingSet
        from train.fit import FitConfig, fit

        ts = TrainingSet(args.dataset)
        if args.single_lead:
            from train.augment import AxisAugmentConfig
            from train.data.single_lead import SingleLeadSet

            ts = SingleLeadSet([ts] + [TrainingSet(p) for p in args.extra_dataset], lead=args.single_lead,
                               axis=AxisAugmentConfig() if args.axis_augment else None)
        elif args.axis_augment or args.extra_dataset:
            parser.error("--axis-augment and --extra-dataset need --single-lead")
        loss_options = {}
        if args.loss == "pu":
            if (args.label_frequency is None) == (args.prior is None):
                parser.error("--loss pu needs exactly one of --label-frequency and --prior")
            loss_options = ({"label_frequency": args.label_frequency} if args.label_frequency is not None
                            else {"prior": args.prior})
        train_idx = ts.indices(folds=_folds(args.train_folds)) if args.train_folds else ts.indices(split=args.train_split)
        val_idx = (ts.indices(folds=_folds(args.val_folds)) if args.val_folds else
                   ts.indices(split=args.val_split) if args.val_split else np.array([], np.int64))
        if set(train_idx) & set(val_idx):
            parser.error("training and validation records overlap")
        config = FitConfig(out_dir=args.out_dir, model=args.model, init=args.init, freeze_backbone=args.linear_probe,
                           labels=args.labels.split(",") if args.labels else None, min_positives=args.min_positives,
                           epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           weight_decay=args.weight_decay, patience=args.patience or None, seed=args.seed,
                           augment=NO_AUGMENT if args.no_augment else AugmentConfig(), resume=not args.no_resume,
                           bundle_name=args.name, loss=args.loss, loss_options=loss_options,
                           model_overrides={"in_channels": 1} if args.single_lead and not args.init else {})
        _show_logs()
        result = fit(config, ts, train_idx, val_idx)
        if result.bundle_dir:
            print(f"bundle: {result.bundle_dir} (best epoch {result.best_epoch}, val macro AUROC "
                  f"{result.best_metric:.4f})")
        return 0
    if args.command == "linear-probe":
        from train.linear_probe import run_linear_probe

        if args.folds < 2:
            parser.error(f"--folds must be >= 2; got {args.folds}")
        try:
            ev = run_linear_probe(args.embeddings, args.labels, key=args.key, folds=args.folds, c=args.c,
                                  n_boot=args.n_boot, out_dir=args.out)
        except (ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(json.dumps(ev.summary, indent=1))
        return 0
    if args.command == "evaluate":
        from train.evaluate import evaluate_bundle

        ev = evaluate_bundle(args.bundle, args.dataset, test_split=args.test_split, val_split=args.val_split or None,
                             out_dir=args.out, write_card=args.write_thresholds, n_boot=args.n_boot)
        print(json.dumps(ev.summary, indent=1))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
