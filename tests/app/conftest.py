"""A private workspace per test: SQLite store, data dir, a tiny default model, three demo records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from db import users
from db.session import Database
from tests.conftest import REPO_ROOT, SAMPLES_DIR
from tests.ecgcore.helpers import tiny_bundle

APP = str(REPO_ROOT / "app" / "main.py")
PASSWORDS = {"root": "root-password", "carla": "carla-password", "anna": "anna-password", "vince": "vince-password"}


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    samples = tmp_path / "samples" / "ptbxl"
    samples.mkdir(parents=True)
    for f in (SAMPLES_DIR / "ptbxl").glob("0000[18]_hr.*"):
        shutil.copy(f, samples / f.name)
    tiny_bundle(tmp_path / "models" / "tiny", default=True)
    url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    monkeypatch.setenv("ECG_DB_URL", url)
    monkeypatch.setenv("ECG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ECG_SAMPLES_DIR", str(tmp_path / "samples"))
    for var in ("ECG_DEFAULT_MODEL", "ECG_ADMIN_USER", "ECG_ADMIN_PASSWORD", "ECG_SESSION_TIMEOUT_MIN"):
        monkeypatch.delenv(var, raising=False)
    st.cache_resource.clear()
    yield {"url": url, "tmp": tmp_path}
    st.cache_resource.clear()


@pytest.fixture()
def team(env: dict) -> Database:
    db = Database(env["url"], data_dir_path=env["tmp"] / "data")
    for name, role in (("root", "admin"), ("carla", "cardiologist"), ("anna", "annotator"), ("vince", "viewer")):
        users.create_user(db, name, role, PASSWORDS[name])
    return db


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def sign_in(name: str) -> AppTest:
    at = app().run()
    at.text_input[0].input(name)
    at.text_input[1].input(PASSWORDS[name])
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at
