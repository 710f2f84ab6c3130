"""NumPy .npy/.npz: orientation rules, fs and lead names from .npz, pickle refusal."""

from __future__ import annotations

import numpy as np
import pytest

from ecgcore.errors import ECGFormatError, LeadError
from ecgcore.io import read
from ecgcore.io.writers import write_npz
from ecgcore.leads import LEADS_12


@pytest.mark.parametrize("transpose", [False, True])
def test_npy_12_leads_either_orientation(tmp_path, ptbxl_record, transpose):
    array = ptbxl_record.signal.T if transpose else ptbxl_record.signal
    np.save(tmp_path / "ecg.npy", array)
    record = read(tmp_path / "ecg.npy", fs=500)
    assert record.source == "NumPy" and record.leads == LEADS_12
    np.testing.assert_array_equal(record.signal, ptbxl_record.signal)


def test_npy_needs_fs(tmp_path, ptbxl_record):
    np.save(tmp_path / "ecg.npy", ptbxl_record.signal)
    with pytest.raises(ECGFormatError, match="pass fs"):
        read(tmp_path / "ecg.npy")


def test_npy_single_lead_and_uv(tmp_path, ptbxl_record):
    np.save(tmp_path / "one.npy", (ptbxl_record.lead("II") * 1000).astype(np.int16))
    record = read(tmp_path / "one.npy", fs=500, units="uV")
    assert record.leads == ("I",)
    np.testing.assert_allclose(record.signal[0], ptbxl_record.lead("II"), atol=1e-3)


def test_npz_round_trip(tmp_path, ptbxl_record):
    record = read(write_npz(ptbxl_record, tmp_path / "ecg.npz"))
    assert record.fs == 500 and record.leads == LEADS_12
    np.testing.assert_array_equal(record.signal, ptbxl_record.signal)


def test_npz_with_named_subset_of_leads_transposed(tmp_path, ptbxl_record):
    names = ["V1", "I", "II"]
    signal = np.stack([ptbxl_record.lead(n) for n in names]).T  # (samples, 3)
    np.savez(tmp_path / "sub.npz", signal=signal, fs=500.0, leads=np.array(names))
    record = read(tmp_path / "sub.npz")
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1")
    np.testing.assert_allclose(record.lead("III"), ptbxl_record.lead("II") - ptbxl_record.lead("I"), atol=1e-6)


def test_ambiguous_channel_count(tmp_path, ptbxl_record):
    np.save(tmp_path / "eight.npy", ptbxl_record.signal[:8])
    with pytest.raises(ECGFormatError, match=r"shape \(8, 5000\) is neither 12-lead nor single-lead"):
        read(tmp_path / "eight.npy", fs=500)


def test_pickled_object_array_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ECGFormatError, match="pickled"):
        read(tmp_path / "obj.npy", fs=500)


def test_npz_duplicate_lead_names(tmp_path, ptbxl_record):
    np.savez(tmp_path / "dup.npz", signal=ptbxl_record.signal[:2], fs=500.0, leads=np.array(["II", "Lead II"]))
    with pytest.raises(LeadError, match=r"lead II appears twice \(as 'II' and 'Lead II'\)"):
        read(tmp_path / "dup.npz")
