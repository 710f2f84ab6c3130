"""Screenshots of every page for the README: the real app, the shipped default model, the demo records.

    python -m scripts.take_screenshots [--out docs/screenshots]

Uses a throw-away store under a temporary folder, Debian's /usr/bin/chromium through Playwright,
and the 1366x768 viewport the workspace is designed for.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from db import users
from db.session import Database
from ecgcore.config import REPO_ROOT
from scripts.app_server import CHROMIUM, CHROMIUM_ARGS, app_server, sign_in


def _example_reviews(db: Database) -> None:
    """Two cardiologists read most demo records (made-up verdicts that disagree on every fourth),
    so the Agreement page shows its statistics with their n and CIs; a few records stay unread."""
    from sqlalchemy import select

    from db.models import StoredRecord
    from db.reviews import save_review

    with db.transaction() as session:
        rows = session.scalars(select(StoredRecord.id)).all()
    for k, record_id in enumerate(rows):
        if k % 4 == 3:
            continue  # left for the worklist
        normal = k % 3 == 0
        save_review(db, record_id, "dr.lee", {"NORMAL ECG": "present" if normal else "absent"}, saw_model_output=True)
        kim = "present" if normal != (k % 4 == 0) else "absent"  # they disagree on every fourth
        save_review(db, record_id, "dr.kim", {"NORMAL ECG": kim}, saw_model_output=False)


def _upload(page, files: list[Path], attempts: int = 3) -> None:
    """Choose ``files`` in the sidebar's upload box and import them. A choice made while the page is
    still rerunning (a long record drawn row by row) can be dropped with the old box: choose again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        page.wait_for_timeout(1500)
        page.locator('input[type="file"]').last.set_input_files([str(f) for f in files])
        try:
            page.get_by_role("button", name="Import upload").click(timeout=30_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"ECG_DB_URL": f"sqlite:///{tmp}/review.sqlite", "ECG_DATA_DIR": f"{tmp}/data",
               "ECG_ADMIN_USER": "admin", "ECG_ADMIN_PASSWORD": "admin-password"}
        db = Database(env["ECG_DB_URL"], data_dir_path=Path(tmp) / "data")
        users.create_user(db, "dr.lee", "cardiologist", "lee-password")
        users.create_user(db, "dr.kim", "cardiologist", "kim-password")
        with app_server(env) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
            page.screenshot(path=str(args.out / "sign_in.png"))
            sign_in(page, url, "dr.lee", "lee-password")
            page.get_by_role("button", name="Open next record").click()
            page.get_by_text("Model findings").wait_for(timeout=120_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(args.out / "review.png"))  # the record on ECG paper
            page.get_by_text("Show on the trace").click()
            page.get_by_text("evidence in").first.wait_for(timeout=120_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(args.out / "review_findings.png"))  # findings, saliency in words, verdict
            watch = REPO_ROOT / "data" / "samples" / "demo" / "cinc2017_A00054_lead_I.csv"
            page.locator('input[type="file"]').set_input_files(str(watch))
            page.get_by_role("button", name="Import upload").click()
            page.get_by_text("net1d-small-1lead-default").first.wait_for(timeout=120_000)
            page.evaluate("document.querySelectorAll('[data-testid=\"stMain\"], section.main, "
                          "[data-testid=\"stAppViewContainer\"]').forEach(e => e.scrollTo(0, 0))")
            page.wait_for_timeout(2000)
            page.screenshot(path=str(args.out / "review_single_lead.png"))  # a lead I upload, single-lead model
            _example_reviews(db)
            long_record = REPO_ROOT / "data" / "samples" / "ptbdb" / "s0010_re.hea"
            page.wait_for_timeout(1500)
            page.locator('input[type="file"]').last.set_input_files(
                [str(long_record.with_suffix(suffix)) for suffix in (".hea", ".dat", ".xyz")])
            page.get_by_role("button", name="Import upload").click()
            page.get_by_text("Window the model reads").first.wait_for(timeout=120_000)
            page.get_by_text("One lead per row").click()
            page.get_by_text("shaded blue").first.wait_for(timeout=60_000)
            page.evaluate("document.querySelectorAll('[data-testid=\"stMain\"], section.main, "
                          "[data-testid=\"stAppViewContainer\"]').forEach(e => e.scrollTo(0, 0))")
            page.wait_for_timeout(2000)
            page.screenshot(path=str(args.out / "review_long_record.png"))  # the scored window of a 38-s record
            muse = REPO_ROOT / "data" / "samples" / "hospital" / "ge_muse" / "muse_ecg1.xml"
            _upload(page, [muse])
            page.get_by_text("The device's reading:").first.wait_for(timeout=120_000)
            page.get_by_text("12-lead sheet").click()
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.evaluate("document.querySelectorAll('[data-testid=\"stMain\"], section.main, "
                          "[data-testid=\"stAppViewContainer\"]').forEach(e => e.scrollTo(0, 0))")
            page.wait_for_timeout(2000)
            page.screenshot(path=str(args.out / "review_hospital.png"))  # a GE MUSE export: acquisition, both lines
            panel = page.get_by_role("heading", name="The device's reading (").first
            panel.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "review_device_reading.png"))  # ours vs the device, its statements
            for title, name in (("Worklist", "worklist"), ("Agreement", "agreement"), ("Models", "models")):
                page.get_by_role("link", name=title).click()
                page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(args.out / f"{name}.png"))
            admin = browser.new_page(viewport={"width": 1366, "height": 768})
            sign_in(admin, url, "admin", "admin-password")
            admin.get_by_role("link", name="Admin").click()
            admin.get_by_text("Audit log").wait_for(timeout=60_000)
            admin.wait_for_timeout(1000)
            admin.screenshot(path=str(args.out / "admin.png"))
            browser.close()
    print(f"wrote screenshots to {args.out}")


if __name__ == "__main__":
    main()
