"""The real sample ECGs shipped in ``data/samples`` (see its LICENSE files), for demos and tests."""

from __future__ import annotations

import os
from pathlib import Path

from ecgcore.batch import discover_ecg_files
from ecgcore.record import Record


def samples_dir() -> Path:
    env = os.environ.get("ECG_SAMPLES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data" / "samples"


def demo_records() -> list[str]:
    """Record files under the samples folder, as paths relative to it (stable names for a picker)."""
    root = samples_dir()
    if not root.is_dir():
        return []
    return [str(p.relative_to(root)) for p in discover_ecg_files([root])]


def read_demo(name: str) -> Record:
    """Read one demo record by the name :func:`demo_records` gave; names outside the folder are refused."""
    from ecgcore.io import read

    root = samples_dir().resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise ValueError(f"{name!r} is not a demo record")
    return read(path)
