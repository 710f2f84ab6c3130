"""Interval measurements of stored records, and reviewers' corrections of them.

A measurement is one run of the measurement algorithm (``ecgcore.measurements``) on one window of
one record. It is stored once per (record, algorithm version, window): storing the same again is a
no-op, a new algorithm version adds a row beside the old one, and nothing is ever overwritten
(``measurements`` is append-only, like reviews). :func:`ensure_measurements` measures a record only
when the store has no measurement of the current algorithm version.

A reviewer may correct any global measurement (``GLOBAL_MEASURES``). A correction is stored like a
verdict: each save inserts the next version per (record, reviewer, measurement name), with who
and when, the value it corrects and that measurement's row and algorithm version, in the same
transaction as its audit event; ``measurement_corrections`` is append-only. ``value=None`` means
the reviewer judges the measurement cannot be made on this ECG.

Values are checked against plausible ranges per unit (:data:`PLAUSIBLE_RANGES`), wide enough for
any ECG and narrow enough to catch a slip of unit (0.42 typed for a QT of 420 ms). Axes are stored
as typed, -180 to 360 degrees (carts print either convention); comparisons take the difference
modulo 360 (:func:`difference`).
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import exc, func, select
from sqlalchemy.orm import Session

from db import audit
from db.errors import InvalidInputError, NotFoundError, ReviewConflictError
from db.models import MeasurementCorrection, MeasurementRun, User
from db.permissions import check
from db.records import get_record
from db.session import Database
from db.users import get_user
from ecgcore.measurements.types import GLOBAL_MEASURE_BY_NAME, GLOBAL_MEASURE_NAMES, Measurements
from ecgcore.record import Record as ECGRecord

# Plausible values per unit, inclusive: (low, high). bpm: 15-350 (RR 4000-171 ms); ms: 10 ms
# (shortest P or QRS anyone could mean) to 4000 ms (the RR at 15 bpm); deg: either axis convention.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {"bpm": (15.0, 350.0), "ms": (10.0, 4000.0), "deg": (-180.0, 360.0)}
MAX_SAVE_ATTEMPTS = 8
MAX_NOTE_LENGTH = 2000
MAX_VERSION_LENGTH = 100
# Windows are stored rounded to the ms; a lookup matches within half of that.
_WINDOW_TOLERANCE_S = 5e-4


# -- validation -----------------------------------------------------------------------------------
def check_measure_name(name: Any, *, caller: str = "correct_measurement") -> str:
    """``name`` if it is a global measurement's name, else :class:`InvalidInputError` listing the accepted ones."""
    if not isinstance(name, str) or name not in GLOBAL_MEASURE_BY_NAME:
        accepted = ", ".join(repr(n) for n in GLOBAL_MEASURE_NAMES)
        raise InvalidInputError(
            f"The 'name' parameter of {caller} must be a str among {{{accepted}}}. Got {name!r} instead."
        )
    return name


def check_measure_value(name: str, value: Any, *, caller: str = "correct_measurement") -> float | None:
    """``value`` as a float (None: cannot be measured) if plausible for ``name``'s unit, else
    :class:`InvalidInputError` saying what is accepted."""
    if value is None:
        return None
    measure = GLOBAL_MEASURE_BY_NAME[check_measure_name(name, caller=caller)]
    low, high = PLAUSIBLE_RANGES[measure.unit]
    accepted = (f"The 'value' parameter of {caller} for {name!r} must be a number of {measure.unit} "
                f"in [{low:g}, {high:g}], or None when it cannot be measured.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{accepted} Got {value!r} instead.")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        hint = ""
        if measure.unit == "ms" and 0 < number < low:
            hint = " (seconds? Give milliseconds: 0.42 s is 420 ms.)"
        raise InvalidInputError(f"{accepted} Got {value!r} instead.{hint}")
    return number


def difference(name: str, reviewer: float, ours: float) -> float:
    """``reviewer - ours``; for axes the signed angle between them, in (-180, 180]."""
    diff = float(reviewer) - float(ours)
    if GLOBAL_MEASURE_BY_NAME[name].unit == "deg":
        diff = -((-diff + 180.0) % 360.0 - 180.0)  # 180 stays 180, -180 becomes 180
    return diff


def _json_ready(value: Any) -> Any:
    """Numpy scalars and arrays to plain Python, non-finite floats to None (PostgreSQL's JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _check_measurements(measurements: Measurements) -> tuple[str, float]:
    version = measurements.algorithm_version
    if not isinstance(version, str) or not version.strip() or len(version) > MAX_VERSION_LENGTH:
        raise InvalidInputError(f"Measurements.algorithm_version must be a non-empty str of at most "
                                f"{MAX_VERSION_LENGTH} characters. Got {version!r} instead.")
    start = float(measurements.window_start_s)
    if not (math.isfinite(start) and start >= 0.0):
        raise InvalidInputError(f"Measurements.window_start_s must be 0 s or later. Got {measurements.window_start_s!r} instead.")
    return version, round(start, 3)


# -- measurements ---------------------------------------------------------------------------------
def _stored(session: Session, record_id: int, algorithm_version: str | None,
            window_start_s: float | None) -> MeasurementRun | None:
    query = select(MeasurementRun).where(MeasurementRun.record_id == record_id)
    if algorithm_version is not None:
        query = query.where(MeasurementRun.algorithm_version == algorithm_version)
    if window_start_s is not None:
        query = query.where(func.abs(MeasurementRun.window_start_s - float(window_start_s)) < _WINDOW_TOLERANCE_S)
    return session.scalar(query.order_by(MeasurementRun.id.desc()).limit(1))


def store_measurements(db: Database, record_id: int | str, measurements: Measurements, *,
                       actor: str | int | None = None, include_median_beats: bool = False) -> MeasurementRun:
    """Store a measurement of a record; returns its row (the existing one if already stored).

    Idempotent per (record, ``algorithm_version``, ``window_start_s``): the same version on the
    same window is stored once (a second, different result of the same version is not stored, with
    a warning: the algorithm changed without a new version). Another version or window adds a row.
    ``payload`` is ``measurements.to_dict()``, without the median beats unless
    ``include_median_beats`` (they are about 20 times the rest). ``actor`` is recorded in the audit
    event (None: the operator or the workspace itself).
    """
    version, window = _check_measurements(measurements)
    values = _json_ready(measurements.global_values())
    payload = _json_ready(measurements.to_dict(include_median_beats=include_median_beats))
    for attempt in range(2):
        try:
            with db.transaction() as session:
                row = get_record(session, record_id)
                existing = _stored(session, row.id, version, window)
                if existing is not None:
                    if existing.global_values != values:
                        warnings.warn(
                            f"Record {row.id} was measured again by algorithm {version} on the window at {window:g} s "
                            f"with other values ({values} instead of the stored {existing.global_values}); the stored "
                            "ones are kept. A changed algorithm needs a new algorithm_version.", stacklevel=2)
                    return existing
                actor_id = get_user(session, actor).id if actor is not None else None
                run = MeasurementRun(record_id=row.id, algorithm_version=version, window_start_s=window,
                                     global_values=values, payload=payload)
                session.add(run)
                session.flush()
                audit.log(session, "measurement", user_id=actor_id, target=f"record:{row.id}",
                          details={"measurement": run.id, "algorithm_version": version, "window_start_s": window})
            return run
        except exc.IntegrityError:  # a concurrent store of the same version and window won the race
            if attempt:
                raise
    raise AssertionError("unreachable")


def latest_measurements(db: Database, record_id: int | str, algorithm_version: str | None = None,
                        window_start_s: float | None = None) -> MeasurementRun | None:
    """The newest stored measurement of a record, or None.

    ``algorithm_version``: only that version's; ``window_start_s``: only the window starting there
    (within half a millisecond). None for either: any.
    """
    with db.transaction() as session:
        row = get_record(session, record_id)
        return _stored(session, row.id, algorithm_version, window_start_s)


def measurement_history(db: Database, record_id: int | str) -> list[MeasurementRun]:
    """Every stored measurement of a record (every algorithm version and window), newest first."""
    with db.transaction() as session:
        row = get_record(session, record_id)
        return list(session.scalars(select(MeasurementRun).where(MeasurementRun.record_id == row.id)
                                    .order_by(MeasurementRun.id.desc())))


def ensure_measurements(db: Database, record: ECGRecord, stored_record_id: int | str,
                        measure_fn: Callable[..., Measurements], *, start_s: float | None = None,
                        algorithm_version: str | None = None, actor: str | int | None = None) -> MeasurementRun:
    """The stored measurement of the current algorithm version, measuring ``record`` only if needed.

    ``record`` is the stored record's signal (``records.load_ecg``); ``measure_fn(record,
    start_s=start_s)`` measures it (``ecgcore.measurements.measure``). The current version is
    ``algorithm_version``, else ``measure_fn.algorithm_version`` if it has one. When it is known
    and the store holds a measurement of that version (of the window at ``start_s``; with
    ``start_s=None`` of any window, the newest), that row is returned without measuring. Otherwise
    (no measurement yet, an older algorithm's only, or the current version unknown) the record is
    measured and the result stored (:func:`store_measurements`: a new version adds a row, the same
    one is not stored twice).
    """
    current = algorithm_version if algorithm_version is not None else getattr(measure_fn, "algorithm_version", None)
    if current is not None:
        existing = latest_measurements(db, stored_record_id, algorithm_version=str(current), window_start_s=start_s)
        if existing is not None:
            return existing
    return store_measurements(db, stored_record_id, measure_fn(record, start_s=start_s), actor=actor)


# -- corrections ----------------------------------------------------------------------------------
def correct_measurement(db: Database, record_id: int | str, user: str | int, name: str, value: float | None,
                        note: str | None = None, *, measurement_id: int | None = None,
                        expected_version: int | None = None) -> MeasurementCorrection:
    """Save ``user``'s value of global measurement ``name`` of a record as the next version; returns it.

    ``value`` None: it cannot be measured on this ECG. ``measurement_id``: the stored measurement
    shown to the reviewer (default: the record's newest); its value of ``name`` and algorithm
    version are stored with the correction. ``expected_version``: the version of this reviewer's
    correction of ``name`` the form was opened on (0: none yet); if another save came in between,
    :class:`ReviewConflictError` and nothing is written. The user must be allowed to
    ``correct_measurements`` (the reviewing roles); the save and its audit event are one transaction.
    """
    check_measure_name(name)
    value = check_measure_value(name, value)
    if note is not None:
        note = str(note).strip() or None
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            raise InvalidInputError(f"The note can have at most {MAX_NOTE_LENGTH} characters; it has {len(note)}.")
    for attempt in range(MAX_SAVE_ATTEMPTS):
        try:
            return _correct_once(db, record_id, user, name, value, note, measurement_id, expected_version)
        except exc.IntegrityError as error:  # two saves of the same reviewer, record and name raced
            if expected_version is not None or attempt == MAX_SAVE_ATTEMPTS - 1:
                raise ReviewConflictError(
                    "This correction was saved from somewhere else at the same time; reload it and save again."
                ) from error
    raise AssertionError("unreachable")


def _correct_once(db: Database, record_id: int | str, user: str | int, name: str, value: float | None,
                  note: str | None, measurement_id: int | None, expected_version: int | None) -> MeasurementCorrection:
    with db.transaction() as session:
        reviewer = check(get_user(session, user), "correct_measurements")
        row = get_record(session, record_id)
        if measurement_id is not None:
            measured = session.get(MeasurementRun, measurement_id)
            if measured is None or measured.record_id != row.id:
                raise NotFoundError(f"Measurement {measurement_id} is not a measurement of record {row.id}.")
        else:
            measured = _stored(session, row.id, None, None)
        current = session.scalar(
            select(func.max(MeasurementCorrection.version)).where(
                MeasurementCorrection.record_id == row.id, MeasurementCorrection.reviewer_id == reviewer.id,
                MeasurementCorrection.name == name)
        ) or 0
        if expected_version is not None and current != expected_version:
            raise ReviewConflictError(
                f"{reviewer.name}'s correction of {name} on record {row.id} is now at version {current}, not "
                f"{expected_version}: it was saved elsewhere meanwhile. Reload it, check the value and save again."
            )
        measured_value = None if measured is None else measured.global_values.get(name)
        correction = MeasurementCorrection(
            record_id=row.id, reviewer_id=reviewer.id, name=name, version=current + 1, value=value,
            measurement_id=None if measured is None else measured.id,
            algorithm_version=None if measured is None else measured.algorithm_version,
            measured_value=None if measured_value is None else float(measured_value), note=note)
        session.add(correction)
        session.flush()
        audit.log(session, "measurement_correction", user_id=reviewer.id, target=f"record:{row.id}",
                  details={"correction": correction.id, "name": name, "version": correction.version, "value": value,
                           "measured_value": correction.measured_value, "measurement": correction.measurement_id,
                           "algorithm_version": correction.algorithm_version})
        _ = correction.reviewer
    return correction


@dataclass(frozen=True)
class RecordCorrections:
    """A record's corrections: ``latest`` holds each reviewer's newest version per measurement
    (ordered by reviewer name, then ``GLOBAL_MEASURES`` order), ``history`` every version, oldest first.
    Each row's ``reviewer`` (a :class:`db.models.User`) is loaded."""

    latest: list[MeasurementCorrection]
    history: list[MeasurementCorrection]

    def get(self, reviewer: str, name: str) -> MeasurementCorrection | None:
        """``reviewer``'s (user name) current correction of ``name``, or None."""
        return next((c for c in self.latest if c.reviewer.name == reviewer and c.name == name), None)


def corrections_for(db: Database, record_id: int | str) -> RecordCorrections:
    """Every reviewer's corrections of a record's measurements: the current ones and the history."""
    with db.transaction() as session:
        row = get_record(session, record_id)
        history = list(session.scalars(select(MeasurementCorrection).where(MeasurementCorrection.record_id == row.id)
                                       .order_by(MeasurementCorrection.id)))
        for correction in history:
            _ = correction.reviewer
    newest: dict[tuple[int, str], MeasurementCorrection] = {}
    for correction in history:
        key = (correction.reviewer_id, correction.name)
        if key not in newest or correction.version > newest[key].version:
            newest[key] = correction
    order = {name: i for i, name in enumerate(GLOBAL_MEASURE_NAMES)}
    latest = sorted(newest.values(), key=lambda c: (c.reviewer.name, order.get(c.name, len(order))))
    return RecordCorrections(latest=latest, history=history)


# -- tables for the export and the dashboard ------------------------------------------------------
MEASUREMENT_COLUMNS = ["record_id", "measurement_id", "algorithm_version", "window_start_s", "created_at",
                       *GLOBAL_MEASURE_NAMES, "reasons", "is_latest"]
CORRECTION_COLUMNS = ["record_id", "correction_id", "reviewer", "role", "name", "version", "value",
                      "measured_value", "measurement_id", "algorithm_version", "note", "created_at", "is_latest"]


def measurement_table(db: Database, record_ids: list[int] | None = None) -> pd.DataFrame:
    """Every stored measurement (of ``record_ids``, or all), one row each, oldest first.

    Columns :data:`MEASUREMENT_COLUMNS`: one per global measurement, ``reasons`` (JSON text: why a
    value is missing), ``is_latest`` (the record's newest measurement).
    """
    query = select(MeasurementRun).order_by(MeasurementRun.record_id, MeasurementRun.id)
    if record_ids is not None:
        query = query.where(MeasurementRun.record_id.in_([int(r) for r in record_ids]))
    with db.transaction() as session:
        runs = list(session.scalars(query))
    newest = {run.record_id: run.id for run in runs}  # ordered by id within a record: the last wins
    rows = [{"record_id": run.record_id, "measurement_id": run.id, "algorithm_version": run.algorithm_version,
             "window_start_s": run.window_start_s, "created_at": run.created_at,
             **{name: run.global_values.get(name) for name in GLOBAL_MEASURE_NAMES},
             "reasons": json.dumps((run.payload or {}).get("reasons") or {}, sort_keys=True),
             "is_latest": newest[run.record_id] == run.id} for run in runs]
    return pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)


def correction_table(db: Database, record_ids: list[int] | None = None) -> pd.DataFrame:
    """Every correction version (of ``record_ids``, or all) with the reviewer's name and role, oldest first.

    Columns :data:`CORRECTION_COLUMNS`; ``is_latest`` marks each reviewer's current version per
    record and measurement (the one that counts).
    """
    query = (select(MeasurementCorrection, User.name, User.role).join(User, User.id == MeasurementCorrection.reviewer_id)
             .order_by(MeasurementCorrection.record_id, MeasurementCorrection.id))
    if record_ids is not None:
        query = query.where(MeasurementCorrection.record_id.in_([int(r) for r in record_ids]))
    with db.transaction() as session:
        found = session.execute(query).all()
    newest: dict[tuple[int, int, str], int] = {}
    for c, _, _ in found:
        key = (c.record_id, c.reviewer_id, c.name)
        newest[key] = max(newest.get(key, 0), c.version)
    rows = [{"record_id": c.record_id, "correction_id": c.id, "reviewer": reviewer, "role": role, "name": c.name,
             "version": c.version, "value": c.value, "measured_value": c.measured_value,
             "measurement_id": c.measurement_id, "algorithm_version": c.algorithm_version, "note": c.note,
             "created_at": c.created_at, "is_latest": newest[(c.record_id, c.reviewer_id, c.name)] == c.version}
            for c, reviewer, role in found]
    return pd.DataFrame(rows, columns=CORRECTION_COLUMNS)
