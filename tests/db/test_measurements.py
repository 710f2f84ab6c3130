"""Interval measurements in the store and reviewers' corrections, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import exc, func, inspect, select, text

from db import audit, dashboard_data
from db.errors import DBError, InvalidInputError, NotFoundError, PermissionDeniedError, ReviewConflictError
from db.export import export_expert_review, load_expert_review_export, record_name
from db.measurements import (
    CORRECTION_COLUMNS,
    MEASUREMENT_COLUMNS,
    correct_measurement,
    corrections_for,
    difference,
    ensure_measurements,
    latest_measurements,
    measurement_history,
    store_measurements,
)
from db.migrate import MIGRATIONS_DIR, alembic_config, head_revision
from db.models import MEASURE_NAMES, MeasurementCorrection, MeasurementRun
from db.records import add_record
from db.reviews import save_review
from db.session import Database
from db.users import set_active
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES, BeatFiducials, Measurements, Wave

AF = "ATRIAL FIBRILLATION"
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def measured(version: str = "1.0", start: float = 0.0, **values: float | None) -> Measurements:
    """A measurement as ecgcore.measurements.measure returns it (defaults: a normal sinus ECG)."""
    normal = {"heart_rate_bpm": 60.0, "rr_ms": 1000.0, "p_duration_ms": 100.0, "pr_ms": 160.0, "qrs_ms": 90.0,
              "qt_ms": 400.0, "qtc_bazett_ms": 400.0, "qtc_fridericia_ms": 400.0, "p_axis_deg": 50.0,
              "qrs_axis_deg": 30.0, "t_axis_deg": 40.0}
    return Measurements(algorithm_version=version, fs=500.0, leads=LEADS, window_start_s=start, window_s=10.0,
                        **{**normal, **values}, beat_samples=tuple(np.arange(250, 5000, 500)),
                        dominant=(True,) * 10, median_beats=np.zeros((12, 600)), median_r_index=np.int64(200),
                        fiducials=BeatFiducials(p=Wave(100, 125, 150), qrs=Wave(np.int64(180), 200, 225),
                                                t=Wave(300, 380, 380)),
                        reasons={} if values.get("p_duration_ms", 1) is not None else {"p_duration_ms": "no P waves"})


def count(db: Database, model) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def rids(db, team, ptbxl_records) -> list[int]:
    return [add_record(db, ecg)[0].id for ecg in ptbxl_records[:3]]


# -- schema ---------------------------------------------------------------------------------------
def _migration_0004():
    spec = importlib.util.spec_from_file_location("m0004", MIGRATIONS_DIR / "versions" / "0004_measurements.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_the_migration_knows_every_global_measure_name():
    """A measurement added to GLOBAL_MEASURES needs a migration widening ck_measurement_corrections_name."""
    assert _migration_0004().MEASURE_NAMES == GLOBAL_MEASURE_NAMES == MEASURE_NAMES


def test_migration_0004_upgrades_and_downgrades(db, rids):
    head = head_revision()  # later migrations sit on top of 0004 and are downgraded through
    assert head >= "0004"
    with db.engine.connect() as conn:
        assert {"measurements", "measurement_corrections"} <= set(inspect(conn).get_table_names())
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0003"
        assert not {"measurements", "measurement_corrections"} & set(inspect(conn).get_table_names())
    db.dispose()
    again = Database(db.url, data_dir_path=db.data_dir)  # migrates to the head on open
    store_measurements(again, rids[0], measured())
    correct_measurement(again, rids[0], "alice", "qrs_ms", 100.0)
    assert count(again, MeasurementRun) == 1 and count(again, MeasurementCorrection) == 1
    # Once a measurement or a correction is audited, downgrading would orphan those audit rows: refused.
    with pytest.raises(exc.IntegrityError), again.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with again.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
    assert count(again, MeasurementCorrection) == 1
    again.dispose()


def test_measurements_and_corrections_are_append_only(db, rids):
    store_measurements(db, rids[0], measured())
    correct_measurement(db, rids[0], "alice", "qt_ms", 420.0)
    for statement in ("UPDATE measurements SET algorithm_version = 'x'", "DELETE FROM measurements",
                      "UPDATE measurement_corrections SET value = 1", "DELETE FROM measurement_corrections"):
        with pytest.raises(DBError, match="append-only"), db.transaction() as session:
            session.execute(text(statement))
    assert latest_measurements(db, rids[0]).global_values["qt_ms"] == 400.0
    assert corrections_for(db, rids[0]).latest[0].value == 420.0


# -- measurements ---------------------------------------------------------------------------------
def test_storing_is_idempotent_per_version_and_window(db, rids):
    first = store_measurements(db, rids[0], measured(), actor="alice")
    again = store_measurements(db, rids[0], measured())
    assert again.id == first.id and count(db, MeasurementRun) == 1
    assert first.global_values == dict(zip(GLOBAL_MEASURE_NAMES, [60.0, 1000.0, 100.0, 160.0, 90.0, 400.0, 400.0,
                                                                   400.0, 50.0, 30.0, 40.0], strict=True))
    assert first.payload["fiducials"]["qrs"]["onset"] == 180 and "median_beats" not in first.payload
    assert first.payload["beat_samples"][:2] == [250, 750] and first.window_start_s == 0.0
    events = audit.events(db, action="measurement")
    assert len(events) == 1 and events[0].target == f"record:{rids[0]}"
    assert events[0].details == {"measurement": first.id, "algorithm_version": "1.0", "window_start_s": 0.0}
    # The same version giving other values is not stored over the first result, and says so.
    with pytest.warns(UserWarning, match="new algorithm_version"):
        kept = store_measurements(db, rids[0], measured(qrs_ms=130.0))
    assert kept.id == first.id and kept.global_values["qrs_ms"] == 90.0 and count(db, MeasurementRun) == 1
    # Another window of the same version is another row.
    other_window = store_measurements(db, rids[0], measured(start=2.0004), include_median_beats=True)
    assert other_window.id != first.id and other_window.window_start_s == 2.0
    assert np.asarray(other_window.payload["median_beats"]).shape == (12, 600)


def test_a_new_algorithm_version_adds_a_row_and_never_overwrites(db, rids):
    old = store_measurements(db, rids[0], measured("1.0", qt_ms=380.0))
    new = store_measurements(db, rids[0], measured("1.1", qt_ms=410.0))
    assert new.id != old.id and count(db, MeasurementRun) == 2
    assert latest_measurements(db, rids[0]).id == new.id
    assert latest_measurements(db, rids[0], algorithm_version="1.0").global_values["qt_ms"] == 380.0
    assert latest_measurements(db, rids[0], window_start_s=0.0).id == new.id
    assert latest_measurements(db, rids[0], window_start_s=5.0) is None
    assert latest_measurements(db, rids[1]) is None
    assert [m.algorithm_version for m in measurement_history(db, rids[0])] == ["1.1", "1.0"]
    with pytest.raises(NotFoundError):
        latest_measurements(db, 10_000)


def test_ensure_measurements_measures_only_when_the_algorithm_changed(db, rids, ptbxl_records):
    calls = []

    def measure(version: str):
        def run(record, start_s=None):
            calls.append((record, start_s))
            return measured(version, start=start_s or 0.0)
        run.algorithm_version = version
        return run

    ecg = ptbxl_records[0]
    first = ensure_measurements(db, ecg, rids[0], measure("1.0"))
    assert ensure_measurements(db, ecg, rids[0], measure("1.0")).id == first.id and len(calls) == 1
    assert ensure_measurements(db, ecg, rids[0], measure("1.0"), start_s=0.0).id == first.id and len(calls) == 1
    upgraded = ensure_measurements(db, ecg, rids[0], measure("2.0"))  # the algorithm changed: measured again
    assert upgraded.id != first.id and upgraded.algorithm_version == "2.0" and len(calls) == 2
    assert ensure_measurements(db, ecg, rids[0], measure("2.0"), start_s=3.0).window_start_s == 3.0
    assert len(calls) == 3 and calls[-1][0] is ecg and calls[-1][1] == 3.0
    # Without a known current version it measures, and storing stays idempotent.
    def bare(record, start_s=None):
        return measured("2.0", start=0.0)

    assert ensure_measurements(db, ecg, rids[0], bare).id == upgraded.id
    assert ensure_measurements(db, ecg, rids[0], bare, algorithm_version="2.0", start_s=0.0).id == upgraded.id
    assert count(db, MeasurementRun) == 3


def test_bad_measurements_are_refused(db, rids):
    with pytest.raises(InvalidInputError, match="algorithm_version"):
        store_measurements(db, rids[0], measured(""))
    with pytest.raises(InvalidInputError, match="window_start_s"):
        store_measurements(db, rids[0], measured(start=-1.0))
    assert count(db, MeasurementRun) == 0


# -- corrections ----------------------------------------------------------------------------------
def test_corrections_are_versioned_audited_and_never_overwritten(db, rids):
    old = store_measurements(db, rids[0], measured("1.0", qt_ms=380.0))
    current = store_measurements(db, rids[0], measured("1.1", qt_ms=410.0))
    first = correct_measurement(db, rids[0], "alice", "qt_ms", 430, note="T end in V3", expected_version=0)
    assert (first.version, first.value, first.measured_value) == (1, 430.0, 410.0)
    assert (first.measurement_id, first.algorithm_version, first.note) == (current.id, "1.1", "T end in V3")
    second = correct_measurement(db, rids[0], "alice", "qt_ms", 440.0, measurement_id=old.id, expected_version=1)
    assert (second.version, second.measured_value, second.algorithm_version) == (2, 380.0, "1.0")
    with pytest.raises(ReviewConflictError, match="version 2, not 1"):
        correct_measurement(db, rids[0], "alice", "qt_ms", 450.0, expected_version=1)
    correct_measurement(db, rids[0], "bob", "qt_ms", 415.0)
    correct_measurement(db, rids[0], "alice", "p_duration_ms", None, note="  ")  # cannot be measured
    correct_measurement(db, rids[0], "dan", "qrs_ms", 95.0)  # annotators review, so they correct too

    corrections = corrections_for(db, rids[0])
    assert [(c.reviewer.name, c.name, c.version, c.value) for c in corrections.latest] == [
        ("alice", "p_duration_ms", 1, None), ("alice", "qt_ms", 2, 440.0), ("bob", "qt_ms", 1, 415.0),
        ("dan", "qrs_ms", 1, 95.0)]
    assert [c.value for c in corrections.history if c.name == "qt_ms" and c.reviewer.name == "alice"] == [430.0, 440.0]
    assert len(corrections.history) == 5 and corrections.get("alice", "p_duration_ms").note is None
    assert corrections.get("alice", "qt_ms").created_at is not None and corrections.get("carol", "qt_ms") is None
    assert corrections_for(db, rids[1]).latest == []

    events = audit.events(db, action="measurement_correction")
    assert len(events) == 5 and {e.target for e in events} == {f"record:{rids[0]}"}
    newest = events[0].details
    assert newest["name"] == "qrs_ms" and newest["value"] == 95.0 and newest["version"] == 1
    alice = next(e for e in events if e.details["correction"] == second.id)
    assert alice.details == {"correction": second.id, "name": "qt_ms", "version": 2, "value": 440.0,
                             "measured_value": 380.0, "measurement": old.id, "algorithm_version": "1.0"}


def test_a_correction_without_a_stored_measurement_is_kept(db, rids):
    correction = correct_measurement(db, rids[1], "carol", "heart_rate_bpm", 72)
    assert correction.measurement_id is None and correction.measured_value is None
    assert correction.algorithm_version is None and correction.value == 72.0


@pytest.mark.parametrize("who", ["vic", "carol"])  # a viewer; a deactivated cardiologist
def test_who_cannot_review_cannot_correct_and_nothing_is_written(db, rids, who):
    store_measurements(db, rids[0], measured())
    if who == "carol":
        set_active(db, "carol", False, actor="erin")
    with pytest.raises(PermissionDeniedError, match="correct measurements"):
        correct_measurement(db, rids[0], who, "qrs_ms", 100.0)
    assert count(db, MeasurementCorrection) == 0 and audit.events(db, action="measurement_correction") == []


def test_bad_names_and_values_say_what_is_accepted(db, rids):
    with pytest.raises(InvalidInputError) as error:
        correct_measurement(db, rids[0], "alice", "qtc", 400.0)
    message = str(error.value)
    assert message.startswith("The 'name' parameter of correct_measurement must be a str among {")
    assert message.endswith("Got 'qtc' instead.") and all(repr(n) in message for n in GLOBAL_MEASURE_NAMES)
    with pytest.raises(InvalidInputError, match=r"'qt_ms' must be a number of ms in \[10, 4000\].*Got 0.42 instead"
                                                r".*seconds\? Give milliseconds"):
        correct_measurement(db, rids[0], "alice", "qt_ms", 0.42)
    with pytest.raises(InvalidInputError, match=r"bpm in \[15, 350\].*Got 900 instead"):
        correct_measurement(db, rids[0], "alice", "heart_rate_bpm", 900)
    for bad in (math.nan, math.inf, "420", True, -200.0):
        with pytest.raises(InvalidInputError, match="Got .* instead"):
            correct_measurement(db, rids[0], "alice", "qrs_axis_deg" if bad == -200.0 else "qt_ms", bad)
    with pytest.raises(InvalidInputError, match="note"):
        correct_measurement(db, rids[0], "alice", "qt_ms", 400.0, note="x" * 3000)
    with pytest.raises(NotFoundError, match="not a measurement of record"):
        correct_measurement(db, rids[0], "alice", "qt_ms", 400.0, measurement_id=store_measurements(
            db, rids[1], measured()).id)
    assert correct_measurement(db, rids[0], "alice", "qrs_axis_deg", 270).value == 270.0  # either axis convention
    assert count(db, MeasurementCorrection) == 1


def test_axis_differences_wrap_around():
    assert difference("qrs_axis_deg", 270.0, -90.0) == 0.0
    assert difference("qrs_axis_deg", -170.0, 170.0) == 20.0
    assert difference("t_axis_deg", 0.0, 180.0) == 180.0 and difference("t_axis_deg", 180.0, 0.0) == 180.0
    assert difference("qt_ms", 430.0, 400.0) == 30.0


# -- export and dashboard -------------------------------------------------------------------------
def test_the_expert_review_export_carries_measurements_and_corrections(db, rids, tmp_path):
    for rid in rids[:2]:
        save_review(db, rid, "alice", {AF: "absent"}, saw_model_output=False)
        save_review(db, rid, "bob", {AF: "absent"}, saw_model_output=False)
        store_measurements(db, rid, measured("1.0"))
    store_measurements(db, rids[0], measured("1.1", p_duration_ms=None))
    store_measurements(db, rids[2], measured("1.0"))  # a record that is not exported
    correct_measurement(db, rids[0], "alice", "qt_ms", 430.0, note="T end, V3")
    correct_measurement(db, rids[0], "alice", "qt_ms", 440.0)
    correct_measurement(db, rids[1], "bob", "pr_ms", None)
    correct_measurement(db, rids[2], "bob", "pr_ms", 200.0)

    out = export_expert_review(db, tmp_path / "export", exported_by="erin")
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"measurements.csv", "measurement_corrections.csv"} <= set(manifest["files"])
    assert manifest["measurement_algorithm_versions"] == [
        {"algorithm_version": "1.0", "n_records": 2, "n_measurements": 2},
        {"algorithm_version": "1.1", "n_records": 1, "n_measurements": 1}]
    assert manifest["n_measurement_corrections"] == 2 and manifest["n_measurement_correction_versions"] == 3

    data = load_expert_review_export(out)
    assert len(data) == 2 and list(data.table.columns[:3]) == ["record", "record_id", "content_hash"]
    m = data.measurements
    assert list(m.columns) == ["record", *MEASUREMENT_COLUMNS] and len(m) == 3
    assert m["record"].tolist() == [record_name(rids[0])] * 2 + [record_name(rids[1])]
    assert m["algorithm_version"].tolist() == ["1.0", "1.1", "1.0"] and m["is_latest"].tolist() == [False, True, True]
    assert m["qt_ms"].tolist() == [400.0] * 3 and np.isnan(m["p_duration_ms"][1])
    assert json.loads(m["reasons"][1]) == {"p_duration_ms": "no P waves"}
    c = data.measurement_corrections
    assert list(c.columns) == ["record", *CORRECTION_COLUMNS] and len(c) == 3
    assert c["reviewer"].tolist() == ["alice", "alice", "bob"] and c["role"].tolist() == ["cardiologist"] * 3
    assert c["version"].tolist() == [1, 2, 1] and c["is_latest"].tolist() == [False, True, True]
    assert c["value"].tolist()[:2] == [430.0, 440.0] and np.isnan(c["value"][2])
    assert c["measured_value"].tolist() == [400.0, 400.0, 160.0] and c["algorithm_version"].tolist() == ["1.1", "1.1", "1.0"]
    assert c["note"][0] == "T end, V3" and all(isinstance(t, str) and "T" in t for t in c["created_at"])


def test_an_export_without_measurements_has_empty_files(db, tmp_path):
    data = load_expert_review_export(export_expert_review(db, tmp_path / "empty"))
    assert data.measurements.empty and list(data.measurements.columns) == ["record", *MEASUREMENT_COLUMNS]
    assert data.measurement_corrections.empty


def test_measurement_agreement_on_a_known_example(db, rids):
    store_measurements(db, rids[0], measured(qrs_ms=100.0, qrs_axis_deg=-90.0))
    store_measurements(db, rids[1], measured(qrs_ms=80.0, qrs_axis_deg=170.0))
    correct_measurement(db, rids[0], "alice", "qrs_ms", 110.0)
    correct_measurement(db, rids[0], "alice", "qrs_ms", 120.0)  # only the latest version counts: +20
    correct_measurement(db, rids[0], "bob", "qrs_ms", 90.0)  # -10
    correct_measurement(db, rids[1], "alice", "qrs_ms", 100.0)  # +20
    correct_measurement(db, rids[1], "bob", "qrs_ms", None)  # cannot be measured: counted, not compared
    correct_measurement(db, rids[0], "dan", "qrs_axis_deg", 270.0)  # the same axis: 0
    correct_measurement(db, rids[1], "dan", "qrs_axis_deg", -170.0)  # 20 degrees across +-180

    view = dashboard_data.measurement_agreement(db, "cardiologist")
    summary = view.summary.set_index("name")
    assert list(summary.index) == list(GLOBAL_MEASURE_NAMES)
    qrs = summary.loc["qrs_ms"]
    assert (qrs["n_corrected"], qrs["n_compared"], qrs["n_not_measurable"]) == (4, 3, 1)
    assert qrs["mean_diff"] == pytest.approx(10.0) and qrs["sd_diff"] == pytest.approx(math.sqrt(300.0))
    assert qrs["loa_low"] == pytest.approx(10.0 - 1.96 * math.sqrt(300.0)) and qrs["unit"] == "ms"
    axis = summary.loc["qrs_axis_deg"]
    assert axis["n_compared"] == 2 and axis["mean_diff"] == pytest.approx(10.0)
    assert summary.loc["qt_ms", "n_corrected"] == 0 and math.isnan(summary.loc["qt_ms", "mean_diff"])
    assert summary.loc["qt_ms", "note"] == "no value to compare"
    rows = view.rows[view.rows["name"] == "qrs_ms"]
    assert list(view.rows.columns) == dashboard_data.MEASUREMENT_ROW_COLUMNS
    assert rows[["record_id", "reviewer", "ours", "reviewer_value", "version"]].values.tolist()[:3] == [
        [rids[0], "alice", 100.0, 120.0, 2], [rids[0], "bob", 100.0, 90.0, 1], [rids[1], "alice", 80.0, 100.0, 1]]
    assert rows["diff"].tolist()[:3] == [20.0, -10.0, 20.0] and math.isnan(rows["diff"].tolist()[3])

    for role in ("viewer", "annotator"):  # reviewers' names as the Agreement page shows them to that role
        hidden = dashboard_data.measurement_agreement(db, role)
        assert set(hidden.rows["reviewer"]) == {"reviewer 1", "reviewer 2", "reviewer 3"}
        pd_summary = hidden.summary.set_index("name")
        assert pd_summary.loc["qrs_ms", "mean_diff"] == pytest.approx(10.0)
    only_old = dashboard_data.measurement_agreement(db, "admin", algorithm_version="0.9")
    assert only_old.rows.empty and (only_old.summary["n_corrected"] == 0).all()


def test_measurement_agreement_of_an_empty_store(db):
    view = dashboard_data.measurement_agreement(db, "viewer")
    assert view.rows.empty and len(view.summary) == len(GLOBAL_MEASURE_NAMES)
    assert (view.summary["n_corrected"] == 0).all()
