"""The workspace under load: simulated reviewers in real browser contexts against one or more servers.

    python -m bench.bench_load [--users 20] [--duration-s 150] [--servers 1] [--db sqlite|postgres|URL]

Starts ``--servers`` Streamlit servers (``streamlit run app/main.py`` on 127.0.0.1, the shipped
default model) on one store: a fresh SQLite file, a throw-away PostgreSQL cluster
(``scripts/pg_test_server.py``), or an existing database URL. Every server gets the same
``ECG_DB_URL`` and ``ECG_DATA_DIR``, as a real deployment behind a load balancer would. Then
``--users`` reviewers, each a cardiologist account in its own browser context of one headless
Chromium (Debian's), assigned to the servers in turn, repeat until ``--duration-s`` is over:

1. upload a real 12-lead record of their own (no two reviewers upload the same file) and save a verdict;
2. open the next record of their worklist (often one another reviewer uploaded) and save a verdict.

Measured: the time from the click ("Import upload" or "Open next record") until the record's
findings are on screen and the page has finished its run (median, 95th percentile, max, per kind);
the resident memory (RSS) of each server process, sampled every second (start, peak, end); and,
counted in the database afterwards, lost verdicts (a save the page confirmed that the store lacks),
unconfirmed ones (a review in the store the page never confirmed) and duplicates (the same reviewer,
record and version twice, or one uploaded file stored as two records). Prints a table and writes
``bench/results/load.json`` (``--out``). The loops are bounded by ``--duration-s`` and only talk to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ecgcore.config import REPO_ROOT

PASSWORD = "load-test-password"
TIMEOUT_MS = 180_000  # one action may wait this long before it counts as failed (20 users on 2 cores)
HEADING = re.compile(r"Record (\d+): (.+)")
SAVED = re.compile(r"Saved \(version (\d+)\)")
OUTCOME = re.compile(r"Saved \(version \d+\)|contradict each other|saved from somewhere else|Answer every listed")
DEFAULT_RECORDS = REPO_ROOT.parent / "shared" / "data" / "ptbxl_subset" / "records500"


@dataclass
class ReviewerLog:
    """What one simulated reviewer did and saw."""

    name: str
    server: int
    click_to_findings_s: list[tuple[str, float]] = field(default_factory=list)  # (kind, seconds)
    confirmed: list[tuple[int, int]] = field(default_factory=list)  # (record id, version) the page confirmed
    uploaded: list[str] = field(default_factory=list)               # record names uploaded
    errors: list[str] = field(default_factory=list)
    retries: int = 0                                                 # verdicts answered again after the form said so


def record_files(folder: Path) -> list[list[Path]]:
    """Every WFDB record (.hea + its signal file) under ``folder``, sorted: the uploads to hand out."""
    records = []
    for header in sorted(folder.rglob("*.hea")):
        companions = [p for p in (header.with_suffix(".dat"), header.with_suffix(".mat")) if p.exists()]
        if companions:
            records.append([header, *companions])
    if not records:
        raise FileNotFoundError(f"no WFDB records (.hea + .dat/.mat) under {folder}; pass --records")
    return records


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation, numpy's default), NaN for no values."""
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


class MemorySampler:
    """Resident memory of the server processes, read from /proc every ``interval_s`` in a thread."""

    def __init__(self, pids: Sequence[int], interval_s: float = 1.0) -> None:
        self.pids, self.interval_s = list(pids), interval_s
        self.samples: dict[int, list[float]] = {pid: [] for pid in self.pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb(pid: int) -> float | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                value = self.rss_mb(pid)
                if value is not None:
                    self.samples[pid].append(value)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> list[dict[str, float]]:
        return [{"start_mb": s[0], "peak_mb": max(s), "end_mb": s[-1]} if s else {} for s in self.samples.values()]


# -- one reviewer in one browser context --------------------------------------------------------
async def _idle(page) -> None:  # noqa: ANN001 - a Playwright page
    """Until the page's script run has ended (Streamlit's status widget is gone)."""
    await page.wait_for_timeout(300)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT_MS)


async def _heading(page) -> tuple[int, str] | None:  # noqa: ANN001
    texts = await page.locator("h3").all_inner_texts()
    for text in texts:
        found = HEADING.search(text)
        if found:
            return int(found[1]), found[2].strip()
    return None


async def _sign_in(page, url: str, name: str) -> None:  # noqa: ANN001
    await page.goto(url, timeout=TIMEOUT_MS)
    await page.get_by_role("textbox", name="User name", exact=True).fill(name)
    await page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text(f"Signed in as {name}").wait_for(timeout=TIMEOUT_MS)
    await _idle(page)


async def _save_verdict(page, log: ReviewerLog) -> None:  # noqa: ANN001
    """Answer every finding "absent", save; a contradiction warning is confirmed by saving again."""
    shown = await _heading(page)
    if shown is None:
        return
    form = page.locator('[data-testid="stForm"]')
    await form.first.wait_for(timeout=TIMEOUT_MS)
    save = page.get_by_role("button", name="Save verdict")
    outcome = page.get_by_text(OUTCOME).first
    for attempt in range(2):
        # A rerun that lands between the clicks can redraw the form without them; the form then names
        # the unanswered findings, and a reviewer answers them again (once).
        await _idle(page)
        groups = form.locator('[data-testid="stRadio"]')
        for i in range(await groups.count()):
            await groups.nth(i).get_by_text("absent", exact=True).click()
        await save.click()
        await outcome.wait_for(timeout=TIMEOUT_MS)
        if "Answer every listed" not in await outcome.inner_text():
            break
        log.retries += 1
    if "contradict" in await outcome.inner_text():  # the form asks to confirm: save again, as a reviewer would
        await _idle(page)
        await save.click()
    try:
        saved = page.get_by_text(SAVED).first
        await saved.wait_for(timeout=TIMEOUT_MS)
        log.confirmed.append((shown[0], int(SAVED.search(await saved.inner_text())[1])))
    except Exception:  # noqa: BLE001 - what the page said instead is the error
        alerts = await page.locator('[data-testid="stAlert"]').all_inner_texts()
        log.errors.append(f"save not confirmed on record {shown[0]}: {' | '.join(alerts)[:300]}")
    await _idle(page)


async def _upload(page, files: list[Path], log: ReviewerLog) -> None:  # noqa: ANN001
    await page.wait_for_function("document.querySelectorAll('input[type=file]').length === 1", timeout=TIMEOUT_MS)
    await page.locator('input[type="file"]').set_input_files([str(f) for f in files])
    button = page.get_by_role("button", name="Import upload")
    await button.wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    await button.click()
    await page.locator("h3", has_text=f": {files[0].stem}").wait_for(timeout=TIMEOUT_MS)
    await page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=TIMEOUT_MS)
    await _idle(page)
    log.click_to_findings_s.append(("upload", time.perf_counter() - start))
    log.uploaded.append(files[0].stem)


async def _open_next(page, log: ReviewerLog) -> bool:  # noqa: ANN001
    """Open the next record of the worklist; False when nothing is waiting."""
    before = await _heading(page)
    start = time.perf_counter()
    await page.get_by_role("button", name="Open next record").click()
    await page.wait_for_function(
        """(before) => [...document.querySelectorAll('h3')].some(h => /^Record \\d+: /.test(h.innerText)
                                                                        && h.innerText !== before)
                       || document.body.innerText.includes('Nothing is waiting for your review')""",
        arg=f"Record {before[0]}: {before[1]}" if before else "", timeout=TIMEOUT_MS)
    await _idle(page)
    if await page.get_by_text("Nothing is waiting for your review").count():
        return False
    log.click_to_findings_s.append(("open", time.perf_counter() - start))
    return True


async def signed_in_page(browser, url: str, log: ReviewerLog):  # noqa: ANN001, ANN201
    """A fresh browser context (its own cookies: its own session) signed in as ``log.name``."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await _sign_in(page, url, log.name)
    return page


async def reviewer(page, log: ReviewerLog, uploads: Iterator[list[Path]], deadline: float) -> None:  # noqa: ANN001
    """Upload and review, open the next record and review, until ``deadline``."""
    try:
        while time.monotonic() < deadline:
            files = next(uploads, None)
            if files is None:
                log.errors.append("ran out of records to upload")
                break
            await _upload(page, files, log)
            await _save_verdict(page, log)
            if time.monotonic() >= deadline:
                break
            if await _open_next(page, log):
                await _save_verdict(page, log)
    except Exception as exc:  # noqa: BLE001 - a reviewer that fails is counted, the others go on
        log.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    finally:
        await page.context.close()


async def drive(urls: list[str], logs: list[ReviewerLog], shares: list[list[list[Path]]], duration_s: float) -> float:
    """Every reviewer signs in (not timed), then all work at once for ``duration_s``; returns the wall
    time of the working phase (the last actions end after the deadline)."""
    from playwright.async_api import async_playwright

    from scripts.app_server import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pages = await asyncio.gather(*(signed_in_page(browser, urls[log.server], log) for log in logs))
        start = time.monotonic()
        await asyncio.gather(*(reviewer(page, log, iter(share), start + duration_s)
                               for page, log, share in zip(pages, logs, shares)))
        wall = time.monotonic() - start
        await browser.close()
    return wall


# -- counting in the database -------------------------------------------------------------------
def count_in_database(url: str, data_dir: Path, logs: list[ReviewerLog]) -> dict:
    """Lost, unconfirmed and duplicated verdicts and records, from the store itself."""
    from sqlalchemy import func, select

    from db.models import Review, ReviewVerdict, StoredRecord, User
    from db.session import Database

    db = Database(url, data_dir_path=data_dir)
    names = [log.name for log in logs]
    with db.transaction() as session:
        rows = session.execute(select(User.name, Review.record_id, Review.version, Review.id)
                               .join(User, User.id == Review.reviewer_id).where(User.name.in_(names))).all()
        verdict_counts = dict(session.execute(select(ReviewVerdict.review_id, func.count(ReviewVerdict.id))
                                              .group_by(ReviewVerdict.review_id)).all())
        record_names = Counter(session.scalars(select(StoredRecord.record_name)).all())
    db.dispose()
    stored = Counter((name, rid, version) for name, rid, version, _ in rows)
    confirmed = Counter((log.name, rid, version) for log in logs for rid, version in log.confirmed)
    uploaded = Counter(stem for log in logs for stem in log.uploaded)
    return {
        "reviews_in_database": len(rows),
        "verdicts_confirmed_on_screen": sum(confirmed.values()),
        "lost_verdicts": sum((confirmed - stored).values()),
        "unconfirmed_verdicts": sum((stored - confirmed).values()),
        "duplicated_verdicts": sum(n - 1 for n in stored.values() if n > 1) + sum(n - 1 for n in confirmed.values() if n > 1),
        "reviews_without_verdicts": sum(1 for *_, review_id in rows if not verdict_counts.get(review_id)),
        "records_uploaded": sum(uploaded.values()),
        "duplicated_records": sum(max(0, record_names[stem] - 1) for stem in uploaded),
        "missing_records": sum(1 for stem in uploaded if record_names[stem] == 0),
    }


# -- the run --------------------------------------------------------------------------------------
@contextlib.contextmanager
def database(choice: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, kind) for ``sqlite``, ``postgres`` (a throw-away local cluster) or a URL."""
    if choice == "sqlite":
        yield f"sqlite:///{tmp / 'review.sqlite'}", "sqlite"
    elif choice == "postgres":
        from scripts.pg_test_server import PostgresServer

        with PostgresServer() as server:
            yield server.create_database("load"), "postgresql"
    elif "://" in choice:
        yield choice, choice.split(":", 1)[0]
    else:
        raise SystemExit(f"--db must be sqlite, postgres or a database URL; got {choice!r}")


def run(*, users: int, duration_s: float, servers: int, db_choice: str, records: Path,
        model_dir: Path | None = None) -> dict:
    """Set up store, accounts and servers, drive the reviewers, count; returns the results dict."""
    from db import users as accounts
    from db.session import Database
    from scripts.app_server import app_server_process

    if users < 1 or servers < 1 or duration_s <= 0:
        raise SystemExit(f"--users and --servers must be >= 1 and --duration-s > 0; got {users}, {servers}, {duration_s}")
    available = record_files(records)
    with tempfile.TemporaryDirectory(prefix="ecg-load-") as tmp_name, database(db_choice, Path(tmp_name)) as (url, kind):
        tmp = Path(tmp_name)
        env = {"ECG_DB_URL": url, "ECG_DATA_DIR": str(tmp / "data"), "ECG_SAMPLES_DIR": str(tmp / "no-samples"),
               "ECG_ADMIN_USER": "root", "ECG_ADMIN_PASSWORD": "root-password-for-load"}
        if model_dir is not None:
            env["ECG_MODEL_DIR"] = str(model_dir)
        store = Database(url, data_dir_path=tmp / "data")  # creates and migrates the schema before any server starts
        logs = [ReviewerLog(f"reviewer{i:02d}", server=i % servers) for i in range(users)]
        for log in logs:
            accounts.create_user(store, log.name, "cardiologist", PASSWORD)
        store.dispose()
        shares = [available[i::users] for i in range(users)]  # disjoint: no two reviewers upload the same file
        with contextlib.ExitStack() as stack:
            started = [stack.enter_context(app_server_process(env, startup_timeout_s=180)) for _ in range(servers)]
            with MemorySampler([proc.pid for _, proc in started]) as memory:
                wall_s = asyncio.run(drive([u for u, _ in started], logs, shares, duration_s))
        counts = count_in_database(url, tmp / "data", logs)
    times = [t for log in logs for _, t in log.click_to_findings_s]
    by_kind = {kind_: [t for log in logs for k, t in log.click_to_findings_s if k == kind_] for kind_ in ("upload", "open")}
    return {
        "users": users, "servers": servers, "database": kind, "duration_s": duration_s, "wall_s": wall_s,
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "click_to_findings": {name: {"n": len(v), "median_s": percentile(v, 50), "p95_s": percentile(v, 95),
                                     "max_s": max(v) if v else float("nan")}
                              for name, v in (("all", times), *by_kind.items())},
        "actions_per_minute": 60.0 * len(times) / wall_s if wall_s else float("nan"),
        "server_memory": memory.summary(),
        **counts,
        "reviewer_errors": [f"{log.name}: {e}" for log in logs for e in log.errors],
        "verdicts_answered_again": sum(log.retries for log in logs),
        "reviewers": [asdict(log) for log in logs],
    }


def print_table(result: dict) -> None:
    print(f"\n{result['users']} reviewers, {result['servers']} server(s), {result['database']}, "
          f"{result['wall_s']:.0f} s on {result['cpu_cores']} cores (load average at the end "
          f"{result['load_average_at_end'][0]:.1f})")
    print(f"{'click -> findings on screen':<34}{'n':>5}{'median s':>10}{'p95 s':>9}{'max s':>9}")
    print("-" * 67)
    for name, row in result["click_to_findings"].items():
        print(f"{name:<34}{row['n']:>5}{row['median_s']:>10.2f}{row['p95_s']:>9.2f}{row['max_s']:>9.2f}")
    print(f"\n{'actions (upload or open) per minute':<44}{result['actions_per_minute']:>8.1f}")
    for i, mem in enumerate(result["server_memory"]):
        if mem:
            print(f"{f'server {i + 1} RSS start / peak / end (MB)':<44}{mem['start_mb']:>8.0f} / {mem['peak_mb']:.0f} / "
                  f"{mem['end_mb']:.0f}")
    for key in ("verdicts_confirmed_on_screen", "reviews_in_database", "lost_verdicts", "unconfirmed_verdicts",
                "duplicated_verdicts", "reviews_without_verdicts", "records_uploaded", "duplicated_records",
                "missing_records"):
        print(f"{key.replace('_', ' '):<44}{result[key]:>8}")
    if result["reviewer_errors"]:
        print(f"\n{len(result['reviewer_errors'])} reviewer error(s):")
        for line in result["reviewer_errors"][:20]:
            print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration-s", type=float, default=150.0)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--db", default="sqlite", help="sqlite (a fresh file), postgres (a throw-away local cluster) "
                                                      "or a SQLAlchemy URL")
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS, help="folder of WFDB records to upload")
    parser.add_argument("--model-dir", type=Path, default=None, help="ECG_MODEL_DIR (default: the shipped models)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args(argv)
    result = run(users=args.users, duration_s=args.duration_s, servers=args.servers, db_choice=args.db,
                 records=args.records, model_dir=args.model_dir)
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
