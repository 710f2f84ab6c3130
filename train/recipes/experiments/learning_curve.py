"""What more labelled data buys the default 12-lead recipe (issue #6): a learning curve with seeds.

At < 500 records one seed cannot separate a trend from noise. This experiment trains the default
recipe's fit (same network, epochs, augmentation, labels, patient-disjoint folds; its own copy of
those settings, held equal to ``default-12lead``'s by a test) at 25%, 50% and 100% of each fold's
PTB-XL training records with several seeds (seed k changes the network initialisation, the
augmentation stream *and* which records a fraction keeps), then reports, all out-of-fold over the
same 434 PTB-XL records:

- macro AUROC over the default model's labels and NORMAL ECG AUROC per fraction (mean of seeds),
  with bootstrap 95% CIs over records;
- the paired gain from 25% to 100% and from 50% to 100% (same records in every resample);
- the slope per doubling of the training records (least squares on log2 n over the three points),
  with the spread of that slope over the bootstrap resamples;
- the same points for the seed ensemble (probabilities averaged over the seeds' models).

Seed 0 at 100% is the default recipe's own cross-validation: with the default ``work`` folder
(``artifacts/default_12lead``) those fits are reused (``fit`` refuses a folder trained with other
settings).

Run: ``python -m train recipe run learning-curve`` (about 60 min on 2 cores when the default
recipe's fits exist, about 70 min from nothing).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.experiments import (
    FoldFit,
    cv_splits,
    fit_fold,
    fmt_ci,
    fmt_diff,
    fold_dir,
    fraction_of_training,
    macro_metric,
    run_jobs,
    write_experiment_report,
)
from train.fit import FitConfig, select_labels
from train.metrics import percentile_ci
from train.paths import ARTIFACTS_DIR, EXPERIMENT_DOCS_DIR, LOCAL_DATA_DIR, SHARED_DATA_DIR
from train.recipes.presets import fit_preset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    fit: FitConfig                   # the default 12-lead recipe's fit (seed k adds k to its seed)
    fractions: tuple[float, ...]     # of each fold's PTB-XL training records
    seeds: tuple[int, ...]
    n_boot: int

    def with_epochs(self, epochs: int) -> "Settings":
        return replace(self, fit=replace(self.fit, epochs=epochs))


SETTINGS = Settings(
    fit=replace(fit_preset("net1d-small-12lead"), epochs=25, bundle_name="net1d-small-12lead-default"),
    fractions=(0.25, 0.5, 1.0),
    seeds=(0, 1, 2),
    n_boot=500,
)


def subsample_seed(settings: Settings, fold: int, seed: int) -> int:
    """Which records a fraction keeps; seed 0 draws what the default recipe's seed draws (its seed + fold)."""
    return settings.fit.seed + fold + 7919 * seed


def fold_fits(settings: Settings, ts: TrainingSet, labels: list[str], work: Path) -> list[FoldFit]:
    """Every (seed, fraction, fold) fit, seed-major (a run cut short leaves whole seeds done)."""
    n_folds = len(cv_splits(ts))
    return [FoldFit(str(ts.path), k, replace(settings.fit, out_dir=str(fold_dir(work, f, k, s)), labels=list(labels),
                                             seed=settings.fit.seed + s), f, subsample_seed(settings, k, s))
            for s in settings.seeds for f in sorted(settings.fractions) for k in range(n_folds)]


def doubling_slope(n_records: np.ndarray, values: np.ndarray) -> float:
    """Least-squares gain per doubling of the training records: the slope of ``values`` on log2 n."""
    return float(np.polyfit(np.log2(n_records), values, 1)[0])


def run(settings: Settings = SETTINGS, *, work: Path = ARTIFACTS_DIR / "default_12lead",
        docs: Path = EXPERIMENT_DOCS_DIR, data_dir: Path = LOCAL_DATA_DIR / "shared-12lead",
        shared: Path = SHARED_DATA_DIR, workers: int | None = None) -> dict:
    t0 = time.time()
    fractions, seeds, epochs, n_boot = tuple(sorted(settings.fractions)), settings.seeds, settings.fit.epochs, settings.n_boot
    ts = ensure_dataset("shared", shared, data_dir)
    labels = select_labels(ts, np.arange(len(ts)), settings.fit.min_positives)
    cols = ts.label_columns(labels)
    splits = cv_splits(ts)
    held = np.concatenate([h for _, h in splits])
    y, m = ts.labels[held][:, cols], ts.mask[held][:, cols].astype(bool)
    jobs = fold_fits(settings, ts, labels, work)
    logger.info("%d labels, fractions %s, seeds %s: %d fits in %s", len(labels), fractions, tuple(seeds), len(jobs), work)
    probs = run_jobs(fit_fold, jobs, workers=workers, desc="learning curve")
    seed_of = {s: settings.fit.seed + s for s in seeds}
    oof = {(f, s): np.concatenate([p[:, cols] for j, p in zip(jobs, probs)
                                   if (j.fraction, j.config.seed) == (f, seed_of[s])])
           for f in fractions for s in seeds}
    ptb = ts.indices(sources=["ptbxl"])
    n_train = {f: int(np.mean([np.isin(fraction_of_training(ts, train, f, subsample_seed(settings, k, 0)), ptb).sum()
                               for k, (train, _) in enumerate(splits)])) for f in fractions}
    normal = labels.index("NORMAL ECG") if "NORMAL ECG" in labels else None

    ensembles = {f: np.mean([oof[(f, s)] for s in seeds], axis=0) for f in fractions}
    one_label = [normal] if normal is not None else []

    def point_estimates(idx: np.ndarray) -> np.ndarray:
        """(fractions, 4) on records ``idx``: seed-mean macro AUROC and NORMAL ECG AUROC, then the
        same two for the seed ensemble (probabilities averaged over seeds)."""
        out = np.full((len(fractions), 4), np.nan)
        yi, mi = y[idx], m[idx]
        for i, f in enumerate(fractions):
            runs = [oof[(f, s)][idx] for s in seeds]
            ensemble = ensembles[f][idx]
            out[i, 0] = np.mean([macro_metric(yi, p, mi) for p in runs])
            out[i, 2] = macro_metric(yi, ensemble, mi)
            if one_label:
                out[i, 1] = np.mean([macro_metric(yi[:, one_label], p[:, one_label], mi[:, one_label]) for p in runs])
                out[i, 3] = macro_metric(yi[:, one_label], ensemble[:, one_label], mi[:, one_label])
        return out

    everything = np.arange(len(held))
    observed = point_estimates(everything)
    rng = np.random.default_rng(0)
    boots = np.array([point_estimates(rng.integers(0, len(held), len(held))) for _ in range(n_boot)])
    n_axis = np.array([n_train[f] for f in fractions], dtype=float)

    per_seed = {f: [macro_metric(y, oof[(f, s)], m) for s in seeds] for f in fractions}
    results = {"labels": labels, "seeds": list(seeds), "epochs": epochs, "n_records": int(len(held)),
               "n_boot": n_boot, "points": [], "gains": [], "slope": {}}
    for i, f in enumerate(fractions):
        results["points"].append({"fraction": f, "n_ptbxl_train_per_fold": n_train[f],
                                  "macro_auroc": observed[i, 0], "macro_auroc_ci": percentile_ci(boots[:, i, 0]),
                                  "macro_auroc_per_seed": per_seed[f],
                                  "normal_ecg_auroc": observed[i, 1], "normal_ecg_auroc_ci": percentile_ci(boots[:, i, 1]),
                                  "ensemble_macro_auroc": observed[i, 2], "ensemble_macro_auroc_ci": percentile_ci(boots[:, i, 2]),
                                  "ensemble_normal_ecg_auroc": observed[i, 3],
                                  "ensemble_normal_ecg_auroc_ci": percentile_ci(boots[:, i, 3])})
    top = len(fractions) - 1
    for i in range(top):
        for j, key in ((0, "macro_auroc"), (1, "normal_ecg_auroc")):
            results["gains"].append({"from": fractions[i], "to": fractions[top], "metric": key,
                                     "gain": observed[top, j] - observed[i, j],
                                     "gain_ci": percentile_ci(boots[:, top, j] - boots[:, i, j])})
    for j, key in ((0, "macro_auroc"), (1, "normal_ecg_auroc")):
        slopes = np.array([doubling_slope(n_axis, b[:, j]) for b in boots if np.all(np.isfinite(b[:, j]))])
        results["slope"][key] = {"per_doubling": doubling_slope(n_axis, observed[:, j]), "ci": percentile_ci(slopes)}
    results["minutes"] = (time.time() - t0) / 60
    write_experiment_report(docs, "learning_curve", results, report(results), _plot)
    logger.info("done in %.0f min", results["minutes"])
    return results


_METRIC_NAMES = {"macro_auroc": "macro AUROC", "normal_ecg_auroc": "NORMAL ECG AUROC"}


def report(results: dict) -> str:
    n_seeds = len(results["seeds"])
    lines = ["## 5. Learning curve of the default 12-lead recipe", "",
             f"The shipped recipe (`train/recipes/shipped/default_12lead.py`, {results['epochs']} epochs) trained on 25%, 50% "
             f"and 100% of each fold's PTB-XL training records, {n_seeds} seeds (initialisation, augmentation and the "
             f"records a fraction keeps all change with the seed), scored out-of-fold on the same "
             f"{results['n_records']} records; {len(results['labels'])} labels. Means over seeds; 95% CIs from a "
             f"bootstrap over records ({results['n_boot']} resamples).", "",
             "| PTB-XL training records per fold | macro AUROC | per seed | NORMAL ECG AUROC |", "|---|---|---|---|"]
    ensemble = ["", f"The same predictions as a {n_seeds}-seed ensemble (probabilities averaged over the seeds' models, "
                "i.e. what shipping all of them would give):", "",
                "| PTB-XL training records per fold | ensemble macro AUROC | ensemble NORMAL ECG AUROC |", "|---|---|---|"]
    for p in results["points"]:
        seeds = ", ".join(f"{v:.3f}" for v in p["macro_auroc_per_seed"])
        lines.append(f"| {p['n_ptbxl_train_per_fold']} ({p['fraction']:.0%}) | {fmt_ci(p['macro_auroc'], p['macro_auroc_ci'])} "
                     f"| {seeds} | {fmt_ci(p['normal_ecg_auroc'], p['normal_ecg_auroc_ci'])} |")
        ensemble.append(f"| {p['n_ptbxl_train_per_fold']} ({p['fraction']:.0%}) | "
                        f"{fmt_ci(p['ensemble_macro_auroc'], p['ensemble_macro_auroc_ci'])} | "
                        f"{fmt_ci(p['ensemble_normal_ecg_auroc'], p['ensemble_normal_ecg_auroc_ci'])} |")
    lines += ensemble
    lines += ["", "| gain | metric | value (paired 95% CI) |", "|---|---|---|"]
    for g in results["gains"]:
        lines.append(f"| {g['from']:.0%} → {g['to']:.0%} | {_METRIC_NAMES[g['metric']]} | {fmt_diff(g['gain'], g['gain_ci'])} |")
    for key, s in results["slope"].items():
        lines.append(f"| per doubling (fit on log2 n) | {_METRIC_NAMES[key]} | {fmt_diff(s['per_doubling'], s['ci'])} |")
    lines += ["", "![learning curve](learning_curve.png)", ""]
    return "\n".join(lines)


def _plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = results["points"]
    n = np.array([p["n_ptbxl_train_per_fold"] for p in points])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, marker in (("macro_auroc", "o"), ("normal_ecg_auroc", "s")):
        vals = np.array([p[key] for p in points])
        cis = np.array([p[f"{key}_ci"] for p in points])
        ax.errorbar(n, vals, yerr=[vals - cis[:, 0], cis[:, 1] - vals], fmt=marker + "-", capsize=3,
                    label=_METRIC_NAMES[key])
    for p in points:
        ax.scatter([p["n_ptbxl_train_per_fold"]] * len(p["macro_auroc_per_seed"]), p["macro_auroc_per_seed"],
                   s=10, color="grey", zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(n, [str(v) for v in n])
    ax.set_xlabel("PTB-XL training records per fold (log scale)")
    ax.set_ylabel("out-of-fold AUROC")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
