"""``ecg assess``: ecgcore.assess over files and folders through the batch machinery of ``ecg measure``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import ecgcore
from ecgcore.cli import main
from ecgcore.reversal import simulate_reversal

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "ptbxl"


def _folder(tmp_path: Path) -> Path:
    for name in ("00001_hr.hea", "00001_hr.dat"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    (tmp_path / "broken.hea").write_text("not a header\n")
    return tmp_path


def test_assess_json_table_csv(tmp_path, capsys):
    folder = _folder(tmp_path)
    out = tmp_path / "out.json"
    assert main(["assess", str(folder), "--format", "json", "--workers", "0", "-o", str(out)]) == 1  # broken.hea fails
    items = {Path(i["path"]).name: i for i in json.loads(out.read_text())}
    assert "error" in items["broken.hea"]
    assert items["00001_hr.hea"]["interpretable"] is True and items["00001_hr.hea"]["reversal"] is None
    assert "possible_reversals" in items["00001_hr.hea"] and "limits" in items["00001_hr.hea"]
    assert "error: " in capsys.readouterr().err

    assert main(["assess", str(folder / "00001_hr.hea"), "--workers", "0", "-q"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["file", "interpretable", "reversal"] and "yes" in table[1]

    assert main(["assess", str(folder / "00001_hr.hea"), "--format", "csv", "--workers", "0", "-q"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["interpretable"] == "yes" and rows[0]["record_name"] == "00001_hr"


def test_assess_flags_reversal(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    record = simulate_reversal(ecgcore.read(SAMPLES / "00001_hr.hea"), "LA/RA")
    wfdb.wrsamp("swapped", fs=record.fs, units=["mV"] * len(record.leads), sig_name=list(record.leads),
                p_signal=np.asarray(record.signal, dtype=np.float64).T, fmt=["16"] * len(record.leads),
                write_dir=str(tmp_path))
    out = tmp_path / "r.json"
    assert main(["assess", str(tmp_path / "swapped.hea"), "--format", "json", "--workers", "0", "-o", str(out)]) == 0
    item = json.loads(out.read_text())[0]
    assert item["reversal"] == "LA/RA" and item["interpretable"] is False
    assert any("LA/RA" in r for r in item["reasons"])


def test_assess_no_files(tmp_path, capsys):
    assert main(["assess", str(tmp_path)]) == 2
    assert "no ECG files" in capsys.readouterr().err
