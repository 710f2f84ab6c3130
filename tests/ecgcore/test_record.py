"""Record validation: every rule gives a specific, readable error; valid records are normalised."""

from __future__ import annotations

import numpy as np
import pytest

from ecgcore.errors import ECGValidationError, LeadError
from ecgcore.leads import LEADS_12
from ecgcore.record import Record


def _ecg(n_leads: int = 12, seconds: float = 10.0, fs: float = 500.0, seed: int = 0) -> np.ndarray:
    """A plausible multi-lead waveform (1 mV-ish beats at 72 bpm plus noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    beats = np.exp(-(((t % (60 / 72)) - 0.3) ** 2) / (2 * 0.01**2))
    return np.stack([beats * (0.5 + 0.1 * i) + 0.02 * rng.standard_normal(t.size) for i in range(n_leads)])


def test_leads_are_sorted_into_canonical_order() -> None:
    signal = _ecg(3)
    record = Record(signal, 500, ["V1", "I", "aVF"], "r1")
    assert record.leads == ("I", "aVF", "V1")
    np.testing.assert_array_equal(record.lead("V1"), signal[0].astype(np.float32))
    assert record.signal.dtype == np.float32 and record.signal.flags.c_contiguous


def test_twelve_lead_properties() -> None:
    record = Record(_ecg(), 500, LEADS_12, "r2", age=61, sex="F")
    assert record.is_12_lead and record.n_samples == 5000 and record.duration_s == pytest.approx(10.0)
    assert "61" in repr(record) and "sex F" in repr(record)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fs": 5.0}, "Sampling rate 5 Hz"),
        ({"fs": 1e6}, "Sampling rate 1e\\+06 Hz"),
        ({"fs": float("nan")}, "Sampling rate nan"),
        ({"signal": _ecg(2, seconds=1.5)}, "1.50 s long"),
        ({"signal": _ecg(2) * 1000}, "microvolts"),
        ({"leads": ["I"]}, "1 lead names for 2 signal rows"),
        ({"sex": "X"}, "sex must be"),
        ({"age": 200}, "age 200"),
        ({"signal": np.zeros((2, 2, 5000))}, "2-D"),
    ],
)
def test_invalid_records_raise_specific_errors(kwargs: dict, match: str) -> None:
    args = {"signal": _ecg(2), "fs": 500.0, "leads": ["I", "II"], "record_name": "bad"}
    args.update(kwargs)
    with pytest.raises(ECGValidationError, match=match):
        Record(**args)


def test_nan_and_flat_and_inf_leads() -> None:
    signal = _ecg(3)
    signal[1, 100:200] = np.nan  # a gap is fine: preprocessing zeroes it
    Record(signal, 500, ["I", "II", "V1"], "gap")
    signal[1] = np.nan
    with pytest.raises(ECGValidationError, match="II contain only NaN"):
        Record(signal, 500, ["I", "II", "V1"], "nan")
    signal[1] = 0.0
    with pytest.raises(ECGValidationError, match="II are flat"):
        Record(signal, 500, ["I", "II", "V1"], "flat")
    assert Record(signal, 500, ["I", "II", "V1"], "flat-ok", allow_flat_leads=True).n_leads == 3
    signal[1, 5] = np.inf
    with pytest.raises(ECGValidationError, match="Infinite"):
        Record(signal, 500, ["I", "II", "V1"], "inf")
    with pytest.raises(ECGValidationError, match="Every lead is flat"):
        Record(np.zeros((2, 5000)), 500, ["I", "II"], "dead")


def test_unknown_and_duplicate_lead_names() -> None:
    with pytest.raises(LeadError, match="Unknown lead name"):
        Record(_ecg(2), 500, ["I", "Foo"], "x")
    with pytest.raises(LeadError, match="Duplicate lead"):
        Record(_ecg(2), 500, ["V1", "V1"], "x")


def test_limb_leads_derived_from_i_and_ii() -> None:
    signal = _ecg(8)
    record = Record(signal, 500, ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"], "eight").with_derived_limb_leads()
    assert record.leads == LEADS_12
    i, ii = signal[0].astype(np.float32), signal[1].astype(np.float32)
    np.testing.assert_allclose(record.lead("III"), ii - i, atol=1e-6)
    np.testing.assert_allclose(record.lead("aVR"), -(i + ii) / 2, atol=1e-6)
    np.testing.assert_allclose(record.lead("aVL"), i - ii / 2, atol=1e-6)
    np.testing.assert_allclose(record.lead("aVF"), ii - i / 2, atol=1e-6)
    assert record.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]


def test_content_hash_identifies_the_signal_not_the_file() -> None:
    signal = _ecg(2)
    a = Record(signal, 500, ["I", "II"], "a")
    b = Record(signal[::-1].copy(), 500, ["II", "I"], "b", source="csv")  # same ECG, other order and id
    c = Record(signal * 1.01, 500, ["I", "II"], "c")
    assert a.content_hash() == b.content_hash() != c.content_hash()
