"""`Record`: the one in-memory ECG type every reader returns and every consumer takes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgcore import config
from ecgcore.acquisition import Acquisition, DeviceReading
from ecgcore.errors import ECGValidationError, LeadError
from ecgcore.leads import LEAD_INDEX, LEADS_12, derive_limb_leads, order_leads

SEXES = ("M", "F")


@dataclass(frozen=True, eq=False)
class Record:
    """An ECG in millivolts, shape ``(n_leads, n_samples)``, leads in canonical 12-lead order.

    Construction validates the signal, so holding a ``Record`` means holding a usable ECG:
    readers never hand out a half-read signal. NaN samples are allowed (preprocessing
    sets them to 0) as long as no lead is entirely NaN.
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    record_name: str
    age: float | None = None
    sex: str | None = None
    source: str | None = None
    labels: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    allow_flat_leads: bool = False
    acquisition: Acquisition | None = None  # hospital files: when, where, on what, whose (as an id)
    device_reading: DeviceReading | None = None  # hospital files: the cart's measurements and statements

    def __post_init__(self) -> None:
        signal = np.asarray(self.signal)
        if signal.ndim == 1:
            signal = signal[np.newaxis, :]
        if signal.ndim != 2:
            raise ECGValidationError(f"Signal must be 2-D (leads, samples); got shape {signal.shape}.")
        if not np.issubdtype(signal.dtype, np.number):
            raise ECGValidationError(f"Signal must be numeric; got dtype {signal.dtype}.")
        signal = np.ascontiguousarray(signal, dtype=np.float32)
        leads = tuple(self.leads)
        if len(leads) != signal.shape[0]:
            raise LeadError(f"{len(leads)} lead names for {signal.shape[0]} signal rows; they must match.")
        order = order_leads(list(leads))
        if order != list(range(len(leads))):
            signal = signal[order]
            leads = tuple(leads[i] for i in order)
        object.__setattr__(self, "signal", signal)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "fs", float(self.fs))
        object.__setattr__(self, "labels", tuple(self.labels))
        self._validate()

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        fs = self.fs
        if not np.isfinite(fs) or not (config.MIN_FS_HZ <= fs <= config.MAX_FS_HZ):
            raise ECGValidationError(
                f"Sampling rate {fs:g} Hz is not plausible for an ECG; accepted "
                f"{config.MIN_FS_HZ:g}-{config.MAX_FS_HZ:g} Hz. Check the header or pass fs explicitly."
            )
        duration_s = self.duration_s
        if duration_s < config.MIN_DURATION_S:
            raise ECGValidationError(
                f"Record is {duration_s:.2f} s long; at least {config.MIN_DURATION_S:g} s are needed."
            )
        if duration_s > config.MAX_DURATION_S:
            raise ECGValidationError(
                f"Record is {duration_s / 3600:.1f} h long; the limit is {config.MAX_DURATION_S / 3600:g} h "
                "(ECG_MAX_DURATION_S). Cut it into shorter files."
            )
        signal = self.signal
        if np.isinf(signal).any():
            bad = [self.leads[i] for i in np.flatnonzero(np.isinf(signal).any(axis=1))]
            raise ECGValidationError(f"Infinite values in lead(s) {', '.join(bad)}: the file is corrupt.")
        all_nan = np.isnan(signal).all(axis=1)
        if all_nan.any():
            bad = [self.leads[i] for i in np.flatnonzero(all_nan)]
            raise ECGValidationError(f"Lead(s) {', '.join(bad)} contain only NaN (missing) values.")
        with np.errstate(invalid="ignore"):
            peak = np.nanmax(np.abs(signal))
            ptp = np.nanmax(signal, axis=1) - np.nanmin(signal, axis=1)
        if peak > config.MAX_ABS_AMPLITUDE_MV:
            raise ECGValidationError(
                f"Peak amplitude {peak:.4g} mV is implausible for an ECG (limit "
                f"{config.MAX_ABS_AMPLITUDE_MV:g} mV): the values are probably in microvolts or raw ADC "
                "units. Convert to millivolts (or pass units='uV')."
            )
        flat = ptp < config.FLAT_LEAD_PTP_MV
        if flat.all():
            raise ECGValidationError("Every lead is flat: the file holds no ECG signal.")
        if flat.any() and not self.allow_flat_leads:
            bad = [self.leads[i] for i in np.flatnonzero(flat)]
            raise ECGValidationError(
                f"Lead(s) {', '.join(bad)} are flat (no signal; electrode off or zero-filled). "
                "Pass allow_flat_leads=True to accept the record anyway."
            )
        if self.sex is not None and self.sex not in SEXES:
            raise ECGValidationError(f"sex must be one of {SEXES} or None; got {self.sex!r}.")
        if self.age is not None and not (0 <= self.age <= 130):
            raise ECGValidationError(f"age {self.age} is not plausible (0-130 years).")

    # -- derived properties -----------------------------------------------------------------
    @property
    def n_leads(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def is_12_lead(self) -> bool:
        return self.leads == LEADS_12

    def lead(self, name: str) -> np.ndarray:
        """One lead's samples (mV) by canonical name."""
        try:
            return self.signal[self.leads.index(name)]
        except ValueError:
            raise LeadError(f"Record {self.record_name} has no lead {name}; it has {', '.join(self.leads)}.") from None

    def content_hash(self) -> str:
        """sha256 of the canonical signal (float32 mV, canonical order) and fs.

        Identifies the same ECG whatever file format it arrived in (within float32 rounding).
        """
        digest = hashlib.sha256()
        digest.update(f"{self.fs:.6f}|{','.join(self.leads)}|{self.signal.shape}".encode())
        digest.update(np.ascontiguousarray(self.signal, dtype="<f4").tobytes())
        return digest.hexdigest()

    def with_derived_limb_leads(self) -> "Record":
        """Add III, aVR, aVL, aVF when only I and II (and maybe precordials) are present."""
        present = set(self.leads)
        if not {"I", "II"} <= present:
            return self
        missing = [n for n in ("III", "aVR", "aVL", "aVF") if n not in present]
        if not missing:
            return self
        derived = derive_limb_leads(self.lead("I"), self.lead("II"))
        names = list(self.leads) + missing
        rows = [self.signal] + [derived[n][np.newaxis, :] for n in missing]
        metadata = dict(self.metadata, derived_leads=missing)
        return self.replace(signal=np.concatenate(rows, axis=0), leads=tuple(names), metadata=metadata)

    def replace(self, **changes: Any) -> "Record":
        """A copy with some fields changed (validated again)."""
        fields = {
            "signal": self.signal,
            "fs": self.fs,
            "leads": self.leads,
            "record_name": self.record_name,
            "age": self.age,
            "sex": self.sex,
            "source": self.source,
            "labels": self.labels,
            "metadata": self.metadata,
            "allow_flat_leads": self.allow_flat_leads,
            "acquisition": self.acquisition,
            "device_reading": self.device_reading,
        }
        fields.update(changes)
        return Record(**fields)

    def __repr__(self) -> str:
        return (
            f"Record({self.record_name!r}, {self.n_leads} leads, {self.fs:g} Hz, {self.duration_s:.1f} s"
            f"{', age ' + format(self.age, 'g') if self.age is not None else ''}"
            f"{', sex ' + self.sex if self.sex else ''})"
        )


__all__ = ["Record", "LEADS_12", "LEAD_INDEX"]
