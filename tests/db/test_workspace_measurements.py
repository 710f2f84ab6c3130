"""The review page's measurements (db.workspace.ensure_window_measurements): the scored window,
measured once per algorithm version and stored, on shipped sample records."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from sqlalchemy import func, select

from db.measurements import correct_measurement, latest_measurements
from db.models import MeasurementRun
from db.records import add_record
from db.workspace import ensure_window_measurements
from ecgcore.io import read
from ecgcore.measurements import ALGORITHM_VERSION, measure
from tests.conftest import SAMPLES_DIR


def runs(db) -> int:  # noqa: ANN001
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(MeasurementRun))


@pytest.fixture
def short_and_long(db):  # noqa: ANN001, ANN201
    short = read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea")  # 10 s at 500 Hz
    long = read(SAMPLES_DIR / "ptbdb" / "s0010_re.hea")  # 38.4 s at 1 kHz
    return [(add_record(db, ecg)[0].id, ecg) for ecg in (short, long)]


def test_the_window_is_measured_and_stored_once(db, team, short_and_long) -> None:  # noqa: ANN001
    (rid, ecg), _ = short_and_long
    calls = []

    def counting(record, start_s=None):  # noqa: ANN001, ANN202
        calls.append(start_s)
        return measure(record, start_s=start_s)

    first = ensure_window_measurements(db, rid, ecg, start_s=0.0, actor="alice", measure_fn=counting)
    assert first.measurements.algorithm_version == ALGORITHM_VERSION
    assert first.measurements.median_beats is not None  # what the page draws; the store keeps none
    stored = latest_measurements(db, rid)
    assert stored.id == first.measurement_id and stored.global_values == first.measurements.global_values()
    assert stored.global_values["heart_rate_bpm"] is not None and stored.global_values["qrs_ms"] is not None
    again = ensure_window_measurements(db, rid, ecg, start_s=0.0, actor="alice", measure_fn=counting)
    assert again.measurement_id == first.measurement_id and runs(db) == 1
    assert calls == [0.0, 0.0]  # measured each time (a cached measure_fn on the page), stored once


def test_a_long_record_is_measured_on_the_scored_window(db, team, short_and_long) -> None:  # noqa: ANN001
    _, (rid, ecg) = short_and_long
    start = ensure_window_measurements(db, rid, ecg, start_s=0.0)
    later = ensure_window_measurements(db, rid, ecg, start_s=25.0)
    assert later.measurements.window_start_s == pytest.approx(25.0)
    assert later.measurement_id != start.measurement_id and runs(db) == 2
    assert latest_measurements(db, rid, window_start_s=25.0).id == later.measurement_id
    assert ensure_window_measurements(db, rid, ecg, start_s=25.0).measurement_id == later.measurement_id
    assert runs(db) == 2


def test_a_short_record_is_measured_whole_whatever_the_start(db, team, short_and_long) -> None:  # noqa: ANN001
    (rid, ecg), _ = short_and_long
    first = ensure_window_measurements(db, rid, ecg, start_s=None)
    assert ensure_window_measurements(db, rid, ecg, start_s=0.0).measurement_id == first.measurement_id
    assert first.measurements.window_start_s == 0.0 and runs(db) == 1


def test_a_correction_refers_to_the_stored_measurement(db, team, short_and_long) -> None:  # noqa: ANN001
    (rid, ecg), _ = short_and_long
    shown = ensure_window_measurements(db, rid, ecg, start_s=0.0)
    saved = correct_measurement(db, rid, "alice", "pr_ms", 170.0, "P onset earlier in II",
                                measurement_id=shown.measurement_id, expected_version=0)
    assert saved.measurement_id == shown.measurement_id
    assert saved.measured_value == shown.measurements.global_values()["pr_ms"]


def test_a_changed_result_of_the_same_version_warns_and_keeps_the_stored_one(db, team, short_and_long) -> None:  # noqa: ANN001
    (rid, ecg), _ = short_and_long
    first = ensure_window_measurements(db, rid, ecg, start_s=0.0)
    tuned = dataclasses.replace(first.measurements, qrs_ms=(first.measurements.qrs_ms or 100.0) + 20.0)
    with pytest.warns(UserWarning, match="new ALGORITHM_VERSION"):
        again = ensure_window_measurements(db, rid, ecg, start_s=0.0, measure_fn=lambda record, start_s=None: tuned)
    assert again.measurement_id == first.measurement_id and runs(db) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensure_window_measurements(db, rid, ecg, start_s=0.0)
