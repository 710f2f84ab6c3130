"""Delimited text: one column per lead, a header row of lead names, optional time column.

There is no CSV standard for ECGs, so this reader accepts what exports from devices, MATLAB
and pandas typically look like, and refuses (with a message saying what to change) anything
it would otherwise have to guess:

- delimiter ``,``, ``;`` or tab, detected from the header line; with ``;`` a decimal comma
  (``0,125``) is accepted, as European spreadsheet exports write it;
- a header row is required (lead names such as ``I``, ``aVR``, ``ECG V1``, ``Lead II``);
- a time column (``time``, ``t``, ``time_s``, ``time_ms``, ``time (ms)`` ...) gives the sampling
  rate; it must be evenly spaced. A column named only ``time``/``t`` is taken as seconds when
  the step is <= 0.02 (50 Hz or faster) and as milliseconds when the step is >= 0.05: the two
  ranges do not overlap for plausible ECG rates, so the unit is never ambiguous;
- an index column (``sample``, ``index``, pandas' unnamed first column) is ignored;
- values are millivolts unless ``units='uV'`` (or ``'V'``) is passed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import caller_unit_scale, check_file_size, resolve_fs
from ecgcore.io._finalize import finalize
from ecgcore.leads import LEADS_12
from ecgcore.record import Record

SOURCE = "CSV"

_TIME_S = re.compile(r"^(time|t|timestamp|seconds?|secs?)?[\s_]*(\(s\)|\[s\]|_s|s|sec|seconds?)?$", re.IGNORECASE)
_TIME_MS = re.compile(r"^(time|t|timestamp)?[\s_]*(\(ms\)|\[ms\]|_?ms|msec|milliseconds?)$", re.IGNORECASE)
_TIME_ANY = re.compile(r"^(time|t|timestamp)$", re.IGNORECASE)
_INDEX = re.compile(r"^(sample|samples|index|idx|n|unnamed:\s*0|)$", re.IGNORECASE)


def _time_unit(name: str) -> str | None:
    """'s', 'ms', 'auto' for a time column name, None when it is not one."""
    text = name.strip()
    if not text:
        return None
    if _TIME_ANY.match(text):
        return "auto"
    if _TIME_MS.match(text):
        return "ms"
    if _TIME_S.match(text) and text.lower() not in {"s"}:
        return "s"
    return None


def read_csv(
    path: Path,
    *,
    fs: float | None = None,
    units: str = "mV",
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read a CSV/TSV ECG (see the module docstring for the accepted layout)."""
    path = Path(path)
    check_file_size(path)
    scale = caller_unit_scale(units)
    with path.open("r", encoding="utf-8-sig", errors="strict", newline="") as handle:
        try:
            header_line = handle.readline()
            second_line = handle.readline()
        except UnicodeDecodeError:
            raise ECGFormatError(f"{path.name} is not a text (UTF-8) CSV file.") from None
    if not header_line.strip():
        raise ECGFormatError(f"{path.name} has no header line; the first row must name the leads (I,II,III,...).")
    sep = max([",", ";", "\t"], key=header_line.count)  # a single column (one lead) has none: any will do
    decimal = "," if sep == ";" and "," in second_line else "."
    columns = [c.strip().strip('"').strip("'") for c in header_line.rstrip("\r\n").split(sep)]
    if all(_is_number(c, decimal) for c in columns if c):
        raise ECGFormatError(
            f"{path.name} has no header row: the first line must name the columns, e.g. "
            f"'time_s,{','.join(LEADS_12[:3])},...' or '{','.join(LEADS_12)}'."
        )
    try:
        frame = pd.read_csv(path, sep=sep, decimal=decimal, encoding="utf-8-sig", skipinitialspace=True,
                            dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ECGFormatError(f"{path.name} is not a well-formed CSV file: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ECGFormatError(f"{path.name} has a header but no data rows.")

    time_col: str | None = None
    lead_cols: list[str] = []
    ignored: list[str] = []
    for i, col in enumerate(frame.columns):
        unit = _time_unit(col)
        if unit is not None and time_col is None:
            time_col = col
        elif _INDEX.match(col) and (i == 0 or col.lower() in {"sample", "samples", "index", "idx"}):
            ignored.append(col)
        else:
            lead_cols.append(col)
    if not lead_cols:
        raise ECGFormatError(f"{path.name} has no lead columns (columns: {', '.join(frame.columns)}).")

    values = np.empty((len(lead_cols), len(frame)), dtype=np.float64)
    for row, col in enumerate(lead_cols):
        values[row] = _numeric(frame[col], col, path, decimal)
    metadata: dict[str, object] = {"csv_delimiter": sep}
    if ignored:
        metadata["ignored_columns"] = ignored

    file_fs = None
    if time_col is not None:
        file_fs = _fs_from_time(_numeric(frame[time_col], time_col, path, decimal), _time_unit(time_col), path)
        metadata["fs_from_time_column"] = time_col
    record_fs = resolve_fs(file_fs, fs, path)
    return finalize(
        values * scale,
        record_fs,
        lead_cols,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        metadata=metadata,
    )


def _is_number(text: str, decimal: str) -> bool:
    try:
        float(text.replace(decimal, ".") if decimal != "." else text)
        return True
    except ValueError:
        return False


def _numeric(column: pd.Series, name: str, path: Path, decimal: str) -> np.ndarray:
    """Column -> float array; empty cells and NA/NaN become NaN, anything else non-numeric is an error."""
    text = column.astype(str).str.strip()
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    text = text.replace({"": "nan", "NA": "nan", "NaN": "nan", "nan": "nan", "null": "nan"})
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & (text.str.lower() != "nan")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ECGFormatError(
            f"{path.name}: column {name!r} has a non-numeric value {column.iloc[row]!r} in data row {row + 1}."
        )
    return numbers.to_numpy(dtype=np.float64)


def _fs_from_time(time: np.ndarray, unit: str | None, path: Path) -> float:
    """Sampling rate from an evenly spaced time column (s or ms; 'auto' decides by step size)."""
    if len(time) < 2 or np.isnan(time).any():
        raise ECGFormatError(f"{path.name}: the time column has missing values; fix it or pass fs and drop it.")
    step = (time[-1] - time[0]) / (len(time) - 1)
    if not step > 0:
        raise ECGFormatError(f"{path.name}: the time column does not increase.")
    if unit == "auto":
        if step <= 0.02:
            unit = "s"
        elif step >= 0.05:
            unit = "ms"
        else:
            raise ECGFormatError(
                f"{path.name}: cannot tell whether the time column is in seconds or milliseconds "
                f"(step {step:g}); name it time_s or time_ms, or pass fs."
            )
    # Residuals from a perfect grid; a quarter step tolerates values printed with few decimals
    # but catches a missing or repeated sample.
    residual = np.abs(time - (time[0] + step * np.arange(len(time))))
    if np.any(np.diff(time) <= 0) or residual.max() > 0.25 * step:
        raise ECGFormatError(
            f"{path.name}: the time column is not evenly spaced (gaps or repeated samples); "
            "resample the export to a fixed rate or pass fs and remove the time column."
        )
    fs = 1.0 / (step / 1000.0 if unit == "ms" else step)
    return float(round(fs)) if abs(fs - round(fs)) < 1e-3 * fs else fs
