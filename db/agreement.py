"""Inter-rater agreement: Cohen's kappa per reviewer pair and Fleiss' kappa per label, with counts.

Ratings are nominal with three categories (absent, present, uncertain). Only regular (not
adjudication) latest reviews count. Items are restricted to *active* labels (some reviewer said
present or uncertain somewhere): the ~150 labels nobody ever marked would add thousands of trivial
absent/absent agreements; kappa corrects for chance, but the counts would mislead.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from db.consensus import NOT_ASSESSED, PRESENT, UNCERTAIN, verdict_matrix
from db.labels import vocabulary
from db.reviews import ReviewTable, review_table
from db.session import Database

CATEGORIES = (0, 1, 2)  # absent, present, uncertain


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an (items, categories) count matrix; items may have different rater counts (>= 2).

    Uses Fleiss (1971) with per-item agreement P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)).
    NaN when there are no items or chance agreement is 1 (everyone always chose one category).
    """
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    counts = counts[n_i >= 2]
    n_i = n_i[n_i >= 2]
    if len(counts) == 0:
        return float("nan")
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1 - p_e))


def active_labels(codes: np.ndarray, labels: Sequence[str]) -> list[int]:
    """Column indices of labels some review marked present or uncertain."""
    return np.flatnonzero(((codes == PRESENT) | (codes == UNCERTAIN)).any(axis=0)).tolist()


def _regular(table: ReviewTable) -> ReviewTable:
    keep = ~table.reviews["is_adjudication"].astype(bool)
    reviews = table.reviews[keep].reset_index(drop=True)
    return ReviewTable(reviews, table.verdicts[table.verdicts["review_id"].isin(reviews["review_id"])])


def cohen_kappa_pairs(table: ReviewTable, labels: Sequence[str] | None = None, *,
                      unlisted: str = "absent") -> pd.DataFrame:
    """Cohen's kappa for every pair of reviewers who read at least one common record.

    Columns: reviewer_a, reviewer_b, n_records, n_items (record x active label), observed_agreement, kappa.
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
        xa, xb = codes[ia][:, cols].ravel(), codes[ib][:, cols].ravel()
        both = (xa != NOT_ASSESSED) & (xb != NOT_ASSESSED)
        xa, xb = xa[both], xb[both]
        kappa = float("nan")
        if len(xa):
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore")
                kappa = float(cohen_kappa_score(xa, xb, labels=list(CATEGORIES)))
        rows.append({"reviewer_a": a, "reviewer_b": b, "n_records": int(len(common)), "n_items": int(len(xa)),
                     "observed_agreement": float((xa == xb).mean()) if len(xa) else float("nan"), "kappa": kappa})
    return pd.DataFrame(rows, columns=["reviewer_a", "reviewer_b", "n_records", "n_items", "observed_agreement",
                                       "kappa"])


def fleiss_kappa_per_label(table: ReviewTable, labels: Sequence[str] | None = None, *, unlisted: str = "absent",
                           all_labels: bool = False) -> pd.DataFrame:
    """Fleiss' kappa per label over records with at least two regular ratings of it.

    Columns: label, n_records, n_ratings, n_present, n_absent, n_uncertain, observed_agreement, kappa.
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
        observed = float(((c * (c - 1)).sum(axis=1) / (n_i * (n_i - 1))).mean()) if len(c) else float("nan")
        rows.append({"label": labels[j], "n_records": int(rated.sum()), "n_ratings": int(c.sum()),
                     "n_present": int(c[:, 1].sum()), "n_absent": int(c[:, 0].sum()),
                     "n_uncertain": int(c[:, 2].sum()), "observed_agreement": observed, "kappa": fleiss_kappa(c)})
    return pd.DataFrame(rows, columns=["label", "n_records", "n_ratings", "n_present", "n_absent", "n_uncertain",
                                       "observed_agreement", "kappa"])


def agreement_report(db: Database, labels: Sequence[str] | None = None, *,
                     unlisted: str = "absent") -> dict[str, pd.DataFrame]:
    """Both tables for the store: ``{"pairs": cohen..., "labels": fleiss...}``."""
    table = review_table(db)
    return {"pairs": cohen_kappa_pairs(table, labels, unlisted=unlisted),
            "labels": fleiss_kappa_per_label(table, labels, unlisted=unlisted)}
