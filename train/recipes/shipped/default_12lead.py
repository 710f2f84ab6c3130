"""The default 12-lead model: Net1D ``net1d-small-12lead`` trained on the real data in ../shared/data.

Honest evaluation on < 500 labelled records:

1. Build the training set once (PTB-XL folds 1-9 at 500 Hz + CinC 2021 + CODE-15%).
2. Labels: every ECGFounder label with >= 10 positives and >= 10 known negatives in the data.
3. Patient-disjoint cross-validation over PTB-XL's ``strat_fold`` (fold groups {1,2} {3,4} {5,6} {7,8}
   {9}); CinC 2021 and CODE-15% records are always in training. A fixed number of epochs (no
   early stopping on the held-out fold), so the out-of-fold (OOF) predictions are never used for
   any choice except the thresholds.
4. Per-label AUROC/AUPRC with bootstrap 95% CIs on the OOF predictions; thresholds for the shipped
   model chosen on all OOF predictions (max F1); the sensitivity/specificity reported are
   cross-fitted (each fold scored with thresholds chosen on the other folds' OOF predictions).
5. The shipped model: the same recipe on every record, saved to ``models/<name>`` as the default.

What more data would buy (the same recipe at 25/50/100% of the records, 3 seeds) is the
``learning-curve`` experiment, which reuses this recipe's cross-validation fits.

Run: ``python -m train recipe run default-12lead`` (about 10 min on 2 CPU cores).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.bundle import make_card, save_bundle
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.evaluate import choose_thresholds, evaluate_predictions, markdown_report, plot_report
from train.experiments import CV_GROUPS, FoldFit, cv_splits, fit_fold, fold_dir, run_jobs
from train.fit import FitConfig, fit, select_labels
from train.paths import ARTIFACTS_DIR, LOCAL_DATA_DIR, MODELS_DIR, SHARED_DATA_DIR
from train.recipes.presets import fit_preset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Everything that decides what this recipe trains and ships."""

    fit: FitConfig           # the network, schedule, augmentation and seed of every fit (CV folds and final)
    name: str                # bundle folder under models/ and the card's name
    version: str             # the card's version (bumped when an existing bundle is re-written)
    n_boot: int              # bootstrap resamples of the out-of-fold CIs

    def with_epochs(self, epochs: int) -> "Settings":
        return replace(self, fit=replace(self.fit, epochs=epochs))


SETTINGS = Settings(
    fit=replace(fit_preset("net1d-small-12lead"), epochs=25, bundle_name="net1d-small-12lead-default"),
    name="net1d-small-12lead-default",
    version="1.0.0",
    n_boot=1000,
)


def fold_fits(settings: Settings, ts: TrainingSet, labels: list[str], work: Path) -> list[FoldFit]:
    """The cross-validation fits (all training records, ``work/cv100-<fold>``); the learning curve's
    seed 0 at 100% is exactly these, so it reuses them."""
    return [FoldFit(str(ts.path), k, replace(settings.fit, out_dir=str(fold_dir(work, 1.0, k)), labels=labels),
                    1.0, settings.fit.seed + k)
            for k in range(len(CV_GROUPS))]


def cross_validate(settings: Settings, ts: TrainingSet, labels: list[str], work: Path, *,
                   workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """OOF probabilities over PTB-XL records; returns (record indices, probabilities (n, 150))."""
    held = [h for _, h in cv_splits(ts)]
    probs = run_jobs(fit_fold, fold_fits(settings, ts, labels, work), workers=workers, desc="cross-validation")
    return np.concatenate(held), np.concatenate(probs)


def cross_fitted_thresholds(ts: TrainingSet, idx: np.ndarray, probs: np.ndarray, cols: np.ndarray,
                            labels: list[str]) -> np.ndarray:
    """Binary decisions for each OOF record with thresholds chosen on the *other* folds' OOF predictions."""
    folds = ts.meta.fold.to_numpy()[idx]
    decided = np.zeros((len(idx), len(labels)), bool)
    y, m = ts.labels[idx][:, cols], ts.mask[idx][:, cols]
    for group in CV_GROUPS:
        here = np.isin(folds, group)
        th = choose_thresholds(y[~here], probs[~here][:, cols], m[~here], labels)
        decided[here] = probs[here][:, cols] >= np.array([th[n] for n in labels])
    return decided


def _cross_fitted_rates(y, m, decided, labels) -> dict[str, dict[str, float]]:
    out = {}
    for j, name in enumerate(labels):
        keep = m[:, j].astype(bool)
        t, d = y[keep, j].astype(bool), decided[keep, j]
        tp, fn = int(np.sum(d & t)), int(np.sum(~d & t))
        tn, fp = int(np.sum(~d & ~t)), int(np.sum(d & ~t))
        out[name] = {"sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
                     "specificity": tn / (tn + fp) if tn + fp else float("nan"),
                     "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else float("nan")}
    return out


def run(settings: Settings = SETTINGS, *, models_dir: Path = MODELS_DIR, work: Path = ARTIFACTS_DIR / "default_12lead",
        data_dir: Path = LOCAL_DATA_DIR / "shared-12lead", shared: Path = SHARED_DATA_DIR,
        workers: int | None = None) -> Path:
    """Cross-validate, train the final model on every record, write ``models/<name>`` and models/README.md."""
    t_start = time.time()
    ts = ensure_dataset("shared", shared, data_dir)
    logger.info("training set: %d records %s, %d skipped", len(ts), ts.manifest["sources"], ts.manifest["n_skipped"])
    labels = select_labels(ts, np.arange(len(ts)), settings.fit.min_positives)
    cols = ts.label_columns(labels)
    logger.info("%d labels with >= %d positives: %s", len(labels), settings.fit.min_positives, labels)
    work.mkdir(parents=True, exist_ok=True)

    logger.info("cross-validation (100% of training records):")
    idx, probs = cross_validate(settings, ts, labels, work, workers=workers)
    np.savez(work / "oof.npz", idx=idx, probs=probs)
    y, m = ts.labels[idx][:, cols], ts.mask[idx][:, cols]
    thresholds = choose_thresholds(y, probs[:, cols], m, labels)
    ev = evaluate_predictions(y, probs[:, cols], m, labels, n_boot=settings.n_boot)
    rates = _cross_fitted_rates(y, m, cross_fitted_thresholds(ts, idx, probs, cols, labels), labels)
    for row in ev.labels:
        row["threshold"] = thresholds[row["label"]]
        row.update(rates[row["label"]])
    for key in ("sensitivity", "specificity", "f1"):
        vals = [r[key] for r in ev.labels if np.isfinite(r[key])]
        ev.summary[f"macro_{key}"] = float(np.mean(vals)) if vals else float("nan")
    logger.info("OOF macro AUROC %.3f over %d labels", ev.summary["macro_auroc"], ev.summary["n_labels_scored"])

    logger.info("final model on every record:")
    config = replace(settings.fit, out_dir=str(work / "final"), labels=labels)
    result = fit(config, ts, np.arange(len(ts)), None)
    bundle_dir = models_dir / settings.name
    _ship(settings, result, ts, labels, thresholds, ev, bundle_dir, config)
    plot_report(ev, y, probs[:, cols], m, labels, bundle_dir / "evaluation")
    _write_readme(settings, models_dir, bundle_dir, ev, labels, ts, minutes=(time.time() - t_start) / 60)
    logger.info("bundle written to %s; done in %.1f min", bundle_dir, (time.time() - t_start) / 60)
    return bundle_dir


def _ship(settings: Settings, result, ts, labels, thresholds, ev, bundle_dir: Path, config: FitConfig) -> None:
    model = result.model.cpu().eval()
    names = list(ts.label_names)
    metrics: dict[str, Any] = {
        "evaluation": "out-of-fold predictions, patient-disjoint 5-fold CV over PTB-XL strat_fold 1-9 "
                      "(groups {1,2},{3,4},{5,6},{7,8},{9}); CinC 2021 + CODE-15% always in training; "
                      f"fixed epochs, no model selection on held-out folds; bootstrap 95% CIs ({settings.n_boot} resamples)",
        "summary": ev.summary,
        "per_label": {r["label"]: {k: r[k] for k in ("auroc", "auroc_ci", "auprc", "auprc_ci", "positives", "n",
                                                    "threshold", "sensitivity", "specificity", "f1")}
                      for r in ev.labels},
        "not_scored_out_of_fold": ev.skipped,
    }
    card = make_card(
        settings.name, model, names, version=settings.version, architecture=settings.fit.model,
        thresholds=[thresholds.get(n, 0.5) for n in names], trained_labels=labels,
        input_leads=list(ts.manifest["leads"]), preprocessing=ts.preprocess_config(),
        training={"data": {"sources": ts.manifest["sources"], "n_records": len(ts),
                           "skipped": [s["record_id"] for s in ts.manifest["skipped"]],
                           "description": "PTB-XL v1.0.3 ecg_id 1-500 folds 1-9 (500 Hz), PhysioNet/CinC 2021 "
                                          "sample, CODE-15% sample (../shared/data)"},
                  "recipe": f"{RECIPE_FILE} ({COMMAND})",
                  "config": config.to_dict(), "labels_rule": f">= {config.min_positives} positives and negatives",
                  "thresholds_from": "out-of-fold predictions (max F1 per label)"},
        metrics=metrics, default=True,
        description="Small Net1D (0.5M parameters) trained from scratch on < 500 real 12-lead ECGs. "
                    "Predicts only its trained labels; every other ECGFounder label is untrained and hidden. "
                    "Research software, not a diagnosis.")
    save_bundle(model, card, bundle_dir)  # re-writing an existing bundle bumps its version


RECIPE_FILE = "train/recipes/shipped/default_12lead.py"
COMMAND = "python -m train recipe run default-12lead"
SINGLE_LEAD_NOTE = ("\n## Single-lead bundle\n\n`models/net1d-small-1lead-default/`: lead I input (a smartwatch or "
                    "AliveCor recording), used by the app and the CLI for one-lead records. Made by `python -m train "
                    "recipe run default-1lead`; its evaluation (PTB-XL out-of-fold on real lead I, CinC 2017 hold-out) "
                    "and the labels it shows are in [docs/experiments.md](../docs/experiments.md) and its card.\n")

CURVE_NOTE = ("\n## Learning curve\n\nThe same recipe at 25%, 50% and 100% of the training records with 3 seeds, "
              "paired CIs of the gains, the gain per doubling of the records and a seed ensemble: `python -m train "
              "recipe run learning-curve`, section 5 of [docs/experiments.md](../docs/experiments.md).\n")


def _write_readme(settings: Settings, models_dir: Path, bundle_dir: Path, ev, labels, ts, minutes: float) -> None:
    notes = [f"bundle: `{bundle_dir.relative_to(models_dir.parent) if bundle_dir.is_relative_to(models_dir.parent) else bundle_dir}` "
             f"(`{settings.fit.model}`, 0.5M parameters, default 12-lead model)",
             f"training data: {len(ts)} real records {ts.manifest['sources']} "
             f"({ts.manifest['n_skipped']} skipped: {', '.join(s['record_id'] for s in ts.manifest['skipped'])})",
             "evaluation: out-of-fold (OOF) predictions from patient-disjoint 5-fold CV over PTB-XL strat_fold "
             "1-9; CinC 2021 and CODE-15% records always in training; no early stopping or model selection on "
             "held-out folds",
             "thresholds: chosen on the OOF predictions (max F1); sensitivity/specificity/F1 below are "
             "cross-fitted (each fold scored with thresholds chosen on the other folds)",
             f"trained labels ({len(labels)}; >= {settings.fit.min_positives} positives and negatives): {', '.join(labels)}",
             "all other ECGFounder labels are untrained: hidden by default in the app and CLI",
             f"rerun: `{COMMAND}` ({minutes:.0f} min on this 2-core CPU)"]
    text = markdown_report(ev, title=f"Default 12-lead model: {settings.name}", notes=notes)
    text += CURVE_NOTE
    text += "\nPlots: `evaluation/roc_top_labels.png`, `evaluation/auroc_per_label.png` in the bundle folder.\n"
    text += SINGLE_LEAD_NOTE
    (models_dir / "README.md").write_text(text)
    (bundle_dir / "evaluation").mkdir(parents=True, exist_ok=True)
    (bundle_dir / "evaluation" / "oof_metrics.json").write_text(json.dumps(ev.to_dict(), indent=1) + "\n")
