"""Turn what a reader decoded (channels x samples in mV, names, fs) into a validated Record.

Every reader ends here so that lead naming, channel dropping, single-lead handling and
limb-lead derivation behave identically whatever the file format was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.errors import ECGFormatError, LeadError
from ecgcore.leads import LEADS_12, canonical_lead_name, is_known_non_ecg_channel
from ecgcore.record import Record

# A lone channel with one of these names is a single-lead device (AliveCor, patch, watch):
# by convention that is lead I (right arm to left arm), which is what those devices record.
_GENERIC_SINGLE = re.compile(r"^(ecg|ekg|lead|signal|sig|ch|channel)?[\s_\-]*[01]?$", re.IGNORECASE)


def is_generic_channel_name(raw: str) -> bool:
    """True for names such as '', 'ECG', 'EKG', 'CH1', 'Lead', 'Channel 1', 'ECG1'."""
    return bool(_GENERIC_SINGLE.match(str(raw).strip()))


def finalize(
    signal_mv: np.ndarray,
    fs: float,
    channel_names: Sequence[str],
    *,
    source: str,
    path: Path,
    record_name: str | None,
    allow_flat_leads: bool = False,
    age: float | None = None,
    sex: str | None = None,
    labels: Iterable[str] = (),
    metadata: dict[str, Any] | None = None,
    dropped_channels: Iterable[str] = (),
) -> Record:
    """Build the Record: canonical lead names, non-ECG channels dropped, I+II expanded.

    ``signal_mv`` is ``(channels, samples)``; ``channel_names`` are the names as stored in the
    file. ``dropped_channels`` lists channels the reader already removed (e.g. EDF annotations).
    Raises LeadError for unknown or duplicate lead names, ECGValidationError (from Record) for
    unusable signals.
    """
    signal = np.asarray(signal_mv)
    if signal.ndim != 2:
        raise ECGFormatError(f"{path.name}: decoded signal has shape {signal.shape}, expected (channels, samples).")
    names = [str(n) for n in channel_names]
    if len(names) != signal.shape[0]:
        raise ECGFormatError(f"{path.name}: {len(names)} channel names for {signal.shape[0]} channels.")
    meta: dict[str, Any] = dict(metadata or {})
    dropped = list(dropped_channels)

    keep_rows: list[int] = []
    keep_raw: list[str] = []
    for row, raw in enumerate(names):
        if canonical_lead_name(raw) is None and is_known_non_ecg_channel(raw):
            dropped.append(raw)
        else:
            keep_rows.append(row)
            keep_raw.append(raw)
    if not keep_rows:
        raise LeadError(
            f"{path.name} has no ECG leads (channels: {', '.join(names) or 'none'}); "
            f"accepted lead names: {', '.join(LEADS_12)}."
        )

    canonical: list[str | None] = [canonical_lead_name(raw) for raw in keep_raw]
    if len(keep_raw) == 1 and canonical[0] is None and is_generic_channel_name(keep_raw[0]):
        canonical = ["I"]
        meta["lead_note"] = (
            f"Single channel named {keep_raw[0]!r} taken as lead I (single-lead device convention)."
        )
    unknown = [raw for raw, name in zip(keep_raw, canonical) if name is None]
    if unknown:
        raise LeadError(
            f"{path.name}: unknown lead/channel name(s) {', '.join(repr(u) for u in unknown)}. "
            f"Accepted lead names: {', '.join(LEADS_12)} (case-insensitive, optionally prefixed "
            "'ECG', 'EKG' or 'Lead'); Frank leads (vx, vy, vz), respiration and annotation channels "
            "are dropped automatically."
        )
    seen: dict[str, str] = {}
    for raw, name in zip(keep_raw, canonical):
        assert name is not None
        if name in seen:
            raise LeadError(
                f"{path.name}: lead {name} appears twice (as {seen[name]!r} and {raw!r}); each lead may appear once."
            )
        seen[name] = raw

    if dropped:
        meta["dropped_channels"] = dropped
    meta["original_filename"] = path.name
    meta.setdefault("original_lead_names", keep_raw)
    record = Record(
        signal=signal[keep_rows],
        fs=float(fs),
        leads=tuple(name for name in canonical if name is not None),
        record_name=record_name or path.stem,
        age=age,
        sex=sex,
        source=source,
        labels=tuple(str(label) for label in labels),
        metadata=meta,
        allow_flat_leads=allow_flat_leads,
    )
    return record.with_derived_limb_leads()
