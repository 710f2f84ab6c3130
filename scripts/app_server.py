"""Start the real Streamlit app on a free 127.0.0.1 port for browser tests and benchmarks.

Used by tests/app/test_e2e_browser.py and bench/bench_app.py; never binds another address.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ecgcore.config import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def app_server(env_overrides: dict[str, str], startup_timeout_s: float = 90.0) -> Iterator[str]:
    """Run ``streamlit run app/main.py`` with ``env_overrides``; yields its URL, stops it afterwards."""
    with app_server_process(env_overrides, startup_timeout_s) as (url, _proc):
        yield url


@contextmanager
def app_server_process(env_overrides: dict[str, str],
                       startup_timeout_s: float = 90.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """:func:`app_server` that also yields the server process (the load benchmark samples its memory)."""
    env = dict(os.environ, **env_overrides)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app" / "main.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    raise RuntimeError(f"streamlit did not start: {proc.stdout.read()[-3000:]}") from None
                time.sleep(0.5)
        # Keep reading the server's output, so a long run that logs a lot never blocks on a full pipe.
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _drain(proc: subprocess.Popen) -> None:
    for _line in proc.stdout:
        pass


def sign_in(page, url: str, name: str, password: str) -> None:  # noqa: ANN001 - a Playwright page
    page.goto(url)
    page.get_by_role("textbox", name="User name", exact=True).fill(name)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=60_000)
