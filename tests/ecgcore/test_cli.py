"""`python -m ecgcore predict`: formats, exit codes, bad files, no model."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgcore.cli import main
from tests.conftest import REPO_ROOT
from tests.ecgcore.helpers import TINY_LABELS, ptbxl_headers, tiny_bundle


@pytest.fixture()
def folder(tmp_path: Path, shared_data_dir: Path) -> Path:
    target = tmp_path / "ecgs"
    target.mkdir()
    for header in ptbxl_headers(2):
        for companion in header.parent.glob(header.stem + ".*"):
            shutil.copy(companion, target / companion.name)
    return target


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    return tiny_bundle(tmp_path / "bundle")


def test_json_output_has_every_record_and_top_n(folder: Path, bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code = main(["predict", str(folder), "--model", str(bundle), "--format", "json", "--top", "2", "-o", str(out), "-q"])
    assert code == 0
    data = json.loads(out.read_text())
    assert [Path(d["path"]).name for d in data] == ["00001_hr.hea", "00002_hr.hea"]
    # the key stays "record_id" (backward compatible) and holds the recording's name
    assert [list(d) for d in data] == [["path", "record_id", "model", "findings"]] * 2
    assert [d["record_id"] for d in data] == ["00001_hr", "00002_hr"]
    for item in data:
        assert len(item["findings"]) == 2
        assert {f["label"] for f in item["findings"]} <= set(TINY_LABELS)
        assert 0.0 <= item["findings"][0]["probability"] <= 1.0


def test_csv_output_and_failed_file_exit_code(folder: Path, bundle: Path, capsys: pytest.CaptureFixture) -> None:
    (folder / "garbage.edf").write_bytes(b"this is not an EDF file at all")
    code = main(["predict", str(folder), "--model", str(bundle), "--format", "csv", "--top", "0", "-q"])
    captured = capsys.readouterr()
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len([r for r in rows if not r["error"]]) == 2 * 3  # two records x three trained labels
    assert [Path(r["path"]).name for r in rows if r["error"]] == ["garbage.edf"]
    assert {r["record_id"] for r in rows if not r["error"]} == {"00001_hr", "00002_hr"}  # the name, column kept
    assert "garbage.edf" in captured.err and "scored 2 of 3" in captured.err


def test_table_output(folder: Path, bundle: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", str(folder / "00001_hr.hea"), "--model", str(bundle), "-q"]) == 0
    out = capsys.readouterr().out
    assert "00001_hr.hea" in out and "p=" in out and "thr=" in out


def test_no_model_installed_refuses_with_a_message(folder: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    assert main(["predict", str(folder)]) == 2
    assert "No trained 12-lead model" in capsys.readouterr().err


def test_no_files_is_exit_2(tmp_path: Path, bundle: Path, capsys) -> None:
    (tmp_path / "none").mkdir()
    assert main(["predict", str(tmp_path / "none"), "--model", str(bundle)]) == 2
    assert "no ECG files" in capsys.readouterr().err


def test_module_entry_point_runs(folder: Path, bundle: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ecgcore", "predict", str(folder), "--model", str(bundle), "--format", "json", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 2


# -- explain ------------------------------------------------------------------------------------


def test_explain_writes_a_figure_and_a_summary(folder: Path, bundle: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "fig.png"
    code = main(["explain", str(folder / "00001_hr.hea"), "--model", str(bundle), "--label", "ATRIAL FIBRILLATION",
                 "--method", "gradcam", "--out", str(out)])
    assert code == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "ATRIAL FIBRILLATION" in printed and "method=gradcam" in printed and "segments:" in printed


def test_explain_writes_the_attribution_array(folder: Path, bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "attr.npy"
    assert main(["explain", str(folder / "00001_hr.hea"), "--model", str(bundle), "--method", "saliency", "-o", str(out)]) == 0
    attribution = np.load(out)
    assert attribution.shape == (12, 5000) and attribution.dtype == np.float32


def test_explain_default_label_is_the_top_finding(folder: Path, bundle: Path, capsys) -> None:
    from ecgcore.io import read
    from ecgcore.predict import Predictor

    top = Predictor(bundle).predict(read(folder / "00001_hr.hea")).findings[0].label
    assert main(["explain", str(folder / "00001_hr.hea"), "--model", str(bundle), "--method", "gradcam"]) == 0
    assert f": {top}  p=" in capsys.readouterr().out


def test_explain_errors_exit_2_with_a_message(folder: Path, bundle: Path, tmp_path: Path, capsys) -> None:
    record = str(folder / "00001_hr.hea")
    assert main(["explain", record, "--model", str(bundle), "--label", "NOT A FINDING"]) == 2
    assert "has no label 'NOT A FINDING'" in capsys.readouterr().err
    assert main(["explain", record, "--model", str(bundle), "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out must end in" in capsys.readouterr().err
    short = tmp_path / "short.npz"
    signal, leads = read_short_signal(folder)
    np.savez(short, signal=signal, fs=500.0, leads=np.array(leads), units="mV")
    assert main(["explain", str(short), "--model", str(bundle), "--label", "NORMAL ECG"]) == 2
    assert "explanations need at least" in capsys.readouterr().err


def read_short_signal(folder: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Three seconds of a real record (signal, lead names), to test the too-short message."""
    from ecgcore.io import read

    record = read(folder / "00001_hr.hea")
    return record.signal[:, :1500], record.leads


def test_one_lead_files_go_to_the_single_lead_default(folder: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    models = tmp_path / "models"
    tiny_bundle(models / "twelve", default=True, name="tiny-12lead")
    tiny_bundle(models / "one", in_leads=("I",), default=True, name="tiny-1lead")
    monkeypatch.setenv("ECG_MODEL_DIR", str(models))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    shutil.copy(REPO_ROOT / "data" / "samples" / "demo" / "cinc2017_A00054_lead_I.csv", folder / "watch.csv")
    out = tmp_path / "out.json"
    assert main(["predict", str(folder), "--format", "json", "-o", str(out), "-q"]) == 0
    models_used = {Path(d["path"]).name: d["model"] for d in json.loads(out.read_text())}
    assert models_used["watch.csv"].startswith("tiny-1lead")
    assert models_used["00001_hr.hea"].startswith("tiny-12lead")
    assert "one-lead records: tiny-1lead" in capsys.readouterr().err
    # Without a single-lead model the one-lead file is reported as an error, the rest is scored.
    shutil.rmtree(models / "one")
    assert main(["predict", str(folder), "--format", "json", "-o", str(out), "-q"]) == 1
    assert "lacks lead(s) II" in capsys.readouterr().err
