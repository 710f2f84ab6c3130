"""What a hospital file knows beyond the signal: the device's own reading and the acquisition.

Hospital exports (GE MUSE, Philips, DICOM, SCP-ECG, HL7 aECG) carry the cart's measurements and
interpretation statements, and who was recorded when, where and on what. Readers fill these two
types; the workspace shows the device's reading beside ours and the model's, so a reviewer sees
all three.

Privacy starts here: readers never put a patient's *name* on a record, and a date of birth
becomes ``Record.age`` at acquisition. ``Acquisition.patient_id`` is the identifier as the file
holds it, kept in memory only so the store can replace it with a keyed hash (``db`` never stores
it; see docs/review_store.md); ``Acquisition.__repr__`` hides it so it cannot reach a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecgcore.errors import ECGValidationError


@dataclass(frozen=True)
class DeviceReading:
    """The acquiring device's (or ECG system's) measurements and statements.

    ``measurements`` uses the names of ``ecgcore.measurements.GLOBAL_MEASURES`` (``pr_ms``,
    ``qrs_axis_deg`` ...), so "theirs" and "ours" line up field by field; values the file lacks are
    simply absent. ``statements`` is the interpretation as the file presents it (the confirmed or
    edited one where the file keeps both), ``original_statements`` the machine's own when it differs.
    """

    measurements: dict[str, float] = field(default_factory=dict)
    statements: tuple[str, ...] = ()
    original_statements: tuple[str, ...] = ()
    source: str | None = None  # e.g. "GE MAC 5500 via MUSE 9.0.9"

    def __post_init__(self) -> None:
        from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES

        unknown = sorted(set(self.measurements) - set(GLOBAL_MEASURE_NAMES))
        if unknown:
            raise ECGValidationError(
                f"Unknown device measurement name(s) {unknown}; accepted: {', '.join(GLOBAL_MEASURE_NAMES)}."
            )
        object.__setattr__(self, "measurements", {k: float(v) for k, v in self.measurements.items()})
        object.__setattr__(self, "statements", tuple(self.statements))
        object.__setattr__(self, "original_statements", tuple(self.original_statements))

    def to_dict(self) -> dict[str, Any]:
        return {
            "measurements": dict(self.measurements),
            "statements": list(self.statements),
            "original_statements": list(self.original_statements),
            "source": self.source,
        }


@dataclass(frozen=True)
class Acquisition:
    """When, where and on what the ECG was recorded, and whose it is (as an identifier only)."""

    patient_id: str | None = None  # as in the file; the store keeps only a keyed hash of it
    acquired_at: datetime | None = None
    device: str | None = None
    site: str | None = None

    def __repr__(self) -> str:  # the identifier must not reach logs or error messages
        shown = "<hidden>" if self.patient_id else None
        return (f"Acquisition(patient_id={shown}, acquired_at={self.acquired_at!r}, device={self.device!r}, "
                f"site={self.site!r})")

    def to_dict(self, include_patient_id: bool = False) -> dict[str, Any]:
        """JSON-ready; the patient identifier only when asked for explicitly."""
        out: dict[str, Any] = {
            "acquired_at": self.acquired_at.isoformat() if self.acquired_at else None,
            "device": self.device,
            "site": self.site,
        }
        if include_patient_id:
            out["patient_id"] = self.patient_id
        return out


def age_at(birth: datetime, acquired: datetime) -> float:
    """Age in whole years at acquisition (a date of birth is never kept, only this)."""
    years = acquired.year - birth.year - ((acquired.month, acquired.day) < (birth.month, birth.day))
    return float(years)


__all__ = ["Acquisition", "DeviceReading", "age_at"]
