"""The overread workflow's store side: patients, their timeline, and the comparison with the prior ECG.

* **Patients.** A record belongs to a patient through ``records.patient_key``, the keyed hash of
  the identifier in the file (:mod:`db.patient_keys`), or of one the uploader types in
  (:func:`set_patient`: hashed at once, never stored, audited as ``patient_link``). Records without
  one stay unlinked. Every record has an acquisition time: the file's, else the upload time marked
  ``acquired_at_is_upload_time`` (migration 0006).
* **Timeline** (:func:`patient_timeline`): the patient's ECGs, newest first, each with its key
  measurements and its confirmed statements.
* **Prior ECG** (:func:`prior_record`): the same patient's newest record acquired before this one.
  :func:`compare_with_prior` gathers both and compares them (``ecgcore.comparison``): the
  measurement table with differences, and change statements in words, each saying its source.

Where a side's statements come from, in this order: the record's confirmed report ("confirmed by
dr.lee 2025-03-01": what a cardiologist confirmed, not the machine's output); else the model's
positive findings (newest run, probability >= its threshold) and the measurement-based statements
of the newest stored measurement (``ecgcore.measurements.statements``). The current side can
instead be the reading being made (``current_statements``, "this reading"). Measurements per
value: the confirmed report's, else our newest stored measurement's, else the device's reading.

What a role sees (``db.permissions``), applied here so every page does the same:

* viewers never see patient keys (``see_patient_keys``): the key fields are None for them;
* the signer's name only for ``see_reviewer_names`` roles; others read "confirmed by a cardiologist";
* a blinded annotator (``BLINDED_ROLES``) sees a record's model findings and its confirmed report
  only once they saved their own reading of that record (:func:`db.permissions.sees_model_output`);
  pass ``user`` so the store can count them (without it, neither is shown to a blinded role).
  Measurements are not model output and are shown to everyone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from db import audit
from db.confirmed_reports import signer_label
from db.errors import InvalidInputError, NotFoundError
from db.models import ROLES, ConfirmedReport, MeasurementRun, PredictionRun, Review, StoredRecord, User
from db.patient_keys import normalise_patient_id, patient_key
from db.permissions import BLINDED_ROLES, allowed, check, sees_model_output
from db.records import get_record
from db.session import Database
from db.users import get_user
from ecgcore.comparison import (
    SOURCE_MEASUREMENT,
    SOURCE_MODEL,
    Comparison,
    ECGSide,
    SourcedStatement,
    compare,
    merge_statements,
)
from ecgcore.measurements.statements import statements as measurement_statements
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES, Measurements

# ecgcore.bundle.DEFAULT_THRESHOLD (not imported: ecgcore.bundle loads torch): a stored score without
# a threshold counts at 0.5, as everywhere in the store.
DEFAULT_THRESHOLD = 0.5
# The key measurements a timeline entry shows.
TIMELINE_MEASURES: tuple[str, ...] = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg")
SOURCE_DEVICE = "device"
SOURCE_THIS_READING = "this reading"


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"Unknown role {role!r}; one of {', '.join(ROLES)}.")
    return role


# -- patients ---------------------------------------------------------------------------------------
def set_patient(db: Database, record_id: int | str, user: str | int, patient_identifier: str, *,
                replace: bool = False) -> StoredRecord:
    """Link a record to a patient by an identifier the uploader types in; returns the record.

    The identifier is hashed at once (``patient_keys.patient_key``, the installation's key) and
    never stored, logged or put in an error message. A placeholder (``0000``, ``UNKNOWN`` ...) is
    refused, as is a record already linked to another patient unless ``replace=True`` (the audit
    event keeps the previous key, so a wrong link can be undone). Linking again to the same patient
    changes nothing. ``user`` needs the ``upload`` right; the change and its ``patient_link``
    audit event are one transaction.
    """
    if not isinstance(patient_identifier, str) or normalise_patient_id(patient_identifier) is None:
        raise InvalidInputError("The patient identifier is empty or a placeholder (such as 0000 or UNKNOWN), which "
                                "would link unrelated patients; enter the patient's identifier (MRN).")
    key = patient_key(patient_identifier, data_dir=db.data_dir)
    with db.transaction() as session:
        uploader = check(get_user(session, user), "upload")
        row = get_record(session, record_id)
        previous = row.patient_key
        if previous == key:
            return row
        if previous is not None and not replace:
            raise InvalidInputError(f"Record {row.id} is already linked to a patient (from its file or an earlier "
                                    "entry); to link it to another patient, replace the link explicitly.")
        row.patient_key = key
        audit.log(session, "patient_link", user_id=uploader.id, target=f"record:{row.id}",
                  details={"patient_key": key, "previous_patient_key": previous, "replaced": previous is not None})
        session.flush()
        return row


def _prior_query(row: StoredRecord):  # a SQLAlchemy select
    earlier = or_(StoredRecord.acquired_at < row.acquired_at,
                  and_(StoredRecord.acquired_at == row.acquired_at, StoredRecord.id < row.id))
    return (select(StoredRecord)
            .where(StoredRecord.patient_key == row.patient_key, StoredRecord.id != row.id,
                   StoredRecord.acquired_at.is_not(None), earlier)
            .order_by(StoredRecord.acquired_at.desc(), StoredRecord.id.desc()).limit(1))


def _prior(session: Session, row: StoredRecord) -> StoredRecord | None:
    if row.patient_key is None or row.acquired_at is None:
        return None
    return session.scalar(_prior_query(row))


def prior_record(db: Database, record_id: int | str) -> StoredRecord | None:
    """The same patient's newest record acquired before this one (equal times: the earlier import),
    or None (no patient key, or no earlier ECG)."""
    with db.transaction() as session:
        return _prior(session, get_record(session, record_id))


# -- what one record says -----------------------------------------------------------------------------
class _Viewer:
    """Who looks: their role, and for blinded roles which records they have read."""

    def __init__(self, session: Session, role: str, user: str | int | None) -> None:
        self.role = _check_role(role)
        self.user: User | None = get_user(session, user) if user is not None else None
        self._session = session
        self._read: dict[int, int] = {}

    def sees_record_output(self, record_id: int) -> bool:
        """Model findings and the confirmed report of a record (blinded roles: after their own reading)."""
        if self.role not in BLINDED_ROLES:
            return True
        if self.user is None:
            return False
        if record_id not in self._read:
            self._read[record_id] = int(self._session.scalar(
                select(func.count()).select_from(Review)
                .where(Review.record_id == record_id, Review.reviewer_id == self.user.id)) or 0)
        return sees_model_output(self.role, self._read[record_id])

    @property
    def sees_keys(self) -> bool:
        return allowed(self.role, "see_patient_keys")


def _latest_report(session: Session, record_id: int) -> ConfirmedReport | None:
    report = session.scalar(select(ConfirmedReport).where(ConfirmedReport.record_id == record_id)
                            .order_by(ConfirmedReport.version.desc()).limit(1))
    if report is not None:
        _ = report.confirmed_by
    return report


def _confirmed_source(report: ConfirmedReport, role: str) -> str:
    """"confirmed by dr.lee 2025-03-01" (the date of the signature)."""
    signed = report.created_at
    return f"confirmed by {signer_label(report.confirmed_by.name, report.signed_role, role)} {signed:%Y-%m-%d}"


def _latest_measurement(session: Session, record_id: int) -> MeasurementRun | None:
    return session.scalar(select(MeasurementRun).where(MeasurementRun.record_id == record_id)
                          .order_by(MeasurementRun.id.desc()).limit(1))


def _model_findings(session: Session, record_id: int,
                    shown_labels: Mapping[tuple[str, str], Collection[str]] | None) -> list[str] | None:
    """The newest model run's positive labels, strongest first; None when the record has no run."""
    run = session.scalar(select(PredictionRun).where(PredictionRun.record_id == record_id)
                         .order_by(PredictionRun.id.desc()).limit(1))
    if run is None:
        return None
    shown = None if shown_labels is None else shown_labels.get((run.model_name, run.model_version))
    positives = [(s.probability, s.label) for s in run.scores
                 if s.probability >= (DEFAULT_THRESHOLD if s.threshold is None else s.threshold)
                 and (shown is None or s.label in shown)]
    return [label for _, label in sorted(positives, key=lambda item: -item[0])]


def _measurement_statements(run: MeasurementRun | None, row: StoredRecord) -> list[str]:
    """The measurement-based statements of a stored measurement, as ECGFounder labels where they map."""
    if run is None or not run.payload:
        return []
    measured = Measurements.from_dict(run.payload)
    return [s.ecgfounder_label or s.text for s in measurement_statements(measured, sex=row.sex, age=row.age)]


@dataclass(frozen=True)
class _RecordView:
    side: ECGSide
    report: ConfirmedReport | None  # the confirmed report the viewer may see


def _record_view(session: Session, row: StoredRecord, viewer: _Viewer,
                 shown_labels: Mapping[tuple[str, str], Collection[str]] | None,
                 statements_override: Sequence[str] | None = None) -> _RecordView:
    sees_output = viewer.sees_record_output(row.id)
    report = _latest_report(session, row.id) if sees_output else None
    run = _latest_measurement(session, row.id)
    confirmed = _confirmed_source(report, viewer.role) if report is not None else None

    values: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    device = (row.device_reading or {}).get("measurements") or {}
    for name in GLOBAL_MEASURE_NAMES:
        if report is not None and name in (report.measurements or {}):
            values[name], sources[name] = report.measurements[name], confirmed  # type: ignore[assignment]
        elif run is not None and (run.global_values or {}).get(name) is not None:
            values[name], sources[name] = run.global_values[name], SOURCE_MEASUREMENT
        elif device.get(name) is not None:
            values[name], sources[name] = float(device[name]), SOURCE_DEVICE

    if statements_override is not None:
        items = [SourcedStatement(s, SOURCE_THIS_READING) for s in statements_override]
        basis = SOURCE_THIS_READING
    elif report is not None:
        items = [SourcedStatement(s, confirmed) for s in report.statements]  # type: ignore[arg-type]
        basis = confirmed
    else:
        findings = _model_findings(session, row.id, shown_labels) if sees_output else None
        measured = _measurement_statements(run, row)
        items = [SourcedStatement(s, SOURCE_MODEL) for s in findings or []]
        items += [SourcedStatement(s, SOURCE_MEASUREMENT) for s in measured]
        parts = []
        if findings is not None:
            parts.append("the model's findings")
        if run is not None:
            parts.append("the measurement statements")
        basis = " and ".join(parts) if parts else "no statements"
        basis += " (no confirmed report)" if sees_output else " (model output and confirmed report hidden until your own reading)"
    side = ECGSide(acquired_at=row.acquired_at, measurements=values, measurement_sources=sources,
                   statements=merge_statements(items), basis=basis)
    return _RecordView(side=side, report=report)


# -- the timeline ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineEntry:
    """One ECG of a patient's timeline."""

    record_id: int
    record_name: str
    acquired_at: datetime | None
    acquired_at_is_upload_time: bool
    device: str | None
    site: str | None
    measurements: dict[str, float | None]  # TIMELINE_MEASURES -> value (None: not known)
    measurement_sources: dict[str, str]  # name -> "confirmed by ...", "measurement", "device"
    statements: tuple[str, ...]  # the confirmed report's statements; () without one (or hidden)
    confirmed: str | None  # "confirmed by dr.lee 2025-03-01", None when not confirmed (or hidden)
    report_version: int | None
    conclusion: str | None
    is_current: bool  # the record the timeline was asked for


@dataclass(frozen=True)
class PatientTimeline:
    """A patient's ECGs, newest first. ``patient_key`` is None for viewers (and for an unlinked
    record, whose timeline is the record alone: ``linked`` False)."""

    record_id: int
    linked: bool
    patient_key: str | None
    entries: list[TimelineEntry] = field(default_factory=list)


def _patient_rows(session: Session, row: StoredRecord) -> list[StoredRecord]:
    if row.patient_key is None:
        return [row]
    return list(session.scalars(
        select(StoredRecord).where(StoredRecord.patient_key == row.patient_key)
        .order_by(StoredRecord.acquired_at.desc().nulls_last(), StoredRecord.uploaded_at.desc(),
                  StoredRecord.id.desc())))


def patient_timeline(db: Database, record_id: int | str, role: str, *, user: str | int | None = None,
                     shown_labels: Mapping[tuple[str, str], Collection[str]] | None = None) -> PatientTimeline:
    """The timeline of the patient of ``record_id`` as ``role`` (``user``: who, for blinded roles) may
    see it: every ECG of the patient, newest first, with its key measurements
    (:data:`TIMELINE_MEASURES`) and confirmed statements. An unlinked record's timeline is itself."""
    with db.transaction() as session:
        row = get_record(session, record_id)
        viewer = _Viewer(session, role, user)
        entries = []
        for other in _patient_rows(session, row):
            view = _record_view(session, other, viewer, shown_labels)
            report = view.report
            entries.append(TimelineEntry(
                record_id=other.id, record_name=other.record_name, acquired_at=other.acquired_at,
                acquired_at_is_upload_time=bool(other.acquired_at_is_upload_time), device=other.device,
                site=other.site,
                measurements={n: view.side.measurements.get(n) for n in TIMELINE_MEASURES},
                measurement_sources={n: view.side.measurement_sources[n] for n in TIMELINE_MEASURES
                                     if n in view.side.measurement_sources},
                statements=tuple(report.statements) if report is not None else (),
                confirmed=_confirmed_source(report, viewer.role) if report is not None else None,
                report_version=report.version if report is not None else None,
                conclusion=report.conclusion if report is not None else None,
                is_current=other.id == row.id))
        return PatientTimeline(record_id=row.id, linked=row.patient_key is not None,
                               patient_key=row.patient_key if viewer.sees_keys else None, entries=entries)


# -- the comparison with the prior ECG -----------------------------------------------------------------
@dataclass(frozen=True)
class PriorComparison:
    """A record against the patient's prior ECG: ``comparison`` (``ecgcore.comparison.Comparison``:
    ``.measurements`` the table, ``.statements`` the statement changes, ``.changes()`` all change
    statements in words, ``.current_basis``/``.prior_basis`` where each side's statements come from).
    ``patient_key`` is None for viewers."""

    record_id: int
    prior_record_id: int
    prior_record_name: str
    patient_key: str | None
    acquired_at: datetime | None
    acquired_at_is_upload_time: bool
    prior_acquired_at: datetime | None
    prior_acquired_at_is_upload_time: bool
    comparison: Comparison

    def changes(self, *, with_sources: bool = False) -> list[str]:
        return self.comparison.changes(with_sources=with_sources)


def compare_with_prior(db: Database, record_id: int | str, role: str, *, user: str | int | None = None,
                       prior_id: int | None = None, current_statements: Sequence[str] | None = None,
                       shown_labels: Mapping[tuple[str, str], Collection[str]] | None = None,
                       ) -> PriorComparison | None:
    """Compare a record with the patient's prior ECG as ``role`` may see them; None without a prior.

    ``prior_id``: compare with this record of the same patient instead of :func:`prior_record`'s.
    ``current_statements``: the statements of the reading being made (the confirmation form's), in
    place of the record's own sources. ``shown_labels``: (model name, version) -> the labels whose
    findings count (e.g. ``workspace.installed_trained_labels()``); default: every stored label.
    ``user``: who looks (blinded roles see model output and confirmed reports only of records they
    have read).
    """
    with db.transaction() as session:
        row = get_record(session, record_id)
        viewer = _Viewer(session, role, user)
        if prior_id is not None:
            prior = get_record(session, prior_id)
            if prior.id == row.id or row.patient_key is None or prior.patient_key != row.patient_key:
                raise NotFoundError(f"Record {prior.id} is not another ECG of the patient of record {row.id}.")
        else:
            prior = _prior(session, row)
        if prior is None:
            return None
        current = _record_view(session, row, viewer, shown_labels, statements_override=current_statements)
        before = _record_view(session, prior, viewer, shown_labels)
        return PriorComparison(
            record_id=row.id, prior_record_id=prior.id, prior_record_name=prior.record_name,
            patient_key=row.patient_key if viewer.sees_keys else None, acquired_at=row.acquired_at,
            acquired_at_is_upload_time=bool(row.acquired_at_is_upload_time), prior_acquired_at=prior.acquired_at,
            prior_acquired_at_is_upload_time=bool(prior.acquired_at_is_upload_time),
            comparison=compare(current.side, before.side))


__all__ = [
    "DEFAULT_THRESHOLD",
    "SOURCE_DEVICE",
    "SOURCE_THIS_READING",
    "TIMELINE_MEASURES",
    "PatientTimeline",
    "PriorComparison",
    "TimelineEntry",
    "compare_with_prior",
    "patient_timeline",
    "prior_record",
    "set_patient",
]
