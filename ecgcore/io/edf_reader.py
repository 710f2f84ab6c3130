"""EDF, EDF+ and BDF (European Data Format, https://www.edfplus.info/specs/) via pyedflib.

Each signal has a label ("ECG I", "EKG V1", "II"), a physical dimension ("uV", "mV") and its
own number of samples per data record, i.e. its own sampling rate. We keep the channels whose
labels are ECG leads and convert each to mV using its physical dimension. An empty dimension
falls back to the caller's ``units`` (mV by default), and Record's amplitude check catches a
wrong guess. EDF+ annotation channels are not returned by pyedflib as signals; they are listed
in ``metadata['dropped_channels']``. Non-ECG channels (respiration, SpO2 ...) may have their
own rate and are dropped; ECG leads with different rates are refused because silently
resampling some leads would misalign them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyedflib

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import caller_unit_scale, check_file_size, parse_sex, resolve_fs, unit_scale_to_mv
from ecgcore.io._finalize import finalize, is_generic_channel_name
from ecgcore.leads import canonical_lead_name, is_known_non_ecg_channel
from ecgcore.record import Record

# pyedflib's FILETYPE_EDF, FILETYPE_EDFPLUS, FILETYPE_BDF, FILETYPE_BDFPLUS
_FILETYPES = {0: "EDF", 1: "EDF+", 2: "BDF", 3: "BDF+"}


def read_edf(
    path: Path,
    *,
    fs: float | None = None,
    units: str = "mV",
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read an EDF/EDF+/BDF file."""
    path = Path(path)
    check_file_size(path)
    default_scale = caller_unit_scale(units)
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:  # pyedflib's text repeats the full (often temporary) path: keep only its reason
        reason = str(exc).replace(str(path), "").strip(" :") or "unreadable"
        raise ECGFormatError(f"{path.name} is not a readable EDF/BDF file: {reason}") from exc
    try:
        source = _FILETYPES.get(int(getattr(reader, "filetype", 0)), "EDF")
        labels = [label.strip() for label in reader.getSignalLabels()]
        rates = [float(reader.getSampleFrequency(i)) for i in range(reader.signals_in_file)]
        dims = [reader.getPhysicalDimension(i).strip() for i in range(reader.signals_in_file)]
        n_annotations = len(reader.readAnnotations()[0]) if reader.annotations_in_file else 0
        sex = parse_sex(reader.getSex() if hasattr(reader, "getSex") else None)

        ecg_idx = [i for i, label in enumerate(labels) if _is_ecg_channel(label, dims[i], len(labels))]
        dropped = [labels[i] for i in range(len(labels)) if i not in ecg_idx]
        if not ecg_idx:
            raise ECGFormatError(
                f"{path.name} has no ECG channels (signals: {', '.join(labels) or 'none'}). "
                "Label them I, II, ... V6 (optionally 'ECG I', 'EKG V1')."
            )
        ecg_rates = {rates[i] for i in ecg_idx}
        if len(ecg_rates) > 1:
            detail = ", ".join(f"{labels[i]} {rates[i]:g} Hz" for i in ecg_idx)
            raise ECGFormatError(
                f"{path.name}: the ECG channels have different sampling rates ({detail}); "
                "export them at one rate."
            )
        rows: list[np.ndarray] = []
        notes: list[str] = []
        for i in ecg_idx:
            scale = unit_scale_to_mv(dims[i]) if dims[i] else default_scale
            if scale is None:
                raise ECGFormatError(
                    f"{path.name}: channel {labels[i]!r} has physical dimension {dims[i]!r}, not a voltage."
                )
            if not dims[i]:
                notes.append(labels[i])
            rows.append(reader.readSignal(i) * scale)
    finally:
        reader.close()
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise ECGFormatError(f"{path.name}: ECG channels have different lengths {sorted(lengths)}.")
    metadata: dict[str, object] = {}
    if notes:
        metadata["units_assumed"] = f"{units} for channel(s) without a physical dimension: {', '.join(notes)}"
    if n_annotations:
        metadata["edf_annotations"] = n_annotations
    if source.endswith("+"):  # EDF+/BDF+ always carry an annotation signal, which pyedflib hides
        dropped = dropped + [f"{source[:3]} Annotations"]
    record_fs = resolve_fs(rates[ecg_idx[0]], fs, path)
    return finalize(
        np.vstack(rows),
        record_fs,
        [labels[i] for i in ecg_idx],
        source=source,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        sex=sex,
        metadata=metadata,
        dropped_channels=dropped,
    )


def _is_ecg_channel(label: str, dimension: str, n_channels: int) -> bool:
    """An ECG lead label, or the lone generic 'ECG' channel; unknown voltage channels too.

    Unknown names with a voltage dimension are kept so that finalize reports them as unknown
    leads instead of silently dropping a mislabelled ECG lead; non-voltage channels are dropped.
    """
    if canonical_lead_name(label) is not None:
        return True
    if is_generic_channel_name(label):
        return True
    if is_known_non_ecg_channel(label):
        return False
    return not dimension or unit_scale_to_mv(dimension) is not None
