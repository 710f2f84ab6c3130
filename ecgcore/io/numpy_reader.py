"""NumPy arrays: ``.npy`` (one array) and ``.npz`` (an array plus optional ``fs`` and ``leads``).

A bare array carries no sampling rate and no lead names, so:

- ``fs`` must be passed by the caller, unless an ``.npz`` holds a scalar ``fs`` array;
- lead names come from an ``.npz`` ``leads`` array (strings), else the shape decides:
  12 channels are the standard 12 leads in canonical order (I, II, III, aVR, aVL, aVF,
  V1-V6), 1 channel is a single lead (taken as lead I). Any other channel count needs
  ``leads`` in an ``.npz``.
- Orientation: the axis whose length equals the lead count (from ``leads``, else 12 or 1)
  is the lead axis; ``(leads, samples)`` is preferred when both axes would fit.
- The signal is the array named ``signal``, ``ecg``, ``data``, ``x`` or ``arr_0``, or the
  only non-metadata array in the file.

Files are always opened with ``allow_pickle=False``: a pickled object array can run code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import caller_unit_scale, check_file_size, resolve_fs, unit_scale_to_mv
from ecgcore.io._finalize import finalize
from ecgcore.leads import LEADS_12
from ecgcore.record import Record

SOURCE = "NumPy"
_SIGNAL_KEYS = ("signal", "ecg", "data", "x", "arr_0")
_META_KEYS = {"fs", "leads", "units"}


def read_numpy(
    path: Path,
    *,
    fs: float | None = None,
    units: str = "mV",
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read an ``.npy`` or ``.npz`` ECG (see the module docstring for the conventions)."""
    path = Path(path)
    check_file_size(path)
    scale = caller_unit_scale(units)
    file_fs: float | None = None
    leads: list[str] | None = None
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ECGFormatError(
                f"{path.name} stores Python objects (pickled); only plain numeric arrays are accepted."
            ) from exc
        raise ECGFormatError(f"{path.name} is not a valid NumPy file: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise ECGFormatError(f"{path.name} is not a valid NumPy file: {exc}") from exc

    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            array, file_fs, leads, file_scale = _from_npz(loaded, path)
        if file_scale is not None:
            scale = file_scale
    else:
        array = loaded
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ECGFormatError(f"{path.name}: the signal array has dtype {array.dtype}; a real numeric array is needed.")
    signal = _orient(array, len(leads) if leads is not None else None, path)
    if leads is None:
        leads = list(LEADS_12) if signal.shape[0] == 12 else ["ECG"]
    record_fs = resolve_fs(file_fs, fs, path)
    return finalize(
        signal.astype(np.float64) * scale,
        record_fs,
        leads,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
    )


def _from_npz(npz: np.lib.npyio.NpzFile, path: Path) -> tuple[np.ndarray, float | None, list[str] | None, float | None]:
    """Signal, fs, lead names and unit scale from an .npz archive."""
    try:
        names = list(npz.files)
        key = next((k for k in _SIGNAL_KEYS if k in names), None)
        if key is None:
            candidates = [k for k in names if k not in _META_KEYS]
            if len(candidates) != 1:
                raise ECGFormatError(
                    f"{path.name} holds arrays {names}; name the signal 'signal' (plus optional 'fs' and 'leads')."
                )
            key = candidates[0]
        array = npz[key]
        file_fs = None
        if "fs" in names:
            fs_arr = npz["fs"]
            if fs_arr.size != 1 or not np.issubdtype(fs_arr.dtype, np.number):
                raise ECGFormatError(f"{path.name}: 'fs' must be a single number (Hz).")
            file_fs = float(fs_arr.reshape(()))
        leads = None
        if "leads" in names:
            leads_arr = npz["leads"]
            if leads_arr.dtype.kind not in "US" or leads_arr.ndim != 1:
                raise ECGFormatError(f"{path.name}: 'leads' must be a 1-D array of strings.")
            leads = [str(x.decode() if isinstance(x, bytes) else x) for x in leads_arr.tolist()]
        file_scale = None
        if "units" in names:
            unit = str(npz["units"].reshape(()))
            file_scale = unit_scale_to_mv(unit)
            if file_scale is None:
                raise ECGFormatError(f"{path.name}: units {unit!r} are not a voltage (use mV or uV).")
    except ValueError as exc:  # object arrays inside the archive
        raise ECGFormatError(
            f"{path.name} stores Python objects; only plain numeric/string arrays are accepted."
        ) from exc
    return array, file_fs, leads, file_scale


def _orient(array: np.ndarray, n_leads: int | None, path: Path) -> np.ndarray:
    """Return the array as (leads, samples), deciding which axis holds the leads."""
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ECGFormatError(f"{path.name}: expected a 1-D or 2-D array (leads, samples); got shape {array.shape}.")
    rows, cols = array.shape
    wanted = [n_leads] if n_leads is not None else [12, 1]
    for n in wanted:
        if rows == n:
            return array
        if cols == n:
            return array.T
    if n_leads is not None:
        raise ECGFormatError(f"{path.name}: {n_leads} lead names but the array has shape {array.shape}.")
    raise ECGFormatError(
        f"{path.name}: array of shape {array.shape} is neither 12-lead nor single-lead; save it as an .npz "
        "with a 'leads' array naming each channel (and 'fs')."
    )
