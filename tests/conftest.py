"""Shared test fixtures: where the real sample data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgcore.config import REPO_ROOT
from train.paths import SHARED_DATA_DIR

SAMPLES_DIR = REPO_ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip("../shared/data is not beside the repo")
    return SHARED_DATA_DIR


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Layout plans measured by tests go to a throw-away cache, never the user's ~/.cache (the CLI
    subprocesses inherit the variable)."""
    import os

    previous = os.environ.get("ECG_CACHE_DIR")
    os.environ["ECG_CACHE_DIR"] = str(tmp_path_factory.mktemp("ecg-cache"))
    yield
    if previous is None:
        os.environ.pop("ECG_CACHE_DIR", None)
    else:
        os.environ["ECG_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest leaves its temporary script installed as ``__main__``; processes started
    later with the "spawn" method (DDP, concurrent-writer tests) would re-run that script and die.
    Put the real ``__main__`` back after every test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
