"""The LUDB measurement-accuracy harness: its reference, its metrics on hand-made cases, its adapters."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench import measurement_accuracy as ma
from bench.measurement_accuracy import Beat, Wave


@pytest.fixture(scope="module")
def ludb_dir() -> Path:
    from train.paths import SHARED_DATA_DIR

    folder = SHARED_DATA_DIR / "ludb_dev"
    if not (folder / "RECORDS").is_file():
        pytest.skip("../shared/data/ludb_dev is not beside the repo")
    return folder


def beat(qrs: int, p: tuple[int, int] | None = None, t: tuple[int, int] | None = None,
         q: tuple[int, int] | None = None) -> Beat:
    """A beat with its QRS peak at ``qrs``; ``q`` (onset, offset) of the QRS, ``p``/``t`` (onset, offset)."""
    q_on, q_off = q or (qrs - 10, qrs + 10)
    return Beat(qrs=Wave(q_on, qrs, q_off),
                p=None if p is None else Wave(p[0], (p[0] + p[1]) // 2, p[1]),
                t=None if t is None else Wave(t[0], (t[0] + t[1]) // 2, t[1]))


# -- the reference --------------------------------------------------------------------------------


def test_parse_lead_waves_keeps_a_paced_qrs_without_onset() -> None:
    samples = [10, 20, 30, 50, 60, 80, 100, 130]
    symbols = ["(", "p", ")", "N", ")", "(", "t", ")"]
    assert ma.parse_lead_waves(samples, symbols) == [
        ("p", Wave(10, 20, 30)), ("qrs", Wave(None, 50, 60)), ("t", Wave(80, 100, 130))]


def test_assign_beats_puts_p_before_and_t_after_each_qrs() -> None:
    waves = [("t", Wave(0, 5, 9)),  # T of an unannotated beat: belongs to no annotated QRS here
             ("qrs", Wave(40, 50, 60)), ("t", Wave(100, 120, 140)),
             ("p", Wave(300, 310, 320)), ("p", Wave(400, 410, 420)), ("qrs", Wave(440, 450, 460))]
    beats = ma.assign_beats(waves)
    assert [b.qrs.peak for b in beats] == [50, 450]
    assert beats[0].p is None and beats[0].t == Wave(100, 120, 140)
    assert beats[1].p == Wave(400, 410, 420) and beats[1].t is None  # the last P (the conducted one)


def test_group_beats_and_global_intervals_take_earliest_onset_latest_offset() -> None:
    lead_beats = {"I": [beat(100, p=(20, 70), q=(85, 130), t=(200, 300))],
                  "II": [beat(104, p=(25, 80), q=(90, 140), t=(210, 320))]}
    groups = ma.group_beats(lead_beats, fs=1000.0)
    assert len(groups) == 1 and set(groups[0]) == {"I", "II"}
    assert ma.beat_intervals(groups[0]) == {"p_duration_ms": 60, "pr_ms": 65, "qrs_ms": 55, "qt_ms": 235}
    assert ma.global_intervals_ms(groups, fs=500.0) == {"p_duration_ms": 120.0, "pr_ms": 130.0, "qrs_ms": 110.0,
                                                        "qt_ms": 470.0}


def test_group_beats_separates_beats_and_keeps_one_beat_per_lead() -> None:
    lead_beats = {"I": [beat(100), beat(600)], "II": [beat(110), beat(125), beat(605)]}
    groups = ma.group_beats(lead_beats, fs=1000.0)
    assert [sorted(g) for g in groups] == [["I", "II"], ["I", "II"]]
    assert groups[0]["II"].qrs.peak == 110  # of the double detection, the one nearest the group's median


def test_heart_rate_is_60_over_the_median_rr() -> None:
    assert ma.heart_rate_bpm([0, 500, 1000, 1600], fs=500.0) == pytest.approx(60.0)
    assert ma.heart_rate_bpm([100], fs=500.0) is None


def test_reference_of_a_real_record(ludb_dir: Path) -> None:
    import ecgcore

    record = ecgcore.read(ludb_dir / "data" / "5.hea")
    row = ma.read_ludb_table(ludb_dir)["5"]
    ref = ma.load_reference(ludb_dir, "5", row, record.fs)
    assert set(ref.lead_beats) == set(ecgcore.LEADS_12)
    assert all(len(beats) == 7 for beats in ref.lead_beats.values())  # 7 QRS, 6 P, 6 T annotated per lead
    assert all(sum(b.p is not None for b in beats) == 6 for beats in ref.lead_beats.values())
    assert all(sum(b.t is not None for b in beats) == 6 for beats in ref.lead_beats.values())
    assert len(ref.beat_samples) == 7
    assert 60 <= ref.globals_ms["qrs_ms"] <= 160
    assert 80 <= ref.globals_ms["pr_ms"] <= 300 and 300 <= ref.globals_ms["qt_ms"] <= 550
    assert 50 <= ref.heart_rate_bpm <= 70
    assert ref.axis_text == "Electric axis of the heart: horizontal" and ref.axis_category == "normal"
    assert not ref.paced


def test_ludb_table_axis_texts_all_map(ludb_dir: Path) -> None:
    """Every axis text that occurs in ludb_dev maps to a category (records without one are the paced ones)."""
    rows = ma.read_ludb_table(ludb_dir).values()
    texts = {r["Electric axis of the heart"] for r in rows if isinstance(r["Electric axis of the heart"], str)}
    assert texts and all(ma.ludb_axis_category(t) is not None for t in texts)


# -- metrics --------------------------------------------------------------------------------------


def test_match_events_is_one_to_one_and_closest_first() -> None:
    assert ma.match_events([100, 200, 300], [105, 190, 196, 500], tolerance=10) == [(0, 0), (1, 2)]
    assert ma.match_events([], [1, 2], tolerance=10) == []


def test_detection_counts_ignore_detections_outside_the_annotated_span() -> None:
    reference = [1000, 1500, 2000]
    detected = [100, 1010, 1480, 1700, 2030, 2035, 2040, 4000]  # 100, 2040, 4000: unannotated edges
    assert ma.detection_counts(reference, detected, tolerance=37.5) == (3, 0, 2)  # 1700 and 2035 are FP
    assert ma.detection_counts(reference, [1000], tolerance=37.5) == (1, 2, 0)
    assert ma.se_ppv(3, 0, 2) == (100.0, 60.0)
    assert ma.se_ppv(0, 0, 0) == (None, None)


def test_mean_sd_uses_the_sample_sd() -> None:
    assert ma.mean_sd([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0, "n": 3}
    assert ma.mean_sd([4.0]) == {"mean": 4.0, "sd": None, "n": 1}
    assert ma.mean_sd([]) == {"mean": None, "sd": None, "n": 0}


def test_global_differences_count_missing_values() -> None:
    pairs = [(100.0, 110.0), (100.0, 90.0), (120.0, None), (None, 80.0), (None, None)]
    summary = ma.global_differences(pairs)
    assert summary["mean"] == 0.0 and summary["sd"] == pytest.approx(math.sqrt(200.0)) and summary["n"] == 2
    assert (summary["none"], summary["extra"], summary["reference_n"]) == (1, 1, 3)


def test_heart_rate_summary_counts_a_missing_rate_as_outside() -> None:
    summary = ma.heart_rate_summary([(60.0, 61.5), (60.0, 63.0), (80.0, None), (70.0, 68.0)])
    assert summary["within"] == 2 and summary["within_pct"] == 50.0


def test_lead_point_errors_match_beats_by_qrs_on_the_lead() -> None:
    reference = [beat(500, p=(400, 450), t=(600, 700)), beat(1000, p=(900, 950), t=(1100, 1200)), beat(1500)]
    detected = [beat(505, p=(410, 455), t=(610, 690)),  # matched: errors in samples, x2 ms at 500 Hz
                beat(1060, p=(900, 950)),  # 60 samples = 120 ms away: no match, so beat 2 is missed
                beat(1502, p=(1400, 1450))]  # matched, but LUDB has no P there: extra
    tallies = ma.lead_point_errors(reference, detected, fs=500.0)
    assert tallies["p_onset"].errors_ms == [20.0] and tallies["p_onset"].missed == 1 and tallies["p_onset"].extra == 1
    assert tallies["t_offset"].errors_ms == [-20.0] and tallies["t_offset"].missed == 1
    assert tallies["qrs_onset"].errors_ms == [10.0, 4.0] and tallies["qrs_onset"].missed == 1
    assert tallies["qrs_onset"].summary()["annotated"] == 3


@pytest.mark.parametrize(("text", "category"), [
    ("Electric axis of the heart: normal", "normal"),
    ("Electric axis of the heart: horizontal", "normal"),
    ("Electric axis of the heart: vertical", "normal"),
    ("Electric axis of the heart: left axis deviation", "left"),
    ("Electric axis of the heart: right axis deviation", "right"),
    (" Electric axis of the heart: Left axis deviation\n", "left"),
    (float("nan"), None),
    (None, None),
    ("Electric axis of the heart: undetermined", None),
])
def test_ludb_axis_category(text: object, category: str | None) -> None:
    assert ma.ludb_axis_category(text) == category


@pytest.mark.parametrize(("degrees", "category"), [
    (-30.0, "normal"), (0.0, "normal"), (90.0, "normal"), (-30.5, "left"), (-90.0, "left"), (91.0, "right"),
    (180.0, "right"), (-120.0, "extreme"), (330.0, "normal"), (None, None), (float("nan"), None),
])
def test_axis_category(degrees: float | None, category: str | None) -> None:
    assert ma.axis_category(degrees) == category


def test_axis_summary_confusion() -> None:
    pairs = [("normal", "normal"), ("normal", "left"), ("left", "left"), ("right", None), (None, "normal")]
    summary = ma.axis_summary(pairs, provided=True)
    assert (summary["n"], summary["correct"], summary["none"]) == (3, 2, 1)
    assert summary["accuracy_pct"] == pytest.approx(200 / 3)
    assert summary["confusion"]["normal"] == {"normal": 1, "left": 1, "right": 0, "extreme": 0}
    assert ma.axis_summary(pairs, provided=False) == {"provided": False}


def test_targets_pass_and_fail() -> None:
    def g(mean: float | None, sd: float | None) -> dict:
        return {"mean": mean, "sd": sd, "n": 10}

    summary = {"globals": {"p_duration_ms": g(-9.0, 15.0), "pr_ms": g(11.0, 5.0), "qrs_ms": g(None, None),
                           "qt_ms": g(3.0, 31.0)},
               "qrs_detection": {"se_pct": 99.5, "ppv_pct": 99.4}, "heart_rate": {"within_pct": 98.0}}
    verdicts = {r["target"]: r["passed"] for r in ma.check_targets(summary)}
    assert verdicts == {
        "P duration |mean diff|": True, "P duration SD of diff": True, "PR |mean diff|": False, "PR SD of diff": True,
        "QRS |mean diff|": None, "QRS SD of diff": None, "QT |mean diff|": True, "QT SD of diff": False,
        "QRS sensitivity": True, "QRS PPV": False, "HR within 2 bpm": True}


# -- adapters -------------------------------------------------------------------------------------


def test_a_delineator_that_cannot_be_imported_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> ma.Delineator:
        raise ImportError("cannot import name 'measure'")

    monkeypatch.setitem(ma.DELINEATOR_LOADERS, "ours", broken)
    loaded, skipped = ma.load_delineators(["ours"])
    assert loaded == [] and "cannot import name 'measure'" in skipped["ours"]


def test_ours_adapter_follows_the_measurements_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a stand-in ecgcore.measurements (the contract: measure -> Measurements, delineate_beats)."""

    def fid(qrs: int) -> SimpleNamespace:
        wave = lambda on, pk, off: SimpleNamespace(onset=on, peak=pk, offset=off)
        return SimpleNamespace(p=wave(qrs - 80, qrs - 60, qrs - 40), qrs=wave(qrs - 10, qrs, qrs + 12), t=None)

    fake = SimpleNamespace(
        measure=lambda record: SimpleNamespace(p_duration_ms=100.0, pr_ms=150.0, qrs_ms=None, qt_ms=400.0,
                                               heart_rate_bpm=60.0, qrs_axis_deg=45.0, beat_samples=(500, 1000)),
        delineate_beats=lambda record: {"II": [fid(500), fid(1000)]},
    )
    monkeypatch.setitem(sys.modules, "ecgcore.measurements", fake)
    ours = ma.load_ours()
    out = ours.run(record=None)
    assert ours.provides_axis and out.qrs_samples == [500, 1000] and out.heart_rate_bpm == 60.0
    assert out.globals_ms == {"p_duration_ms": 100.0, "pr_ms": 150.0, "qrs_ms": None, "qt_ms": 400.0}
    assert out.lead_beats["II"][1] == Beat(qrs=Wave(990, 1000, 1012), p=Wave(920, 940, 960), t=None)
    assert ma.axis_category(out.qrs_axis_deg) == "normal"


def test_neurokit2_adapter_on_two_records(ludb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The whole harness with NeuroKit2 on records 5 and 10 (sinus rhythm): it finds the beats and waves."""
    pytest.importorskip("neurokit2")
    out_json = tmp_path / "accuracy.json"
    result = ma.main(["--data", str(ludb_dir), "--records", "5,10", "--delineators", "neurokit2",
                      "--json", str(out_json)])
    printed = capsys.readouterr().out
    assert "IEC 60601-2-25 targets" in printed and "neurokit2" in printed
    nk = result["delineators"]["neurokit2"]
    assert nk["qrs_detection"]["se_pct"] >= 90 and nk["qrs_detection"]["ppv_pct"] >= 90
    assert nk["record_failures"] == 0 and nk["axis"] == {"provided": False}
    assert nk["globals"]["qrs_ms"]["n"] == 2 and nk["heart_rate"]["n"] == 2
    assert nk["heart_rate"]["within"] == 2  # regular sinus rhythm: the rate is easy
    assert nk["wave_points_ms"]["t_peak"]["n"] > 100  # most of the ~150 annotated T waves on 12 leads
    saved = json.loads(out_json.read_text())
    assert saved["config"]["records"] == ["5", "10"] and set(saved["per_record"]) == {"5", "10"}
    assert len(saved["delineators"]["neurokit2"]["targets"]) == len(ma.IEC_TARGETS)


def test_neurokit2_lead_failure_is_counted_not_raised() -> None:
    """A lead NeuroKit2 cannot handle (flat) gives no beats and a reason instead of an exception."""
    nk = pytest.importorskip("neurokit2")
    beats, failure = ma.neurokit2_lead_beats(nk, np.zeros(5000), 500.0)
    assert beats == [] and failure
