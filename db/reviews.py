"""Saving and reading clinicians' reviews.

A review is one reviewer's reading of one record: a verdict per label (present/absent/uncertain),
labels they added that the model had not ranked, confidence, comment, whether they saw the model's
output, time spent. Saving again does not edit: it inserts the next version, so the history of every
verdict is kept (and triggers in the schema forbid UPDATE/DELETE). Pass ``expected_version`` (the
version the form was opened on) to be told, instead of silently winning, when another tab saved in
between.

Labels a review does not mention are *not assessed* in the stored row; :mod:`db.consensus` decides
how to count them (by default a review is a complete reading, so they count as absent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import exc, func, select
from sqlalchemy.orm import Session

from db import audit
from db.errors import InvalidInputError, NotFoundError, ReviewConflictError
from db.labels import check_labels
from db.models import VERDICTS, PredictionRun, Review, ReviewVerdict, User
from db.permissions import check
from db.records import get_record
from db.session import Database
from db.users import get_user

MAX_SAVE_ATTEMPTS = 8


def _validate(verdicts: Mapping[str, str], added: Mapping[str, str], confidence: int | None,
              time_spent_s: float | None) -> None:
    check_labels(list(verdicts) + list(added))
    both = set(verdicts) & set(added)
    if both:
        raise InvalidInputError(f"Label(s) {', '.join(sorted(both))} given both as verdicts and as added labels.")
    for label, verdict in {**verdicts, **added}.items():
        if verdict not in VERDICTS:
            raise InvalidInputError(f"Verdict {verdict!r} for {label!r} is not one of {', '.join(VERDICTS)}.")
    if confidence is not None and (not isinstance(confidence, int) or not 1 <= confidence <= 5):
        raise InvalidInputError(f"Confidence must be an integer from 1 (unsure) to 5 (certain); got {confidence!r}.")
    if time_spent_s is not None and (not math.isfinite(time_spent_s) or time_spent_s < 0):
        raise InvalidInputError(f"Time spent must be a non-negative number of seconds; got {time_spent_s!r}.")


def _reviewer(session: Session, reviewer: str | int, adjudication: bool) -> User:
    return check(get_user(session, reviewer), "adjudicate" if adjudication else "review")


def save_review(db: Database, record: int | str, reviewer: str | int, verdicts: Mapping[str, str], *,
                saw_model_output: bool, added: Mapping[str, str] | Iterable[str] = (),
                confidence: int | None = None, comment: str | None = None, prediction_id: int | None = None,
                time_spent_s: float | None = None, adjudication: bool = False,
                expected_version: int | None = None) -> Review:
    """Save a new version of ``reviewer``'s review of ``record``; returns it with its verdicts.

    ``added`` are labels the reviewer added that the model did not rank (a mapping to verdicts, or
    names meaning "present"). ``expected_version`` = the version the reviewer started from (0 for a
    first review); if someone saved meanwhile, :class:`ReviewConflictError` and nothing is written.
    """
    verdicts = dict(verdicts)
    added = dict(added) if isinstance(added, Mapping) else {label: "present" for label in added}
    _validate(verdicts, added, confidence, time_spent_s)
    for attempt in range(MAX_SAVE_ATTEMPTS):
        try:
            return _save_once(db, record, reviewer, verdicts, added, saw_model_output=bool(saw_model_output),
                              confidence=confidence, comment=comment, prediction_id=prediction_id,
                              time_spent_s=time_spent_s, adjudication=adjudication,
                              expected_version=expected_version)
        except exc.IntegrityError as error:
            # Two saves of the same reviewer+record raced for the same version number.
            if expected_version is not None or attempt == MAX_SAVE_ATTEMPTS - 1:
                raise ReviewConflictError(
                    "This review was saved from somewhere else at the same time; reload it and save again."
                ) from error
    raise AssertionError("unreachable")


def _save_once(db: Database, record: int | str, reviewer: str | int, verdicts: dict[str, str],
               added: dict[str, str], *, saw_model_output: bool, confidence: int | None, comment: str | None,
               prediction_id: int | None, time_spent_s: float | None, adjudication: bool,
               expected_version: int | None) -> Review:
    with db.transaction() as session:
        user = _reviewer(session, reviewer, adjudication)
        row = get_record(session, record)
        if prediction_id is not None:
            prediction = session.get(PredictionRun, prediction_id)
            if prediction is None or prediction.record_id != row.id:
                raise NotFoundError(f"Prediction run {prediction_id} is not a model run on record {row.id}.")
        current = session.scalar(
            select(func.max(Review.version)).where(Review.record_id == row.id, Review.reviewer_id == user.id)
        ) or 0
        if expected_version is not None and current != expected_version:
            raise ReviewConflictError(
                f"{user.name}'s review of record {row.id} is now at version {current}, not {expected_version}: "
                "it was saved elsewhere meanwhile. Reload it, check the changes and save again."
            )
        review = Review(record_id=row.id, reviewer_id=user.id, version=current + 1, is_adjudication=adjudication,
                        confidence=confidence, comment=comment, saw_model_output=saw_model_output,
                        prediction_id=prediction_id, time_spent_s=time_spent_s)
        review.verdicts = [ReviewVerdict(label=label, verdict=v, added_by_reviewer=False)
                           for label, v in verdicts.items()]
        review.verdicts += [ReviewVerdict(label=label, verdict=v, added_by_reviewer=True) for label, v in added.items()]
        session.add(review)
        session.flush()
        audit.log(session, "review", user_id=user.id, target=f"record:{row.id}",
                  details={"review": review.id, "version": review.version, "adjudication": adjudication,
                           "n_verdicts": len(review.verdicts)})
    return review


def _current_ids_query(record_id: int | None = None):  # noqa: ANN202 - a SQLAlchemy select
    latest = (select(Review.record_id, Review.reviewer_id, func.max(Review.version).label("version"))
              .group_by(Review.record_id, Review.reviewer_id))
    if record_id is not None:
        latest = latest.where(Review.record_id == record_id)
    latest = latest.subquery()
    return select(Review.id).join(latest, (Review.record_id == latest.c.record_id)
                                  & (Review.reviewer_id == latest.c.reviewer_id)
                                  & (Review.version == latest.c.version))


def current_reviews(db: Database, record: int | str | None = None) -> list[Review]:
    """The latest version of every reviewer's review (of one record, or of all), verdicts loaded."""
    with db.transaction() as session:
        record_id = get_record(session, record).id if record is not None else None
        reviews = list(session.scalars(select(Review).where(Review.id.in_(_current_ids_query(record_id)))
                                       .order_by(Review.record_id, Review.reviewer_id)))
        for review in reviews:
            _ = review.verdicts, review.reviewer
        return reviews


def review_history(db: Database, record: int | str, reviewer: str | int) -> list[Review]:
    """Every saved version of one reviewer's review of one record, oldest first."""
    with db.transaction() as session:
        row = get_record(session, record)
        user = get_user(session, reviewer)
        reviews = list(session.scalars(select(Review).where(Review.record_id == row.id, Review.reviewer_id == user.id)
                                       .order_by(Review.version)))
        for review in reviews:
            _ = review.verdicts
        return reviews


@dataclass(frozen=True)
class ReviewTable:
    """Current reviews as two flat tables, the input of consensus and agreement statistics.

    ``reviews``: review_id, record_id, reviewer_id, reviewer, role, is_adjudication, saw_model_output, version.
    ``verdicts``: review_id, label, verdict (only the labels each review mentions).
    """

    reviews: pd.DataFrame
    verdicts: pd.DataFrame


def review_table(db: Database) -> ReviewTable:
    """Load all current reviews and their verdicts in two queries."""
    with db.transaction() as session:
        ids = _current_ids_query().subquery()
        rows = session.execute(
            select(Review.id, Review.record_id, Review.reviewer_id, User.name, User.role, Review.is_adjudication,
                   Review.saw_model_output, Review.version)
            .join(User, User.id == Review.reviewer_id).where(Review.id.in_(select(ids.c.id)))
        ).all()
        verdict_rows = session.execute(
            select(ReviewVerdict.review_id, ReviewVerdict.label, ReviewVerdict.verdict)
            .where(ReviewVerdict.review_id.in_(select(ids.c.id)))
        ).all()
    reviews = pd.DataFrame(rows, columns=["review_id", "record_id", "reviewer_id", "reviewer", "role",
                                          "is_adjudication", "saw_model_output", "version"])
    verdicts = pd.DataFrame(verdict_rows, columns=["review_id", "label", "verdict"])
    return ReviewTable(reviews.sort_values(["record_id", "reviewer_id"], ignore_index=True), verdicts)
