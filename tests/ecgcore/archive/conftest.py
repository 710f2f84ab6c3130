"""Fixtures of the archive tests: a folder of real PTB-XL records (plus a broken file) and a tiny bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ecgcore.helpers import ptbxl_headers, tiny_bundle


def copy_records(target: Path, n: int) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for header in ptbxl_headers(n):
        for companion in header.parent.glob(header.stem + ".*"):
            shutil.copy(companion, target / companion.name)
    return target


@pytest.fixture()
def folder(tmp_path: Path, shared_data_dir: Path) -> Path:
    """Six real records and one file that cannot be read."""
    target = copy_records(tmp_path / "ecgs", 6)
    (target / "garbage.edf").write_bytes(b"this is not an EDF file at all")
    return target


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    return tiny_bundle(tmp_path / "bundle")
