"""The default 12-lead model: Net1D ``net1d-small-12lead`` trained on the real data in ../shared/data.

Honest evaluation on < 500 labelled records:

1. Build the training set once (PTB-XL folds 1-9 at 500 Hz + CinC 2021 + CODE-15%).
2. Labels: every ECGFounder label with >= 10 positives and >= 10 known negatives in the data.
3. Patient-disjoint cross-validation over PTB-XL's ``strat_fold`` (fold groups {1,2} {3,4} {5,6} {7,8}
   {9}), once per seed; CinC 2021 and CODE-15% records are always in training. A fixed number of
   epochs (no early stopping on the held-out fold), so the out-of-fold (OOF) predictions are used
   only for calibration, thresholds and the out-of-distribution reference, each cross-fitted.
4. The OOF ensemble (mean of the seeds' probabilities): per-label AUROC/AUPRC with bootstrap 95% CIs;
   a calibration map per label (:mod:`train.calibrate`); thresholds by the policy of
   :mod:`train.threshold_policy` with cross-fitted sensitivity/specificity and Wilson CIs.
5. The shipped bundle: one network per seed on every record, saved as a seed ensemble to
   ``models/<name>`` with its calibration, thresholds and out-of-distribution reference
   (:mod:`train.ood_reference`), checked on the cinc2020_sample records of four other hospitals
   (never in training); docs/calibration_and_thresholds.md is written from the same figures.

What more data would buy (the same recipe at 25/50/100% of the records, 3 seeds) is the
``learning-curve`` experiment, which reuses this recipe's cross-validation fits.

Run: ``python -m train recipe run default-12lead`` (about 35 min on 2 quiet CPU cores: 18 small fits; a
second run reuses every finished fit and only re-ships, about 4 min).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.bundle import load_bundle, make_card, save_bundle
from ecgcore.calibration import Calibrator
from ecgcore.consistency import validated_labels
from ecgcore.model import Net1D
from train.calibrate import calibrate_labels
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.evaluate import evaluate_predictions, markdown_report, plot_report
from train.experiments import CV_GROUPS, FoldFit, cv_splits, fit_fold, fold_dir, macro_metric, run_jobs
from train.fit import FitConfig, fit, predict_probabilities, select_labels
from train.ood_reference import ood_reference
from train.paths import ARTIFACTS_DIR, LOCAL_DATA_DIR, MODELS_DIR, REPO_ROOT, SHARED_DATA_DIR
from train.recipes.presets import fit_preset
from train.threshold_policy import POLICY, decision_rates, policy_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Everything that decides what this recipe trains and ships."""

    fit: FitConfig           # the network, schedule, augmentation and seed of every fit (CV folds and final)
    name: str                # bundle folder under models/ and the card's name
    version: str             # the card's version (bumped when an existing bundle is re-written)
    n_boot: int              # bootstrap resamples of the out-of-fold CIs
    seeds: tuple[int, ...]   # one network per seed in the shipped bundle (a seed ensemble), and per CV fold

    def with_epochs(self, epochs: int) -> "Settings":
        return replace(self, fit=replace(self.fit, epochs=epochs))


SETTINGS = Settings(
    fit=replace(fit_preset("net1d-small-12lead"), epochs=25, bundle_name="net1d-small-12lead-default"),
    name="net1d-small-12lead-default",
    version="2.0.0",
    n_boot=1000,
    seeds=(0, 1, 2),
)


def fold_fits(settings: Settings, ts: TrainingSet, labels: list[str], work: Path) -> list[FoldFit]:
    """The cross-validation fits, one per (seed, fold) on all training records (``work/cv100-<fold>[-s<seed>]``);
    the learning curve's 100% points with the same seeds are exactly these, so it reuses them."""
    return [FoldFit(str(ts.path), k, replace(settings.fit, out_dir=str(fold_dir(work, 1.0, k, s)), labels=list(labels),
                                             seed=settings.fit.seed + s), 1.0, settings.fit.seed + k)
            for s in settings.seeds for k in range(len(CV_GROUPS))]


def final_fits(settings: Settings, labels: list[str], work: Path) -> list[FitConfig]:
    """The shipped bundle's networks: one per seed, every record (``work/final-s<seed>``)."""
    return [replace(settings.fit, out_dir=str(work / f"final-s{s}"), labels=list(labels), seed=settings.fit.seed + s)
            for s in settings.seeds]


@dataclass(frozen=True)
class FinalFit:
    """One member of the shipped ensemble: ``config`` trained on every record of ``dataset``."""

    dataset: str
    config: FitConfig


def fit_final(job: FinalFit) -> str:
    """Train one ensemble member (a finished fit is reused); returns its bundle folder. Module level for run_jobs."""
    ts = TrainingSet(job.dataset)
    result = fit(job.config, ts, np.arange(len(ts)), None)
    return str(result.bundle_dir or Path(job.config.out_dir) / "bundle")


def train_networks(settings: Settings, ts: TrainingSet, labels: list[str], work: Path, *,
                   workers: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every fit of the recipe in one pool (CV folds of every seed, then the final members).

    Returns (held-out record indices, OOF probabilities (seeds, n, 150), final member bundle folders).
    """
    n_folds = len(CV_GROUPS)
    cv_jobs = fold_fits(settings, ts, labels, work)
    final_jobs = [FinalFit(str(ts.path), c) for c in final_fits(settings, labels, work)]
    # Seed by seed (its folds, then its final member): a run cut short leaves whole members with their OOF.
    jobs = [job for i, final in enumerate(final_jobs) for job in (*cv_jobs[i * n_folds:(i + 1) * n_folds], final)]
    results = run_jobs(_run_any, jobs, workers=workers, desc="networks")
    per_seed = [results[i * (n_folds + 1):(i + 1) * (n_folds + 1)] for i in range(len(final_jobs))]
    held = np.concatenate([h for _, h in cv_splits(ts)])
    probs = np.stack([np.concatenate(seed_results[:n_folds]) for seed_results in per_seed])
    return held, probs, [seed_results[n_folds] for seed_results in per_seed]


def _run_any(job: FoldFit | FinalFit):
    return fit_final(job) if isinstance(job, FinalFit) else fit_fold(job)


def cv_groups_of(ts: TrainingSet, idx: np.ndarray) -> np.ndarray:
    """The CV group (0..4) of each out-of-fold record: what calibration and thresholds cross-fit over."""
    folds = ts.meta.fold.to_numpy()[idx]
    groups = np.full(len(idx), -1)
    for g, group in enumerate(CV_GROUPS):
        groups[np.isin(folds, group)] = g
    return groups


def external_check(networks: list[Net1D], calibrator: Calibrator, labels: list[str], thresholds: dict[str, float | None],
                   shared: Path, data_dir: Path, n_boot: int) -> dict[str, Any]:
    """The shipped bundle on the labelled cinc2020_sample records of four other hospitals (56 of 59 carry a mapped code; never in
    training): per-label AUROC with CIs where a label has >= 3 positives, and the decisions' rates."""
    ext = ensure_dataset("challenge", shared / "cinc2020_sample", data_dir, source="cinc2020")
    idx = np.arange(len(ext))
    raw = np.mean([predict_probabilities(n, ext, idx) for n in networks], axis=0)
    cols = ext.label_columns(labels)
    probs = calibrator(raw)[:, cols]
    y, m = ext.labels[:, cols], ext.mask[:, cols]
    enough = [j for j in range(len(labels)) if y[m[:, j].astype(bool), j].sum() >= 3]
    ev = evaluate_predictions(y[:, enough], probs[:, enough], m[:, enough], [labels[j] for j in enough], n_boot=n_boot)
    per_label = {}
    for row in ev.labels:
        j = labels.index(row["label"])
        keep = m[:, j].astype(bool)
        t = thresholds.get(row["label"])
        decided = probs[keep, j] >= t if t is not None else np.zeros(int(keep.sum()), bool)
        per_label[row["label"]] = {"auroc": row["auroc"], "auroc_ci": row["auroc_ci"], "positives": row["positives"],
                                   "n": row["n"], **decision_rates(y[keep, j], decided)}
    return {"data": f"cinc2020_sample: {len(ext)} records of CPSC 2018, Chapman-Shaoxing/Ningbo, Georgia, PTB "
                    "(PhysioNet/CinC 2020, CC BY 4.0), not used in training",
            "sources": ext.manifest["sources"], "summary": ev.summary, "per_label": per_label,
            "labels_with_fewer_than_3_positives": [labels[j] for j in range(len(labels)) if j not in enough]}


def run(settings: Settings = SETTINGS, *, models_dir: Path = MODELS_DIR, work: Path = ARTIFACTS_DIR / "default_12lead",
        data_dir: Path = LOCAL_DATA_DIR / "shared-12lead", shared: Path = SHARED_DATA_DIR,
        external_dir: Path = LOCAL_DATA_DIR / "cinc2020-external", docs: Path = REPO_ROOT / "docs",
        workers: int | None = None) -> Path:
    """Cross-validate every seed, train the ensemble on every record, calibrate, set thresholds by the
    policy, fit the out-of-distribution reference, check on external records, write ``models/<name>``."""
    t_start = time.time()
    ts = ensure_dataset("shared", shared, data_dir)
    logger.info("training set: %d records %s, %d skipped", len(ts), ts.manifest["sources"], ts.manifest["n_skipped"])
    labels = select_labels(ts, np.arange(len(ts)), settings.fit.min_positives)
    cols = ts.label_columns(labels)
    logger.info("%d labels with >= %d positives: %s", len(labels), settings.fit.min_positives, labels)
    work.mkdir(parents=True, exist_ok=True)

    logger.info("%d seeds x (%d folds + final network):", len(settings.seeds), len(CV_GROUPS))
    idx, seed_probs, member_dirs = train_networks(settings, ts, labels, work, workers=workers)
    probs = seed_probs.mean(0)  # the OOF ensemble: what the shipped bundle's probabilities are, out of fold
    np.savez(work / "oof.npz", idx=idx, probs=probs, seed_probs=seed_probs)
    y, m, groups = ts.labels[idx][:, cols], ts.mask[idx][:, cols], cv_groups_of(ts, idx)
    ev = evaluate_predictions(y, probs[:, cols], m, labels, n_boot=settings.n_boot)
    per_seed = [macro_metric(y, p[:, cols], m) for p in seed_probs]
    ev.summary["macro_auroc_per_seed"] = per_seed

    calibration = calibrate_labels(y, probs[:, cols], m, groups, labels)
    policy = policy_table(y, calibration.calibrated, m, groups, labels, POLICY)
    for row in ev.labels:
        row.update(policy[row["label"]])
        row["calibration"] = calibration.per_label[row["label"]]
    for key in ("sensitivity", "specificity", "f1"):
        vals = [r[key] for r in ev.labels if r.get(key) is not None and np.isfinite(r[key])]
        ev.summary[f"macro_{key}"] = float(np.mean(vals)) if vals else float("nan")
    ev.summary["calibration"] = calibration.summary
    logger.info("OOF ensemble macro AUROC %.3f (seeds %s); ECE %.3f -> %.3f", ev.summary["macro_auroc"],
                [round(v, 3) for v in per_seed], calibration.summary["ece_before"], calibration.summary["ece_after"])

    networks = [load_bundle(d).model for d in member_dirs]
    fold_networks = [[load_bundle(Path(fold_dir(work, 1.0, k, s)) / "bundle").model for s in settings.seeds]
                     for k in range(len(CV_GROUPS))]
    ood = ood_reference(ts, cv_splits(ts), fold_networks, networks)
    thresholds = {label: policy[label]["threshold"] for label in labels}
    calibrator = Calibrator(list(ts.label_names), calibration.maps)
    external = external_check(networks, calibrator, labels, thresholds, shared, external_dir, settings.n_boot)
    bundle_dir = models_dir / settings.name
    _ship(settings, networks, ts, labels, thresholds, ev, calibration, ood, external, bundle_dir)
    plot_report(ev, y, probs[:, cols], m, labels, bundle_dir / "evaluation")
    plot_reliability(calibration, bundle_dir / "evaluation" / "reliability.png")
    write_trust_doc(settings, ev, external, docs / "calibration_and_thresholds.md")
    _write_readme(settings, models_dir, bundle_dir, ev, labels, ts, external, minutes=(time.time() - t_start) / 60)
    logger.info("bundle written to %s; done in %.1f min", bundle_dir, (time.time() - t_start) / 60)
    return bundle_dir


PER_LABEL_KEYS = ("auroc", "auroc_ci", "auprc", "auprc_ci", "positives", "n", "threshold", "threshold_reason",
                  "sensitivity", "sensitivity_ci", "specificity", "specificity_ci", "f1", "calibration")


def _ship(settings: Settings, networks: list[Net1D], ts, labels, thresholds, ev, calibration, ood, external,
          bundle_dir: Path) -> None:
    names = list(ts.label_names)
    metrics: dict[str, Any] = {
        "evaluation": "out-of-fold predictions of the seed ensemble (mean of the seeds' probabilities), "
                      "patient-disjoint 5-fold CV over PTB-XL strat_fold 1-9 (groups {1,2},{3,4},{5,6},{7,8},{9}); "
                      "CinC 2021 + CODE-15% always in training; fixed epochs, no model selection on held-out folds; "
                      f"bootstrap 95% CIs ({settings.n_boot} resamples); sensitivity/specificity cross-fitted with "
                      "Wilson 95% CIs",
        "summary": ev.summary,
        "per_label": {r["label"]: {k: r.get(k) for k in PER_LABEL_KEYS} for r in ev.labels},
        "not_scored_out_of_fold": ev.skipped,
        "threshold_policy": POLICY.to_dict(),
        "external": external,
    }
    members = final_fits(settings, labels, Path("."))
    config = members[0]
    card = make_card(
        settings.name, networks[0], names, version=settings.version, architecture=settings.fit.model,
        thresholds=[_card_threshold(thresholds.get(n)) for n in names], trained_labels=labels,
        input_leads=list(ts.manifest["leads"]), preprocessing=ts.preprocess_config(),
        training={"data": {"sources": ts.manifest["sources"], "n_records": len(ts),
                           "skipped": [s["record_id"] for s in ts.manifest["skipped"]],
                           "description": "PTB-XL v1.0.3 ecg_id 1-500 folds 1-9 (500 Hz), PhysioNet/CinC 2021 "
                                          "sample, CODE-15% sample (../shared/data)"},
                  "recipe": f"{RECIPE_FILE} ({COMMAND})", "seeds": [c.seed for c in members],
                  "config": {k: v for k, v in config.to_dict().items() if k not in ("out_dir", "seed")},
                  "labels_rule": f">= {settings.fit.min_positives} positives and negatives",
                  "thresholds_from": POLICY.describe(),
                  "calibration_from": "out-of-fold ensemble predictions; per label the map with the lowest "
                                      "cross-fitted log loss over the CV groups (ecgcore.calibration)"},
        metrics=metrics, default=True, calibration=calibration.maps, ood=ood,
        description=f"A seed ensemble of {len(networks)} small Net1D networks (0.5M parameters each) trained from "
                    "scratch on < 500 real 12-lead ECGs, with calibrated probabilities. Predicts only its trained "
                    "labels; labels without a validated threshold are never called positive. Research software, "
                    "not a diagnosis.")
    save_bundle(networks, card, bundle_dir)  # re-writing an existing bundle bumps its version


def write_trust_doc(settings: Settings, ev, external: dict[str, Any], path: Path) -> None:
    """docs/calibration_and_thresholds.md: the shipped bundle's calibration, threshold policy and external
    check, written by the recipe from the figures it measured (so the page and the card never disagree)."""
    cal = ev.summary["calibration"]
    shown = validated_labels({"metrics": {"per_label": {r["label"]: r for r in ev.labels}}}) or frozenset()

    def ci(row: dict, key: str) -> str:
        value, interval = row.get(key), row.get(f"{key}_ci")
        return "–" if value is None else f"{value:.2f} ({interval[0]:.2f}–{interval[1]:.2f})"

    lines = [
        "# Calibrated probabilities and thresholds of the default 12-lead model", "",
        f"Written by `{COMMAND}` (`{RECIPE_FILE}`); the same figures are in the bundle's card "
        f"(`models/{settings.name}/card.json`, `metrics`) and on the Models page.", "",
        "## Calibration", "",
        "Each trained label's output goes through a map fitted on the seed ensemble's out-of-fold predictions: "
        "identity, temperature, Platt or isotonic, whichever has the lowest *cross-fitted* log loss over the five "
        "patient-disjoint CV groups (`ecgcore/calibration.py`). 'After' below is measured the same way: each group "
        "calibrated by a map fitted on the other four.", "",
        f"- expected calibration error (10 equal-width bins) over every (record, label) pair: **{cal['ece_before']:.3f} "
        f"before, {cal['ece_after']:.3f} after**; mean over labels {cal['macro_ece_before']:.3f} -> "
        f"{cal['macro_ece_after']:.3f}",
        f"- maps chosen: {cal['methods']}",
        f"- reliability diagram: `models/{settings.name}/evaluation/reliability.png`", "",
        f"Labels the bundle calls positive: {len(shown)} of {len(ev.labels)} ({', '.join(sorted(shown))}).", "",
        "## Thresholds", "",
        f"Policy (`train/threshold_policy.py`): {POLICY.describe()}. A label without a threshold is never called "
        "positive (`ecgcore/consistency.py`); nor is a label whose AUROC 95% CI includes 0.5. Sensitivity and "
        "specificity are cross-fitted (each group decided with the threshold chosen on the other groups) with "
        "Wilson 95% CIs.", "",
        "| label | pos | AUROC (95% CI) | map | ECE before -> after | threshold | sensitivity | specificity | "
        "external AUROC (pos) |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(ev.labels, key=lambda r: -r["positives"]):
        c = r["calibration"]
        ext = external["per_label"].get(r["label"])
        ext_text = f"{ext['auroc']:.2f} ({ext['positives']})" if ext else "–"
        if r.get("threshold") is None:
            threshold = f"none: {r['threshold_reason']}"
        elif r["label"] not in shown:
            threshold = f"{r['threshold']:.3f}, not shown: AUROC CI includes 0.5"
        else:
            threshold = f"{r['threshold']:.3f}"
        lines.append(f"| {r['label']} | {r['positives']} | {r['auroc']:.3f} ({r['auroc_ci'][0]:.3f}–{r['auroc_ci'][1]:.3f}) "
                     f"| {c['method']} | {c['ece_before']:.3f} -> {c['ece_after']:.3f} | {threshold} | "
                     f"{ci(r, 'sensitivity')} | {ci(r, 'specificity')} | {ext_text} |")
    ext_summary = external["summary"]
    lines += ["", "## External check", "",
              f"{external['data']}. Macro AUROC {ext_summary.get('macro_auroc', float('nan')):.3f} "
              f"(95% CI {ext_summary.get('macro_auroc_ci', [float('nan')] * 2)[0]:.3f}–"
              f"{ext_summary.get('macro_auroc_ci', [float('nan')] * 2)[1]:.3f}) over {len(external['per_label'])} labels "
              f"with >= 3 positives; too few positives to score: "
              f"{', '.join(external['labels_with_fewer_than_3_positives']) or 'none'}.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _card_threshold(threshold: float | None) -> float:
    """The card's threshold list holds numbers: a label without one gets 1.0, above every calibrated
    probability (they stop at 1 - 1e-4), and ecgcore.consistency never calls it positive anyway."""
    return 1.0 if threshold is None else float(threshold)


def plot_reliability(calibration, path: Path) -> None:
    """Reliability diagram over every (record, label) pair, before and after calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for key, name in (("reliability_before", "network"), ("reliability_after", "calibrated (cross-fitted)")):
        bins = calibration.summary[key]
        ece = calibration.summary["ece_" + key.split("_")[1]]
        ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], marker="o",
                label=f"{name}: ECE {ece:.3f}")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Out-of-fold reliability, all labels")
    ax.legend(loc="upper left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


RECIPE_FILE = "train/recipes/shipped/default_12lead.py"
COMMAND = "python -m train recipe run default-12lead"
SINGLE_LEAD_NOTE = ("\n## Single-lead bundle\n\n`models/net1d-small-1lead-default/`: lead I input (a smartwatch or "
                    "AliveCor recording), used by the app and the CLI for one-lead records. Made by `python -m train "
                    "recipe run default-1lead`; its evaluation (PTB-XL out-of-fold on real lead I, CinC 2017 hold-out) "
                    "and the labels it shows are in [docs/experiments.md](../docs/experiments.md) and its card.\n")

CURVE_NOTE = ("\n## Learning curve\n\nThe same recipe at 25%, 50% and 100% of the training records with 3 seeds, "
              "paired CIs of the gains, the gain per doubling of the records and a seed ensemble: `python -m train "
              "recipe run learning-curve`, section 5 of [docs/experiments.md](../docs/experiments.md).\n")


def _write_readme(settings: Settings, models_dir: Path, bundle_dir: Path, ev, labels, ts, external,
                  minutes: float) -> None:
    notes = [f"bundle: `{bundle_dir.relative_to(models_dir.parent) if bundle_dir.is_relative_to(models_dir.parent) else bundle_dir}` "
             f"(`{settings.fit.model}`, 0.5M parameters, default 12-lead model)",
             f"training data: {len(ts)} real records {ts.manifest['sources']} "
             f"({ts.manifest['n_skipped']} skipped: {', '.join(s['record_id'] for s in ts.manifest['skipped'])})",
             "evaluation: out-of-fold (OOF) predictions from patient-disjoint 5-fold CV over PTB-XL strat_fold "
             "1-9; CinC 2021 and CODE-15% records always in training; no early stopping or model selection on "
             "held-out folds",
             f"networks: a seed ensemble of {len(settings.seeds)} (probabilities averaged); OOF macro AUROC of the "
             f"single seeds: {', '.join(f'{v:.3f}' for v in ev.summary['macro_auroc_per_seed'])}",
             f"calibration: per label, chosen by cross-fitted log loss ({ev.summary['calibration']['methods']}); "
             f"expected calibration error over all labels {ev.summary['calibration']['ece_before']:.3f} before, "
             f"{ev.summary['calibration']['ece_after']:.3f} after (cross-fitted); `evaluation/reliability.png`",
             f"thresholds (policy): {POLICY.describe()}; sensitivity/specificity below are cross-fitted (each fold "
             "decided with the threshold chosen on the other folds), with Wilson 95% CIs",
             f"external check: {external['data']}: macro AUROC "
             f"{external['summary'].get('macro_auroc', float('nan')):.3f} over {len(external['per_label'])} labels "
             "with >= 3 positives (per label in the card, `metrics.external`)",
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
