"""SPH (Shandong Provincial Hospital) HDF5 files: one dataset ``ecg`` of shape (12, N) in mV.

Liu et al., Scientific Data 2022. The files carry no sampling rate or lead names: the
dataset is recorded at 500 Hz with leads in the standard order I, II, III, aVR, aVL, aVF,
V1-V6, so those are the defaults; ``fs=`` overrides the rate for other HDF5 exports that
follow the same layout. Samples are float16 on disk and are widened to float32.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import caller_unit_scale, check_file_size, resolve_fs
from ecgcore.io._finalize import finalize
from ecgcore.leads import LEADS_12
from ecgcore.record import Record

SOURCE = "SPH HDF5"
SPH_FS_HZ = 500.0


def read_sph_h5(
    path: Path,
    *,
    fs: float | None = None,
    units: str = "mV",
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read an SPH-style ``.h5`` file (dataset ``ecg``, 12 x N, mV, 500 Hz unless ``fs`` is given)."""
    path = Path(path)
    check_file_size(path)
    scale = caller_unit_scale(units)
    try:
        with h5py.File(path, "r") as handle:
            if "ecg" not in handle or not isinstance(handle["ecg"], h5py.Dataset):
                raise ECGFormatError(
                    f"{path.name} has no 'ecg' dataset (found: {', '.join(handle.keys()) or 'nothing'}); "
                    "only the SPH layout (dataset 'ecg', 12 x samples, mV) is supported for HDF5."
                )
            dataset = handle["ecg"]
            if dataset.ndim != 2 or 12 not in dataset.shape:
                raise ECGFormatError(f"{path.name}: dataset 'ecg' has shape {dataset.shape}; expected (12, samples).")
            array = np.asarray(dataset[()], dtype=np.float32)
    except OSError as exc:
        raise ECGFormatError(f"{path.name} is not a readable HDF5 file: {exc}") from exc
    if array.shape[0] != 12:
        array = array.T
    record_fs = resolve_fs(SPH_FS_HZ, fs, path, file_wins=False)
    return finalize(
        array.astype(np.float64) * scale,
        record_fs,
        LEADS_12,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        metadata={"fs_note": "500 Hz by SPH convention" if fs is None else "fs given by the caller"},
    )
