"""Small helpers every reader shares: size limits, unit conversion, fs agreement.

Kept apart from the readers so each reader module reads like its format spec and the
safety checks (size before reading, one unit table) exist exactly once.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from pathlib import Path

from ecgcore import config
from ecgcore.errors import ECGFileTooLargeError, ECGFormatError

# Multiplier that turns a value in the given unit into millivolts. Keys are lower-case,
# with the micro sign folded to "u" ("µV" and "μV" both occur in real files).
_TO_MV: dict[str, float] = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "nv": 1e-6,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
}
ACCEPTED_UNITS = ("mV", "uV", "V")


def unit_scale_to_mv(unit: str | None) -> float | None:
    """Factor from ``unit`` to millivolts, or None when the unit is not a voltage."""
    if unit is None:
        return None
    key = str(unit).strip().replace("µ", "u").replace("μ", "u").lower()
    return _TO_MV.get(key)


def caller_unit_scale(units: str) -> float:
    """Scale for the ``units=`` argument of :func:`ecgcore.io.read`; rejects anything unknown."""
    scale = unit_scale_to_mv(units)
    if scale is None:
        raise ECGFormatError(f"units={units!r} is not supported; use one of {', '.join(ACCEPTED_UNITS)}.")
    return scale


def check_file_size(path: Path, what: str = "File") -> int:
    """Refuse empty files and files over ``config.MAX_FILE_BYTES`` before anything reads them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ECGFormatError(f"{what} {path.name} does not exist.") from None
    limit = config.MAX_FILE_BYTES
    if size > limit:
        raise ECGFileTooLargeError(
            f"{what} {path.name} is {config.format_megabytes(size)}; the limit is {config.format_megabytes(limit)} "
            "(ECG_MAX_FILE_MB)."
        )
    if size == 0:
        raise ECGFormatError(f"{what} {path.name} is empty (0 bytes).")
    return size


def resolve_fs(file_fs: float | None, caller_fs: float | None, path: Path, *, file_wins: bool = True) -> float:
    """Agree on one sampling rate between the file and the caller.

    A rate stated by the file is authoritative (``file_wins``): a different ``fs=`` from the
    caller is more likely a mistake than a correction, so it is an error rather than silently
    applied. When the file only follows a dataset convention (``file_wins=False``) the caller's
    rate is used. With no rate anywhere the user is told to pass one.
    """
    if caller_fs is not None:
        caller_fs = float(caller_fs)
        if not math.isfinite(caller_fs) or caller_fs <= 0:
            raise ECGFormatError(f"fs={caller_fs!r} is not a positive sampling rate in Hz.")
    if file_fs is None:
        if caller_fs is None:
            raise ECGFormatError(
                f"{path.name} does not state its sampling rate; pass fs (in Hz), e.g. read(path, fs=500)."
            )
        return caller_fs
    if caller_fs is None or not file_wins:
        return float(caller_fs if caller_fs is not None else file_fs)
    if abs(caller_fs - file_fs) > 1e-3 * file_fs:
        raise ECGFormatError(
            f"{path.name} states a sampling rate of {file_fs:g} Hz but fs={caller_fs:g} was passed; "
            "leave fs out to use the file's rate."
        )
    return float(file_fs)


def parse_sex(raw: object) -> str | None:
    """'Male'/'M'/'male' -> 'M', 'Female'/'F' -> 'F', anything else (NaN, Unknown) -> None."""
    text = str(raw).strip().lower() if raw is not None else ""
    if text in {"m", "male", "man"}:
        return "M"
    if text in {"f", "female", "woman"}:
        return "F"
    return None


def parse_age(raw: object) -> float | None:
    """A plausible age in years, or None (NaN, Unknown, and PTB-XL's 300 = 'over 89' are not ages)."""
    try:
        age = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if not math.isfinite(age) or not (0 <= age <= 130):
        return None
    return age


def parse_date(text: str | None, formats: tuple[str, ...]) -> date | None:
    """A date written in one of a producer's ``strptime`` formats, or None (never raises)."""
    if not text:
        return None
    for fmt in formats:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def parse_date_time(day: str | None, clock: str | None, date_formats: tuple[str, ...]) -> datetime | None:
    """A date and a clock time kept in two fields (GE MUSE, Philips); midnight when the time is unreadable."""
    parsed = parse_date(day, date_formats)
    if parsed is None:
        return None
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            return datetime.combine(parsed, datetime.strptime((clock or "").strip(), fmt).time())
        except ValueError:
            continue
    return datetime.combine(parsed, time())


QTC_TOLERANCE_MS = 1.0  # QT, RR and QTc are each rounded to whole ms by the device
QTC_FORMULAS = (("qtc_bazett_ms", 1 / 2, "QT/sqrt(RR)"), ("qtc_fridericia_ms", 1 / 3, "QT/cbrt(RR)"))


def qtc_by_formula(qtc: float, measured: dict[str, float], notes: list[str]) -> dict[str, float]:
    """A QTc whose formula the file does not name, under every formula it equals given the file's QT and RR.

    Bazett (QT / sqrt(RR)) and Fridericia (QT / cbrt(RR)) are recomputed from the device's own QT
    and RR; the stated value is stored under each one it matches within rounding. Without the
    device's QT and RR (or a match) it stays unnamed (the readers keep it in
    metadata['device_measurements_unmapped']). Used by the DICOM and HL7 aECG readers.
    """
    qt, rr = measured.get("qt_ms"), measured.get("rr_ms")
    if qt is None or rr is None:
        return {}
    found = {}
    for name, exponent, formula in QTC_FORMULAS:
        if abs(qt / (rr / 1000.0) ** exponent - qtc) <= QTC_TOLERANCE_MS:
            found[name] = qtc
            notes.append(f"QTc {qtc:g} ms (formula not stated) equals {formula} of the file's QT {qt:g} ms and "
                         f"RR {rr:g} ms: stored as {name}.")
    return found


# Plausible ranges of a device's stated measurements; values outside (0 = "not measured", sentinels
# such as -32768 or 29999) are left out rather than shown as the device's reading.
DEVICE_PLAUSIBLE_RANGES = {"heart_rate_bpm": (10.0, 400.0), "rr_ms": (150.0, 6000.0), "axis": (-360.0, 360.0),
                           "interval": (1.0, 2000.0)}


def device_value_range(name: str) -> tuple[float, float]:
    """The plausible range of a device's value for one GLOBAL_MEASURES name (axes, rate, RR, other intervals)."""
    if name.endswith("_axis_deg"):
        return DEVICE_PLAUSIBLE_RANGES["axis"]
    if name in ("heart_rate_bpm", "rr_ms"):
        return DEVICE_PLAUSIBLE_RANGES[name]
    return DEVICE_PLAUSIBLE_RANGES["interval"]
