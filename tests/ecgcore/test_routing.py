"""One routing rule: 12-lead records go to the 12-lead model; one-lead records, and records without the
precordials but with lead I (handhelds, limb-lead records), to the single-lead one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgcore.cli import main
from ecgcore.io import read
from ecgcore.predict import Predictor
from ecgcore.routing import SINGLE_LEAD, TWELVE_LEAD, model_lead_count
from tests.conftest import SAMPLES_DIR
from tests.ecgcore.helpers import tiny_bundle

WATCH_CSV = SAMPLES_DIR / "demo" / "cinc2017_A00054_lead_I.csv"


@pytest.fixture(scope="module")
def ptbxl():
    return read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea")


@pytest.mark.parametrize(("n_leads", "expected"), [(1, 1), *((n, 12) for n in range(2, 12)), (12, 12), (15, 12)])
def test_one_lead_goes_to_the_single_lead_model_every_other_count_to_the_12_lead_one(n_leads: int, expected: int) -> None:
    assert model_lead_count(n_leads) == expected
    assert model_lead_count(np.int64(n_leads)) == expected


def test_records_route_by_their_number_of_leads_not_their_name(ptbxl) -> None:
    assert model_lead_count(ptbxl) == TWELVE_LEAD
    assert model_lead_count(read(WATCH_CSV)) == SINGLE_LEAD
    lone_v2 = ptbxl.replace(signal=ptbxl.lead("V2")[None], leads=("V2",))
    assert model_lead_count(lone_v2) == SINGLE_LEAD
    limb = ptbxl.replace(signal=ptbxl.signal[:6], leads=ptbxl.leads[:6])
    assert model_lead_count(limb) == SINGLE_LEAD  # no precordials: lead I to the single-lead model
    no_lead_i = ptbxl.replace(signal=ptbxl.signal[6:], leads=ptbxl.leads[6:])
    assert model_lead_count(no_lead_i) == TWELVE_LEAD  # refused by preprocessing, naming the missing leads


@pytest.mark.parametrize("bad", [0, -1, 1.0, "1"])
def test_not_a_lead_count(bad) -> None:
    with pytest.raises((ValueError, TypeError)):
        model_lead_count(bad)


@pytest.fixture()
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder with a 12-lead and a single-lead default."""
    models = tmp_path / "models"
    tiny_bundle(models / "twelve", default=True, name="tiny-12lead")
    tiny_bundle(models / "one", in_leads=("I",), default=True, name="tiny-1lead")
    monkeypatch.setenv("ECG_MODEL_DIR", str(models))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    return models


def test_default_predictor_follows_the_rule(installed: Path, ptbxl) -> None:
    assert Predictor.default(read(WATCH_CSV)).name.startswith("tiny-1lead")
    assert Predictor.default(ptbxl).name.startswith("tiny-12lead")
    assert Predictor.default(8).name.startswith("tiny-12lead")  # 2-11 leads: the 12-lead model
    assert Predictor.default(1).name.startswith("tiny-1lead")


def test_batch_routes_one_lead_files_and_a_lone_v2_is_refused_by_name(installed: Path, tmp_path: Path, ptbxl) -> None:
    folder = tmp_path / "ecgs"
    folder.mkdir()
    shutil.copy(WATCH_CSV, folder / "watch.csv")
    (folder / "v2.csv").write_text("time_s,V2\n" + "\n".join(f"{i / 500:.4f},{v:.4f}" for i, v in enumerate(ptbxl.lead("V2"))))
    twelve, one = Predictor.default(12), Predictor.default(1)
    files = [folder / "watch.csv", folder / "v2.csv", SAMPLES_DIR / "ptbxl" / "00001_hr.hea"]
    results = list(twelve.predict_files(files, num_workers=0, single_lead=one))
    assert results[0].prediction.model == one.name and results[2].prediction.model == twelve.name
    assert "lacks lead(s) I " in results[1].error  # the single-lead model reads lead I
    # A single-lead main model keeps one-lead records; a single_lead partner only serves 12-lead-slot models.
    kept = list(one.predict_files(files[:1], num_workers=0, single_lead=Predictor(tiny_bundle(tmp_path / "x", in_leads=("I",), name="other"))))
    assert kept[0].prediction.model == one.name


def test_explain_routes_a_one_lead_file_to_the_single_lead_default(installed: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["explain", str(WATCH_CSV), "--method", "saliency", "--label", "ATRIAL FIBRILLATION"]) == 0
    assert "ATRIAL FIBRILLATION" in capsys.readouterr().out


def test_predict_without_single_lead_default_scores_one_lead_files_with_the_main_model(
        installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.rmtree(installed / "one")
    out = tmp_path / "out.json"
    assert main(["predict", str(WATCH_CSV), "--format", "json", "-o", str(out), "-q"]) == 1
    assert json.loads(out.read_text())[0]["error"] and "lacks lead(s) II" in capsys.readouterr().err
