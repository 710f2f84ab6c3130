"""Lead names and lead algebra.

Lead names in real files vary ("AVR", "avr", "V1 ", "ECG I", "Lead II"); everything
inside ecgcore uses the canonical names below, in the canonical 12-lead order
that ECGFounder expects. The limb leads are linear combinations of two of them
(Einthoven/Goldberger), which lets us derive a full frontal plane from I and II
and project the frontal cardiac dipole onto any angle (axis augmentation).
"""

from __future__ import annotations

import re

import numpy as np

from ecgcore.errors import LeadError

LEADS_12: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LIMB_LEADS: tuple[str, ...] = LEADS_12[:6]
PRECORDIAL_LEADS: tuple[str, ...] = LEADS_12[6:]
LEAD_INDEX: dict[str, int] = {name: i for i, name in enumerate(LEADS_12)}

# Angle of each frontal lead's positive pole in the hexaxial reference system (degrees).
FRONTAL_ANGLE_DEG: dict[str, float] = {"I": 0.0, "II": 60.0, "III": 120.0, "aVR": -150.0, "aVL": -30.0, "aVF": 90.0}

_BY_KEY = {name.upper(): name for name in LEADS_12}
_PREFIX = re.compile(r"^(ECG|EKG|LEAD)[\s_\-:.]*", re.IGNORECASE)
# Channels that are recorded beside an ECG but are not one of the 12 leads (Frank leads, respiration...).
_KNOWN_NON_ECG = {"VX", "VY", "VZ", "X", "Y", "Z", "RESP", "PLETH", "ABP", "SPO2", "EDF ANNOTATIONS", "BDF ANNOTATIONS"}


def canonical_lead_name(raw: str) -> str | None:
    """Map a lead label from a file to its canonical name, or None if it is not a standard lead."""
    text = _PREFIX.sub("", str(raw).strip()).strip()
    key = re.sub(r"[\s_\-]", "", text).upper()
    return _BY_KEY.get(key)


def is_known_non_ecg_channel(raw: str) -> bool:
    """True for channels we drop silently (Frank leads, respiration, EDF annotations)."""
    return str(raw).strip().upper() in _KNOWN_NON_ECG


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL, aVF from I and II (Einthoven's law and Goldberger's augmented leads)."""
    return {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2.0,
        "aVL": lead_i - lead_ii / 2.0,
        "aVF": lead_ii - lead_i / 2.0,
    }


def frontal_dipole(lead_i: np.ndarray, lead_ii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian components (x to the patient's left, y to the feet) of the frontal dipole.

    Scaled so that projecting onto 0 degrees gives lead I and onto 60 degrees gives lead II.
    NumPy arrays and torch tensors pass through as they are (training augments tensors).
    """
    x = np.asarray(lead_i) if isinstance(lead_i, (list, tuple)) else lead_i
    ii = np.asarray(lead_ii) if isinstance(lead_ii, (list, tuple)) else lead_ii
    y = (2.0 * ii - x) / np.sqrt(3.0)
    return x, y


def project_frontal(lead_i: np.ndarray, lead_ii: np.ndarray, angle_deg: float) -> np.ndarray:
    """A virtual bipolar lead at ``angle_deg`` in the frontal plane (0 = lead I, 60 = lead II)."""
    x, y = frontal_dipole(lead_i, lead_ii)
    theta = np.deg2rad(angle_deg)
    return x * np.cos(theta) + y * np.sin(theta)


def frontal_axis_deg(lead_i: np.ndarray, lead_ii: np.ndarray) -> float:
    """Mean frontal electrical axis in degrees (-180, 180], from the net area of I and II.

    Uses the whole signal's net area, a robust stand-in for the QRS net deflection on a
    baseline-corrected record. Normal axis is roughly -30 to +90 degrees.
    """
    x, y = frontal_dipole(lead_i, lead_ii)
    return float(np.rad2deg(np.arctan2(np.sum(y), np.sum(x))))


# Gain of each frontal lead along its angle: the bipolar leads see the dipole fully, Goldberger's
# augmented leads at sqrt(3)/2 of it (aVF = II - I/2 = sqrt(3)/2 x the dipole's vertical component).
FRONTAL_GAIN: dict[str, float] = {"I": 1.0, "II": 1.0, "III": 1.0, "aVR": 3**0.5 / 2, "aVL": 3**0.5 / 2, "aVF": 3**0.5 / 2}


def frontal_vector(values: dict[str, float]) -> tuple[float, float] | None:
    """The frontal dipole (x, y) that best explains per-lead values (least squares over the limb leads given).

    Any two limb leads with different angles suffice, so an axis survives a lost lead I or II.
    Returns None with fewer than two usable directions.
    """
    names = [n for n in values if n in FRONTAL_ANGLE_DEG]
    angles = {round(FRONTAL_ANGLE_DEG[n] % 180.0) for n in names}
    if len(angles) < 2:
        return None
    theta = np.deg2rad([FRONTAL_ANGLE_DEG[n] for n in names])
    gain = np.array([FRONTAL_GAIN[n] for n in names])
    design = np.stack([gain * np.cos(theta), gain * np.sin(theta)], axis=1)
    solution, *_ = np.linalg.lstsq(design, np.array([values[n] for n in names], dtype=np.float64), rcond=None)
    return float(solution[0]), float(solution[1])


def order_leads(names: list[str]) -> list[int]:
    """Indices that sort canonical lead names into the 12-lead order; raises on unknown or duplicate names."""
    unknown = [n for n in names if n not in LEAD_INDEX]
    if unknown:
        raise LeadError(f"Unknown lead name(s) {unknown}; accepted: {', '.join(LEADS_12)}.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LeadError(f"Duplicate lead name(s) {duplicates}: each lead may appear once.")
    return sorted(range(len(names)), key=lambda i: LEAD_INDEX[names[i]])
