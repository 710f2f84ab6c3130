"""The direct format-16 decoder must give exactly what wfdb.rdrecord gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgcore.io import read, wfdb_reader


def _read_both(path: Path, monkeypatch: pytest.MonkeyPatch):
    fast = read(path)
    with monkeypatch.context() as patch:
        patch.setattr(wfdb_reader, "read_plain_format16", lambda folder, header: None)
        slow = read(path)
    return fast, slow


@pytest.mark.parametrize(
    "relative",
    ["ptbxl/00001_hr.hea", "ptbxl/00017_hr.hea", "cinc2021/E07500.hea", "cinc2021/HR06000.hea", "cinc2021/JS20000.hea"],
)
def test_fast_path_equals_wfdb(samples_dir: Path, relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = samples_dir / relative
    import wfdb

    header = wfdb.rdheader(str(path.with_suffix("")))
    assert wfdb_reader.read_plain_format16(path.parent, header) is not None  # the fast path is taken
    fast, slow = _read_both(path, monkeypatch)
    np.testing.assert_array_equal(fast.signal, slow.signal)
    assert (fast.fs, fast.leads, fast.age, fast.sex, fast.labels) == (slow.fs, slow.leads, slow.age, slow.sex, slow.labels)
    assert fast.metadata == slow.metadata


def test_other_layouts_use_wfdb(samples_dir: Path) -> None:
    import wfdb

    path = samples_dir / "ptbdb" / "s0010_re.hea"  # two signal files (.dat + .xyz)
    header = wfdb.rdheader(str(path.with_suffix("")))
    assert wfdb_reader.read_plain_format16(path.parent, header) is None
    assert read(path).n_leads == 12


def test_missing_sample_sentinel_becomes_nan(samples_dir: Path, tmp_path: Path) -> None:
    import shutil

    for f in (samples_dir / "ptbxl").glob("00001_hr.*"):
        shutil.copy(f, tmp_path / f.name)
    raw = np.fromfile(tmp_path / "00001_hr.dat", dtype="<i2").reshape(-1, 12)
    raw[100:110, 3] = -32768
    raw.tofile(tmp_path / "00001_hr.dat")
    header_text = (tmp_path / "00001_hr.hea").read_text().splitlines()
    # checksums no longer match the edited data: blank them (WFDB allows omitting them)
    # fields: file format gain adc_res adc_zero init_value checksum block_size name
    fixed = [header_text[0]] + [" ".join(line.split()[:6] + ["0"] + line.split()[7:]) for line in header_text[1:13]]
    (tmp_path / "00001_hr.hea").write_text("\n".join(fixed + header_text[13:]) + "\n")
    record = read(tmp_path / "00001_hr.hea")
    assert np.isnan(record.lead("aVR")[100:110]).all()
    assert not np.isnan(record.lead("aVR")[110:]).any()
