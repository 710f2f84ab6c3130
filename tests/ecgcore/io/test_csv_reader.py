"""CSV: round trip from a real record, time columns, delimiters, units, and malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgcore.errors import ECGFormatError, ECGValidationError, LeadError
from ecgcore.io import read
from ecgcore.io.writers import write_csv
from ecgcore.leads import LEADS_12


def _write(path: Path, header: list[str], columns: list[np.ndarray], sep: str = ",", fmt: str = "{:.4f}") -> Path:
    lines = [sep.join(header)]
    for row in zip(*columns):
        lines.append(sep.join(fmt.format(v) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip_from_ptbxl(tmp_path, ptbxl_record):
    path = write_csv(ptbxl_record, tmp_path / "ecg.csv")
    record = read(path)
    assert record.source == "CSV" and record.fs == 500.0 and record.leads == LEADS_12
    assert record.metadata["fs_from_time_column"] == "time_s"
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=0.5e-4 + 1e-7)


def test_single_column_without_delimiter(tmp_path, ptbxl_record):
    path = _write(tmp_path / "lead_i.txt", ["I"], [ptbxl_record.lead("I")])
    record = read(path, fs=500)
    assert record.leads == ("I",)
    np.testing.assert_allclose(record.signal[0], ptbxl_record.lead("I"), atol=0.5e-4 + 1e-7)


def test_time_in_ms_semicolon_and_decimal_comma(tmp_path, ptbxl_record):
    time_ms = np.arange(ptbxl_record.n_samples) * 2.0
    cols = [time_ms] + [ptbxl_record.lead(n) for n in ("I", "II")]
    path = _write(tmp_path / "eu.csv", ["time_ms", "I", "II"], cols, sep=";", fmt="{:.4f}")
    path.write_text(path.read_text().replace(".", ","))
    record = read(path)
    assert record.fs == 500.0
    assert record.metadata["csv_delimiter"] == ";"
    np.testing.assert_allclose(record.lead("II"), ptbxl_record.lead("II"), atol=1e-4)
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF")  # derived from I and II


@pytest.mark.parametrize(("step", "expected_fs"), [(0.004, 250.0), (4.0, 250.0)])
def test_plain_time_column_unit_is_decided_by_step(tmp_path, ptbxl_record, step, expected_fs):
    n = 1000
    path = _write(tmp_path / "t.csv", ["t", "V1"], [np.arange(n) * step, ptbxl_record.lead("V1")[:n]])
    assert read(path).fs == expected_fs


def test_uv_units_and_caller_fs(tmp_path, ptbxl_record):
    path = _write(tmp_path / "uv.csv", ["I", "II", "V1"], [ptbxl_record.lead(n) * 1000 for n in ("I", "II", "V1")],
                  fmt="{:.1f}")
    with pytest.raises(ECGValidationError, match="microvolts"):
        read(path, fs=500)
    record = read(path, fs=500, units="uV")
    np.testing.assert_allclose(record.lead("V1"), ptbxl_record.lead("V1"), atol=1e-4)


def test_lead_name_normalisation_in_header(tmp_path, ptbxl_record):
    header = ["Lead I", "ECG II", "iii", "AVR", "avl", " aVF ", " V1 ", "EKG V2", "v3", "V4", "V5", "V6"]
    path = _write(tmp_path / "names.csv", header, list(ptbxl_record.signal))
    record = read(path, fs=500)
    assert record.leads == LEADS_12
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=1e-4)
    assert record.metadata["original_lead_names"][0] == "Lead I"


def test_missing_fs(tmp_path, ptbxl_record):
    path = _write(tmp_path / "nofs.csv", ["I"], [ptbxl_record.lead("I")])
    with pytest.raises(ECGFormatError, match=r"does not state its sampling rate; pass fs"):
        read(path)


def test_no_header_row(tmp_path, ptbxl_record):
    path = _write(tmp_path / "nohdr.csv", ["0.1", "0.2"], [ptbxl_record.lead("I"), ptbxl_record.lead("II")])
    with pytest.raises(ECGFormatError, match="has no header row"):
        read(path, fs=500)


def test_non_numeric_value(tmp_path, ptbxl_record):
    path = _write(tmp_path / "bad.csv", ["I", "II"], [ptbxl_record.lead("I"), ptbxl_record.lead("II")])
    lines = path.read_text().splitlines()
    lines[10] = "0.1,abc"
    path.write_text("\n".join(lines))
    with pytest.raises(ECGFormatError, match=r"column 'II' has a non-numeric value 'abc' in data row 10"):
        read(path, fs=500)


def test_uneven_time_column(tmp_path, ptbxl_record):
    t = np.arange(2000) * 0.002
    t[1000:] += 0.01  # five samples missing
    path = _write(tmp_path / "gap.csv", ["time_s", "I"], [t, ptbxl_record.lead("I")[:2000]], fmt="{:.6f}")
    with pytest.raises(ECGFormatError, match="not evenly spaced"):
        read(path)


def test_time_column_and_conflicting_fs(tmp_path, ptbxl_record):
    path = write_csv(ptbxl_record, tmp_path / "ecg.csv")
    with pytest.raises(ECGFormatError, match="500 Hz but fs=1000"):
        read(path, fs=1000)


def test_unknown_lead_name(tmp_path, ptbxl_record):
    path = _write(tmp_path / "u.csv", ["I", "II", "Pleth2"], [ptbxl_record.lead(n) for n in ("I", "II", "V1")])
    with pytest.raises(LeadError, match=r"unknown lead/channel name\(s\) 'Pleth2'.*Accepted lead names: I, II"):
        read(path, fs=500)


def test_empty_cells_are_nan_and_all_empty_lead_is_refused(tmp_path, ptbxl_record):
    path = tmp_path / "nan.csv"
    rows = ["I,II"] + [f"{v:.4f}," for v in ptbxl_record.lead("I")]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ECGValidationError, match=r"Lead\(s\) II contain only NaN"):
        read(path, fs=500)
