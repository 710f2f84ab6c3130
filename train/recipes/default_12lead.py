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
6. Learning curve: the same CV with 25% and 50% of each fold's training records.

Run: ``python scripts/train_default_model.py`` (about 20-30 min on 2 CPU cores).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from train.augment import AugmentConfig
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.evaluate import choose_thresholds, evaluate_predictions, markdown_report, plot_report
from train.experiments import CV_GROUPS, subsample
from train.fit import FitConfig, fit, predict_probabilities, select_labels

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
NAME = "net1d-small-12lead-default"
LEARNING_CURVE = (0.25, 0.5)

RECIPE = FitConfig(
    out_dir="",
    model="net1d-small-12lead",
    epochs=25,
    batch_size=32,
    lr=3e-3,
    weight_decay=0.05,
    warmup_epochs=1.0,
    schedule="cosine",
    patience=None,
    seed=20261124,
    min_positives=10,
    augment=AugmentConfig(),
    bundle_name=NAME,
    progress=False,
    num_threads=1,  # 2 OpenMP threads on a shared 2-core CPU measured 10x slower than 1
)


def cross_validate(ts: TrainingSet, labels: list[str], work: Path, *, fraction: float = 1.0,
                   epochs: int | None = None, log=print) -> tuple[np.ndarray, np.ndarray]:
    """OOF probabilities over PTB-XL records; returns (record indices, probabilities (n, 150))."""
    ptb = ts.indices(sources=["ptbxl"])
    others = np.setdiff1d(np.arange(len(ts)), ptb)
    oof_idx, oof = [], []
    for k, group in enumerate(CV_GROUPS):
        held = ts.indices(sources=["ptbxl"], folds=group)
        train_ptb = np.setdiff1d(ptb, held)
        assert not set(ts.meta.patient_id.iloc[held]) & set(ts.meta.patient_id.iloc[train_ptb]), "patient leak"
        train_idx = np.concatenate([subsample(train_ptb, fraction, RECIPE.seed + k), others])
        out = work / f"cv{int(fraction * 100)}-{k}"
        config = replace(RECIPE, out_dir=str(out), labels=labels, epochs=epochs or RECIPE.epochs)
        t0 = time.time()
        result = fit(config, ts, train_idx, None)
        oof_idx.append(held)
        oof.append(predict_probabilities(result.model, ts, held))
        log(f"  fold {k + 1}/{len(CV_GROUPS)} (strat_fold {group}): {len(train_idx)} train, {len(held)} held out, "
            f"{time.time() - t0:.0f} s")
    return np.concatenate(oof_idx), np.concatenate(oof)


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


def run(*, models_dir: Path = REPO / "models", work: Path = REPO / "artifacts" / "default_12lead",
        data_dir: Path = REPO / "data" / "local" / "shared-12lead", shared: Path = SHARED,
        epochs: int | None = None, learning_curve: bool = True, log=print) -> Path:
    t_start = time.time()
    ts = ensure_dataset("shared", shared, data_dir)
    log(f"training set: {len(ts)} records {ts.manifest['sources']}, {ts.manifest['n_skipped']} skipped")
    labels = select_labels(ts, np.arange(len(ts)), RECIPE.min_positives)
    cols = ts.label_columns(labels)
    log(f"{len(labels)} labels with >= {RECIPE.min_positives} positives: {labels}")
    work.mkdir(parents=True, exist_ok=True)

    log("cross-validation (100% of training records):")
    idx, probs = cross_validate(ts, labels, work, epochs=epochs, log=log)
    np.savez(work / "oof.npz", idx=idx, probs=probs)
    y, m = ts.labels[idx][:, cols], ts.mask[idx][:, cols]
    thresholds = choose_thresholds(y, probs[:, cols], m, labels)
    ev = evaluate_predictions(y, probs[:, cols], m, labels)
    rates = _cross_fitted_rates(y, m, cross_fitted_thresholds(ts, idx, probs, cols, labels), labels)
    for row in ev.labels:
        row["threshold"] = thresholds[row["label"]]
        row.update(rates[row["label"]])
    for key in ("sensitivity", "specificity", "f1"):
        vals = [r[key] for r in ev.labels if np.isfinite(r[key])]
        ev.summary[f"macro_{key}"] = float(np.mean(vals)) if vals else float("nan")
    log(f"OOF macro AUROC {ev.summary['macro_auroc']:.3f} over {ev.summary['n_labels_scored']} labels")

    log("final model on every record:")
    final_out = work / "final"
    config = replace(RECIPE, out_dir=str(final_out), labels=labels, epochs=epochs or RECIPE.epochs)
    result = fit(config, ts, np.arange(len(ts)), None)
    bundle_dir = models_dir / NAME
    _ship(result, ts, labels, thresholds, ev, bundle_dir, config, curve=None)
    plot_report(ev, y, probs[:, cols], m, labels, bundle_dir / "evaluation")
    _write_readme(models_dir, bundle_dir, ev, labels, ts, curve=None, minutes=(time.time() - t_start) / 60)
    log(f"bundle written to {bundle_dir} ({(time.time() - t_start) / 60:.1f} min so far)")

    if learning_curve:
        curve = [{"fraction": 1.0, "n_ptbxl_train_per_fold": _n_ptb_train(ts, 1.0),
                  "macro_auroc": ev.summary["macro_auroc"], "normal_ecg_auroc": _label_auroc(ev, "NORMAL ECG")}]
        for fraction in LEARNING_CURVE:
            log(f"learning curve: {int(fraction * 100)}% of the training records")
            i2, p2 = cross_validate(ts, labels, work, fraction=fraction, epochs=epochs, log=log)
            e2 = evaluate_predictions(ts.labels[i2][:, cols], p2[:, cols], ts.mask[i2][:, cols], labels, n_boot=200)
            curve.append({"fraction": fraction, "n_ptbxl_train_per_fold": _n_ptb_train(ts, fraction),
                          "macro_auroc": e2.summary["macro_auroc"], "macro_auroc_ci": e2.summary["macro_auroc_ci"],
                          "normal_ecg_auroc": _label_auroc(e2, "NORMAL ECG")})
        curve.sort(key=lambda r: r["fraction"])
        _ship(result, ts, labels, thresholds, ev, bundle_dir, config, curve=curve)
        _write_readme(models_dir, bundle_dir, ev, labels, ts, curve=curve, minutes=(time.time() - t_start) / 60)
    log(f"done in {(time.time() - t_start) / 60:.1f} min")
    return bundle_dir


def _n_ptb_train(ts: TrainingSet, fraction: float) -> int:
    ptb = len(ts.indices(sources=["ptbxl"]))
    return int(round(fraction * ptb * (1 - 1 / len(CV_GROUPS))))


def _label_auroc(ev, name: str) -> float | None:
    return next((r["auroc"] for r in ev.labels if r["label"] == name), None)


def _ship(result, ts, labels, thresholds, ev, bundle_dir: Path, config: FitConfig, curve) -> None:
    from ecgcore.bundle import make_card, save_bundle

    model = result.model.cpu().eval()
    names = list(ts.label_names)
    metrics: dict[str, Any] = {
        "evaluation": "out-of-fold predictions, patient-disjoint 5-fold CV over PTB-XL strat_fold 1-9 "
                      "(groups {1,2},{3,4},{5,6},{7,8},{9}); CinC 2021 + CODE-15% always in training; "
                      "fixed epochs, no model selection on held-out folds; bootstrap 95% CIs (1000 resamples)",
        "summary": ev.summary,
        "per_label": {r["label"]: {k: r[k] for k in ("auroc", "auroc_ci", "auprc", "auprc_ci", "positives", "n",
                                                    "threshold", "sensitivity", "specificity", "f1")}
                      for r in ev.labels},
        "not_scored_out_of_fold": ev.skipped,
    }
    if curve is not None:
        metrics["learning_curve"] = curve
    card = make_card(
        NAME, model, names, version="1.0.0", architecture="net1d-small-12lead",
        thresholds=[thresholds.get(n, 0.5) for n in names], trained_labels=labels,
        input_leads=list(ts.manifest["leads"]), preprocessing=ts.preprocess_config(),
        training={"data": {"sources": ts.manifest["sources"], "n_records": len(ts),
                           "skipped": [s["record_id"] for s in ts.manifest["skipped"]],
                           "description": "PTB-XL v1.0.3 ecg_id 1-500 folds 1-9 (500 Hz), PhysioNet/CinC 2021 "
                                          "sample, CODE-15% sample (../shared/data)"},
                  "recipe": "train/recipes/default_12lead.py (python scripts/train_default_model.py)",
                  "config": config.to_dict(), "labels_rule": f">= {config.min_positives} positives and negatives",
                  "thresholds_from": "out-of-fold predictions (max F1 per label)"},
        metrics=metrics, default=True,
        description="Small Net1D (0.5M parameters) trained from scratch on < 500 real 12-lead ECGs. "
                    "Predicts only its trained labels; every other ECGFounder label is untrained and hidden. "
                    "Research software, not a diagnosis.")
    if bundle_dir.exists():
        for f in ("model.safetensors", "card.json"):
            (bundle_dir / f).unlink(missing_ok=True)
    save_bundle(model, card, bundle_dir)


SINGLE_LEAD_NOTE = '\n## Single-lead bundle\n\n`models/net1d-small-1lead-default/`: lead I input (a smartwatch or AliveCor recording), used by the app and the CLI for one-lead records. Made by `python scripts/run_experiment.py single-lead`; its evaluation (PTB-XL out-of-fold on real lead I, CinC 2017 hold-out) and the labels it shows are in [docs/experiments.md](../docs/experiments.md) and its card.\n'


CURVE_NOTE = ("One seed per point. The same curve with 3 seeds, paired CIs of the gains, the gain per doubling "
              "of the records and a seed ensemble: `python scripts/run_experiment.py learning-curve`, section 5 of "
              "[docs/experiments.md](../docs/experiments.md).\n")


def _write_readme(models_dir: Path, bundle_dir: Path, ev, labels, ts, curve, minutes: float) -> None:
    notes = [f"bundle: `{bundle_dir.relative_to(models_dir.parent) if bundle_dir.is_relative_to(models_dir.parent) else bundle_dir}` "
             f"(`net1d-small-12lead`, 0.5M parameters, default 12-lead model)",
             f"training data: {len(ts)} real records {ts.manifest['sources']} "
             f"({ts.manifest['n_skipped']} skipped: {', '.join(s['record_id'] for s in ts.manifest['skipped'])})",
             "evaluation: out-of-fold (OOF) predictions from patient-disjoint 5-fold CV over PTB-XL strat_fold "
             "1-9; CinC 2021 and CODE-15% records always in training; no early stopping or model selection on "
             "held-out folds",
             "thresholds: chosen on the OOF predictions (max F1); sensitivity/specificity/F1 below are "
             "cross-fitted (each fold scored with thresholds chosen on the other folds)",
             f"trained labels ({len(labels)}; >= 10 positives and negatives): {', '.join(labels)}",
             "all other ECGFounder labels are untrained: hidden by default in the app and CLI",
             f"rerun: `python scripts/train_default_model.py` ({minutes:.0f} min on this 2-core CPU)"]
    text = markdown_report(ev, title=f"Default 12-lead model: {NAME}", notes=notes)
    if curve:
        text += "\n## Learning curve (same recipe, OOF)\n\n| fraction of training records | PTB-XL training " \
                "records per fold | macro AUROC | NORMAL ECG AUROC |\n|---|---|---|---|\n"
        for r in curve:
            text += f"| {int(r['fraction'] * 100)}% | {r['n_ptbxl_train_per_fold']} | {r['macro_auroc']:.3f} | " \
                    f"{(r['normal_ecg_auroc'] or float('nan')):.3f} |\n"
        text += "\n" + CURVE_NOTE
    text += "\nPlots: `evaluation/roc_top_labels.png`, `evaluation/auroc_per_label.png` in the bundle folder.\n"
    text += SINGLE_LEAD_NOTE
    (models_dir / "README.md").write_text(text)
    (bundle_dir / "evaluation").mkdir(parents=True, exist_ok=True)
    (bundle_dir / "evaluation" / "oof_metrics.json").write_text(json.dumps(ev.to_dict(), indent=1) + "\n")
