"""ZIP uploads: a WFDB record or a single file inside; every unsafe or broken archive."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ecgcore import config
from ecgcore.errors import ECGFileTooLargeError, ECGFormatError
from ecgcore.io import read, zip_reader
from ecgcore.io.writers import write_csv


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _wfdb_members(header: Path, folder: str = "") -> dict[str, bytes]:
    return {folder + header.with_suffix(s).name: header.with_suffix(s).read_bytes() for s in (".hea", ".dat")}


def test_wfdb_record_in_a_folder_inside_the_zip(tmp_path, ptbxl_header, ptbxl_record):
    members = _wfdb_members(ptbxl_header, "export/") | {"__MACOSX/._00001_hr.hea": b"junk", "README.txt": b"hi"}
    record = read(_zip(tmp_path / "up.zip", members))
    np.testing.assert_array_equal(record.signal, ptbxl_record.signal)
    assert record.metadata["original_filename"] == "up.zip"
    assert record.metadata["zip_member"] == "export/00001_hr.hea"
    assert record.source == "WFDB"


def test_single_csv_in_zip(tmp_path, ptbxl_record):
    csv = write_csv(ptbxl_record, tmp_path / "ecg.csv")
    record = read(_zip(tmp_path / "csv.zip", {"ecg.csv": csv.read_bytes()}))
    assert record.source == "CSV" and record.fs == 500


def test_shipped_demo_zip(samples_dir):
    assert read(samples_dir / "demo" / "ptbxl_00001_hr_wfdb.zip").record_name == "00001_hr"


@pytest.mark.parametrize("name", ["../evil.hea", "a/../../evil.csv", "/etc/evil.csv", "C:\\evil.csv", "..\\evil.csv"])
def test_unsafe_member_paths(tmp_path, name):
    path = _zip(tmp_path / "slip.zip", {name: b"I,II\n1,2\n"})
    with pytest.raises(ECGFormatError, match=r"unsafe path \(absolute or '\.\.'\)"):
        read(path)
    assert not (tmp_path / "evil.csv").exists() and not (tmp_path.parent / "evil.hea").exists()


def test_symlink_member(tmp_path):
    info = zipfile.ZipInfo("link.csv")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ECGFormatError, match="symbolic link"):
        read(path)


def test_zip_bomb_declared_size_over_limit(tmp_path, monkeypatch):
    path = _zip(tmp_path / "bomb.zip", {"zeros.csv": b"0" * 2_000_000})
    assert path.stat().st_size < 10_000
    monkeypatch.setattr(config, "MAX_FILE_BYTES", 100_000)
    with pytest.raises(ECGFileTooLargeError, match=r"would unpack to more than 0\.095 MB"):
        read(path)


def test_member_that_lies_about_its_size_is_stopped(tmp_path):
    path = _zip(tmp_path / "liar.zip", {"a.csv": b"I\n" + b"1\n" * 50_000})
    data = bytearray(path.read_bytes())
    # Patch the declared uncompressed size (central directory) down to 10 bytes.
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    local = info.header_offset
    data[local + 22:local + 26] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ECGFormatError, match=r"member 'a\.csv' (unpacks to more than it declares|is corrupt)"):
        read(path, fs=500)


def test_too_many_members(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_reader, "MAX_ZIP_MEMBERS", 3)
    path = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(4)})
    with pytest.raises(ECGFormatError, match="has 4 members; at most 3"):
        read(path)


def test_nested_zip(tmp_path):
    inner = _zip(tmp_path / "inner.zip", {"a.csv": b"I\n1\n"})
    path = _zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes()})
    with pytest.raises(ECGFormatError, match="nested zips are refused"):
        read(path)


def test_corrupt_zip(tmp_path, ptbxl_header):
    path = _zip(tmp_path / "ok.zip", _wfdb_members(ptbxl_header))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ECGFormatError, match=r"ok\.zip is not a valid zip file"):
        read(path)


def test_damaged_member_data(tmp_path, ptbxl_header):
    path = _zip(tmp_path / "crc.zip", _wfdb_members(ptbxl_header))
    data = bytearray(path.read_bytes())
    data[2000:2010] = b"\x00" * 10  # inside the compressed .dat stream
    path.write_bytes(bytes(data))
    with pytest.raises(ECGFormatError, match="is corrupt"):
        read(path)


def test_empty_zip_and_two_records(tmp_path, ptbxl_header, samples_dir):
    empty = _zip(tmp_path / "empty.zip", {})
    with pytest.raises(ECGFormatError, match="empty zip file"):
        read(empty)
    members = _wfdb_members(ptbxl_header) | _wfdb_members(samples_dir / "ptbxl" / "00008_hr.hea")
    two = _zip(tmp_path / "two.zip", members)
    with pytest.raises(ECGFormatError, match=r"holds 2 WFDB records \(00001_hr, 00008_hr\)"):
        read(two)


def test_dat_without_header_in_zip(tmp_path, ptbxl_header):
    path = _zip(tmp_path / "dat.zip", {"00001_hr.dat": ptbxl_header.with_suffix(".dat").read_bytes()})
    with pytest.raises(ECGFormatError, match=r"00001_hr\.dat but no \.hea header"):
        read(path)
