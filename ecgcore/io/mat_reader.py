"""MATLAB ``.mat`` files without a WFDB header: CODE-15% exports and CinC 2017 recordings.

Two layouts are recognised (anything else is refused with a message naming them):

- CODE-15% as exported by ECG-FM (Ribeiro et al. 2020): ``feats`` float32 (12, N) in mV,
  leads I, II, III, aVR, aVL, aVF, V1-V6, rate in ``org_sample_rate`` (400 Hz).
- PhysioNet/CinC Challenge 2017 (AliveCor, Clifford et al. 2017): ``val`` int16 (1, N),
  1000 adu/mV, 300 Hz; a single lead (roughly lead I). When the ``.hea`` header is beside the
  file, :func:`ecgcore.io.read` uses the WFDB reader instead, which takes gain and rate from it.

A ``val`` matrix with 12 rows is a Challenge 2020/2021 record whose header is missing: the
gain and rate are only in that header, so we ask for it rather than guess.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import check_file_size, resolve_fs
from ecgcore.io._finalize import finalize
from ecgcore.leads import LEADS_12
from ecgcore.record import Record

CINC2017_FS_HZ = 300.0
CINC2017_GAIN_PER_MV = 1000.0


def read_mat(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read a CODE-15% or CinC 2017 ``.mat`` file (see module docstring)."""
    path = Path(path)
    check_file_size(path)
    try:
        content = scipy.io.loadmat(str(path))
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise ECGFormatError(f"{path.name} is a MATLAB v7.3 file; save it with -v7 or export to CSV/EDF.") from exc
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError on corrupt files
        raise ECGFormatError(f"{path.name} is not a readable MATLAB file: {exc}") from exc

    if "feats" in content:
        feats = np.asarray(content["feats"], dtype=np.float64)
        if feats.ndim != 2 or 12 not in feats.shape:
            raise ECGFormatError(f"{path.name}: 'feats' has shape {feats.shape}; expected (12, samples).")
        if feats.shape[0] != 12:
            feats = feats.T
        file_fs = float(np.ravel(content["org_sample_rate"])[0]) if "org_sample_rate" in content else None
        return finalize(
            feats,
            resolve_fs(file_fs, fs, path),
            LEADS_12,
            source="CODE-15 MAT",
            path=path,
            record_name=record_name,
            allow_flat_leads=allow_flat_leads,
        )
    if "val" in content:
        val = np.asarray(content["val"])
        if val.ndim == 2 and 1 in val.shape:
            return finalize(
                val.reshape(1, -1).astype(np.float64) / CINC2017_GAIN_PER_MV,
                resolve_fs(CINC2017_FS_HZ, fs, path, file_wins=False),
                ["ECG"],
                source="CinC 2017 MAT",
                path=path,
                record_name=record_name,
                allow_flat_leads=allow_flat_leads,
                metadata={"mat_convention": "CinC 2017: 1000 adu/mV, 300 Hz unless fs is given"},
            )
        raise ECGFormatError(
            f"{path.name} holds a 'val' matrix of shape {val.shape} (a PhysioNet Challenge record): "
            f"its gain and sampling rate are in the {path.stem}.hea header. Upload the .mat together with its .hea."
        )
    names = sorted(k for k in content if not k.startswith("__"))
    raise ECGFormatError(
        f"{path.name}: unrecognised MATLAB layout (variables: {', '.join(names) or 'none'}). Accepted: CODE-15% "
        "('feats' 12 x N with 'org_sample_rate'), CinC 2017 ('val' 1 x N), or a WFDB .hea + .mat pair."
    )
