"""The entry points: format dispatch, size limits, uploads, and validation common to all readers."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ecgcore import config
from ecgcore.errors import ECGFileTooLargeError, ECGFormatError, ECGValidationError, LeadError
from ecgcore.io import SUPPORTED_FORMATS, detect_format, read, read_upload
from ecgcore.io._finalize import finalize, is_generic_channel_name
from ecgcore.leads import LEADS_12

SHIPPED = [
    "ptbxl/00001_hr.hea", "ptbxl/00008_hr.hea", "ptbxl/00017_hr.hea",
    "cinc2021/E07500.hea", "cinc2021/HR06000.hea", "cinc2021/JS20000.hea",
    "code15/code_15_1238362.mat", "sph/SPH00001.h5", "ptbdb/s0010_re.hea",
    "cinc2017/A00001.hea", "cinc2017/A00020.hea", "cinc2017/A00054.hea",
    "demo/ptbxl_00001_hr.csv", "demo/ptbxl_00001_hr.edf", "demo/ptbxl_00001_hr.npz",
    "demo/ptbxl_00001_hr.xml", "demo/ptbxl_00001_hr_wfdb.zip",
]


@pytest.mark.parametrize("relative", SHIPPED)
def test_every_shipped_sample_reads(samples_dir, relative):
    record = read(samples_dir / relative)
    assert record.n_leads in (1, 12) and record.duration_s >= 7
    assert (samples_dir / relative).parent.joinpath("LICENSE.md").is_file()


def test_demo_files_are_the_ptbxl_record(samples_dir, ptbxl_record):
    for relative in SHIPPED[-5:]:
        np.testing.assert_allclose(read(samples_dir / relative).signal, ptbxl_record.signal, atol=2e-4)


def test_unknown_format_names_the_accepted_ones(tmp_path):
    path = tmp_path / "scan.bin"
    path.write_bytes(b"\x00\x01\x02binary junk" * 10)
    with pytest.raises(ECGFormatError, match=r"unknown file format\. Accepted formats: WFDB.*EDF") as info:
        read(path)
    assert all(fmt in str(info.value) for fmt in SUPPORTED_FORMATS)


def test_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ECGFormatError, match=r"empty\.csv is empty \(0 bytes\)"):
        read(tmp_path / "empty.csv")


def test_missing_file(tmp_path):
    with pytest.raises(ECGFormatError, match="does not exist"):
        read(tmp_path / "nope.csv")


def test_size_limit_checked_before_reading(monkeypatch, ptbxl_header):
    monkeypatch.setattr(config, "MAX_FILE_BYTES", 50_000)
    with pytest.raises(ECGFileTooLargeError, match=r"00001_hr\.dat is 0\.11 MB; the limit is 0\.048 MB"):
        read(ptbxl_header)  # the header is small; its 120 kB signal file is not


def test_content_sniffing_without_extension(tmp_path, samples_dir, ptbxl_record):
    for relative, expected in [("sph/SPH00001.h5", "sph"), ("demo/ptbxl_00001_hr.edf", "edf"),
                               ("demo/ptbxl_00001_hr.xml", "aecg"), ("demo/ptbxl_00001_hr.csv", "csv"),
                               ("demo/ptbxl_00001_hr_wfdb.zip", "zip"), ("code15/code_15_1238362.mat", "mat")]:
        blob = tmp_path / f"upload_{expected}"
        shutil.copy(samples_dir / relative, blob)
        assert detect_format(blob) == expected
        assert read(blob).n_samples > 0
    np.save(tmp_path / "arr.npy", ptbxl_record.signal)
    (tmp_path / "arr.npy").rename(tmp_path / "arr")
    assert detect_format(tmp_path / "arr") == "numpy"


def test_fmt_overrides_extension(tmp_path, samples_dir):
    path = tmp_path / "ecg.dat"
    shutil.copy(samples_dir / "demo" / "ptbxl_00001_hr.csv", path)
    assert read(path, fmt="csv").source == "CSV"
    with pytest.raises(ECGFormatError, match="fmt='nonesuch' is not a known format"):
        read(path, fmt="nonesuch")
    with pytest.raises(ECGFormatError, match="ecg.dat is not a DICOM file"):  # a known format that does not fit
        read(path, fmt="dicom")


def test_library_errors_become_format_errors(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ECGFormatError):
        read(path, fs=500)


# -- uploads ------------------------------------------------------------------------------------
@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Point tempfile at an empty folder so we can check that uploads leave nothing behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_upload_header_and_data(private_tmp, ptbxl_header, ptbxl_record):
    files = [(p.name, p.read_bytes()) for p in (ptbxl_header.with_suffix(".dat"), ptbxl_header)]
    record = read_upload(files)
    np.testing.assert_array_equal(record.signal, ptbxl_record.signal)
    assert record.metadata["original_filename"] == "00001_hr.hea"
    assert list(private_tmp.iterdir()) == []


def test_upload_single_zip_and_single_file(private_tmp, samples_dir):
    zipped = samples_dir / "demo" / "ptbxl_00001_hr_wfdb.zip"
    assert read_upload([(zipped.name, zipped.read_bytes())]).record_name == "00001_hr"
    h5 = samples_dir / "sph" / "SPH00001.h5"
    assert read_upload([("C:\\Users\\doc\\" + h5.name, h5.read_bytes())], fs=500).record_name == "SPH00001"
    assert list(private_tmp.iterdir()) == []


def test_upload_failure_still_cleans_up(private_tmp, ptbxl_header):
    with pytest.raises(ECGFormatError, match="no .hea header"):
        read_upload([("00001_hr.dat", ptbxl_header.with_suffix(".dat").read_bytes()), ("notes.md", b"x")])
    assert list(private_tmp.iterdir()) == []


def test_upload_errors(private_tmp, monkeypatch):
    with pytest.raises(ECGFormatError, match="No file was uploaded"):
        read_upload([])
    with pytest.raises(ECGFormatError, match="two files named a.csv"):
        read_upload([("a.csv", b"I\n1\n"), ("x/a.csv", b"I\n1\n")])
    with pytest.raises(ECGFormatError, match="not a valid file name"):
        read_upload([("../", b"I\n1\n")])
    monkeypatch.setattr(config, "MAX_FILE_BYTES", 10)
    with pytest.raises(ECGFileTooLargeError, match="too large"):
        read_upload([("a.csv", b"I,II\n1,2\n3,4\n")])
    assert list(private_tmp.iterdir()) == []


# -- common finalisation ----------------------------------------------------------------------------
def _sine(n_leads: int, n: int = 1000, fs: float = 500.0) -> np.ndarray:
    t = np.arange(n) / fs
    return np.stack([np.sin(2 * np.pi * (1 + i) * t) for i in range(n_leads)])


def _fin(signal, names, fs=500.0, **kw):
    return finalize(signal, fs, names, source="test", path=Path("x.csv"), record_name=None, **kw)


@pytest.mark.parametrize(("raw", "canonical"), [("AVR", "aVR"), ("avr", "aVR"), (" V1 ", "V1"), ("ECG I", "I"),
                                               ("Lead II", "II"), ("EKG_aVF", "aVF")])
def test_lead_name_normalisation(raw, canonical):
    record = _fin(_sine(2), [raw, "V6" if canonical != "V6" else "V5"])
    assert canonical in record.leads


def test_only_i_and_ii_derive_the_other_limb_leads():
    signal = _sine(4)
    record = _fin(signal, ["II", "I", "V1", "V2"])
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2")
    lead_i, lead_ii = signal[1], signal[0]
    np.testing.assert_allclose(record.lead("III"), lead_ii - lead_i, atol=1e-6)
    np.testing.assert_allclose(record.lead("aVR"), -(lead_i + lead_ii) / 2, atol=1e-6)
    np.testing.assert_allclose(record.lead("aVL"), lead_i - lead_ii / 2, atol=1e-6)
    np.testing.assert_allclose(record.lead("aVF"), lead_ii - lead_i / 2, atol=1e-6)
    assert record.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]


@pytest.mark.parametrize("name", ["ECG", "EKG", "", "CH1", "Lead", "channel 1"])
def test_single_generic_channel_is_lead_i(name):
    assert is_generic_channel_name(name)
    record = _fin(_sine(1), [name])
    assert record.leads == ("I",) and "lead I" in record.metadata["lead_note"]


def test_single_named_lead_is_kept():
    assert _fin(_sine(1), ["V2"]).leads == ("V2",)


def test_generic_names_with_several_channels_are_unknown():
    with pytest.raises(LeadError, match=r"unknown lead/channel name\(s\) 'ECG', 'CH2'"):
        _fin(_sine(2), ["ECG", "CH2"])


def test_known_non_ecg_channels_are_dropped_and_recorded():
    record = _fin(_sine(4), ["I", "II", "Resp", "vz"])
    assert record.metadata["dropped_channels"] == ["Resp", "vz"]
    assert "Resp" not in record.leads


def test_wrong_lead_names():
    with pytest.raises(LeadError, match=r"'Lead 13'.*Accepted lead names: I, II, III, aVR"):
        _fin(_sine(2), ["I", "Lead 13"])


def test_duplicate_lead_names():
    with pytest.raises(LeadError, match=r"lead aVR appears twice \(as 'AVR' and 'avr'\)"):
        _fin(_sine(2), ["AVR", "avr"])


def test_all_nan_lead():
    signal = _sine(2)
    signal[1] = np.nan
    with pytest.raises(ECGValidationError, match=r"Lead\(s\) II contain only NaN"):
        _fin(signal, ["I", "II"])


def test_flat_lead_and_override():
    signal = _sine(3)
    signal[2] = 0.0
    with pytest.raises(ECGValidationError, match=r"Lead\(s\) V1 are flat"):
        _fin(signal, ["I", "II", "V1"])
    assert _fin(signal, ["I", "II", "V1"], allow_flat_leads=True).n_leads == 7


def test_too_short():
    with pytest.raises(ECGValidationError, match=r"1\.00 s long; at least 2 s"):
        _fin(_sine(12, n=500), list(LEADS_12))


def test_absurd_fs(ptbxl_record, tmp_path):
    np.save(tmp_path / "a.npy", ptbxl_record.signal)
    with pytest.raises(ECGValidationError, match=r"Sampling rate 1e\+06 Hz is not plausible"):
        read(tmp_path / "a.npy", fs=1e6)
    with pytest.raises(ECGFormatError, match="not a positive sampling rate"):
        read(tmp_path / "a.npy", fs=-5)


def test_bad_units_argument(tmp_path, ptbxl_record):
    np.save(tmp_path / "a.npy", ptbxl_record.signal)
    with pytest.raises(ECGFormatError, match="units='mmHg' is not supported"):
        read(tmp_path / "a.npy", fs=500, units="mmHg")


def test_sample_folders_have_license_and_intact_manifest(samples_dir):
    import hashlib

    folders = [p for p in samples_dir.iterdir() if p.is_dir() and p.name != "hospital"]
    assert {p.name for p in folders} >= {"ptbxl", "cinc2021", "code15", "sph", "ptbdb", "cinc2017", "demo"}
    folders += [p for p in (samples_dir / "hospital").glob("*") if p.is_dir()]  # one folder per hospital format
    for folder in folders:
        license_text = (folder / "LICENSE.md").read_text()
        assert any(name in license_text for name in ("CC BY 4.0", "ODC-By 1.0", "MIT License", "Apache License")), folder
        manifest = folder / "MANIFEST.sha256"
        if folder.name == "demo":
            continue  # regenerated by scripts/make_demo_samples.py
        for line in manifest.read_text().splitlines():
            digest, name = line.split()
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
