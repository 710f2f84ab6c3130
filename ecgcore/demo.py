"""The real sample ECGs shipped in ``data/samples`` (see its LICENSE files), for demos and tests.

Most folders hold recordings shipped unchanged from their datasets. ``demo/`` is different: it
re-writes recordings shipped in those folders (PTB-XL ``00001_hr``, CinC 2017 ``A00054``) in every
format the readers accept, as format examples (see ``demo/LICENSE.md``). Those copies are the same
ECGs, so :func:`demo_records` (what the workspace preloads for review) leaves them out and
:func:`format_examples` lists them. The store cannot always tell on its own: a record is
identified by the exact hash of its float32 signal, and the 16-bit EDF copy differs from the WFDB
original by up to 0.03 uV of rounding, so without this rule PTB-XL ``00001_hr`` was queued twice.
"""

from __future__ import annotations

from pathlib import Path

from ecgcore import config
from ecgcore.batch import discover_ecg_files
from ecgcore.record import Record

# Folders (directly under the samples folder) whose files are format examples rather than distinct
# demo ECGs: ``demo/`` re-encodes recordings shipped elsewhere, and ``hospital/`` holds the hospital
# export samples, several of which are the same ECG in two formats (the Mortara ELI 250 example is
# shipped as SCP-ECG, DICOM and HL7 aECG).
FORMAT_EXAMPLE_DIRS = ("demo", "hospital")


def samples_dir() -> Path:
    """The demo records' folder (``ECG_SAMPLES_DIR``, see :mod:`ecgcore.config`)."""
    return config.samples_dir()


def _sample_files() -> list[Path]:
    root = samples_dir()
    return discover_ecg_files([root]) if root.is_dir() else []


def _is_format_example(relative: Path) -> bool:
    return len(relative.parts) > 1 and relative.parts[0] in FORMAT_EXAMPLE_DIRS


def demo_records() -> list[str]:
    """Each distinct sample ECG once, as a path relative to the samples folder (stable names for a picker).

    The format examples (:func:`format_examples`) are left out: they are copies of these ECGs.
    """
    root = samples_dir()
    relative = [p.relative_to(root) for p in _sample_files()]
    return [str(p) for p in relative if not _is_format_example(p)]


def format_examples() -> list[str]:
    """The sample ECGs in other file formats (CSV, EDF, NPZ, HL7 aECG, zipped WFDB) and the hospital
    export samples (GE MUSE, Philips, DICOM, SCP-ECG), relative paths."""
    root = samples_dir()
    relative = [p.relative_to(root) for p in _sample_files()]
    return [str(p) for p in relative if _is_format_example(p)]


def read_demo(name: str) -> Record:
    """Read one sample named as :func:`demo_records` or :func:`format_examples` name it; others are refused."""
    from ecgcore.io import read

    root = samples_dir().resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise ValueError(f"{name!r} is not a demo record")
    return read(path)
