"""EDF/EDF+/BDF: round trips written independently with pyedflib, label/unit handling, rates."""

from __future__ import annotations

import numpy as np
import pyedflib
import pytest
from pyedflib import highlevel

from ecgcore.errors import ECGFormatError
from ecgcore.io import read
from ecgcore.io.writers import write_edf
from ecgcore.leads import LEADS_12


def _header(label: str, dim: str, fs: int, lo: float, hi: float) -> dict:
    return highlevel.make_signal_header(label, dimension=dim, sample_frequency=fs, physical_min=lo, physical_max=hi)


def test_own_writer_round_trip(tmp_path, ptbxl_record):
    record = read(write_edf(ptbxl_record, tmp_path / "ecg.edf"))
    assert record.source == "EDF+" and record.fs == 500 and record.leads == LEADS_12
    assert record.metadata["dropped_channels"] == ["EDF Annotations"]
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=2e-4)


def test_pyedflib_written_file_with_ekg_labels_mv_and_a_slow_resp_channel(tmp_path, ptbxl_record):
    leads = ["I", "II", "V1"]
    signals = [ptbxl_record.lead(n).astype(np.float64) for n in leads]
    headers = [_header(f"EKG {n}", "mV", 500, -10, 10) for n in leads]
    signals.append(np.sin(np.linspace(0, 20, 250)) * 100)
    headers.append(_header("Resp", "Ohm", 25, -200, 200))
    path = tmp_path / "mixed.edf"
    highlevel.write_edf(str(path), signals, headers, file_type=pyedflib.FILETYPE_EDF)
    record = read(path)
    assert record.source == "EDF"
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1")
    assert record.metadata["dropped_channels"] == ["Resp"]
    assert record.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    np.testing.assert_allclose(record.lead("V1"), ptbxl_record.lead("V1"), atol=20 / 65535 + 1e-6)


def test_microvolt_dimension_is_converted(tmp_path, ptbxl_record):
    path = tmp_path / "uv.edf"
    highlevel.write_edf(str(path), [ptbxl_record.lead("II") * 1000.0], [_header("ECG", "uV", 500, -5000, 5000)])
    record = read(path)
    assert record.leads == ("I",) and "lead I" in record.metadata["lead_note"]
    np.testing.assert_allclose(record.signal[0], ptbxl_record.lead("II"), atol=1e-3)


def test_different_rates_among_ecg_leads_are_refused(tmp_path, ptbxl_record):
    signals = [ptbxl_record.lead("I").astype(np.float64), ptbxl_record.lead("II")[::2].astype(np.float64)]
    headers = [_header("I", "mV", 500, -10, 10), _header("II", "mV", 250, -10, 10)]
    path = tmp_path / "rates.edf"
    highlevel.write_edf(str(path), signals, headers)
    with pytest.raises(ECGFormatError, match=r"different sampling rates \(I 500 Hz, II 250 Hz\)"):
        read(path)


def test_bdf(tmp_path, ptbxl_record):
    path = tmp_path / "ecg.bdf"
    signals = [ptbxl_record.lead(n).astype(np.float64) * 1000 for n in LEADS_12]
    headers = [_header(n, "uV", 500, -20000, 20000) for n in LEADS_12]
    for h in headers:
        h.update(digital_min=-8388608, digital_max=8388607)
    highlevel.write_edf(str(path), signals, headers, file_type=pyedflib.FILETYPE_BDFPLUS)
    record = read(path)
    assert record.source == "BDF+"
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=1e-4)


def test_corrupt_edf(tmp_path):
    path = tmp_path / "bad.edf"
    path.write_bytes(b"0       " + b"garbage" * 100)
    with pytest.raises(ECGFormatError, match=r"bad\.edf is not a readable EDF/BDF file"):
        read(path)
