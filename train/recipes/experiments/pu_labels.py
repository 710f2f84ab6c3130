"""Experiment 1 (issue #7): does positive-unlabeled (PU) learning beat BCE when labels are incomplete?

Protocol (one command: ``python -m train recipe run pu-labels``, about 35 min on 2 CPU cores):

1. The real 12-lead data (PTB-XL folds 1-9 + CinC 2021 + CODE-15% samples) and the default
   model's labels (>= 10 positives and negatives).
2. Patient-disjoint 5-fold CV over PTB-XL ``strat_fold`` (as for the default model).
3. In the *training* rows only, a random 30% or 60% of each label's positives are set to 0
   (stratified per label, seeded); the held-out fold keeps its complete labels.
4. Same recipe, budget and seeds for both losses: plain masked BCE (hidden positives become
   negatives) and nnPU with the label frequency c = 1 - hidden fraction (the "given" prior;
   ``train.losses.estimate_label_frequency`` estimates it when it is not known).
5. Out-of-fold macro AUROC/AUPRC over all labels and over the 10 most frequent ones, averaged
   over seeds; paired bootstrap CIs of PU - BCE. The complete-label BCE model is the ceiling.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.experiments import (
    bootstrap_statistic,
    cv_splits,
    fmt_ci,
    fmt_diff,
    paired_bootstrap,
    run_jobs,
    write_experiment_report,
)
from train.fit import FitConfig, fit, predict_probabilities, select_labels
from train.paths import ARTIFACTS_DIR, EXPERIMENT_DOCS_DIR, LOCAL_DATA_DIR, SHARED_DATA_DIR
from train.recipes.presets import fit_preset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    fit: FitConfig                       # every fit (both losses); its epochs are the experiment's budget
    hidden_fractions: tuple[float, ...]  # share of each label's training positives set to 0
    seeds: tuple[int, ...]
    n_boot: int                          # paired bootstrap resamples

    def with_epochs(self, epochs: int) -> "Settings":
        return replace(self, fit=replace(self.fit, epochs=epochs))


SETTINGS = Settings(
    fit=replace(fit_preset("net1d-small-12lead"), bundle_name="pu-experiment"),
    hidden_fractions=(0.3, 0.6),
    seeds=(0, 1),
    n_boot=500,
)


def hide_positives(labels: np.ndarray, mask: np.ndarray, rows: np.ndarray, columns: np.ndarray,
                   fraction: float, seed: int) -> np.ndarray:
    """Copy of ``labels`` with ``fraction`` of each column's known positives among ``rows`` set to 0.

    The entries stay *known* (mask unchanged): to the model they look like negatives, as an
    unreported diagnosis does in a real ECG report.
    """
    out = labels.copy()
    rng = np.random.default_rng(seed)
    rows = np.asarray(rows)
    for j in columns:
        positive_rows = rows[(labels[rows, j] == 1) & mask[rows, j]]
        n_hide = int(round(fraction * len(positive_rows)))
        if n_hide:
            out[rng.choice(positive_rows, size=n_hide, replace=False), j] = 0
    return out


@dataclass(frozen=True)
class Job:
    dataset: str
    work: str
    config: FitConfig   # the experiment's fit settings
    labels: tuple[str, ...]
    loss: str           # "bce" or "pu"
    hidden: float       # fraction of training positives hidden
    seed: int
    fold: int


def run_job(job: Job) -> np.ndarray:
    """Train one (loss, hidden fraction, seed, fold) and return its held-out probabilities."""
    ts = TrainingSet(job.dataset)
    train_idx, held = cv_splits(ts)[job.fold]
    cols = ts.label_columns(job.labels)
    if job.hidden > 0:
        # Hidden per (fraction, seed) over every record; the held-out fold is scored on ts.labels.
        hidden = hide_positives(ts.labels, ts.mask, np.arange(len(ts)), cols, job.hidden, seed=1000 + job.seed)
        ts_train = ts.with_labels(hidden)
    else:
        ts_train = ts
    options = {"label_frequency": 1.0 - job.hidden} if job.loss == "pu" else {}
    out = Path(job.work) / f"{job.loss}-h{int(job.hidden * 100)}-s{job.seed}-f{job.fold}"
    config = replace(job.config, out_dir=str(out), labels=list(job.labels), loss=job.loss, loss_options=options,
                     seed=job.config.seed + job.seed)
    result = fit(config, ts_train, train_idx, None)
    return predict_probabilities(result.model, ts, held)[:, cols]


def run(settings: Settings = SETTINGS, *, work: Path = ARTIFACTS_DIR / "pu_labels", docs: Path = EXPERIMENT_DOCS_DIR,
        data_dir: Path = LOCAL_DATA_DIR / "shared-12lead", shared: Path = SHARED_DATA_DIR,
        workers: int | None = None) -> dict:
    t0 = time.time()
    hidden_fractions, seeds, epochs, n_boot = settings.hidden_fractions, settings.seeds, settings.fit.epochs, settings.n_boot
    ts = ensure_dataset("shared", shared, data_dir)
    labels = select_labels(ts, np.arange(len(ts)), settings.fit.min_positives)
    splits = cv_splits(ts)
    variants = [("bce", 0.0)] + [(loss, h) for h in hidden_fractions for loss in ("bce", "pu")]
    # Seed-major order: if a run is cut short, the finished seeds are complete for every variant.
    jobs = [Job(str(ts.path), str(work), settings.fit, tuple(labels), loss, h, seed, k)
            for seed in seeds for loss, h in variants for k in range(len(splits))]
    held = np.concatenate([h for _, h in splits])
    cols = ts.label_columns(labels)
    y, m = ts.labels[held][:, cols], ts.mask[held][:, cols]
    signature = json.dumps({"labels": labels, "seeds": list(seeds), "variants": variants, "epochs": epochs,
                            "recipe": settings.fit.to_dict() | {"out_dir": None}}, sort_keys=True, default=str)
    oof = _cached_oof(work / "oof.npz", signature, variants)
    if oof is None:
        logger.info("%d labels, %d folds, %d fits", len(labels), len(splits), len(jobs))
        probs = run_jobs(run_job, jobs, workers=workers, desc="PU experiment")
        oof = {}
        for loss, h in variants:
            oof[(loss, h)] = [np.concatenate([p for j, p in zip(jobs, probs) if (j.loss, j.hidden, j.seed) ==
                                              (loss, h, seed)]) for seed in seeds]
        work.mkdir(parents=True, exist_ok=True)
        np.savez(work / "oof.npz", held=held, labels=np.array(labels), signature=np.array(signature),
                 **{_key(loss, h): np.stack(v) for (loss, h), v in oof.items()})
    else:
        logger.info("reusing the out-of-fold predictions in %s (same labels, seeds, epochs, recipe)", work / "oof.npz")

    top10 = [labels[j] for j in np.argsort(-(y * m).sum(0), kind="stable")[:10]]
    top_cols = np.array([labels.index(n) for n in top10])
    results = {"labels": labels, "top10": top10, "seeds": list(seeds), "epochs": epochs, "n_records": int(len(held)),
               "comparisons": [], "n_boot": n_boot}
    subsets = (("all labels", np.arange(len(labels))), ("10 most frequent", top_cols))
    # The complete-label ceiling does not depend on the hidden fraction: one bootstrap per subset and metric.
    ceilings = {(subset, metric): paired_bootstrap(y[:, sel], m[:, sel], [s[:, sel] for s in oof[("bce", 0.0)]],
                                                   [s[:, sel] for s in oof[("bce", 0.0)]], metric=metric,
                                                   n_boot=n_boot)
                for subset, sel in subsets for metric in ("auroc", "auprc")}
    for h in hidden_fractions:
        for subset, sel in subsets:
            for metric in ("auroc", "auprc"):
                c = paired_bootstrap(y[:, sel], m[:, sel], [s[:, sel] for s in oof[("bce", h)]],
                                     [s[:, sel] for s in oof[("pu", h)]], metric=metric, n_boot=n_boot)
                ceiling = ceilings[(subset, metric)]
                results["comparisons"].append({"hidden": h, "subset": subset, **c.to_dict(),
                                               "complete_bce": ceiling.a, "complete_bce_ci": ceiling.a_ci})
                logger.info(f"hidden {h:.0%} {subset} {metric}: BCE {c.a:.3f} PU {c.b:.3f} diff {c.diff:+.3f} "
                            f"{c.diff_ci}")
    results["calibration"] = [_calibration(y, m, loss, h, oof[(loss, h)], n_boot) for loss, h in variants]
    results["minutes"] = (time.time() - t0) / 60
    write_experiment_report(docs, "pu_labels", results, report(results), _plot)
    logger.info("done in %.0f min", results["minutes"])
    return results


def _key(loss: str, hidden: float) -> str:
    return f"{loss}_h{int(round(hidden * 100))}"


def _cached_oof(path: Path, signature: str, variants) -> dict | None:
    """The saved out-of-fold predictions if they come from exactly this configuration."""
    if not path.is_file():
        return None
    saved = np.load(path)
    if "signature" not in saved or str(saved["signature"]) != signature:
        return None
    return {(loss, h): list(saved[_key(loss, h)]) for loss, h in variants}


def _calibration(y: np.ndarray, m: np.ndarray, loss: str, hidden: float, per_seed: list[np.ndarray],
                 n_boot: int) -> dict:
    """Calibration in the large (predicted / true positives, pooled over labels) and the pooled
    sensitivity at p >= 0.5: what hidden labels do to a model's probabilities, which AUROC ignores."""
    p = np.mean(per_seed, axis=0)

    def ratio(idx):
        return float((p[idx] * m[idx]).sum() / max((y[idx] * m[idx]).sum(), 1))

    def sensitivity(idx):
        pos = (y[idx] == 1) & m[idx]
        return float((p[idx][pos] >= 0.5).mean()) if pos.any() else float("nan")

    everything = np.arange(len(y))
    return {"loss": loss, "hidden": hidden,
            "predicted_over_true_positives": ratio(everything),
            "predicted_over_true_positives_ci": bootstrap_statistic(ratio, len(y), n_boot=n_boot),
            "sensitivity_at_0.5": sensitivity(everything),
            "sensitivity_at_0.5_ci": bootstrap_statistic(sensitivity, len(y), n_boot=n_boot)}


def report(results: dict) -> str:
    lines = ["## 1. PU learning for incomplete labels", "",
             f"Out-of-fold over {results['n_records']} PTB-XL records (patient-disjoint 5-fold CV), "
             f"{len(results['labels'])} labels, {results['epochs']} epochs, mean of {len(results['seeds'])} seeds; "
             f"95% CIs from a paired bootstrap over records ({results['n_boot']} resamples). Hidden positives are removed from "
             "the training folds only; the held-out labels are complete.", "",
             "| hidden positives | labels | metric | BCE | nnPU | nnPU − BCE | complete-label BCE |",
             "|---|---|---|---|---|---|---|"]
    for c in results["comparisons"]:
        lines.append(f"| {c['hidden']:.0%} | {c['subset']} | {c['metric'].upper()} | {fmt_ci(c['a'], c['a_ci'])} | "
                     f"{fmt_ci(c['b'], c['b_ci'])} | {fmt_diff(c['diff'], c['diff_ci'])} | "
                     f"{fmt_ci(c['complete_bce'], c['complete_bce_ci'])} |")
    lines += ["", f"10 most frequent labels: {', '.join(results['top10'])}.", ""]
    if results.get("calibration"):
        lines += ["What the hidden labels do to the probabilities (all labels pooled, seed-averaged predictions, "
                  "bootstrap 95% CIs): the sum of predicted probabilities over the number of true positives "
                  "(1 = calibrated in the large) and the share of true positives with p >= 0.5.", "",
                  "| training labels | loss | predicted / true positives | sensitivity at p >= 0.5 |",
                  "|---|---|---|---|"]
        for c in results["calibration"]:
            lines.append(f"| {'complete' if c['hidden'] == 0 else format(c['hidden'], '.0%') + ' hidden'} | "
                         f"{'nnPU' if c['loss'] == 'pu' else 'BCE'} | "
                         f"{fmt_ci(c['predicted_over_true_positives'], c['predicted_over_true_positives_ci'], 2)} | "
                         f"{fmt_ci(c['sensitivity_at_0.5'], c['sensitivity_at_0.5_ci'], 2)} |")
        lines.append("")
    lines += [
              "![PU vs BCE](pu_labels.png)", ""]
    return "\n".join(lines)


def _plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in results["comparisons"] if c["metric"] == "auroc"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, subset in zip(axes, ("all labels", "10 most frequent")):
        sel = [c for c in rows if c["subset"] == subset]
        x = np.arange(len(sel))
        for offset, key, name in ((-0.15, "a", "BCE"), (0.15, "b", "nnPU")):
            vals = np.array([c[key] for c in sel])
            ci = np.array([c[f"{key}_ci"] for c in sel])
            ax.errorbar(x + offset, vals, yerr=[vals - ci[:, 0], ci[:, 1] - vals], fmt="o", capsize=3, label=name)
        if sel:
            ax.axhline(sel[0]["complete_bce"], color="grey", ls="--", lw=1, label="complete labels (BCE)")
        ax.set_xticks(x, [f"{c['hidden']:.0%} hidden" for c in sel])
        ax.set_title(f"macro AUROC, {subset}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
