"""Shared machinery of the recipes (issue #7): the patient-disjoint cross-validation folds over
PTB-XL, one cross-validation fit (:func:`fit_fold`, used by the default recipe and the learning
curve), many small fits spread over worker processes, paired bootstrap comparisons and the report
files each experiment writes.

Why paired: on < 500 records two training variants' macro AUROCs each have CIs about 0.08 wide,
which overlap even when one variant is consistently better. Resampling the *same* records for both
variants gives the CI of the difference, which is what "did it help?" asks.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from train.data.shards import TrainingSet
from train.fit import FitConfig, fit, predict_probabilities
from train.metrics import fast_auroc, fast_average_precision, percentile_ci

# PTB-XL strat_fold groups: 5 patient-disjoint folds over folds 1-9 (fold 10 is not in the shared data).
CV_GROUPS: tuple[tuple[int, ...], ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9,))


def cv_splits(ts: TrainingSet, *, sources: Sequence[str] = ("ptbxl",),
              groups: Sequence[Sequence[int]] = CV_GROUPS) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) record indices per fold; records of other sources are always in training.

    Raises if a patient appears on both sides (PTB-XL's strat_fold keeps patients together).
    """
    cv_source = ts.indices(sources=list(sources))
    if len(cv_source) == 0:
        raise ValueError(f"no {list(sources)} records in {ts.path}: the cross-validation folds come from them")
    others = np.setdiff1d(np.arange(len(ts)), cv_source)
    patients = ts.meta.patient_id.to_numpy()
    splits = []
    for group in groups:
        held = ts.indices(sources=list(sources), folds=group)
        train = np.concatenate([np.setdiff1d(cv_source, held), others])
        leaked = set(patients[held]) & set(patients[train])
        if leaked:
            raise ValueError(f"patients on both sides of fold {group}: {sorted(leaked)[:5]}")
        splits.append((np.sort(train), held))
    return splits


def subsample(idx: np.ndarray, fraction: float, seed: int, *, minimum: int = 8) -> np.ndarray:
    """A seeded random ``fraction`` of ``idx`` (sorted), at least ``minimum`` records."""
    if fraction >= 1:
        return np.asarray(idx)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, size=min(len(idx), max(minimum, int(round(fraction * len(idx))))), replace=False))


def fraction_of_training(ts: TrainingSet, train_idx: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``train_idx`` cut to a seeded ``fraction`` of its PTB-XL records (first), every other source kept."""
    ptb = np.intersect1d(train_idx, ts.indices(sources=["ptbxl"]))
    others = np.setdiff1d(train_idx, ptb)
    return np.concatenate([subsample(ptb, fraction, seed), others])


def fold_dir(work: str | os.PathLike[str], fraction: float, fold: int, seed: int = 0) -> Path:
    """``work/cv<percent>-<fold>`` (``-s<seed>`` for seeds other than 0): one cross-validation fit's folder."""
    return Path(work) / f"cv{int(round(fraction * 100))}-{fold}{'' if seed == 0 else f'-s{seed}'}"


@dataclass(frozen=True)
class FoldFit:
    """One cross-validation fit: ``config`` trained on fold ``fold``'s training records, of whose
    PTB-XL records a ``fraction`` drawn with ``subsample_seed`` is kept."""

    dataset: str
    fold: int
    config: FitConfig
    fraction: float = 1.0
    subsample_seed: int = 0


def fit_fold(job: FoldFit) -> np.ndarray:
    """Train ``job`` (a finished fit in its folder is reused) and return the held-out fold's
    probabilities ``(n_held_out, 150)``; module level, so :func:`run_jobs` can spread the folds."""
    ts = TrainingSet(job.dataset)
    train_idx, held = cv_splits(ts)[job.fold]
    result = fit(job.config, ts, fraction_of_training(ts, train_idx, job.fraction, job.subsample_seed), None)
    return predict_probabilities(result.model, ts, held)


def default_workers() -> int:
    """One single-threaded fit per core (two OpenMP threads per small fit were slower than one)."""
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8))


def run_jobs(fn: Callable[[Any], Any], jobs: Iterable[Any], *, workers: int | None = None,
             desc: str = "fits") -> list[Any]:
    """``[fn(job) for job in jobs]``, spread over ``workers`` spawned processes, in job order.

    ``fn`` must be a module-level function (it is pickled). With one worker everything runs in
    this process, which keeps tracebacks simple when debugging a recipe.
    """
    jobs = list(jobs)
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(jobs) <= 1:
        return [fn(job) for job in tqdm(jobs, desc=desc, unit="fit")]
    results: list[Any] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="fit"):
            results[futures[future]] = future.result()
    return results


_METRICS = {"auroc": fast_auroc, "auprc": fast_average_precision}


def macro_metric(y: np.ndarray, scores: np.ndarray, mask: np.ndarray, metric: str = "auroc") -> float:
    """Mean of a per-label metric over columns that have known positives and negatives."""
    fn = _METRICS[metric]
    values = []
    for j in range(y.shape[1]):
        keep = mask[:, j]
        t = y[keep, j]
        if t.size and 0 < t.sum() < t.size:
            values.append(fn(t, scores[keep, j]))
    return float(np.mean(values)) if values else float("nan")


@dataclass
class Comparison:
    """Macro metric of variants A and B (each averaged over seeds) and of B - A, with bootstrap CIs."""

    metric: str
    a: float
    a_ci: tuple[float, float]
    b: float
    b_ci: tuple[float, float]
    diff: float
    diff_ci: tuple[float, float]
    n_records: int
    n_labels: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def paired_bootstrap(y: np.ndarray, mask: np.ndarray, scores_a: Sequence[np.ndarray], scores_b: Sequence[np.ndarray],
                     *, metric: str = "auroc", n_boot: int = 500, seed: int = 0, alpha: float = 0.05) -> Comparison:
    """Compare two variants on the same records; ``scores_*`` hold one (n, labels) array per seed.

    Each bootstrap resample draws records once and scores both variants (all their seeds) on it,
    so the CI of the difference reflects only how the variants differ, not which records were drawn.
    """
    y = np.asarray(y).astype(np.int64)
    mask = np.asarray(mask).astype(bool)

    def score(idx: np.ndarray | None) -> tuple[float, float]:
        sel = slice(None) if idx is None else idx
        a = np.mean([macro_metric(y[sel], s[sel], mask[sel], metric) for s in scores_a])
        b = np.mean([macro_metric(y[sel], s[sel], mask[sel], metric) for s in scores_b])
        return float(a), float(b)

    a, b = score(None)
    rng = np.random.default_rng(seed)
    samples = np.array([score(rng.integers(0, len(y), len(y))) for _ in range(n_boot)])

    def ci(values: np.ndarray) -> tuple[float, float]:
        return percentile_ci(values, alpha)

    n_labels = int(sum(1 for j in range(y.shape[1]) if 0 < y[mask[:, j], j].sum() < mask[:, j].sum()))
    return Comparison(metric, a, ci(samples[:, 0]), b, ci(samples[:, 1]), b - a, ci(samples[:, 1] - samples[:, 0]),
                      n_records=int(len(y)), n_labels=n_labels)


def bootstrap_statistic(statistic: Callable[[np.ndarray], float], n: int, *, n_boot: int = 500, seed: int = 0,
                        alpha: float = 0.05) -> tuple[float, float]:
    """Percentile CI of ``statistic(record_indices)`` over ``n_boot`` resamples of ``n`` records."""
    rng = np.random.default_rng(seed)
    return percentile_ci(np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float), alpha)


def fmt_ci(value: float, ci: Sequence[float], digits: int = 3) -> str:
    """``0.812 (0.771–0.850)``: a value and its CI (:func:`fmt_diff` for differences, signed)."""
    return f"{value:.{digits}f} ({ci[0]:.{digits}f}–{ci[1]:.{digits}f})"


def fmt_diff(value: float, ci: Sequence[float], digits: int = 3) -> str:
    """``+0.028 (+0.002 to +0.053)``: a difference and its CI, signed."""
    return f"{value:+.{digits}f} ({ci[0]:+.{digits}f} to {ci[1]:+.{digits}f})"


def write_experiment_report(docs_dir: Path, stem: str, results: dict, markdown: str,
                            plot: Callable[[dict, Path], None] | None = None) -> None:
    """``<stem>.json`` (every figure), ``<stem>.md`` (the section docs/experiments.md shows) and, with
    ``plot``, ``<stem>.png`` in ``docs_dir``: the three files each recipe leaves behind."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    (docs_dir / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    (docs_dir / f"{stem}.md").write_text(markdown)
    if plot is not None:
        plot(results, docs_dir / f"{stem}.png")


EXPERIMENT_SECTIONS = ("summary.md", "pu_labels.md", "single_lead.md", "downstream.md", "contrastive.md", "learning_curve.md",
                       "active_learning.md")


def write_experiments_index(docs_dir: Path, out: Path | None = None) -> Path:
    """``docs/experiments.md`` = the hand-written summary + every recipe's section present, so the
    page always shows the tables the recipes last wrote (image links rebased to ``experiments/``)."""
    docs_dir = Path(docs_dir)
    out = out or docs_dir.parent / "experiments.md"
    parts = ["# Experiments (issue #7)\n",
             "Every table below is written by a seeded recipe: `python -m train recipe run "
             "pu-labels|default-1lead|downstream|contrastive|learning-curve|active-learning` (`python -m train recipe list`; see "
             "docs/training.md). Data: the real records in ../shared/data; PTB-XL fold 10 and the other hold-out sets "
             "are never used.\n"]
    for name in EXPERIMENT_SECTIONS:
        path = docs_dir / name
        if path.is_file():
            text = path.read_text()
            text = re.sub(r"\]\((?!https?:|experiments/)([^)]+\.png)\)", r"](experiments/\1)", text)
            parts.append(text.strip() + "\n")
    out.write_text("\n".join(parts))
    return out
