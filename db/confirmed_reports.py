"""Confirmed reports: a cardiologist signs the final report of a record; a signed report is locked.

A report is the cardiologist's statements (ECGFounder labels, as in a review: usually their own
verdict's present labels, edited in the same form), the global measurements they accept or
corrected (``GLOBAL_MEASURES`` name -> value; None: cannot be measured on this ECG) and a free-text
conclusion. Confirming signs it: who (``confirmed_by``), in which role (``signed_role``, the role
at signing) and when (``created_at``).

* **Only cardiologists confirm** (``db.permissions``: ``confirm_reports``), checked here, in the
  transaction that writes, whatever the page shows. Annotators and viewers are refused, and so are
  admins: the signature states the role, and an admin account (the workspace's operator) says
  nothing of a physician's reading. A deactivated cardiologist cannot sign either.
* **Locked, versioned.** ``confirmed_reports`` is append-only (database triggers refuse UPDATE and
  DELETE, like reviews). Editing a confirmed report confirms a new version (1, 2, ... per record,
  whoever signs it), which stores what changed from the previous one (``changes``: statements
  added and removed, measurements changed, added or removed, conclusion edited); a "new version"
  that changes nothing is refused. ``expected_version`` (the version the form was opened on; 0:
  none yet) gives :class:`ReviewConflictError` instead of a silent win when someone confirmed in
  between.
* **Audited**: each version's ``report_confirm`` event (same transaction) names the report, the
  version and what changed, so the log shows both the first signature and every edit.
* **Accepted or corrected**: the report keeps the stored measurement it was made from
  (``measurement_id``, default: the record's newest) and that measurement's values
  (``measured_values``), so each value reads as accepted (equal to ours as printed), corrected, or
  added (we had none).

``export_confirmed_reports`` writes them for other systems: ``confirmed_reports.csv`` (every
version, ``is_latest`` marks the current one) and one HL7 aECG file per record with its current
report's statements and measurements (``ecgcore.io.writers.write_aecg``; ``ecgcore.read`` returns
them as ``record.device_reading``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import exc, select
from sqlalchemy.orm import Session

from db import audit
from db.errors import ExportError, InvalidInputError, NotFoundError, ReviewConflictError
from db.labels import check_labels
from db.measurements import check_measure_name, check_measure_value
from db.migrate import head_revision
from db.models import ConfirmedReport, MeasurementCorrection, MeasurementRun, Review, ReviewVerdict, StoredRecord
from db.permissions import allowed, check
from db.records import get_record, load_ecg
from db.session import Database
from db.users import acting_user, get_user
from ecgcore.hashing import file_sha256
from ecgcore.measurements.types import GLOBAL_MEASURE_BY_NAME, GLOBAL_MEASURE_NAMES

MAX_SAVE_ATTEMPTS = 8
MAX_CONCLUSION_LENGTH = 10_000
ACCEPTED, CORRECTED, ADDED = "accepted", "corrected", "added"
REPORTS_FILE = "confirmed_reports.csv"
REPORT_COLUMNS = ["record", "record_id", "content_hash", "patient_key", "acquired_at", "acquired_at_is_upload_time",
                  "device", "site", "version", "is_latest", "confirmed_by", "confirmed_role", "confirmed_at",
                  "statements", "conclusion", *GLOBAL_MEASURE_NAMES, "measurement_status", "measurement_id",
                  "changes", "aecg_file"]
_UNIT_TEXT = {"bpm": " bpm", "ms": " ms", "deg": "°"}


# -- what changed -----------------------------------------------------------------------------------
def _value_text(name: str, value: float | None) -> str:
    if value is None:
        return "not measurable"
    return f"{value:g}{_UNIT_TEXT[GLOBAL_MEASURE_BY_NAME[name].unit]}"


def _same_value(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), abs_tol=1e-9)


def report_changes(previous: ConfirmedReport | None, statements: Sequence[str], measurements: Mapping[str, Any],
                   conclusion: str | None) -> dict[str, Any] | None:
    """What a new version changes of ``previous`` (None for a first version): JSON-ready
    ``{"statements_added", "statements_removed", "measurements": [{"name", "change", "from", "to"}],
    "conclusion_edited"}``; every part empty/False means nothing changed."""
    if previous is None:
        return None
    before = list(previous.statements or [])
    old, new = dict(previous.measurements or {}), dict(measurements)
    changed = []
    for name in GLOBAL_MEASURE_NAMES:
        if name in old and name not in new:
            changed.append({"name": name, "change": "removed", "from": old[name], "to": None})
        elif name in new and name not in old:
            changed.append({"name": name, "change": "added", "from": None, "to": new[name]})
        elif name in new and not _same_value(old[name], new[name]):
            changed.append({"name": name, "change": "changed", "from": old[name], "to": new[name]})
    return {"statements_added": [s for s in statements if s not in before],
            "statements_removed": [s for s in before if s not in statements],
            "measurements": changed,
            "conclusion_edited": (previous.conclusion or None) != (conclusion or None)}


def changes_are_empty(changes: Mapping[str, Any] | None) -> bool:
    return changes is not None and not (changes["statements_added"] or changes["statements_removed"]
                                        or changes["measurements"] or changes["conclusion_edited"])


def describe_changes(changes: Mapping[str, Any] | None) -> list[str]:
    """What changed, in words: ``["statement added: ATRIAL FIBRILLATION", "QRS: 120 ms -> 134 ms",
    "conclusion edited"]``; ``[]`` for a first version."""
    if not changes:
        return []
    lines = [f"statement added: {s}" for s in changes.get("statements_added") or []]
    lines += [f"statement removed: {s}" for s in changes.get("statements_removed") or []]
    for item in changes.get("measurements") or []:
        name = item["name"]
        label = GLOBAL_MEASURE_BY_NAME[name].label if name in GLOBAL_MEASURE_BY_NAME else name
        if item["change"] == "added":
            lines.append(f"{label} added: {_value_text(name, item['to'])}")
        elif item["change"] == "removed":
            lines.append(f"{label} removed (was {_value_text(name, item['from'])})")
        else:
            lines.append(f"{label}: {_value_text(name, item['from'])} -> {_value_text(name, item['to'])}")
    if changes.get("conclusion_edited"):
        lines.append("conclusion edited")
    return lines


def measurement_status(measurements: Mapping[str, Any], measured_values: Mapping[str, Any]) -> dict[str, str]:
    """Per measurement of a report: ``accepted`` (equal to the stored measurement as printed, or both
    not measurable), ``corrected`` (different), ``added`` (the stored measurement had no value)."""
    status = {}
    for name, value in measurements.items():
        measured = measured_values.get(name)
        if measured is None and value is not None:
            status[name] = ADDED
        elif _same_value(value, measured) or (value is not None and measured is not None
                                              and round(float(value)) == round(float(measured))):
            status[name] = ACCEPTED
        else:
            status[name] = CORRECTED
    return status


# -- one version as the pages show it ---------------------------------------------------------------
@dataclass(frozen=True)
class ReportVersion:
    """One version of a record's confirmed report, with its signature and what changed.

    ``signed_by`` is the signer's user name, or "a cardiologist" for a ``role`` that may not see
    reviewers' names; ``what_changed`` is :func:`describe_changes` of ``changes`` ([] for version 1).
    """

    id: int
    record_id: int
    version: int
    signed_by: str
    signed_by_full_name: str | None
    signed_role: str
    signed_at: datetime
    statements: tuple[str, ...]
    measurements: dict[str, float | None]
    measured_values: dict[str, float | None]
    measurement_status: dict[str, str]
    measurement_id: int | None
    conclusion: str | None
    review_id: int | None
    changes: dict[str, Any] | None
    what_changed: list[str] = field(default_factory=list)

    def signature(self) -> str:
        """"dr.lee (cardiologist), 2025-03-01 10:15 UTC"."""
        return f"{self.signed_by} ({self.signed_role}), {self.signed_at:%Y-%m-%d %H:%M} UTC"


def signer_label(name: str, signed_role: str, role: str | None) -> str:
    """The signer as ``role`` may see them: the user name, or "a cardiologist" (no name) for roles that
    see reviewers only by pseudonym (``see_reviewer_names``). ``role`` None: the operator, names shown."""
    return name if role is None or allowed(role, "see_reviewer_names") else f"a {signed_role}"


def _utc(when: datetime) -> datetime:
    """Stored times as aware UTC (SQLite gives them back without a zone, PostgreSQL in its own)."""
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _version(report: ConfirmedReport, role: str | None) -> ReportVersion:
    signer = report.confirmed_by
    named = role is None or allowed(role, "see_reviewer_names")
    return ReportVersion(
        id=report.id, record_id=report.record_id, version=report.version,
        signed_by=signer_label(signer.name, report.signed_role, role),
        signed_by_full_name=signer.full_name if named else None, signed_role=report.signed_role,
        signed_at=_utc(report.created_at), statements=tuple(report.statements or ()),
        measurements=dict(report.measurements or {}), measured_values=dict(report.measured_values or {}),
        measurement_status=measurement_status(report.measurements or {}, report.measured_values or {}),
        measurement_id=report.measurement_id, conclusion=report.conclusion, review_id=report.review_id,
        changes=report.changes, what_changed=describe_changes(report.changes))


def _latest_row(session: Session, record_id: int) -> ConfirmedReport | None:
    return session.scalar(select(ConfirmedReport).where(ConfirmedReport.record_id == record_id)
                          .order_by(ConfirmedReport.version.desc()).limit(1))


def latest_report(db: Database, record_id: int | str, *, role: str | None = None) -> ReportVersion | None:
    """The current (newest) version of a record's confirmed report, or None if none was confirmed.
    ``role``: whose eyes (the signer's name per ``see_reviewer_names``); None: the operator."""
    with db.transaction() as session:
        row = get_record(session, record_id)
        report = _latest_row(session, row.id)
        if report is None:
            return None
        _ = report.confirmed_by
        return _version(report, role)


def report_history(db: Database, record_id: int | str, *, role: str | None = None) -> list[ReportVersion]:
    """Every version of a record's confirmed report, oldest first, each with what changed."""
    with db.transaction() as session:
        row = get_record(session, record_id)
        reports = list(session.scalars(select(ConfirmedReport).where(ConfirmedReport.record_id == row.id)
                                       .order_by(ConfirmedReport.version)))
        for report in reports:
            _ = report.confirmed_by
        return [_version(report, role) for report in reports]


# -- a draft for the form ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportDraft:
    """What the confirmation form starts from: the current report if there is one, else the user's own
    reading (their latest review's present labels, our newest measurement with their corrections)."""

    statements: list[str]
    measurements: dict[str, float | None]
    measured_values: dict[str, float | None]
    measurement_id: int | None
    conclusion: str | None
    expected_version: int  # pass to confirm_report: the current version (0: none yet)
    from_report: bool


def report_draft(db: Database, record_id: int | str, user: str | int) -> ReportDraft:
    """The form's starting values for ``user`` on a record (see :class:`ReportDraft`)."""
    with db.transaction() as session:
        row = get_record(session, record_id)
        person = get_user(session, user)
        measured = session.scalar(select(MeasurementRun).where(MeasurementRun.record_id == row.id)
                                  .order_by(MeasurementRun.id.desc()).limit(1))
        measured_values = {name: (measured.global_values or {}).get(name) for name in GLOBAL_MEASURE_NAMES} \
            if measured is not None else {}
        report = _latest_row(session, row.id)
        if report is not None:
            return ReportDraft(statements=list(report.statements), measurements=dict(report.measurements),
                               measured_values=measured_values, measurement_id=measured.id if measured else None,
                               conclusion=report.conclusion, expected_version=report.version, from_report=True)
        review = session.scalar(select(Review).where(Review.record_id == row.id, Review.reviewer_id == person.id)
                                .order_by(Review.version.desc()).limit(1))
        present = [] if review is None else list(session.scalars(
            select(ReviewVerdict.label).where(ReviewVerdict.review_id == review.id, ReviewVerdict.verdict == "present")
            .order_by(ReviewVerdict.id)))
        values = dict(measured_values)
        corrections = session.scalars(select(MeasurementCorrection).where(
            MeasurementCorrection.record_id == row.id, MeasurementCorrection.reviewer_id == person.id)
            .order_by(MeasurementCorrection.version))
        for correction in corrections:  # the newest version of each name wins
            values[correction.name] = correction.value
        return ReportDraft(statements=present, measurements=values, measured_values=measured_values,
                           measurement_id=measured.id if measured else None, conclusion=None, expected_version=0,
                           from_report=False)


# -- confirming ---------------------------------------------------------------------------------------
def _checked_statements(statements: Sequence[str]) -> list[str]:
    if isinstance(statements, str):
        raise InvalidInputError("statements must be a list of labels, not one string.")
    cleaned = list(dict.fromkeys(" ".join(str(s).split()) for s in statements))
    return check_labels([s for s in cleaned if s])


def _checked_measurements(measurements: Mapping[str, Any] | None) -> dict[str, float | None]:
    if measurements is None:
        return {}
    if not isinstance(measurements, Mapping):
        raise InvalidInputError("measurements must be a mapping of GLOBAL_MEASURES name -> value (None: not measurable).")
    checked = {}
    for name, value in measurements.items():
        check_measure_name(name, caller="confirm_report")
        checked[name] = check_measure_value(name, value, caller="confirm_report")
    return {name: checked[name] for name in GLOBAL_MEASURE_NAMES if name in checked}


def confirm_report(db: Database, record_id: int | str, user: str | int, statements: Sequence[str],
                   measurements: Mapping[str, float | None] | None, conclusion: str | None,
                   expected_version: int | None = None, *, measurement_id: int | None = None) -> ReportVersion:
    """Confirm (sign) the report of a record as ``user``: the next version; returns it.

    ``statements``: ECGFounder labels (unknown ones are refused); ``measurements``: the global
    measurements the cardiologist accepts or corrected (name -> value, None: cannot be measured;
    checked like corrections); ``conclusion``: free text. A report needs a statement or a
    conclusion. ``measurement_id``: the stored measurement shown (default: the record's newest).
    ``expected_version``: the version the form was opened on (0: none yet); another confirmation
    in between gives :class:`ReviewConflictError`. A version that changes nothing of the current one
    is refused (:class:`InvalidInputError`). Only cardiologists may confirm
    (:class:`PermissionDeniedError` for anyone else, nothing written).
    """
    statements = _checked_statements(statements)
    values = _checked_measurements(measurements)
    if conclusion is not None:
        conclusion = str(conclusion).strip() or None
        if conclusion is not None and len(conclusion) > MAX_CONCLUSION_LENGTH:
            raise InvalidInputError(f"The conclusion can have at most {MAX_CONCLUSION_LENGTH} characters; "
                                    f"it has {len(conclusion)}.")
    if not statements and conclusion is None:
        raise InvalidInputError("A confirmed report needs at least one statement or a conclusion.")
    for attempt in range(MAX_SAVE_ATTEMPTS):
        try:
            return _confirm_once(db, record_id, user, statements, values, conclusion, expected_version, measurement_id)
        except exc.IntegrityError as error:  # two confirmations of the same record raced for a version
            if expected_version is not None or attempt == MAX_SAVE_ATTEMPTS - 1:
                raise ReviewConflictError("This report was confirmed from somewhere else at the same time; reload it "
                                          "and confirm again.") from error
    raise AssertionError("unreachable")


def _confirm_once(db: Database, record_id: int | str, user: str | int, statements: list[str],
                  values: dict[str, float | None], conclusion: str | None, expected_version: int | None,
                  measurement_id: int | None) -> ReportVersion:
    with db.transaction() as session:
        signer = check(get_user(session, user), "confirm_reports")
        row = get_record(session, record_id)
        previous = _latest_row(session, row.id)
        current = previous.version if previous is not None else 0
        if expected_version is not None and current != expected_version:
            raise ReviewConflictError(
                f"The confirmed report of record {row.id} is now at version {current}, not {expected_version}: it "
                "was confirmed elsewhere meanwhile. Reload it, check the changes and confirm again.")
        if measurement_id is not None:
            measured = session.get(MeasurementRun, measurement_id)
            if measured is None or measured.record_id != row.id:
                raise NotFoundError(f"Measurement {measurement_id} is not a measurement of record {row.id}.")
        else:
            measured = session.scalar(select(MeasurementRun).where(MeasurementRun.record_id == row.id)
                                      .order_by(MeasurementRun.id.desc()).limit(1))
        measured_values = {name: (measured.global_values or {}).get(name) if measured is not None else None
                           for name in values}
        changes = report_changes(previous, statements, values, conclusion)
        if changes_are_empty(changes):
            raise InvalidInputError(f"Nothing changed from version {current} of the confirmed report of record "
                                    f"{row.id}; no new version was made.")
        review_id = session.scalar(select(Review.id).where(Review.record_id == row.id, Review.reviewer_id == signer.id)
                                   .order_by(Review.version.desc()).limit(1))
        report = ConfirmedReport(record_id=row.id, version=current + 1, confirmed_by_id=signer.id,
                                 signed_role=signer.role, statements=statements, measurements=values,
                                 measured_values=measured_values, measurement_id=measured.id if measured else None,
                                 conclusion=conclusion, review_id=review_id, changes=changes)
        session.add(report)
        session.flush()
        audit.log(session, "report_confirm", user_id=signer.id, target=f"record:{row.id}",
                  details={"report": report.id, "version": report.version, "role": signer.role,
                           "n_statements": len(statements), "n_measurements": len(values),
                           "changes": changes})
        _ = report.confirmed_by
        return _version(report, None)


# -- export ------------------------------------------------------------------------------------------


def export_confirmed_reports(db: Database, folder: Path | str, *, exported_by: str | int | None = None) -> Path:
    """Write every confirmed report for other systems into ``folder`` (must not exist yet); returns it.

    ``confirmed_reports.csv``: one row per version (:data:`REPORT_COLUMNS`; ``is_latest`` marks the
    current one; statements and ``changes`` as JSON; one column per global measurement with the
    confirmed value; ``measurement_status`` JSON name -> accepted/corrected/added); ``<record>.xml``
    per record (names as the expert-review export's, ``ecg000042``): the signal as HL7 aECG with the
    current version's statements and measurements as an interpretation annotation set signed by the
    cardiologist, the conclusion as its comment, and the acquisition time when the file stated one.
    No patient identifier is written (the store has none); ``patient_key`` is in the CSV, as in the
    expert-review export. ``exported_by`` needs the ``export`` right; the export is audited.
    """
    from db.export import record_name
    from ecgcore.io.writers import write_aecg

    folder = Path(folder)
    if folder.exists():
        raise ExportError(f"{folder} already exists; choose a new folder so no earlier export is overwritten.")
    with db.transaction() as session:
        exporter = acting_user(session, exported_by, "export")
        reports = list(session.scalars(select(ConfirmedReport).order_by(ConfirmedReport.record_id,
                                                                        ConfirmedReport.version)))
        for report in reports:
            _ = report.confirmed_by
        record_ids = sorted({r.record_id for r in reports})
        rows = {r.id: r for r in session.scalars(select(StoredRecord).where(StoredRecord.id.in_(record_ids)))}
    latest = {r.record_id: r for r in reports}  # ordered by version: the last one wins
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        lines = []
        for report in reports:
            row = rows[report.record_id]
            name = record_name(row.id)
            is_latest = latest[row.id].id == report.id
            lines.append({
                "record": name, "record_id": row.id, "content_hash": row.content_hash, "patient_key": row.patient_key,
                "acquired_at": row.acquired_at.isoformat() if row.acquired_at is not None else None,
                "acquired_at_is_upload_time": bool(row.acquired_at_is_upload_time), "device": row.device,
                "site": row.site, "version": report.version, "is_latest": is_latest,
                "confirmed_by": report.confirmed_by.name, "confirmed_role": report.signed_role,
                "confirmed_at": _utc(report.created_at).isoformat(),
                "statements": json.dumps(list(report.statements), ensure_ascii=False), "conclusion": report.conclusion,
                **{n: (report.measurements or {}).get(n) for n in GLOBAL_MEASURE_NAMES},
                "measurement_status": json.dumps(measurement_status(report.measurements or {},
                                                                    report.measured_values or {}), sort_keys=True),
                "measurement_id": report.measurement_id,
                "changes": json.dumps(report.changes, ensure_ascii=False, sort_keys=True) if report.changes else None,
                "aecg_file": f"{name}.xml" if is_latest else None,
            })
        pd.DataFrame(lines, columns=REPORT_COLUMNS).to_csv(tmp / REPORTS_FILE, index=False)
        for record_id, report in latest.items():
            row = rows[record_id]
            write_aecg(load_ecg(db, row), tmp / f"{record_name(record_id)}.xml",
                       statements=report.statements,
                       measurements={k: v for k, v in (report.measurements or {}).items() if v is not None},
                       acquired_at=None if row.acquired_at_is_upload_time else row.acquired_at,
                       interpretation_author=report.confirmed_by.full_name or report.confirmed_by.name,
                       interpretation_time=_utc(report.created_at), interpretation_comment=report.conclusion)
        manifest = {
            "format": "ecgfounder-confirmed-reports", "format_version": 1, "schema_revision": head_revision(),
            "exported_by": exporter.name if exporter else None, "n_records": len(latest), "n_versions": len(reports),
            "files": {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, folder)
    except OSError as error:
        raise ExportError(f"Could not write the confirmed reports to {folder}: {error}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with db.transaction() as session:
        audit.log(session, "export", user_id=exporter.id if exporter else None, target=str(folder)[:500],
                  details={"kind": "confirmed_reports", "n_records": len(latest), "n_versions": len(reports)})
    return folder


__all__ = [
    "ACCEPTED",
    "ADDED",
    "CORRECTED",
    "REPORTS_FILE",
    "REPORT_COLUMNS",
    "ReportDraft",
    "ReportVersion",
    "confirm_report",
    "describe_changes",
    "export_confirmed_reports",
    "latest_report",
    "measurement_status",
    "report_changes",
    "report_draft",
    "report_history",
    "signer_label",
]
