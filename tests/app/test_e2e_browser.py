"""End to end in a real headless Chromium: sign in, upload a real ECG, see it, save a verdict, check the DB.

Starts the real app (``streamlit run app/main.py``) on a free port of 127.0.0.1 with a private store
and a tiny model, and drives it with Playwright pointed at Debian's ``/usr/bin/chromium``. Saves a
screenshot of every page to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from db import users
from db.models import Review
from db.session import Database
from tests.conftest import REPO_ROOT, SAMPLES_DIR
from tests.ecgcore.helpers import tiny_bundle

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _debian_chromium_version() -> str:
    """Major version of /usr/bin/chromium, to prove the browser under test is Debian's."""
    out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[1].split(".")[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (scripts/install_system_deps.sh installs it)")
    tmp = tmp_path_factory.mktemp("e2e")
    samples = tmp / "samples" / "ptbxl"
    samples.mkdir(parents=True)
    for f in (SAMPLES_DIR / "ptbxl").glob("00001_hr.*"):
        shutil.copy(f, samples / f.name)
    tiny_bundle(tmp / "models" / "tiny", default=True)
    env = dict(os.environ)
    env.update(
        ECG_DB_URL=f"sqlite:///{tmp / 'review.sqlite'}", ECG_DATA_DIR=str(tmp / "data"),
        ECG_MODEL_DIR=str(tmp / "models"), ECG_SAMPLES_DIR=str(tmp / "samples"),
        ECG_ADMIN_USER="root", ECG_ADMIN_PASSWORD="root-password",
    )
    db = Database(env["ECG_DB_URL"], data_dir_path=tmp / "data")
    users.create_user(db, "carla", "cardiologist", "carla-password")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app" / "main.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {proc.stdout.read()[-3000:]}")
    yield {"url": url, "db": db}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        assert chromium.version.startswith(_debian_chromium_version()), "must drive Debian's chromium"
        yield chromium
        chromium.close()


def _sign_in(page, url: str, name: str, password: str) -> None:  # noqa: ANN001
    page.goto(url)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=60_000)


def test_sign_in_upload_review_and_verdict_in_the_database(server: dict, browser) -> None:  # noqa: ANN001
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(server["url"])
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "01_sign_in.png"))
    _sign_in(page, server["url"], "carla", "carla-password")

    hea = SAMPLES_DIR / "cinc2021" / "E07500.hea"
    page.locator('input[type="file"]').set_input_files([str(hea), str(hea.with_suffix(".mat"))])
    page.get_by_role("button", name="Import upload").click()
    page.get_by_text("Record ").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_text("Model findings").wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "02_review.png"), full_page=True)

    page.get_by_role("button", name="Save verdict").click()
    page.get_by_text("Saved (version 1)").wait_for(timeout=60_000)
    with server["db"].transaction() as session:
        reviews = session.scalars(select(Review)).all()
        assert len(reviews) == 1
        assert reviews[0].saw_model_output is True and len(reviews[0].verdicts) >= 1

    for title, name in (("Worklist", "03_worklist.png"), ("Models", "04_models.png")):
        page.get_by_role("link", name=title).click()
        page.get_by_role("heading", name=title if title != "Models" else "Models").first.wait_for(timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    page.close()


def test_admin_page_in_the_browser(server: dict, browser) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    _sign_in(page, server["url"], "root", "root-password")
    page.get_by_role("link", name="Admin").click()
    page.get_by_text("Audit log").wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "05_admin.png"), full_page=True)
    page.close()
