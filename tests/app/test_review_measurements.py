"""Measurements on the Review page (the cart line, statements, median beats, corrections) and the
Agreement page's comparison of our measurements with the reviewers' corrections, through AppTest."""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from db import workspace
from db.measurements import correct_measurement, latest_measurements
from db.models import MeasurementCorrection, StoredRecord
from db.records import load_ecg
from db.session import Database
from tests.app.conftest import sign_in, view_as
from tests.conftest import SAMPLES_DIR

CART_LINE = re.compile(r"Vent\. rate (\d+) bpm {2}PR (\d+) ms {2}QRS (\d+) ms {2}QT/QTc Bazett (\d+)/(\d+) ms {2}"
                       r"P-R-T axes (-?\d+) (-?\d+) (-?\d+) deg")


def _open_next(at: AppTest) -> int:
    [b for b in at.button if b.label == "Open next record"][0].click().run()
    assert not at.exception, at.exception
    return int(at.session_state["record_id"])


def _line(at: AppTest) -> re.Match:
    lines = [m.value for m in at.markdown if m.value.startswith("**Measurements:**")]
    assert len(lines) == 1, [m.value for m in at.markdown]
    match = CART_LINE.search(lines[0])
    assert match, lines[0]
    return match


def test_the_measurement_line_shows_the_stored_values_of_a_sample_record(team: Database) -> None:
    at = sign_in("carla")
    record_id = _open_next(at)  # a shipped PTB-XL sample: 12 leads, 10 s, sinus rhythm
    stored = latest_measurements(team, record_id)
    assert stored is not None and stored.window_start_s == 0.0
    values = stored.global_values
    rate, pr, qrs, qt, qtc, p_axis, qrs_axis, t_axis = (int(v) for v in _line(at).groups())
    assert (rate, pr, qrs, qt, qtc) == tuple(int(values[n]) for n in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms",
                                                                       "qtc_bazett_ms"))
    assert (p_axis, qrs_axis, t_axis) == tuple(int(values[n]) for n in ("p_axis_deg", "qrs_axis_deg", "t_axis_deg"))
    assert 40 <= rate <= 120 and 60 <= qrs <= 160  # plausible for these sinus-rhythm samples
    assert any(s.value == "Measurement-based statements" for s in at.subheader)
    assert any("not from the model" in c.value for c in at.caption)
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the sheet, then the median beats with their marks
    marks = [trace.get("name") for trace in json.loads(charts[1].proto.spec)["data"] if trace.get("showlegend")]
    assert marks == ["P on/off", "QRS on/off", "T end"]
    assert any("Calipers: switch them on" in c.value for c in at.caption)
    at.toggle(key="calipers").set_value(True).run()
    assert not at.exception
    assert any("Calipers: drag a box" in c.value for c in at.caption)  # how to use them
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["dragmode"] == "select"
    at.run()  # a rerun measures nothing again and stores nothing twice
    assert not at.exception
    assert latest_measurements(team, record_id).id == stored.id


def test_a_blinded_annotator_sees_the_measurements_but_not_the_findings(team: Database) -> None:
    at = sign_in("anna")
    _open_next(at)
    assert at.info and "Blinded reading" in at.info[0].value
    assert len(at.dataframe) == 0
    _line(at)
    assert any(s.value == "Measurement-based statements" for s in at.subheader)


def test_a_missing_value_prints_a_dash_and_says_why(team: Database) -> None:
    at = sign_in("carla")
    csv = SAMPLES_DIR / "demo" / "cinc2017_A00054_lead_I.csv"  # lead I only, 30 s, irregular; no 1-lead model
    at.file_uploader[0].set_value((csv.name, csv.read_bytes(), "text/csv")).run()
    [b for b in at.button if b.label == "Import upload"][0].click().run()
    assert not at.exception, at.exception
    line = [m.value for m in at.markdown if m.value.startswith("**Measurements:**")][0]
    assert re.search(r"Vent\. rate \d+ bpm .*QT/QTc Bazett — .*P-R-T axes — — —", line), line
    remarks = " ".join(c.value for c in at.caption)
    assert ":orange-badge[irregular RR]" in remarks
    assert "— not measured: " in remarks and "QT, QTc Bazett" in remarks and "no T wave end found" in remarks
    assert "axes need two limb leads" in remarks and "Measured on 10 s from 0.0 s" in remarks
    window = [s for s in at.slider if s.label.startswith("Window measured")]
    assert window, "without a model, a long record's measured window can be moved"
    window[0].set_value(15.0).run()
    assert not at.exception
    assert any("Measured on 10 s from 15.0 s" in c.value for c in at.caption)
    record_id = int(at.session_state["record_id"])
    assert latest_measurements(team, record_id, window_start_s=15.0) is not None
    assert latest_measurements(team, record_id, window_start_s=0.0) is not None


def _correct(at: AppTest, record_id: int, name: str, value: float | None, note: str = "",
             cannot: bool = False) -> None:
    at.selectbox(key=f"cm_name_{record_id}").select(name)
    if value is not None:
        at.number_input(key=f"cm_value_{record_id}").set_value(value)
    if cannot:
        at.checkbox(key=f"cm_none_{record_id}").check()
    at.text_input(key=f"cm_note_{record_id}").input(note)
    [b for b in at.button if b.label == "Save correction"][0].click().run()
    assert not at.exception, at.exception


def test_a_reviewer_corrects_a_measurement(team: Database) -> None:
    at = sign_in("carla")
    record_id = _open_next(at)
    stored = latest_measurements(team, record_id)
    _correct(at, record_id, "pr_ms", 171.0, note="P onset earlier in II")
    assert any("Saved your PR (version 1)" in s.value for s in at.success), [s.value for s in at.success]
    _correct(at, record_id, "qt_ms", None, cannot=True)
    _correct(at, record_id, "pr_ms", 168.0)
    with team.transaction() as session:
        saved = session.scalars(select(MeasurementCorrection).order_by(MeasurementCorrection.id)).all()
        assert [(c.name, c.value, c.version) for c in saved] == [("pr_ms", 171.0, 1), ("qt_ms", None, 1),
                                                                  ("pr_ms", 168.0, 2)]
        assert saved[0].note == "P onset earlier in II" and saved[1].note is None
        assert {c.measurement_id for c in saved} == {stored.id}
        assert saved[0].measured_value == stored.global_values["pr_ms"]
    assert any("Your corrections: PR 168 ms (v2" in c.value and "QT cannot be measured (v1" in c.value
               for c in at.caption)


def test_a_correction_needs_a_value_or_cannot_be_measured(team: Database) -> None:
    at = sign_in("carla")
    record_id = _open_next(at)
    _correct(at, record_id, "qrs_ms", None)
    assert at.error and "Enter your QRS value" in at.error[0].value
    _correct(at, record_id, "qrs_ms", 0.11)  # seconds typed, not ms
    assert at.error and "Give milliseconds" in at.error[0].value
    with team.transaction() as session:
        assert not session.scalars(select(MeasurementCorrection)).all()


def test_a_viewer_sees_the_measurements_but_cannot_correct_them(team: Database) -> None:
    at = sign_in("vince")
    _open_next(at)
    _line(at)
    assert not [b for b in at.button if b.label == "Save correction"]
    assert not any(s.value == "Correct a measurement" for s in at.subheader)


def test_the_agreement_page_compares_our_measurements_with_the_corrections(team: Database) -> None:
    sign_in("carla")  # creates the store and preloads the two demo records
    with team.transaction() as session:
        record_ids = session.scalars(select(StoredRecord.id).order_by(StoredRecord.id)).all()
    ours = {}
    for rid in record_ids:
        shown = workspace.ensure_window_measurements(team, rid, load_ecg(team, rid), start_s=0.0)
        ours[rid] = shown.measurements.global_values()
    empty = view_as("dashboard", "carla", "cardiologist").run()
    assert any("No reviewer has corrected a measurement yet" in c.value for c in empty.caption)
    differences = {record_ids[0]: 10.0, record_ids[1]: 20.0}
    for rid, diff in differences.items():
        correct_measurement(team, rid, "carla", "qrs_ms", ours[rid]["qrs_ms"] + diff)
    correct_measurement(team, record_ids[0], "root", "qt_ms", None, "T end not visible")
    page = view_as("dashboard", "carla", "cardiologist").run()
    assert not page.exception, page.exception
    assert any(s.value == "Measurements: ours vs the reviewers' corrections" for s in page.subheader)
    table = [df.value for df in page.dataframe if "Measurement" in df.value.columns][0]
    qrs = table[table["Measurement"] == "QRS"].iloc[0]
    assert (qrs["n corrected"], qrs["n compared"], qrs["n not measurable"]) == (2, 2, 0)
    assert qrs["Mean difference"] == 15.0 and abs(qrs["SD"] - 7.0710678) < 1e-6  # SD of (10, 20), n - 1
    qt = table[table["Measurement"] == "QT"].iloc[0]
    assert (qt["n corrected"], qt["n compared"], qt["n not measurable"]) == (1, 0, 1)
    assert page.selectbox(key="measurement_scatter").options == ["QRS", "QT"]
    assert '"corrections"' in page.get("plotly_chart")[-1].proto.spec  # ours vs reviewer for QRS
    assert [b.label for b in page.button] == ["Prepare the expert-review test set"]
