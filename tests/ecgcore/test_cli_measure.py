"""`ecg measure` and `ecg predict --measure`: formats, missing values and their reasons, bad files, exit codes."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecgcore.cli import main
from ecgcore.io import read
from ecgcore.measurements import ALGORITHM_VERSION, GLOBAL_MEASURE_NAMES, measure, statements
from tests.conftest import REPO_ROOT, SAMPLES_DIR

PTBXL = SAMPLES_DIR / "ptbxl" / "00001_hr.hea"
ONE_LEAD = SAMPLES_DIR / "cinc2017" / "A00054.hea"  # 300 Hz, 30 s, lead I only: no frontal axes
CSV_HEADER = ["path", "record_name", *GLOBAL_MEASURE_NAMES, "statements", "flags", "reasons", "notes", "algorithm_version",
              "error"]
SHORT_PR = SAMPLES_DIR / "ptbxl" / "00017_hr.hea"  # several measurement-based statements


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Two shipped PTB-XL records and a file that only pretends to be EDF."""
    target = tmp_path / "ecgs"
    target.mkdir()
    for stem in ("00001_hr", "00008_hr"):
        for companion in (SAMPLES_DIR / "ptbxl").glob(stem + ".*"):
            shutil.copy(companion, target / companion.name)
    (target / "garbage.edf").write_bytes(b"this is not an EDF file at all")
    return target


def test_json_is_to_dict_with_the_name_path_and_statements(capsys: pytest.CaptureFixture) -> None:
    assert main(["measure", str(PTBXL), str(SHORT_PR), "--format", "json", "-q"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [(d["path"], d["record_name"]) for d in items] == [(str(PTBXL), "00001_hr"), (str(SHORT_PR), "00017_hr")]
    for item, path in zip(items, (PTBXL, SHORT_PR)):
        record = read(path)
        m = measure(record)
        assert item["algorithm_version"] == ALGORITHM_VERSION
        rest = {k: v for k, v in item.items() if k not in ("path", "record_name", "statements")}
        assert rest == json.loads(json.dumps(m.to_dict()))
        assert item["statements"] == [s.to_dict() for s in statements(m, sex=record.sex, age=record.age)]
    assert len(items[1]["statements"]) >= 1


def test_csv_header_and_values(capsys: pytest.CaptureFixture) -> None:
    assert main(["measure", str(PTBXL), str(ONE_LEAD), "--format", "csv", "-q"]) == 0
    out = capsys.readouterr().out
    assert next(csv.reader(io.StringIO(out))) == CSV_HEADER
    twelve, one = csv.DictReader(io.StringIO(out))
    values = measure(read(PTBXL)).global_values()
    for name in GLOBAL_MEASURE_NAMES:
        assert twelve[name] == ("" if values[name] is None else f"{values[name]:.0f}")
    assert twelve["algorithm_version"] == ALGORITHM_VERSION and twelve["error"] == ""
    assert twelve["statements"] == "; ".join(f"{s.text} ({s.criterion_text})" for s in statements(measure(read(PTBXL))))
    # A value that cannot be measured is an empty cell, and the reasons column says why ("name: reason; ...").
    reasons = dict(part.split(": ", 1) for part in one["reasons"].split("; "))
    assert one["qrs_axis_deg"] == "" and "qrs_axis_deg" in reasons
    assert reasons == measure(read(ONE_LEAD)).reasons
    assert one["heart_rate_bpm"] != ""


def test_table_has_a_row_per_record_with_dashes_and_reasons(capsys: pytest.CaptureFixture) -> None:
    assert main(["measure", str(PTBXL), str(ONE_LEAD), "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["file", "Vent.", "rate"] and "P-R-T axes" in lines[0]
    assert "flags / notes" in lines[0]
    row_12 = next(line for line in lines if line.startswith(str(PTBXL)))
    row_1 = next(line for line in lines if line.startswith(str(ONE_LEAD)))
    m = measure(read(PTBXL))
    assert f"  {m.heart_rate_bpm:.0f}  " in row_12 and f"{m.qt_ms:.0f}/{m.qtc_bazett_ms:.0f}" in row_12
    assert "— — —" in row_1  # no axes from one lead
    m_1 = measure(read(ONE_LEAD))
    assert m_1.reasons["qrs_axis_deg"] in row_1
    assert "statements" in lines[0] and "; ".join(s.text for s in statements(m_1)) in row_1


def test_a_bad_file_is_reported_and_the_others_measured(folder: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["measure", str(folder), "--format", "json", "-q", "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 1
    items = {Path(d["path"]).name: d for d in json.loads(captured.out)}
    assert sorted(items) == ["00001_hr.hea", "00008_hr.hea", "garbage.edf"]
    assert "error" in items["garbage.edf"] and items["garbage.edf"]["record_name"] == "garbage"
    assert items["00008_hr.hea"]["heart_rate_bpm"] is not None and "error" not in items["00008_hr.hea"]
    assert f"error: {folder / 'garbage.edf'}:" in captured.err
    assert "measured 2 of 3 file(s)" in captured.err and "1 failed" in captured.err


def test_csv_and_table_carry_the_error_row(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.csv"
    assert main(["measure", str(folder), "--format", "csv", "-o", str(out), "-q", "--workers", "0"]) == 1
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows["garbage.edf"]["error"] and rows["00001_hr.hea"]["error"] == ""
    capsys.readouterr()
    assert main(["measure", str(folder), "-q", "--workers", "0", "--no-recursive"]) == 1
    assert "ERROR" in next(line for line in capsys.readouterr().out.splitlines() if "garbage.edf" in line)


def test_start_s_moves_the_window_in_a_long_record(capsys: pytest.CaptureFixture) -> None:
    assert main(["measure", str(ONE_LEAD), "--format", "json", "--start-s", "12", "-q"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["window_start_s"] == pytest.approx(12.0) and item["window_s"] == pytest.approx(10.0)


def test_nothing_to_measure_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "none").mkdir()
    assert main(["measure", str(tmp_path / "none")]) == 2
    assert "no ECG files" in capsys.readouterr().err
    assert main(["measure", str(PTBXL), "--start-s", "-1"]) == 2


def test_ecg_and_python_dash_m_run_measure(capsys: pytest.CaptureFixture) -> None:
    from app import cli as ecg

    assert ecg.main(["measure", str(PTBXL), "--format", "csv", "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split(",") == CSV_HEADER
    proc = subprocess.run([sys.executable, "-m", "ecgcore", "measure", str(PTBXL), "--format", "json", "-q"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["record_name"] == "00001_hr"


# -- predict --measure (the shipped default models) -------------------------------------------------


def test_predict_measure_json_has_the_measurements(capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", str(PTBXL), "--measure", "--format", "json", "--top", "2", "-q"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert len(item["findings"]) == 2
    m = item["measurements"]
    assert m["algorithm_version"] == ALGORITHM_VERSION
    expected = measure(read(PTBXL))
    assert {k: m[k] for k in GLOBAL_MEASURE_NAMES} == expected.global_values()
    assert item["statements"] == [s.to_dict() for s in statements(expected)]
    # without --measure the output is as before
    assert main(["predict", str(PTBXL), "--format", "json", "-q"]) == 0
    assert "measurements" not in json.loads(capsys.readouterr().out)[0]


def test_predict_measure_csv_and_table(folder: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", str(folder), "--measure", "--format", "csv", "--top", "2", "-q"]) == 1
    captured = capsys.readouterr()
    header = next(csv.reader(io.StringIO(captured.out)))
    assert header[-len(CSV_HEADER) + 3:] == CSV_HEADER[2:-1]  # the measurement columns follow the findings' columns
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    good = [r for r in rows if not r["error"]]
    assert len(good) == 4 and all(r["qrs_ms"] and r["algorithm_version"] == ALGORITHM_VERSION for r in good)
    assert [Path(r["path"]).name for r in rows if r["error"]] == ["garbage.edf"]
    assert "garbage.edf" in captured.err

    assert main(["predict", str(ONE_LEAD), "--measure", "--top", "1", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(line for line in lines if line.startswith("  measurements: "))
    m = measure(read(ONE_LEAD), start_s=0.0)
    assert f"Vent. rate {m.heart_rate_bpm:.0f} bpm" in line and f"QRS {m.qrs_ms:.0f} ms" in line
    assert "P-R-T axes — — —" in line
    assert any(line.startswith("  notes: ") and "axes need" in line for line in lines)
    said = [s.text for s in statements(m)]
    assert not said or any(line.startswith("  statements: ") and said[0] in line for line in lines)

