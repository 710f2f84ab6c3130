"""Signal assessments (``ecgcore.assess``) of stored records: stored at import, read by the worklist.

Whether a record is interpretable does not change while the assessment algorithm stays the same, so
it is computed once, when the record is imported (:func:`db.workspace.import_ecg`), and stored per
(record, ``ASSESSMENT_VERSION``): storing the same version again is a no-op, a new version adds a row
beside the old one, nothing is overwritten (``record_assessments`` is append-only). Records stored
before this table existed, or before a new assessment version, get theirs from
:func:`backfill_assessments` (``python -m db assess``).

The worklist shows one word per record (:func:`quality_label`) and filters on the problems
(:data:`QUALITY_PROBLEMS`) without opening a signal.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import exc, select
from tqdm import tqdm

from db.errors import InvalidInputError
from db.measurements import _json_ready
from db.models import RecordAssessment, StoredRecord
from db.records import get_record, load_ecg
from db.session import Database
from ecgcore.assessment import ASSESSMENT_VERSION, Assessment, assess
from ecgcore.errors import ECGError
from ecgcore.record import Record as ECGRecord

# What the worklist filters on; a record may have several (a paced record with a flat lead).
QUALITY_PROBLEMS = ("not interpretable", "reversal", "paced")


class _AssessmentLike(Protocol):
    interpretable: bool
    reasons: list[str]
    reversal: str | None
    paced: bool


def quality_label(assessed: _AssessmentLike) -> str:
    """One short phrase for the worklist: "ok", "reversal LA/RA", "not interpretable: <first reason>",
    "paced", or several joined by "; ". Takes an :class:`ecgcore.Assessment` or a stored row."""
    words = []
    if assessed.reversal:
        words.append(f"reversal {assessed.reversal}")
    other = [r for r in assessed.reasons if not (assessed.reversal and r.startswith(assessed.reversal))]
    if other:
        words.append(f"not interpretable: {other[0]}")
    if assessed.paced:
        words.append("paced")
    return "; ".join(words) or "ok"


def quality_problems(assessed: _AssessmentLike) -> set[str]:
    """The :data:`QUALITY_PROBLEMS` of one assessment (empty: ok)."""
    problems = set()
    if not assessed.interpretable:
        problems.add("not interpretable")
    if assessed.reversal:
        problems.add("reversal")
    if assessed.paced:
        problems.add("paced")
    return problems


def matches_problems(stored: dict[int, RecordAssessment], record_ids: Iterable[int], wanted: Collection[str]) -> list[bool]:
    """Per record id whether its stored assessment (``stored``: :func:`stored_quality`) has any of
    the ``wanted`` :data:`QUALITY_PROBLEMS`; all True when nothing is wanted (no filter)."""
    unknown = set(wanted) - set(QUALITY_PROBLEMS)
    if unknown:
        raise InvalidInputError(f"The quality problems to filter on must be among {QUALITY_PROBLEMS}. "
                                f"Got {sorted(unknown)} instead.")
    ids = [int(r) for r in record_ids]
    if not wanted:
        return [True] * len(ids)
    return [rid in stored and bool(quality_problems(stored[rid]) & set(wanted)) for rid in ids]


def store_assessment(db: Database, record_id: int | str, assessment: Assessment) -> RecordAssessment:
    """Store ``assessment`` of a stored record once per algorithm version; returns the stored row
    (the existing one when this version is stored already: it is never overwritten)."""
    if not isinstance(assessment, Assessment):
        raise InvalidInputError(f"store_assessment needs an ecgcore.Assessment. Got {type(assessment).__name__} instead.")
    version = str(assessment.version)
    with db.transaction() as session:
        rid = get_record(session, record_id).id
    existing = latest_assessment(db, rid, algorithm_version=version)
    if existing is not None:
        return existing
    payload = _json_ready(assessment.to_dict())
    try:
        with db.transaction() as session:
            row = RecordAssessment(record_id=rid, algorithm_version=version, interpretable=bool(assessment.interpretable),
                                   reasons=[str(r) for r in assessment.reasons], reversal=assessment.reversal,
                                   paced=bool(assessment.paced), payload=payload)
            session.add(row)
            session.flush()
            session.expunge(row)
            return row
    except exc.IntegrityError:  # a concurrent import stored the same version first
        stored = latest_assessment(db, rid, algorithm_version=version)
        if stored is None:
            raise
        return stored


def latest_assessment(db: Database, record_id: int | str, *, algorithm_version: str | None = None) -> RecordAssessment | None:
    """The stored assessment of ``algorithm_version`` (None: the newest of any version), or None."""
    with db.transaction() as session:
        rid = get_record(session, record_id).id
        query = select(RecordAssessment).where(RecordAssessment.record_id == rid)
        if algorithm_version is not None:
            query = query.where(RecordAssessment.algorithm_version == algorithm_version)
        row = session.scalars(query.order_by(RecordAssessment.id.desc())).first()
        if row is not None:
            session.expunge(row)
        return row


def ensure_assessment(db: Database, record_id: int | str, ecg: ECGRecord | None = None, *,
                      assess_fn: Callable[[ECGRecord], Assessment] = assess) -> RecordAssessment:
    """The stored assessment of the current version (``ASSESSMENT_VERSION``), assessing the record
    (``ecg``, else its stored signal) only when there is none yet."""
    existing = latest_assessment(db, record_id, algorithm_version=ASSESSMENT_VERSION)
    if existing is not None:
        return existing
    signal = ecg if ecg is not None else load_ecg(db, record_id)
    return store_assessment(db, record_id, assess_fn(signal))


def assess_at_import(db: Database, record_id: int, ecg: ECGRecord) -> RecordAssessment | None:
    """:func:`ensure_assessment` for an import: a record that cannot be assessed is still imported
    (a warning says why; the worklist shows it as not assessed and the backfill tries again)."""
    try:
        return ensure_assessment(db, record_id, ecg)
    except (ECGError, ValueError) as error:
        warnings.warn(f"Record {record_id} was imported without a signal assessment: {error}", stacklevel=2)
        return None


@dataclass
class BackfillReport:
    """What :func:`backfill_assessments` did: records newly assessed, already assessed, and failures."""

    assessed: int = 0
    already: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


def backfill_assessments(db: Database, *, progress: bool = True) -> BackfillReport:
    """Assess every stored record that has no assessment of the current version (e.g. imported
    before ``record_assessments`` existed, or before a new assessment version). A record that cannot
    be read or assessed is listed in ``failed`` and the others go on."""
    with db.transaction() as session:
        record_ids = list(session.scalars(select(StoredRecord.id).order_by(StoredRecord.id)))
        done = set(session.scalars(select(RecordAssessment.record_id)
                                   .where(RecordAssessment.algorithm_version == ASSESSMENT_VERSION)))
    report = BackfillReport(already=len(done.intersection(record_ids)))
    todo = [rid for rid in record_ids if rid not in done]
    for rid in tqdm(todo, desc="assessing records", unit="record", disable=not progress):
        try:
            ensure_assessment(db, rid)
            report.assessed += 1
        except (ECGError, ValueError) as error:
            report.failed.append((rid, str(error)))
    return report


def stored_quality(db: Database, record_ids: Iterable[int] | None = None) -> dict[int, RecordAssessment]:
    """Per record id its assessment of the current version, else its newest stored one; records
    without any stored assessment are missing from the result."""
    query = select(RecordAssessment)
    ids: Collection[int] | None = None if record_ids is None else [int(r) for r in record_ids]
    if ids is not None:
        query = query.where(RecordAssessment.record_id.in_(ids))
    chosen: dict[int, RecordAssessment] = {}
    with db.transaction() as session:
        for row in session.scalars(query.order_by(RecordAssessment.id)):
            held = chosen.get(row.record_id)
            if held is None or held.algorithm_version != ASSESSMENT_VERSION:
                chosen[row.record_id] = row  # later rows (newer) win unless the current version is held
        for row in chosen.values():
            session.expunge(row)
    return chosen

