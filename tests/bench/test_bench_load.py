"""The load test in its short CI form: 3 reviewers for about 10 s in real browser contexts, against
one server on SQLite and two servers on one PostgreSQL. Every verdict the page confirmed is in the
database once, none is there that the page did not confirm, no upload is stored twice. The full
run (20 reviewers, minutes) is the benchmark: ``python -m bench.bench_load`` (docs/deployment.md)."""

from __future__ import annotations

import json

import pytest

from bench import bench_load
from scripts.app_server import CHROMIUM
from scripts.pg_test_server import find_pg_bin

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _check(result: dict, users: int, servers: int) -> None:
    assert result["reviewer_errors"] == []
    assert result["users"] == users and result["servers"] == servers
    # Everyone uploaded at least once and saved a verdict on it; the page and the store agree.
    assert result["records_uploaded"] >= users
    assert result["verdicts_confirmed_on_screen"] >= users
    assert result["reviews_in_database"] == result["verdicts_confirmed_on_screen"]
    for key in ("lost_verdicts", "unconfirmed_verdicts", "duplicated_verdicts", "reviews_without_verdicts",
                "duplicated_records", "missing_records"):
        assert result[key] == 0, key
    timing = result["click_to_findings"]["upload"]
    assert timing["n"] >= users and 0 < timing["median_s"] <= timing["p95_s"] <= timing["max_s"]
    assert len(result["server_memory"]) == servers
    assert all(m["peak_mb"] >= m["start_mb"] > 0 for m in result["server_memory"])


def test_three_reviewers_on_one_server_and_sqlite(tmp_path, capsys):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (scripts/install_system_deps.sh installs it)")
    out = tmp_path / "load.json"
    result = bench_load.main(["--users", "3", "--duration-s", "10", "--servers", "1", "--db", "sqlite",
                              "--out", str(out)])
    _check(result, users=3, servers=1)
    assert result["database"] == "sqlite"
    assert json.loads(out.read_text())["lost_verdicts"] == 0
    printed = capsys.readouterr().out
    assert "click -> findings on screen" in printed and "lost verdicts" in printed


@pytest.mark.postgres
def test_three_reviewers_on_two_servers_and_one_postgresql(tmp_path):
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed (scripts/install_system_deps.sh installs them)")
    result = bench_load.main(["--users", "3", "--duration-s", "10", "--servers", "2", "--db", "postgres",
                              "--out", str(tmp_path / "load.json")])
    _check(result, users=3, servers=2)
    assert result["database"] == "postgresql"
    # Reviewers were spread over both servers and each server served someone.
    assert {r["server"] for r in result["reviewers"]} == {0, 1}
