"""Measurements as text: the cart line of any values, ours beside a device's reading, the acquisition line."""

from __future__ import annotations

from datetime import datetime

from ecgcore.acquisition import DeviceReading
from ecgcore.measure_display import (
    COMPARISON_HEADINGS,
    MISSING,
    acquisition_line,
    cart_line,
    device_comparison,
    device_reading_title,
    difference,
    statements_edited,
    values_line,
)
from ecgcore.measurements import GLOBAL_MEASURE_NAMES, GLOBAL_MEASURES, Measurements

OURS = {"heart_rate_bpm": 61.2, "rr_ms": 983.0, "p_duration_ms": None, "pr_ms": 160.4, "qrs_ms": 90.0, "qt_ms": 380.0,
        "qtc_bazett_ms": 383.0, "qtc_fridericia_ms": 382.0, "p_axis_deg": None, "qrs_axis_deg": -170.0,
        "t_axis_deg": 40.0}
# GE MUSE sample data/samples/hospital/ge_muse/muse_ecg1.xml, as its reader gives it
DEVICE = DeviceReading(measurements={"heart_rate_bpm": 60, "pr_ms": 158, "qrs_ms": 78, "qt_ms": 364,
                                     "qtc_bazett_ms": 364, "qtc_fridericia_ms": 364, "p_axis_deg": 49,
                                     "qrs_axis_deg": 170, "t_axis_deg": 46, "rr_ms": 1000, "p_duration_ms": 78})


def test_values_line_is_the_cart_line_of_any_values_by_name() -> None:
    measured = Measurements(algorithm_version="t", fs=500.0, leads=("I",), window_start_s=0.0, window_s=10.0, **OURS)
    assert values_line(measured.global_values()) == cart_line(measured)
    assert values_line(DEVICE.measurements) == (
        "Vent. rate 60 bpm  PR 158 ms  QRS 78 ms  QT/QTc Bazett 364/364 ms  P-R-T axes 49 170 46 deg")
    # a device that reports little: absent names print as dashes, a unit only after a number
    assert values_line({"pr_ms": 148.0, "qt_ms": 420.0}) == (
        f"Vent. rate {MISSING}  PR 148 ms  QRS {MISSING}  QT/QTc Bazett 420/{MISSING} ms  "
        f"P-R-T axes {MISSING} {MISSING} {MISSING}")
    assert values_line({}).count(MISSING) == 7


def test_the_comparison_has_one_row_per_global_measure_with_ours_minus_the_device() -> None:
    rows = device_comparison(OURS, DEVICE.measurements)
    assert [r.name for r in rows] == list(GLOBAL_MEASURE_NAMES)
    assert [r.measurement for r in rows] == [f"{m.label} ({m.unit})" for m in GLOBAL_MEASURES]
    by_name = {r.name: r.cells() for r in rows}
    assert by_name["heart_rate_bpm"] == ("Vent. rate (bpm)", "61", "60", "+1")
    assert by_name["pr_ms"] == ("PR (ms)", "160", "158", "+2")  # on the values as printed
    assert by_name["qrs_ms"] == ("QRS (ms)", "90", "78", "+12")
    assert by_name["rr_ms"] == ("RR (ms)", "983", "1000", "-17")
    assert by_name["p_duration_ms"] == ("P (ms)", MISSING, "78", MISSING)  # not measured by us
    assert by_name["qrs_axis_deg"] == ("QRS axis (deg)", "-170", "170", "+20")  # the short way round
    assert by_name["t_axis_deg"][3] == "-6"
    assert len(COMPARISON_HEADINGS) == len(rows[0].cells())


def test_missing_values_on_either_side() -> None:
    nothing_measured = device_comparison({}, DEVICE.measurements)
    assert all(r.ours == MISSING and r.difference == MISSING for r in nothing_measured)
    assert [r.device for r in nothing_measured][:2] == ["60", "1000"]
    device_silent = {r.name: r for r in device_comparison(OURS, {"pr_ms": 160.0})}
    assert device_silent["pr_ms"].difference == "0"
    assert device_silent["qt_ms"].cells() == ("QT (ms)", "380", MISSING, MISSING)
    assert difference("qt_ms", float("nan"), 400.0) is None


def test_axis_differences_stay_within_half_a_turn() -> None:
    assert difference("qrs_axis_deg", 170.0, -170.0) == -20
    assert difference("p_axis_deg", 0.0, 180.0) == 180
    assert difference("t_axis_deg", 180.0, 0.0) == 180
    assert difference("t_axis_deg", -90.0, 90.0) == 180
    assert difference("qt_ms", 100.0, 460.0) == -360  # intervals do not wrap


def test_title_and_edited_statements() -> None:
    assert device_reading_title("GE MAC55 (12SL 241) via MUSE 9.0.9") == \
        "The device's reading (GE MAC55 (12SL 241) via MUSE 9.0.9)"
    assert device_reading_title(None) == device_reading_title("  ") == "The device's reading"
    assert statements_edited(["Ventricular-paced rhythm"], ["Wide QRS rhythm", "Abnormal ECG"])
    assert not statements_edited(["Sinus rhythm"], [])
    assert not statements_edited(["Sinus rhythm "], ["Sinus rhythm"])


def test_acquisition_line_names_what_is_known() -> None:
    when = datetime(2021, 5, 10, 13, 15, 18)
    assert acquisition_line(when, "MAC55", "Research, FL Research Location", 60.0, "M") == (
        "Acquired 2021-05-10 13:15:18 · device MAC55 · site Research, FL Research Location · age 60 · sex M")
    assert acquisition_line(device="ELI250", age=49.0) == "Device ELI250 · age 49"
    assert acquisition_line(age=56.0, sex="F") == "Age 56 · sex F"
    assert acquisition_line(None, " ", "", None, None) == ""
