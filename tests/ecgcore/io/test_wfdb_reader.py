"""WFDB: real PTB-XL, CinC 2021, CinC 2017, PTB records; round trip; every broken-record case."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgcore.errors import ECGFormatError, ECGValidationError
from ecgcore.io import read
from ecgcore.io.wfdb_reader import parse_comments
from ecgcore.leads import LEADS_12


def test_ptbxl_matches_wfdb_exactly(ptbxl_record, ptbxl_reference):
    reference, fields = ptbxl_reference
    assert ptbxl_record.source == "WFDB"
    assert ptbxl_record.fs == 500.0 == fields["fs"]
    assert ptbxl_record.leads == LEADS_12  # header says AVR/AVL/AVF
    assert ptbxl_record.signal.shape == (12, 5000)
    np.testing.assert_allclose(ptbxl_record.signal, reference, atol=1e-6)
    assert ptbxl_record.record_name == "00001_hr"
    assert ptbxl_record.metadata["original_filename"] == "00001_hr.hea"
    assert ptbxl_record.metadata["original_lead_names"][3] == "AVR"


def test_dat_path_reads_through_its_header(ptbxl_header, ptbxl_record):
    record = read(ptbxl_header.with_suffix(".dat"))
    np.testing.assert_array_equal(record.signal, ptbxl_record.signal)


@pytest.mark.parametrize(
    ("name", "age", "sex", "labels"),
    [
        ("E07500", 78.0, "M", ("67741000119109", "426177001")),
        ("HR06000", 59.0, "F", ("164934002", "426783006")),
        ("JS20000", 84.0, "F", ("284470004", "427084000", "698252002", "55930002")),
    ],
)
def test_cinc2021_header_mat(samples_dir, name, age, sex, labels):
    record = read(samples_dir / "cinc2021" / f"{name}.hea")
    assert (record.age, record.sex, record.labels) == (age, sex, labels)
    assert record.fs == 500 and record.leads == LEADS_12 and record.n_samples == 5000
    assert "Rx: Unknown" in record.metadata["header_comments"]
    reference, _ = wfdb.rdsamp(str(samples_dir / "cinc2021" / name))
    np.testing.assert_allclose(record.signal, reference.T, atol=1e-6)
    # The .mat path goes through the header beside it, not the plain-MAT reader.
    assert read(samples_dir / "cinc2021" / f"{name}.mat").labels == labels


def test_cinc2021_flat_leads_are_refused_unless_allowed(shared_data_dir):
    path = shared_data_dir / "cinc2021_sample" / "JS20004.hea"
    with pytest.raises(ECGValidationError, match=r"V2, V4, V6 are flat"):
        read(path)
    record = read(path, allow_flat_leads=True)
    assert record.n_leads == 12


def test_ptb_long_15_channel_record(samples_dir):
    record = read(samples_dir / "ptbdb" / "s0010_re.hea")
    assert record.fs == 1000 and record.n_samples == 38400 and record.duration_s == pytest.approx(38.4)
    assert record.leads == LEADS_12
    assert record.metadata["dropped_channels"] == ["vx", "vy", "vz"]
    assert (record.age, record.sex) == (81.0, "F")
    assert any("Myocardial infarction" in line for line in record.metadata["header_comments"])
    reference, _ = wfdb.rdsamp(str(samples_dir / "ptbdb" / "s0010_re"), channels=list(range(12)))
    np.testing.assert_allclose(record.signal, reference.T, atol=1e-6)


@pytest.mark.parametrize("name", ["A00001", "A00020", "A00054"])
def test_cinc2017_single_lead_with_header(samples_dir, name):
    record = read(samples_dir / "cinc2017" / f"{name}.hea")
    assert record.leads == ("I",) and record.fs == 300 and record.n_samples == 9000
    assert "lead I" in record.metadata["lead_note"]
    raw = wfdb.rdsamp(str(samples_dir / "cinc2017" / name))[0][:, 0]
    np.testing.assert_allclose(record.signal[0], raw, atol=1e-6)


def test_wrsamp_round_trip_with_challenge_comments(tmp_path, ptbxl_record):
    wfdb.wrsamp(
        "rt", fs=500, units=["mV"] * 12,
        sig_name=["I", "II", "III", "AVR", "AVL", "AVF"] + [f"V{i}" for i in range(1, 7)],
        p_signal=ptbxl_record.signal.T.astype(np.float64), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
        baseline=[0] * 12, comments=["Age: NaN", "Sex: Unknown", "Dx: 426783006", "Hx: none"], write_dir=str(tmp_path),
    )
    record = read(tmp_path / "rt.hea")
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=0.5e-3 + 1e-6)
    assert (record.age, record.sex, record.labels) == (None, None, ("426783006",))
    assert record.metadata["header_comments"] == ["Hx: none"]


def test_parse_comments_variants():
    age, sex, labels, meta = parse_comments(["age: 300", "sex: female", "Dx: 1, 2 ,3", "ECG date: 01/10/1990"])
    assert (age, sex, labels) == (None, "F", ["1", "2", "3"])
    assert meta == {"age_raw": "300", "header_comments": ["ECG date: 01/10/1990"]}


def test_truncated_dat(ptbxl_copy: Path):
    dat = ptbxl_copy.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:60_001])
    with pytest.raises(ECGFormatError, match=r"00001_hr\.dat is truncated: .*5000 samples.*60001 bytes"):
        read(ptbxl_copy)


def test_header_declares_fewer_samples_than_the_data(ptbxl_copy: Path):
    text = ptbxl_copy.read_text().replace("00001_hr 12 500 5000", "00001_hr 12 500 2500", 1)
    ptbxl_copy.write_text(text)
    with pytest.raises(ECGFormatError, match=r"Header/data mismatch: 00001_hr\.dat has 120000 bytes"):
        read(ptbxl_copy)


def test_signal_file_from_another_record_fails_checksum(ptbxl_copy: Path, samples_dir: Path):
    shutil.copy(samples_dir / "ptbxl" / "00008_hr.dat", ptbxl_copy.with_suffix(".dat"))
    with pytest.raises(ECGFormatError, match=r"Header/data mismatch .*checksums of signal\(s\) I, II"):
        read(ptbxl_copy)


def test_missing_signal_file(ptbxl_copy: Path):
    ptbxl_copy.with_suffix(".dat").unlink()
    with pytest.raises(ECGFormatError, match=r"Signal file 00001_hr\.dat named in 00001_hr\.hea is missing"):
        read(ptbxl_copy)


def test_dat_without_header(ptbxl_copy: Path):
    ptbxl_copy.unlink()
    with pytest.raises(ECGFormatError, match=r"needs its \.hea header"):
        read(ptbxl_copy.with_suffix(".dat"))


def test_malformed_header(tmp_path: Path):
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    with pytest.raises(ECGFormatError, match=r"bad\.hea is not a valid WFDB header"):
        read(tmp_path / "bad.hea")


def test_conflicting_fs_is_refused(ptbxl_header):
    with pytest.raises(ECGFormatError, match=r"states a sampling rate of 500 Hz but fs=250"):
        read(ptbxl_header, fs=250)
