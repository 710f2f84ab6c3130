"""Limits, defaults and locations of the library, each overridable by an ``ECG_`` environment variable.

Every ``ECG_`` variable that ``ecgcore`` reads is read here and nowhere else (the review store's
and the workspace's are in ``db/config.py``); the README's configuration table lists them all.
The defaults work on a laptop with no setup; deployments tune them without code changes. Limits
are read once at import; locations are functions read at call time, so tests can redirect them.
"""

from __future__ import annotations

import os
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"Environment variable {name}={raw!r} is not a number") from exc


# Sampling rates outside this range are not ECGs we can read sensibly (or a wrong header).
MIN_FS_HZ = _env_float("ECG_MIN_FS_HZ", 50.0)
MAX_FS_HZ = _env_float("ECG_MAX_FS_HZ", 20_000.0)
# Shorter than this there is not even one reliable beat-to-beat interval at slow rates.
MIN_DURATION_S = _env_float("ECG_MIN_DURATION_S", 2.0)
# A 24-hour 12-lead Holter at 1 kHz is about 4 GB as float32; refuse beyond this many samples per lead.
MAX_DURATION_S = _env_float("ECG_MAX_DURATION_S", 48 * 3600.0)
# Files larger than this are refused before being read; zip members are counted uncompressed. The
# app's upload limit (Streamlit's server.maxUploadSize) is set from the same number. 1 MB = 2**20 bytes.
MAX_FILE_BYTES = int(_env_float("ECG_MAX_FILE_MB", 512.0) * 1024 * 1024)


def megabytes(n_bytes: float) -> float:
    """Bytes in the MB (2**20 bytes) that ``ECG_MAX_FILE_MB`` and the upload box count in."""
    return n_bytes / (1024 * 1024)


def format_megabytes(n_bytes: float) -> str:
    """``n_bytes`` as the upload box and the limit messages say it: '512.0 MB', '0.048 MB'."""
    mb = megabytes(n_bytes)
    return f"{mb:.1f} MB" if mb >= 1 else f"{mb:.2g} MB"
# Peak amplitudes above this (mV) almost always mean the file is in microvolts or raw ADC units.
MAX_ABS_AMPLITUDE_MV = _env_float("ECG_MAX_ABS_AMPLITUDE_MV", 50.0)
# A lead whose peak-to-peak range is below this (mV) carries no signal (electrode off, zero-filled).
FLAT_LEAD_PTP_MV = _env_float("ECG_FLAT_LEAD_PTP_MV", 1e-3)


REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw) if raw else None


def models_dir() -> Path:
    """Where installed bundles and official checkpoints are looked for: ``ECG_MODEL_DIR`` or ``models/``."""
    return _env_path("ECG_MODEL_DIR") or REPO_ROOT / "models"


def default_model_path() -> Path | None:
    """``ECG_DEFAULT_MODEL``: a bundle or checkpoint to use as the 12-lead default, when set."""
    return _env_path("ECG_DEFAULT_MODEL")


def samples_dir() -> Path:
    """The demo records: ``ECG_SAMPLES_DIR`` or ``data/samples/``."""
    return _env_path("ECG_SAMPLES_DIR") or REPO_ROOT / "data" / "samples"


def preprocess_threads() -> int:
    """Threads that preprocess a batch of records: ``ECG_PREPROCESS_THREADS`` (default 1).

    Measured on a shared 2-core machine: two threads cut a record from ~4.2 to ~2.5 ms when the
    other core is idle, but raise it to ~8 ms when it is busy (oversubscription), and the app and
    DataLoader workers already run in parallel. Predictable beats occasionally faster.
    """
    raw = os.environ.get("ECG_PREPROCESS_THREADS", "").strip()
    if not raw:
        return 1
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"ECG_PREPROCESS_THREADS={raw!r} is not a whole number of threads (e.g. 2).") from None


def cache_dir() -> "os.PathLike[str]":
    """Where ecgcore keeps machine-specific measurements (layout plans): ``ECG_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/ecgcore``, else ``~/.cache/ecgcore``. Read at call time so tests can redirect it."""
    explicit = _env_path("ECG_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ecgcore"
