"""Fixtures: a fresh review store per test, on SQLite and on a real PostgreSQL server.

The PostgreSQL server is started once per test session from Debian's binaries (initdb into a temp
dir, pg_ctl on a free 127.0.0.1 port, as the ``postgres`` user when we are root) and stopped at the
end; each test gets its own database. Tests are skipped on PostgreSQL only when the binaries are
absent (CI installs them with scripts/install_system_deps.sh).
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import wfdb

from db.session import Database
from db.users import create_user
from ecgcore.config import REPO_ROOT
from ecgcore.record import Record as ECGRecord
from train.paths import SHARED_DATA_DIR

PTBXL = SHARED_DATA_DIR / "ptbxl_subset"
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def _load_pg_helper():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("pg_test_server", REPO_ROOT / "scripts" / "pg_test_server.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


pg_helper = _load_pg_helper()
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    if pg_helper.find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/install_system_deps.sh installs them)")
    server = pg_helper.PostgresServer(fsync=False).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:  # noqa: ANN001
    return pg_server.create_database(f"t{next(_db_counter)}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'review.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(db_url, data_dir_path=tmp_path / "data")
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def ptbxl_records() -> list[ECGRecord]:
    """Ten real PTB-XL 12-lead ECGs (500 Hz, 10 s) as Records."""
    if not PTBXL.is_dir():
        pytest.skip("../shared/data/ptbxl_subset is not beside the repo")
    records = []
    for hea in sorted((PTBXL / "records500").rglob("*_hr.hea"))[:10]:
        signal, fields = wfdb.rdsamp(str(hea.with_suffix("")))
        records.append(ECGRecord(signal=np.asarray(signal, dtype=np.float32).T, fs=fields["fs"],
                                 leads=LEADS, record_name=hea.stem, source="ptbxl"))
    return records


@pytest.fixture(scope="session")
def ptbxl_files() -> list[list[Path]]:
    """The original (.hea, .dat) file pairs of the records in :func:`ptbxl_records`."""
    if not PTBXL.is_dir():
        pytest.skip("../shared/data/ptbxl_subset is not beside the repo")
    return [[hea, hea.with_suffix(".dat")] for hea in sorted((PTBXL / "records500").rglob("*_hr.hea"))[:10]]


@pytest.fixture
def team(db: Database) -> dict[str, str]:
    """Three cardiologists, an annotator, an admin (adjudicator) and a viewer."""
    users = {"alice": "cardiologist", "bob": "cardiologist", "carol": "cardiologist", "dan": "annotator",
             "erin": "admin", "vic": "viewer"}
    for name, role in users.items():
        create_user(db, name, role, f"{name}-password")
    return users
