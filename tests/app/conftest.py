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


# -- the real app in a real browser (tests marked `browser`) ---------------------------------------
def _debian_chromium_version() -> str:
    """Major version of /usr/bin/chromium, to prove the browser under test is Debian's."""
    import subprocess

    from scripts.app_server import CHROMIUM

    out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[1].split(".")[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """``streamlit run app/main.py`` on 127.0.0.1 with a private store, a tiny model, one demo record,
    the admin ``root`` and the cardiologist ``carla``; yields its URL and the store."""
    from scripts.app_server import CHROMIUM, app_server

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (scripts/install_system_deps.sh installs it)")
    tmp = tmp_path_factory.mktemp("e2e")
    samples = tmp / "samples" / "ptbxl"
    samples.mkdir(parents=True)
    for f in (SAMPLES_DIR / "ptbxl").glob("00001_hr.*"):  # a 12-lead, 10-s, 500-Hz record
        shutil.copy(f, samples / f.name)
    tiny_bundle(tmp / "models" / "tiny", default=True)
    env = dict(
        ECG_DB_URL=f"sqlite:///{tmp / 'review.sqlite'}", ECG_DATA_DIR=str(tmp / "data"),
        ECG_MODEL_DIR=str(tmp / "models"), ECG_SAMPLES_DIR=str(tmp / "samples"),
        ECG_ADMIN_USER="root", ECG_ADMIN_PASSWORD="root-password",
    )
    db = Database(env["ECG_DB_URL"], data_dir_path=tmp / "data")
    users.create_user(db, "carla", "cardiologist", "carla-password")
    with app_server(env) as url:
        yield {"url": url, "db": db}


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    from scripts.app_server import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        assert chromium.version.startswith(_debian_chromium_version()), "must drive Debian's chromium"
        yield chromium
        chromium.close()


def _view_script(view: str, name: str, role: str) -> None:
    import importlib

    import streamlit as st

    from app.auth import SessionUser

    st.session_state["_user"] = SessionUser(name, role)
    importlib.import_module(f"app.views.{view}").page()


def view_as(view: str, name: str, role: str) -> AppTest:
    """One page of ``app/views`` run alone as the signed-in user ``name`` (``role``), not yet run."""
    return AppTest.from_function(_view_script, args=(view, name, role), default_timeout=120)
