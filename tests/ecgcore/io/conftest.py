"""Fixtures for the reader tests: real records shipped in data/samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgcore.io import read
from ecgcore.record import Record


@pytest.fixture(scope="session")
def ptbxl_header(samples_dir: Path) -> Path:
    return samples_dir / "ptbxl" / "00001_hr.hea"


@pytest.fixture(scope="session")
def ptbxl_record(ptbxl_header: Path) -> Record:
    return read(ptbxl_header)


@pytest.fixture(scope="session")
def ptbxl_reference(ptbxl_header: Path) -> tuple[np.ndarray, dict]:
    """wfdb's own reading of the record: (leads, samples) in mV, and its fields."""
    signal, fields = wfdb.rdsamp(str(ptbxl_header.with_suffix("")))
    return signal.T, fields


@pytest.fixture
def ptbxl_copy(tmp_path: Path, ptbxl_header: Path) -> Path:
    """A writable copy of the PTB-XL record; returns the copied header path."""
    for suffix in (".hea", ".dat"):
        shutil.copy(ptbxl_header.with_suffix(suffix), tmp_path / ptbxl_header.with_suffix(suffix).name)
    return tmp_path / ptbxl_header.name
