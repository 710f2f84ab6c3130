"""End to end in a real headless Chromium: sign in, upload a real ECG, see it, save a verdict, check the DB.

Starts the real app (``streamlit run app/main.py``) on a free port of 127.0.0.1 with a private store
and a tiny model, and drives it with Playwright pointed at Debian's ``/usr/bin/chromium``. Saves a
screenshot of every page to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.views.review import NEXT_RECORD_KEY, SAVE_VERDICT_KEY
from db import users
from db.models import ConfirmedReport, Review
from scripts.app_server import sign_in
from tests.conftest import REPO_ROOT, SAMPLES_DIR

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CART_LINE = re.compile(r"Vent\. rate \d+ bpm\s+PR \d+ ms\s+QRS \d+ ms\s+QT/QTc Bazett \d+/\d+ ms\s+"
                       r"P-R-T axes -?\d+ -?\d+ -?\d+ deg")
CALIPERS = re.compile(r"Interval (\d+) ms \((\d+) bpm\), amplitude difference \+(\d+\.\d\d) mV")
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_upload_review_and_verdict_in_the_database(server: dict, browser) -> None:  # noqa: ANN001
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(server["url"])
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "01_sign_in.png"))
    sign_in(page, server["url"], "carla", "carla-password")

    hea = SAMPLES_DIR / "cinc2021" / "E07500.hea"
    page.locator('input[type="file"]').set_input_files([str(hea), str(hea.with_suffix(".mat"))])
    page.get_by_role("button", name="Import upload").click()
    page.get_by_text("Record ").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_text("Model findings").wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    line = page.locator('[data-testid="stMarkdownContainer"]', has_text="Measurements:").first
    line.wait_for(timeout=60_000)
    assert CART_LINE.search(line.inner_text()), line.inner_text()  # E07500: every global value measured
    page.get_by_text("Measurement-based statements").wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "02_review.png"), full_page=True)
    _read_calipers(page)

    _answer_every_verdict(page)
    page.get_by_role("button", name="Save verdict").click()
    page.get_by_text("Saved (version 1)").wait_for(timeout=60_000)
    with server["db"].transaction() as session:
        reviews = session.scalars(select(Review)).all()
        assert len(reviews) == 1
        assert reviews[0].saw_model_output is True and len(reviews[0].verdicts) >= 1
    _confirm_and_download(page, server["db"])

    _fits_the_width(page)
    for title, name in (("Worklist", "03_worklist.png"), ("Agreement", "06_agreement.png"),
                        ("Models", "04_models.png")):
        page.get_by_role("link", name=title).click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
        _fits_the_width(page)
    page.close()


def _confirm_and_download(page, db) -> None:  # noqa: ANN001
    """Confirm and sign the final report, then download it: a PDF."""
    _wait_until_idle(page)
    page.get_by_text("UNCONFIRMED").first.wait_for(timeout=60_000)
    page.get_by_label("Conclusion").fill("Sinus rhythm. Confirmed in the browser test.")
    page.get_by_role("button", name="Confirm and sign").click()
    page.get_by_text("Confirmed and signed: version 1").wait_for(timeout=60_000)
    with db.transaction() as session:
        [report] = session.scalars(select(ConfirmedReport)).all()
        assert report.version == 1 and report.conclusion == "Sinus rhythm. Confirmed in the browser test."
        assert report.confirmed_by.name == "carla" and report.signed_role == "cardiologist"
    page.get_by_text("Confirmed (version 1)").wait_for(timeout=60_000)
    _wait_until_idle(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download report (PDF)").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".pdf")
    with open(path, "rb") as handle:
        assert handle.read(4) == b"%PDF"


def _read_calipers(page) -> None:  # noqa: ANN001
    """Switch the calipers on, drag a box 120 px wide and 50 px high on the sheet, read the interval."""
    _wait_until_idle(page)
    page.get_by_text("Calipers", exact=True).click()  # the toggle's label
    page.get_by_text("Calipers: drag a box").wait_for(timeout=60_000)
    _wait_until_idle(page)
    chart = page.locator(".js-plotly-plot").first
    s_per_px, mv_per_px = page.evaluate("""() => {
      const gd = document.querySelector('.js-plotly-plot'), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      return [(xa.range[1] - xa.range[0]) / xa._length, (ya.range[1] - ya.range[0]) / ya._length];
    }""")
    area = chart.locator(".nsewdrag").first.bounding_box()
    x0, y0 = area["x"] + 0.3 * area["width"], area["y"] + 0.1 * area["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 120, y0 + 50, steps=10)
    page.mouse.up()
    reading = page.locator('[data-testid="stMarkdownContainer"]', has_text="Calipers:").first
    reading.wait_for(timeout=60_000)
    found = CALIPERS.search(reading.inner_text())
    assert found, reading.inner_text()
    interval_ms, rate_bpm, delta_mv = float(found[1]), float(found[2]), float(found[3])
    assert interval_ms == pytest.approx(120 * s_per_px * 1000, rel=0.03)
    assert rate_bpm == pytest.approx(60_000 / interval_ms, abs=1)
    assert delta_mv == pytest.approx(50 * mv_per_px, rel=0.05, abs=0.01)


def _wait_until_idle(page) -> None:  # noqa: ANN001
    """Until the script run ends: a shortcut pressed mid-run can land on a widget about to be replaced."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)


def _fits_the_width(page) -> None:  # noqa: ANN001
    """Readable at 1366x768: nothing forces a horizontal scroll bar."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"page is {width} px wide at a 1366 px window"


def _answer_every_verdict(page, answer: str = "absent") -> None:  # noqa: ANN001
    """The verdict form pre-selects nothing: choose an answer for every listed finding."""
    groups = page.locator('[data-testid="stForm"] [data-testid="stRadio"]')
    for i in range(groups.count()):
        groups.nth(i).get_by_text(answer, exact=True).click()


def test_keyboard_next_record_and_save_without_scrolling(server: dict, browser) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, server["url"], "carla", "carla-password")
    nxt = page.get_by_role("button", name="Open next record")
    nxt.wait_for(timeout=60_000)
    box = nxt.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 768, "the next record must be reachable without scrolling"
    with server["db"].transaction() as session:
        before = len(session.scalars(select(Review)).all())
    page.evaluate("document.activeElement && document.activeElement.blur()")  # not typing in a field
    page.keyboard.press(NEXT_RECORD_KEY)
    page.get_by_text("Model findings").wait_for(timeout=60_000)
    page.get_by_role("button", name="Save verdict").wait_for(timeout=60_000)
    _wait_until_idle(page)
    _answer_every_verdict(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(SAVE_VERDICT_KEY)
    page.get_by_text("Saved (version 1)").wait_for(timeout=60_000)
    with server["db"].transaction() as session:
        assert len(session.scalars(select(Review)).all()) == before + 1
    page.close()


def test_admin_page_in_the_browser(server: dict, browser) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, server["url"], "root", "root-password")
    page.get_by_role("link", name="Admin").click()
    page.get_by_text("Audit log").wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "05_admin.png"), full_page=True)
    page.close()


def _choose(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick ``option`` in the selectbox ``label`` with the keyboard (type to filter, Enter), which
    does not depend on the option list's popover being open and placed when the click lands."""
    box = page.get_by_role("combobox", name=label, exact=True)
    for _ in range(3):
        box.click()
        box.fill(option)
        box.press("Enter")
        page.wait_for_timeout(300)
        if box.input_value() == option:
            return
        page.keyboard.press("Escape")
    page.screenshot(path=str(SCREENSHOTS / f"choose_{label}_failed.png"), full_page=True)
    raise AssertionError(f"could not choose {option!r} in {label!r}; it shows {box.input_value()!r}")


def test_a_reload_keeps_the_session_and_signing_out_ends_it(server: dict, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, server["url"], "carla", "carla-password")
    page.wait_for_function("document.cookie.includes('ecg_session=')", timeout=60_000)
    page.reload()
    page.get_by_text("Signed in as carla").wait_for(timeout=60_000)  # F5 did not sign her out
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.reload()
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert page.get_by_text("Signed in as carla").count() == 0
    context.close()


def test_a_role_change_takes_effect_in_an_open_browser_session(server: dict, browser) -> None:  # noqa: ANN001
    users.create_user(server["db"], "dora", "cardiologist", "dora-password")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, server["url"], "dora", "dora-password")
    page.wait_for_function("document.cookie.includes('ecg_session=')", timeout=60_000)
    users.set_role(server["db"], "dora", "viewer", actor="root")
    page.reload()  # neither the open session nor its cookie may carry the old role
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.get_by_role("link", name="Agreement").wait_for(state="detached", timeout=5_000)
    context.close()


def test_the_takeover_sequence_fails_in_the_browser(server: dict, browser) -> None:  # noqa: ANN001
    """As the only admin: Admin -> set own role to viewer -> sign out; a visitor must not get a first start."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, server["url"], "root", "root-password")
    page.get_by_role("link", name="Admin").click()
    page.get_by_text("Change a user").wait_for(timeout=60_000)
    _wait_until_idle(page)  # a click during a script run can land on a widget about to be replaced
    _choose(page, "User", "root")
    _choose(page, "Action", "set role")
    _choose(page, "New role (for set role)", "viewer")
    page.get_by_role("button", name="Apply…").click()
    page.get_by_text("Please confirm").wait_for(timeout=60_000)
    _wait_until_idle(page)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("last active administrator").wait_for(timeout=60_000)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    visitor = browser.new_page(viewport={"width": 1366, "height": 768})
    visitor.goto(server["url"])
    visitor.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert visitor.get_by_text("First start").count() == 0
    sign_in(visitor, server["url"], "root", "root-password")  # root is still the administrator
    visitor.get_by_role("link", name="Admin").wait_for(timeout=60_000)
    page.close()
    visitor.close()
