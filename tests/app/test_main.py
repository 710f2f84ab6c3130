"""The upload page through Streamlit's AppTest: real uploads, demo records, no-model refusal, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT
from tests.ecgcore.helpers import TINY_LABELS, ptbxl_headers, tiny_bundle

APP = str(REPO_ROOT / "app" / "main.py")


@pytest.fixture()
def app_with_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    tiny_bundle(tmp_path / "models" / "tiny", default=True)
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    st.cache_resource.clear()
    return AppTest.from_file(APP, default_timeout=120)


def _upload_wfdb(at: AppTest, header: Path) -> None:
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted(header.parent.glob(header.stem + ".*"))]
    at.file_uploader[0].set_value(files)
    at.run()


def test_upload_shows_ranked_findings(app_with_model: AppTest, shared_data_dir: Path) -> None:
    at = app_with_model.run()
    assert not at.exception
    _upload_wfdb(at, ptbxl_headers(1)[0])
    assert not at.exception
    assert not at.error
    table = at.dataframe[0].value
    assert set(table["Finding"]) == set(TINY_LABELS[:3])  # untrained label hidden by default
    assert table["Probability"].between(0, 1).all()
    assert "tiny-test" in " ".join(m.value for m in at.markdown)


def test_corrupt_upload_names_the_problem(app_with_model: AppTest) -> None:
    at = app_with_model.run()
    at.file_uploader[0].set_value(("scan.edf", b"0       garbage that is not EDF", "application/octet-stream"))
    at.run()
    assert not at.exception
    assert at.error and "cannot be used" in at.error[0].value
    assert len(at.dataframe) == 0


def test_without_a_trained_model_no_diagnoses_are_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data_dir: Path) -> None:
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path / "no-models"))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    _upload_wfdb(at, ptbxl_headers(1)[0])
    assert not at.exception
    assert at.warning and "No trained 12-lead model" in at.warning[0].value
    assert len(at.dataframe) == 0


def test_demo_records_can_be_opened(app_with_model: AppTest) -> None:
    at = app_with_model.run()
    at.radio[0].set_value("Demo record").run()
    assert not at.exception
    if not at.selectbox:
        pytest.fail("no demo records shipped in data/samples")
    assert len(at.selectbox[0].options) >= 5
    at.selectbox[0].select("ptbxl/00001_hr.hea").run()
    assert not at.exception
    assert len(at.dataframe) == 1
    # a single-lead demo with only a 12-lead model installed: refused with a message, no table
    at.selectbox[0].select("cinc2017/A00001.hea").run()
    assert at.warning and "No trained 1-lead model" in at.warning[0].value
    assert len(at.dataframe) == 0
