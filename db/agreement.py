"""Inter-rater agreement: Cohen's kappa per reviewer pair and Fleiss' kappa per label, with n and 95% CIs.

Ratings are nominal with three categories (absent, present, uncertain). Only regular (not
adjudication) latest reviews count. Items are restricted to *active* labels (some reviewer said
present or uncertain somewhere): the ~150 labels nobody ever marked would add thousands of trivial
absent/absent agreements; kappa corrects for chance, but the counts would mislead.

Sample sizes and intervals
--------------------------
Every statistic of the Agreement page (these kappas and :func:`db.reader_study.model_auroc`) comes
with its n and a 95% percentile bootstrap interval (:func:`bootstrap_ci`): *records* are resampled
with replacement (the labels of one record are read together, so record x label items are not
independent), ``BOOTSTRAP_RESAMPLES`` (1000) times, seeded with ``BOOTSTRAP_SEED`` (0) so the same
data always gives the same interval. Resamples on which the statistic is undefined (a single class
drawn, everyone in one category) are skipped.

The minimum sample sizes below are defined here and nowhere else. A statistic below its minimum is
still returned with its n and interval, but ``enough_data`` is False and ``note`` says
"n too small ...", so every page greys it out instead of presenting it as a result:

* ``MIN_KAPPA_RECORDS`` = 10 records, rated by both reviewers (Cohen) or by at least two (Fleiss).
  The standard error of kappa is about sqrt(p_o (1 - p_o) / n) / (1 - p_e) (Cohen 1960): with a
  typical p_o = 0.8 and p_e = 0.5 it is 0.25 at n = 10 (95% CI about +-0.5, wide but it tells
  poor from good agreement) and 0.36 at n = 5 (+-0.7, most of the kappa scale). Below 10 records a
  single changed verdict moves kappa by 0.1 or more, and a kappa of -1 or 1 is a matter of luck.
* ``MIN_AUROC_POSITIVES`` = ``MIN_AUROC_NEGATIVES`` = 5. AUROC compares every positive with every
  negative record: 5 x 5 = 25 pairs give steps of 0.04, and the Hanley-McNeil standard error at
  AUROC 0.8 is 0.15 (95% CI about +-0.3). With fewer of either class (2 and 2: 4 pairs, steps of
  0.25) an AUROC of 0.0 or 1.0 is one record away, and many bootstrap resamples have one class.

Degenerate cases give NaN with the reason in ``note`` (never a -1 or 0.0 standing in for a result):
fewer than 2 records, no item both reviewers assessed, or a single category throughout (chance
agreement 1, kappa 0/0).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from db.consensus import NOT_ASSESSED, PRESENT, UNCERTAIN, verdict_matrix
from db.labels import vocabulary
from db.reviews import ReviewTable, review_table
from db.session import Database

CATEGORIES = (0, 1, 2)  # absent, present, uncertain

# -- minimum sample sizes and the bootstrap (see the module docstring for why these numbers) --------
MIN_KAPPA_RECORDS = 10
MIN_AUROC_POSITIVES = 5
MIN_AUROC_NEGATIVES = 5
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95
SAMPLE_SIZE_NOTE = (  # for pages: under the agreement statistics
    f"Every statistic shows its n and a {CI_LEVEL:.0%} bootstrap interval ({BOOTSTRAP_RESAMPLES} resamples of the "
    f"records, seed {BOOTSTRAP_SEED}). Greyed out, \"n too small\": kappa from fewer than {MIN_KAPPA_RECORDS} records."
)
AUROC_SIZE_NOTE = (  # for pages: under the model-vs-consensus AUROC
    f"n: records with a final consensus and a model score (pos, neg: positive and negative in the consensus). "
    f"Greyed out, \"n too small\": fewer than {MIN_AUROC_POSITIVES} positive or {MIN_AUROC_NEGATIVES} negative records."
)
_BOOT_CHUNK = 2_000_000  # resampled indices held in memory at once

PAIR_COLUMNS = ["reviewer_a", "reviewer_b", "n_records", "n_items", "observed_agreement", "kappa", "ci_low",
                "ci_high", "enough_data", "note"]
LABEL_COLUMNS = ["label", "n_records", "n_ratings", "n_present", "n_absent", "n_uncertain", "observed_agreement",
                 "kappa", "ci_low", "ci_high", "enough_data", "note"]


def bootstrap_ci(statistic: Callable[[np.ndarray], np.ndarray], n: int, *, n_boot: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic over ``n`` records (resampled with replacement).

    ``statistic`` maps an (m, n) array of record indices, one resample per row, to the m values of
    the statistic (vectorised: the whole bootstrap is a few array operations). Resamples where it is
    undefined (NaN) are skipped. NaNs when ``n < 2`` or no resample gives a value.
    """
    if n < 2 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CHUNK // n)
    values = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        values.append(np.asarray(statistic(idx), dtype=float).reshape(-1))
    samples = np.concatenate(values)
    samples = samples[np.isfinite(samples)]
    if not samples.size:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def sample_size_note(too_small: str | None, undefined: str | None) -> str:
    """The ``note`` of a statistic: why it is greyed out and/or why it is NaN ('' when neither)."""
    return "; ".join(part for part in (too_small and f"n too small ({too_small})", undefined) if part)


def _kappa_verdict(n_records: int, kappa: float, undefined: str) -> tuple[bool, str]:
    enough = n_records >= MIN_KAPPA_RECORDS
    too_small = None if enough else f"{n_records} record{'s' if n_records != 1 else ''} < {MIN_KAPPA_RECORDS}"
    return enough, sample_size_note(too_small, undefined if np.isnan(kappa) else None)


# -- the statistics, vectorised over leading (resample) axes --------------------------------------
def _fleiss(counts: np.ndarray) -> np.ndarray:
    """Fleiss' kappa over the last two axes (items, categories); every item has >= 2 ratings."""
    n_i = counts.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = ((counts * (counts - 1)).sum(axis=-1) / (n_i * (n_i - 1))).mean(axis=-1)
        p_j = counts.sum(axis=-2) / n_i.sum(axis=-1)[..., None]
        p_e = (p_j**2).sum(axis=-1)
        kappa = (p_bar - p_e) / (1 - p_e)
    return np.where(np.isclose(p_e, 1.0) | ~np.isfinite(kappa), np.nan, kappa)


def _cohen(confusion: np.ndarray) -> np.ndarray:
    """Cohen's kappa from (..., 9) flattened 3x3 confusion counts (rows: reviewer a, columns: b)."""
    c = confusion.reshape(*confusion.shape[:-1], 3, 3)
    total = c.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = np.trace(c, axis1=-2, axis2=-1) / total
        p_e = (c.sum(axis=-1) * c.sum(axis=-2)).sum(axis=-1) / total**2
        kappa = (p_o - p_e) / (1 - p_e)
    return np.where((total == 0) | np.isclose(p_e, 1.0) | ~np.isfinite(kappa), np.nan, kappa)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an (items, categories) count matrix; items may have different rater counts (>= 2).

    Uses Fleiss (1971) with per-item agreement P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)).
    NaN when there are no items or chance agreement is 1 (everyone always chose one category).
    """
    counts = np.asarray(counts, dtype=float)
    counts = counts[counts.sum(axis=1) >= 2]
    if len(counts) == 0:
        return float("nan")
    return float(_fleiss(counts))


def active_labels(codes: np.ndarray, labels: Sequence[str]) -> list[int]:
    """Column indices of labels some review marked present or uncertain."""
    return np.flatnonzero(((codes == PRESENT) | (codes == UNCERTAIN)).any(axis=0)).tolist()


def _regular(table: ReviewTable) -> ReviewTable:
    keep = ~table.reviews["is_adjudication"].astype(bool)
    reviews = table.reviews[keep].reset_index(drop=True)
    return ReviewTable(reviews, table.verdicts[table.verdicts["review_id"].isin(reviews["review_id"])])


def cohen_kappa_pairs(table: ReviewTable, labels: Sequence[str] | None = None, *, unlisted: str = "absent",
                      n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Cohen's kappa for every pair of reviewers who read at least one common record.

    Columns: reviewer_a, reviewer_b, n_records (read by both), n_items (record x active label
    assessed by both), observed_agreement, kappa, ci_low, ci_high (bootstrap over the common
    records), enough_data (``n_records >= MIN_KAPPA_RECORDS``), note (why greyed out or NaN).
    """
    labels = tuple(labels or vocabulary())
    table = _regular(table)
    codes = verdict_matrix(table, labels, unlisted)
    cols = active_labels(codes, labels)
    rows = []
    reviews = table.reviews
    row_of = pd.Series(np.arange(len(reviews)), index=reviews["review_id"].to_numpy())
    by_reviewer = {name: frame for name, frame in reviews.groupby("reviewer")}
    for a, b in itertools.combinations(sorted(by_reviewer), 2):
        ra = by_reviewer[a].set_index("record_id")
        rb = by_reviewer[b].set_index("record_id")
        common = ra.index.intersection(rb.index)
        if len(common) == 0:
            continue
        ia = row_of.loc[ra.loc[common, "review_id"]].to_numpy()  # rows of both, aligned on record
        ib = row_of.loc[rb.loc[common, "review_id"]].to_numpy()
        xa, xb = codes[ia][:, cols].astype(int), codes[ib][:, cols].astype(int)
        cell = np.where((xa != NOT_ASSESSED) & (xb != NOT_ASSESSED), 3 * xa + xb, -1)
        confusion = np.stack([(cell == k).sum(axis=1) for k in range(9)], axis=1)  # (records, 9)
        n_records, n_items = len(common), int(confusion.sum())
        kappa, low, high = float("nan"), float("nan"), float("nan")
        if n_records >= 2:
            kappa = float(_cohen(confusion.sum(axis=0)))
            low, high = bootstrap_ci(lambda idx, c=confusion: _cohen(c[idx].sum(axis=1)), n_records, n_boot=n_boot,
                                     seed=seed)
        undefined = ("undefined with fewer than 2 records" if n_records < 2
                     else "no label assessed by both" if n_items == 0
                     else "undefined: both gave one and the same answer throughout")
        enough, note = _kappa_verdict(n_records, kappa, undefined)
        rows.append({"reviewer_a": a, "reviewer_b": b, "n_records": n_records, "n_items": n_items,
                     "observed_agreement": float(np.trace(confusion.sum(axis=0).reshape(3, 3)) / n_items)
                     if n_items else float("nan"),
                     "kappa": kappa, "ci_low": low, "ci_high": high, "enough_data": enough, "note": note})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS).astype({"enough_data": bool})


def fleiss_kappa_per_label(table: ReviewTable, labels: Sequence[str] | None = None, *, unlisted: str = "absent",
                           all_labels: bool = False, n_boot: int = BOOTSTRAP_RESAMPLES,
                           seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Fleiss' kappa per label over records with at least two regular ratings of it.

    Columns: label, n_records, n_ratings, n_present, n_absent, n_uncertain, observed_agreement,
    kappa, ci_low, ci_high (bootstrap over those records), enough_data
    (``n_records >= MIN_KAPPA_RECORDS``), note (why greyed out or NaN).
    """
    labels = tuple(labels or vocabulary())
    table = _regular(table)
    codes = verdict_matrix(table, labels, unlisted)
    cols = range(len(labels)) if all_labels else active_labels(codes, labels)
    record_index = table.reviews["record_id"].to_numpy()
    records, inverse = np.unique(record_index, return_inverse=True)
    rows = []
    for j in cols:
        counts = np.zeros((len(records), 3))
        for category in CATEGORIES:
            np.add.at(counts[:, category], inverse, codes[:, j] == category)
        rated = counts.sum(axis=1) >= 2
        c = counts[rated]
        n_i = c.sum(axis=1)
        n_records = int(rated.sum())
        observed = float(((c * (c - 1)).sum(axis=1) / (n_i * (n_i - 1))).mean()) if len(c) else float("nan")
        kappa, low, high = float("nan"), float("nan"), float("nan")
        if n_records >= 2:
            kappa = fleiss_kappa(c)
            low, high = bootstrap_ci(lambda idx, c=c: _fleiss(c[idx]), n_records, n_boot=n_boot, seed=seed)
        undefined = ("undefined with fewer than 2 records" if n_records < 2
                     else "undefined: every rating was the same answer")
        enough, note = _kappa_verdict(n_records, kappa, undefined)
        rows.append({"label": labels[j], "n_records": n_records, "n_ratings": int(c.sum()),
                     "n_present": int(c[:, 1].sum()), "n_absent": int(c[:, 0].sum()),
                     "n_uncertain": int(c[:, 2].sum()), "observed_agreement": observed, "kappa": kappa,
                     "ci_low": low, "ci_high": high, "enough_data": enough, "note": note})
    return pd.DataFrame(rows, columns=LABEL_COLUMNS).astype({"enough_data": bool})


def agreement_report(db: Database, labels: Sequence[str] | None = None, *, unlisted: str = "absent",
                     n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, pd.DataFrame]:
    """Both tables for the store: ``{"pairs": cohen..., "labels": fleiss...}``, each with n, CI and enough_data."""
    table = review_table(db)
    return {"pairs": cohen_kappa_pairs(table, labels, unlisted=unlisted, n_boot=n_boot, seed=seed),
            "labels": fleiss_kappa_per_label(table, labels, unlisted=unlisted, n_boot=n_boot, seed=seed)}
