"""CODE-15% .mat, CinC 2017 plain .mat, and SPH .h5 from the shipped real files."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import scipy.io

from ecgcore.errors import ECGFormatError
from ecgcore.io import read
from ecgcore.leads import LEADS_12


def test_code15_mat(samples_dir):
    path = samples_dir / "code15" / "code_15_1238362.mat"
    record = read(path)
    assert record.source == "CODE-15 MAT" and record.fs == 400 and record.leads == LEADS_12
    assert record.n_samples == 2934
    np.testing.assert_array_equal(record.signal, scipy.io.loadmat(str(path))["feats"])


def test_cinc2017_mat_without_header(tmp_path, samples_dir):
    shutil.copy(samples_dir / "cinc2017" / "A00054.mat", tmp_path)
    record = read(tmp_path / "A00054.mat")
    assert record.source == "CinC 2017 MAT" and record.fs == 300 and record.leads == ("I",)
    with_header = read(samples_dir / "cinc2017" / "A00054.hea")
    np.testing.assert_allclose(record.signal, with_header.signal, atol=1e-6)
    assert read(tmp_path / "A00054.mat", fs=250).fs == 250  # a convention, so fs may override it


def test_challenge_mat_without_header_asks_for_it(tmp_path, samples_dir):
    shutil.copy(samples_dir / "cinc2021" / "E07500.mat", tmp_path)
    with pytest.raises(ECGFormatError, match=r"Upload the \.mat together with its \.hea"):
        read(tmp_path / "E07500.mat")


def test_unknown_mat_layout(tmp_path):
    scipy.io.savemat(str(tmp_path / "x.mat"), {"foo": np.zeros((3, 3))})
    with pytest.raises(ECGFormatError, match=r"unrecognised MATLAB layout \(variables: foo\)"):
        read(tmp_path / "x.mat")


def test_sph_h5(samples_dir):
    path = samples_dir / "sph" / "SPH00001.h5"
    record = read(path)
    assert record.source == "SPH HDF5" and record.fs == 500 and record.leads == LEADS_12 and record.n_samples == 5000
    with h5py.File(path) as handle:
        np.testing.assert_array_equal(record.signal, handle["ecg"][()].astype(np.float32))
    assert read(path, fs=1000).duration_s == 5.0


def test_h5_without_ecg_dataset(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["signals"] = np.zeros((12, 5000))
    with pytest.raises(ECGFormatError, match=r"has no 'ecg' dataset \(found: signals\)"):
        read(tmp_path / "other.h5")
