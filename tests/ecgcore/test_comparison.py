"""Comparison with the prior ECG (ecgcore.comparison): constructed pairs, thresholds, sources, words."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from ecgcore.comparison import (
    CHANGE_THRESHOLDS,
    COMPARED_MEASURES,
    NEW,
    NO_LONGER_PRESENT,
    ECGSide,
    SourcedStatement,
    axis_difference,
    compare,
    compare_measurement,
    merge_statements,
    statement_key,
    statement_words,
)
from ecgcore.measurements.types import GLOBAL_MEASURE_BY_NAME, BeatFiducials, LeadAmplitudes, Measurements, Wave

NORMAL = {"heart_rate_bpm": 62.0, "rr_ms": 968.0, "p_duration_ms": 100.0, "pr_ms": 160.0, "qrs_ms": 96.0,
          "qt_ms": 400.0, "qtc_bazett_ms": 407.0, "qtc_fridericia_ms": 404.0, "p_axis_deg": 50.0,
          "qrs_axis_deg": 30.0, "t_axis_deg": 40.0}
CONFIRMED = "confirmed by dr.lee 2025-03-01"


def side(statements=(), source="model", when=datetime(2025, 3, 1, 9, 30), basis=None, **values) -> ECGSide:
    measured = {**NORMAL, **values}
    return ECGSide(acquired_at=when, measurements=measured, measurement_sources=dict.fromkeys(measured, "measurement"),
                   statements=tuple(SourcedStatement(s, source) for s in statements), basis=basis or source)


def test_the_threshold_table_is_the_documented_one():
    thresholds = {t.name: t.threshold for t in CHANGE_THRESHOLDS}
    assert thresholds == {"heart_rate_bpm": 10, "pr_ms": 20, "qrs_ms": 20, "qt_ms": 30, "qtc_bazett_ms": 30,
                          "qtc_fridericia_ms": 30, "p_axis_deg": 30, "qrs_axis_deg": 30, "t_axis_deg": 30}
    assert set(COMPARED_MEASURES) <= set(GLOBAL_MEASURE_BY_NAME)


def test_the_same_measurements_with_a_widened_qrs():
    prior = side(["SINUS RHYTHM"], source=CONFIRMED, basis=CONFIRMED)
    current = side(["SINUS RHYTHM"], when=datetime(2026, 1, 5), qrs_ms=130.4)
    result = compare(current, prior)
    assert [row.name for row in result.measurements] == list(COMPARED_MEASURES)
    assert [row.name for row in result.changed_measurements] == ["qrs_ms"]
    qrs = result.changed_measurements[0]
    assert (qrs.prior, qrs.current, qrs.difference, qrs.threshold) == (96.0, 130.0, 34.0, 20.0)
    assert qrs.text == "QRS widened by 34 ms since 2025-03-01"
    assert result.changes() == ["QRS widened by 34 ms since 2025-03-01"]
    assert result.statements == () and result.unchanged_statements == ("SINUS RHYTHM",)
    unchanged = {row.name: row for row in result.measurements}["pr_ms"]
    assert unchanged.difference == 0 and not unchanged.changed and unchanged.text is None


def test_af_new_and_lbbb_no_longer_present_each_naming_its_source():
    prior = side(["SINUS RHYTHM", "LEFT BUNDLE BRANCH BLOCK"], source=CONFIRMED, basis=CONFIRMED, qrs_ms=150.0)
    current = ECGSide(acquired_at=datetime(2026, 1, 5), measurements={**NORMAL, "qrs_ms": 100.0},
                      statements=(SourcedStatement("ATRIAL FIBRILLATION", "model"),
                                  SourcedStatement("Wide QRS", "measurement")),
                      basis="the model's findings and the measurement statements (no confirmed report)")
    result = compare(current, prior)
    assert result.changes() == [
        "QRS narrowed by 50 ms since 2025-03-01",
        "atrial fibrillation: new", "wide QRS: new",
        "sinus rhythm: no longer present", "left bundle branch block: no longer present",
    ]
    by_text = {c.text: c for c in result.statements}
    af = by_text["atrial fibrillation: new"]
    assert (af.change, af.source, af.compared_with) == (NEW, "model", CONFIRMED)
    assert by_text["wide QRS: new"].source == "measurement"
    lbbb = by_text["left bundle branch block: no longer present"]
    assert (lbbb.change, lbbb.source) == (NO_LONGER_PRESENT, CONFIRMED)
    assert lbbb.compared_with == current.basis
    assert af.text_with_source == f"atrial fibrillation: new (model; prior ECG: {CONFIRMED})"
    assert lbbb.text_with_source.startswith(f"left bundle branch block: no longer present (prior ECG: {CONFIRMED}; now:")
    assert result.changes(with_sources=True)[1] == af.text_with_source
    assert (result.current_basis, result.prior_basis) == (current.basis, CONFIRMED)


def test_statements_match_across_sources_and_spellings():
    prior = side(["WITH 1ST DEGREE AV BLOCK", "atrial  fibrillation"], source=CONFIRMED)
    current = side(["1ST DEGREE AV BLOCK", "ATRIAL FIBRILLATION"])
    assert compare(current, prior).statements == ()
    assert statement_key(" with  1st degree av block ") == "1ST DEGREE AV BLOCK"


def test_a_statement_from_two_sources_names_both():
    merged = merge_statements([SourcedStatement("SINUS BRADYCARDIA", "model"),
                               SourcedStatement("SINUS BRADYCARDIA", "measurement"),
                               SourcedStatement("sinus bradycardia", "model"), SourcedStatement(" ", "model")])
    assert merged == (SourcedStatement("SINUS BRADYCARDIA", "model and measurement"),)
    result = compare(side(["SINUS BRADYCARDIA"], source="model"), side([], source=CONFIRMED))
    assert result.statements[0].source == "model"


@pytest.mark.parametrize(("name", "prior", "current", "changed", "text"), [
    ("qrs_ms", 96, 115, False, None),  # 19 ms: below 20
    ("qrs_ms", 96, 116, True, "QRS widened by 20 ms since 2025-03-01"),  # at the threshold
    ("pr_ms", 160, 138, True, "PR shortened by 22 ms since 2025-03-01"),
    ("pr_ms", 160, 204, True, "PR prolonged by 44 ms since 2025-03-01"),
    ("qtc_bazett_ms", 420, 449, False, None),
    ("qtc_bazett_ms", 420, 455, True, "QTc (Bazett) prolonged by 35 ms since 2025-03-01"),
    ("qt_ms", 400, 360, True, "QT shortened by 40 ms since 2025-03-01"),
    ("heart_rate_bpm", 62, 71, False, None),
    ("heart_rate_bpm", 62, 110, True, "Heart rate increased by 48 bpm since 2025-03-01"),
    ("qrs_axis_deg", 30, -45, True, "QRS axis shifted by -75° (from +30° to -45°) since 2025-03-01"),
    ("qrs_axis_deg", 170, -170, False, None),  # 20° across the +-180 seam
    ("t_axis_deg", 40, 100, True, "T axis shifted by +60° (from +40° to +100°) since 2025-03-01"),
])
def test_per_measure_thresholds(name, prior, current, changed, text):
    row = compare_measurement(name, current, prior, prior_date=date(2025, 3, 1))
    assert row.changed is changed and row.text == text


def test_values_are_compared_as_printed_and_missing_ones_never_change():
    assert compare_measurement("qrs_ms", 115.6, 96.4).difference == 20.0  # 116 - 96
    for current, prior in ((None, 96.0), (120.0, None), (float("nan"), 96.0)):
        row = compare_measurement("qrs_ms", current, prior)
        assert row.difference is None and not row.changed and row.text is None
    assert compare_measurement("qrs_ms", 130, 96).text == "QRS widened by 34 ms since the prior ECG"
    assert axis_difference(-170, 170) == 20 and axis_difference(170, -170) == -20 and axis_difference(0, 180) == 180


def test_measurement_sources_are_kept_in_the_table():
    prior = ECGSide(measurements={"qrs_ms": 96.0}, measurement_sources={"qrs_ms": CONFIRMED})
    current = ECGSide(measurements={"qrs_ms": 130.0}, measurement_sources={"qrs_ms": "measurement"})
    row = {r.name: r for r in compare(current, prior).measurements}["qrs_ms"]
    assert (row.prior_source, row.current_source) == (CONFIRMED, "measurement")


@pytest.mark.parametrize(("label", "words"), [
    ("ATRIAL FIBRILLATION", "atrial fibrillation"),
    ("LEFT BUNDLE BRANCH BLOCK", "left bundle branch block"),
    ("WITH 1ST DEGREE AV BLOCK", "1st degree AV block"),
    ("T WAVE INVERSION IN AVL", "T wave inversion in aVL"),
    ("PROLONGED QT", "prolonged QT"),
    ("Wide QRS", "wide QRS"),
    ("LVH by voltage (Cornell)", "LVH by voltage (Cornell)"),
])
def test_statements_in_words(label, words):
    assert statement_words(label) == words


def test_measurements_round_trip_through_to_dict():
    m = Measurements(algorithm_version="9.9", fs=500.0, leads=("I", "II"), window_start_s=2.0, window_s=10.0,
                     heart_rate_bpm=61.7, pr_ms=None, qrs_ms=96.2, beat_samples=(250, 750), dominant=(True, False),
                     median_beats=np.ones((2, 4), dtype=np.float32), median_r_index=2,
                     fiducials=BeatFiducials(p=None, qrs=Wave(1, 2, 3), t=Wave(4, None, 6)),
                     lead_fiducials={"I": BeatFiducials(p=Wave(0, 1, 2), qrs=Wave(3, 4, 5), t=None)},
                     amplitudes={"I": LeadAmplitudes(0.1, -0.05, 1.2, -0.3, 0.01, 0.25)}, measured_leads=("I",),
                     paced=True, p_waves_precede_qrs=False, rr_irregular=True, reasons={"pr_ms": "no P waves"},
                     unreliable=("qrs_ms",), notes=("n",))
    back = Measurements.from_dict(m.to_dict(include_median_beats=True))
    assert back.to_dict(include_median_beats=True) == m.to_dict(include_median_beats=True)
    assert back.global_values() == m.global_values() and back.why_missing("pr_ms") == "no P waves"
    assert Measurements.from_dict(m.to_dict()).median_beats is None
