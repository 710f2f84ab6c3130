"""The PDF report of a stored record: what the review page's download and ``ecg report RECORD_ID`` print.

One place decides what a stored record's report holds, so the page and the command cannot differ:
the latest confirmed version (its statements, conclusion and the measurements the cardiologist
accepted or corrected; else the current measurements and "UNCONFIRMED"), the model's findings on
the same window, the device's reading from the file, and the patient as a pseudonym (a prefix of
the keyed hash, never for roles without ``see_patient_keys``; the store holds no identifier).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

from db.confirmed_reports import ReportVersion, latest_report
from db.permissions import allowed
from db.records import get_record, load_ecg
from db.session import Database
from ecgcore.measurements import Measurements, measure
from ecgcore.report.content import Confirmation

if TYPE_CHECKING:
    from ecgcore.predict import Prediction, Predictor

PSEUDONYM_CHARS = 12  # the patient key's prefix printed on a report


def pseudonym(patient_key: str | None) -> str | None:
    """The patient as a report prints them: the keyed hash's first characters (None when unlinked)."""
    return patient_key[:PSEUDONYM_CHARS] if patient_key else None


def confirmation_of(version: ReportVersion | None) -> Confirmation | None:
    """A confirmed report version as the PDF header prints it (None: "UNCONFIRMED")."""
    if version is None:
        return None
    return Confirmation(version.statements, version.signed_by, version.signed_role, version.signed_at,
                        version.version, version.conclusion)


def report_measurements(version: ReportVersion | None,
                        measured: Measurements | None) -> Measurements | dict[str, float | None] | None:
    """The confirmed version's accepted or corrected values when there are any, else this window's."""
    if version is not None and version.measurements:
        return version.measurements
    return measured


def stored_record_report(db: Database, record_id: int | str, role: str, *, predictor: Predictor | None = None,
                         prediction: Prediction | None = None, start_s: float | None = None, paper: str = "A4",
                         out: str | Path | IO[bytes] | None = None) -> bytes | Path:
    """Render the report of a stored record as ``role`` may see it (PDF bytes, or the path written).

    The model runs on the printed window when a ``predictor`` is given and no ``prediction``;
    without either the report says the model was not run.
    """
    from ecgcore.report import render_report

    with db.transaction() as session:
        row = get_record(session, record_id)
        key = row.patient_key if allowed(role, "see_patient_keys") else None
        stored_id = row.id
    ecg = load_ecg(db, stored_id)
    version = latest_report(db, stored_id, role=role)
    measured = measure(ecg, start_s=start_s)
    if prediction is None and predictor is not None:
        prediction = predictor.predict(ecg, start_s=start_s)
    return render_report(ecg, measurements=report_measurements(version, measured), prediction=prediction,
                         confirmation=confirmation_of(version), device_reading=ecg.device_reading,
                         pseudonym=pseudonym(key), start_s=start_s, paper=paper, out=out)


__all__ = ["PSEUDONYM_CHARS", "confirmation_of", "pseudonym", "report_measurements", "stored_record_report"]
