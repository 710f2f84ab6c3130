"""Consensus of several reviewers per record and label, and the queue of records needing more review.

Rules (kept explicit because the expert-review test set is only as good as them):

* Only each reviewer's *latest* review version counts; reviews of soft-deleted users still count.
* A review is a complete reading of the ECG: labels it does not mention count as **absent**
  (``unlisted="absent"``, the default). Pass ``unlisted="ignore"`` to count only explicit verdicts.
* Majority: a label is present (absent) when *more than half* of the regular reviewers who assessed
  it said present (absent). Ties, and majorities of "uncertain", leave it unresolved.
* An adjudication review (by a cardiologist or admin) takes precedence: its present/absent verdicts
  replace the majority; where it says "uncertain" or nothing, the majority stands.
* Status per record: ``needs_second_review`` (fewer than ``min_reviewers`` regular reviews and no
  adjudication), ``needs_adjudication`` (some label unresolved), ``complete`` or ``adjudicated``;
  :func:`review_queue` adds ``needs_first_review`` for records nobody read yet. Pages show these
  through :data:`STATUS_LABELS` ("awaiting second review", ...).
  Only ``complete`` and ``adjudicated`` records go into the expert-review test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from db.labels import vocabulary
from db.reviews import ReviewTable, review_table
from db.session import Database

ABSENT, PRESENT, UNCERTAIN, NOT_ASSESSED = 0, 1, 2, -1
CODES = {"absent": ABSENT, "present": PRESENT, "uncertain": UNCERTAIN}
FINAL_STATUSES = ("complete", "adjudicated")
# Statuses of records still waiting, in the order they are worked off (see review_queue).
WAITING_STATUSES = ("needs_adjudication", "needs_second_review", "needs_first_review")
# What every page shows for a status: words, never the identifier stored and tested against.
STATUS_LABELS = {
    "needs_first_review": "awaiting first review",
    "needs_second_review": "awaiting second review",
    "needs_adjudication": "awaiting adjudication",
    "complete": "complete",
    "adjudicated": "adjudicated",
}


def status_label(status: str) -> str:
    """The words a page shows for a record status (``needs_first_review`` -> "awaiting first review")."""
    return STATUS_LABELS.get(status, status.replace("_", " "))


def verdict_matrix(table: ReviewTable, labels: Sequence[str], unlisted: str = "absent") -> np.ndarray:
    """Codes (n_reviews, n_labels), rows in ``table.reviews`` order: 0 absent, 1 present, 2 uncertain, -1 not assessed."""
    if unlisted not in ("absent", "ignore"):
        raise ValueError("unlisted must be 'absent' or 'ignore'")
    fill = ABSENT if unlisted == "absent" else NOT_ASSESSED
    matrix = np.full((len(table.reviews), len(labels)), fill, dtype=np.int8)
    if len(table.verdicts) and len(table.reviews):
        row_of = pd.Series(np.arange(len(table.reviews)), index=table.reviews["review_id"].to_numpy())
        col_of = pd.Series(np.arange(len(labels)), index=list(labels))
        verdicts = table.verdicts[table.verdicts["label"].isin(col_of.index)
                                  & table.verdicts["review_id"].isin(row_of.index)]
        rows = row_of.loc[verdicts["review_id"].to_numpy()].to_numpy()
        cols = col_of.loc[verdicts["label"].to_numpy()].to_numpy()
        matrix[rows, cols] = verdicts["verdict"].map(CODES).to_numpy(dtype=np.int8)
    return matrix


def majority(codes: np.ndarray) -> np.ndarray:
    """Per column of ``codes`` (raters, labels): 1.0 / 0.0 for a strict present/absent majority, else NaN."""
    assessed = (codes != NOT_ASSESSED).sum(axis=0)
    n_present = (codes == PRESENT).sum(axis=0)
    n_absent = (codes == ABSENT).sum(axis=0)
    out = np.full(codes.shape[1], np.nan)
    out[(2 * n_present > assessed) & (assessed > 0)] = 1.0
    out[(2 * n_absent > assessed) & (assessed > 0)] = 0.0
    return out


@dataclass
class Consensus:
    """Consensus labels per record. ``values``: DataFrame record_id x label of 1.0/0.0/NaN (unresolved)."""

    labels: tuple[str, ...]
    values: pd.DataFrame
    records: pd.DataFrame  # record_id index: status, n_reviewers, n_adjudicators, agreement, unresolved
    policy: dict[str, object] = field(default_factory=dict)

    def final(self) -> pd.DataFrame:
        """Label matrix of records whose consensus is final (complete or adjudicated), as 0/1 ints."""
        ids = self.records.index[self.records["status"].isin(FINAL_STATUSES)]
        return self.values.loc[ids].astype(np.int8)


def compute_consensus(table: ReviewTable, labels: Sequence[str] | None = None, *, min_reviewers: int = 2,
                      unlisted: str = "absent") -> Consensus:
    """Consensus from a :class:`ReviewTable` (pure function: no database)."""
    labels = tuple(labels or vocabulary())
    codes = verdict_matrix(table, labels, unlisted)
    reviews = table.reviews
    record_ids = sorted(reviews["record_id"].unique().tolist()) if len(reviews) else []
    values = np.full((len(record_ids), len(labels)), np.nan)
    info = []
    groups = reviews.groupby("record_id").indices if len(reviews) else {}
    for i, record_id in enumerate(record_ids):
        idx = groups[record_id]
        adjudicating = reviews["is_adjudication"].to_numpy()[idx].astype(bool)
        regular = codes[idx[~adjudicating]]
        result = majority(regular) if len(regular) else np.full(len(labels), np.nan)
        if adjudicating.any():
            latest = idx[adjudicating][np.argmax(reviews["review_id"].to_numpy()[idx[adjudicating]])]
            adjudicated = codes[latest]
            decided = (adjudicated == PRESENT) | (adjudicated == ABSENT)
            result[decided] = adjudicated[decided]
        values[i] = result
        unresolved = [labels[j] for j in np.flatnonzero(np.isnan(result))]
        if adjudicating.any():
            status = "needs_adjudication" if unresolved else "adjudicated"
        elif len(regular) < min_reviewers:
            status = "needs_second_review"
        else:
            status = "needs_adjudication" if unresolved else "complete"
        info.append({"record_id": record_id, "status": status, "n_reviewers": int(len(regular)),
                     "n_adjudicators": int(adjudicating.sum()), "agreement": _agreement(regular, result),
                     "unresolved": unresolved})
    records = pd.DataFrame(info, columns=["record_id", "status", "n_reviewers", "n_adjudicators", "agreement",
                                          "unresolved"]).set_index("record_id")
    frame = pd.DataFrame(values, index=pd.Index(record_ids, name="record_id"), columns=list(labels))
    policy = {"rule": "strict majority of regular reviewers; latest adjudication overrides",
              "min_reviewers": min_reviewers, "unlisted": unlisted}
    return Consensus(labels, frame, records, policy)


def _agreement(regular: np.ndarray, result: np.ndarray) -> float:
    """Mean share of regular reviewers agreeing with the consensus, over the record's *active* labels.

    Active = consensus present or any reviewer said present/uncertain; counting the ~150 labels that
    everybody left absent would make every record look unanimous. 1.0 when nothing is active.
    """
    if len(regular) == 0:
        return float("nan")
    active = (result == 1.0) | ((regular == PRESENT) | (regular == UNCERTAIN)).any(axis=0)
    if not active.any():
        return 1.0
    target = np.where(np.isnan(result[active]), -9, result[active])
    sub = regular[:, active]
    assessed = sub != NOT_ASSESSED
    return float(((sub == target) & assessed).sum() / max(assessed.sum(), 1))


def consensus(db: Database, labels: Sequence[str] | None = None, *, min_reviewers: int = 2,
              unlisted: str = "absent") -> Consensus:
    """Consensus over every reviewed record in the store."""
    return compute_consensus(review_table(db), labels, min_reviewers=min_reviewers, unlisted=unlisted)


def review_queue(db: Database, *, min_reviewers: int = 2, include_unreviewed: bool = False) -> pd.DataFrame:
    """Records needing a second review or adjudication (and, optionally, a first review), oldest first.

    Columns: record_id, status, n_reviewers, n_adjudicators, unresolved (labels without consensus).
    """
    from db.records import list_records

    result = consensus(db, min_reviewers=min_reviewers).records
    queue = result[result["status"].isin(["needs_second_review", "needs_adjudication"])]
    queue = queue.reset_index()[["record_id", "status", "n_reviewers", "n_adjudicators", "unresolved"]]
    if include_unreviewed:
        reviewed = set(result.index)
        fresh = [{"record_id": r.id, "status": "needs_first_review", "n_reviewers": 0, "n_adjudicators": 0,
                  "unresolved": []} for r in list_records(db) if r.id not in reviewed]
        queue = pd.concat([queue, pd.DataFrame(fresh, columns=queue.columns)], ignore_index=True)
    return queue.sort_values("record_id", ignore_index=True)
