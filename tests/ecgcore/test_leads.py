"""Lead names and frontal-plane algebra, checked against Einthoven's law on a real record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgcore.errors import LeadError
from ecgcore.leads import (
    FRONTAL_ANGLE_DEG,
    canonical_lead_name,
    derive_limb_leads,
    frontal_axis_deg,
    is_known_non_ecg_channel,
    order_leads,
    project_frontal,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("AVR", "aVR"), ("avr", "aVR"), (" V1 ", "V1"), ("ECG I", "I"), ("Lead II", "II"), ("EKG-V6", "V6"),
     ("aVF", "aVF"), ("iii", "III"), ("V7", None), ("vx", None), ("", None)],
)
def test_canonical_lead_name(raw: str, expected: str | None) -> None:
    assert canonical_lead_name(raw) == expected


def test_non_ecg_channels_are_known() -> None:
    assert is_known_non_ecg_channel("vx") and is_known_non_ecg_channel("EDF Annotations")
    assert not is_known_non_ecg_channel("V1")


def test_order_leads_errors() -> None:
    assert order_leads(["V1", "I", "II"]) == [1, 2, 0]
    with pytest.raises(LeadError, match="Duplicate"):
        order_leads(["I", "I"])
    with pytest.raises(LeadError, match="accepted"):
        order_leads(["I", "Z9"])


def test_projection_reproduces_every_recorded_limb_lead(shared_data_dir: Path) -> None:
    signal, fields = wfdb.rdsamp(str(shared_data_dir / "ptbxl_subset" / "records500" / "00000" / "00010_hr"))
    by_name = dict(zip([canonical_lead_name(n) for n in fields["sig_name"]], signal.T))
    i, ii = by_name["I"], by_name["II"]
    derived = derive_limb_leads(i, ii)
    for name in ("III", "aVR", "aVL", "aVF"):
        # recorded and derived agree to ADC quantisation (PTB-XL: 1 uV steps)
        assert np.median(np.abs(derived[name] - by_name[name])) <= 0.002
    # Projections at the bipolar leads' angles give the bipolar leads exactly.
    np.testing.assert_allclose(project_frontal(i, ii, FRONTAL_ANGLE_DEG["I"]), i, atol=1e-9)
    np.testing.assert_allclose(project_frontal(i, ii, FRONTAL_ANGLE_DEG["II"]), ii, atol=1e-9)
    np.testing.assert_allclose(project_frontal(i, ii, FRONTAL_ANGLE_DEG["III"]), ii - i, atol=1e-9)
    # Augmented leads are the same axes scaled by sqrt(3)/2.
    np.testing.assert_allclose(project_frontal(i, ii, 90.0) * np.sqrt(3) / 2, derived["aVF"], atol=1e-9)


def test_frontal_axis_of_synthetic_dipoles() -> None:
    t = np.linspace(0, 1, 500)
    pulse = np.exp(-((t - 0.5) ** 2) / 0.001)
    for axis in (-45.0, 0.0, 60.0, 100.0):
        x, y = np.cos(np.deg2rad(axis)) * pulse, np.sin(np.deg2rad(axis)) * pulse
        i = x
        ii = x * 0.5 + y * np.sqrt(3) / 2
        assert frontal_axis_deg(i, ii) == pytest.approx(axis, abs=1e-6)
