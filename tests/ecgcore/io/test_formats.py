"""The one format table: read()'s dispatch and the folder scan agree, both ways, on real files.

One example file per suffix the table knows (real samples from data/samples, small synthetic
files where none ships: .tsv, .txt, .npy, .bdf, .hdf5). A format added to the table without an
example here fails ``test_every_suffix_has_an_example``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from pyedflib import highlevel

from ecgcore.batch import discover_ecg_files
from ecgcore.io import SUPPORTED_FORMATS, detect_format, read, upload_help, upload_label
from ecgcore.io.formats import FMT_NAMES, FORMATS, format_by_suffix, format_for, is_ecg_file, sniff, xml_format
from ecgcore.leads import LEADS_12

TABLE_SUFFIXES = sorted({s for f in FORMATS for s in (*f.suffixes, *f.companions)})
# Options a format needs that its file does not carry (a bare .npy has no sampling rate).
READ_OPTIONS = {".npy": {"fs": 500}}


def _ptbxl_lead_i(tmp: Path) -> np.ndarray:
    return read(tmp / "00001_hr.hea").lead("I")


def _write_text(path: Path, sep: str, lead_i: np.ndarray) -> Path:
    rows = [f"{t / 500:.6f}{sep}{v:.4f}" for t, v in enumerate(lead_i)]
    path.write_text(f"time_s{sep}I\n" + "\n".join(rows) + "\n")
    return path


def _write_bdf(path: Path, samples: Path) -> Path:
    record = read(samples / "ptbxl" / "00001_hr.hea")
    signals = [record.lead(n).astype(np.float64) * 1000 for n in LEADS_12]
    headers = [{"label": n, "dimension": "uV", "sample_frequency": 500, "physical_min": -20000, "physical_max": 20000,
                "digital_min": -8388608, "digital_max": 8388607, "transducer": "", "prefilter": ""} for n in LEADS_12]
    highlevel.write_edf(str(path), signals, headers, file_type=pyedflib.FILETYPE_BDFPLUS)
    return path


@pytest.fixture(scope="module")
def every_format(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> tuple[Path, dict[str, list[Path]]]:
    """A folder with examples of every suffix: {suffix: files with that suffix} (.mat alone and beside a .hea)."""
    folder = tmp_path_factory.mktemp("every-format")
    for relative in ("ptbxl/00001_hr.hea", "ptbxl/00001_hr.dat", "ptbdb/s0010_re.hea", "ptbdb/s0010_re.dat",
                     "ptbdb/s0010_re.xyz", "cinc2021/E07500.hea", "cinc2021/E07500.mat", "code15/code_15_1238362.mat",
                     "demo/ptbxl_00001_hr_wfdb.zip", "demo/ptbxl_00001_hr.csv", "demo/ptbxl_00001_hr.npz",
                     "demo/ptbxl_00001_hr.edf", "demo/ptbxl_00001_hr.xml", "sph/SPH00001.h5",
                     "hospital/ge_muse/muse_ecg1.xml", "hospital/dicom/waveform_ecg.dcm",
                     "hospital/scp_ecg/Example.scp", "hospital/philips/2020-5-18_15-48-11.xml"):
        shutil.copy(samples_dir / relative, folder)
    shutil.copy(samples_dir / "sph" / "SPH00001.h5", folder / "SPH00002.hdf5")
    lead_i = _ptbxl_lead_i(folder)
    _write_text(folder / "watch.tsv", "\t", lead_i)
    _write_text(folder / "watch.txt", ",", lead_i)
    np.save(folder / "array.npy", read(folder / "00001_hr.hea").signal)
    _write_bdf(folder / "ecg.bdf", samples_dir)
    examples: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        examples.setdefault(path.suffix.lower(), []).append(path)
    return folder, examples


def _entry(path: Path) -> Path:
    """The file a record is listed under: a companion's header, else the file itself."""
    fmt = format_by_suffix(path)
    if path.suffix.lower() in fmt.suffixes:
        return path
    return next(path.with_suffix(s) for s in fmt.suffixes if path.with_suffix(s).exists())


def _read(path: Path):
    return read(path, **READ_OPTIONS.get(path.suffix.lower(), {}))


def test_every_suffix_has_an_example(every_format) -> None:
    _, examples = every_format
    assert sorted(examples) == TABLE_SUFFIXES


@pytest.mark.parametrize("suffix", TABLE_SUFFIXES)
def test_every_suffix_read_accepts_is_found_by_the_folder_scan(every_format, suffix: str) -> None:
    folder, examples = every_format
    found = discover_ecg_files([folder])
    for path in examples[suffix]:
        entry = _entry(path)
        assert found.count(entry) == 1, f"{entry.name} ({suffix}) is not listed by the folder scan"
        if entry != path:  # a companion: its record is listed once, under the header
            assert path not in found
        record = _read(path)  # read() accepts the companion too, as the record it belongs to
        assert record.n_samples > 0 and record.record_name == _read(entry).record_name


def test_every_file_the_scan_finds_is_read(every_format) -> None:
    folder, examples = every_format
    found = discover_ecg_files([folder])
    assert sorted(found) == sorted({_entry(path) for paths in examples.values() for path in paths})
    for path in found:
        assert _read(path).n_samples > 0, path
        expected = format_by_suffix(path)
        if expected.xml_root:  # .xml is shared by the XML formats: the root element picks one
            expected = xml_format(path.read_bytes()[:4096])
        assert detect_format(path) == expected.key


def test_every_shipped_file_read_accepts_is_found_and_every_found_one_reads(samples_dir: Path) -> None:
    found = set(discover_ecg_files([samples_dir]))
    for path in sorted(samples_dir.rglob("*")):
        if path.is_file() and format_by_suffix(path) is not None:
            assert _entry(path) in found, path
    for path in found:
        assert read(path).n_samples > 0, path


def test_every_format_is_recognised_without_its_suffix(every_format, tmp_path: Path) -> None:
    _, examples = every_format
    recognised = set()
    for path in (p for paths in examples.values() for p in paths):
        if path == _entry(path):
            blob = tmp_path / path.name.replace(".", "_")
            shutil.copy(path, blob)
            recognised.add(format_for(blob).key)
    # .npz is a zip archive and is sniffed as one; the NumPy format is still recognised from .npy.
    assert recognised == {f.key for f in FORMATS}


def test_folder_scan_rule() -> None:
    assert not is_ecg_file(Path("RECORDS")) and not is_ecg_file(Path("SHA256SUMS.txt"))
    assert not is_ecg_file(Path("README.txt")) and not is_ecg_file(Path("notes.md"))
    for licence_text in ("pydicom_MIT.txt", "BRAVEHEART_GPL-3.0.txt", "LICENSE-2.0.txt", "COPYING"):  # hospital_formats/LICENSES/
        assert not is_ecg_file(Path(licence_text))
    assert not is_ecg_file(Path("._00001_hr.hea"))  # macOS resource fork
    assert not is_ecg_file(Path("x.dat")) and not is_ecg_file(Path("x.json"))
    assert is_ecg_file(Path("x.hea")) and is_ecg_file(Path("x.TXT")) and is_ecg_file(Path("x.zip"))


def test_mat_beside_a_header_belongs_to_it(tmp_path: Path) -> None:
    (tmp_path / "a.mat").write_bytes(b"MATLAB")
    assert is_ecg_file(tmp_path / "a.mat") and format_by_suffix(tmp_path / "a.mat").key == "mat"
    (tmp_path / "a.hea").write_text("a 1 500 5000\na.mat 16 1000/mV 16 0 0 0 0 I\n")
    assert not is_ecg_file(tmp_path / "a.mat") and format_by_suffix(tmp_path / "a.mat").key == "wfdb"


def test_text_sniffing_order() -> None:
    assert sniff(b'<?xml version="1.0"?><AnnotatedECG a="1,2;3">').key == "aecg"  # one line, commas: still XML
    assert sniff(b"rec\t1\t500\t5000\nrec.dat\t16\n").key == "wfdb"  # tabs: still a WFDB header
    assert sniff(b"I;II\n0,1;0,2\n").key == "csv"
    assert sniff(b"\x00\x01 junk") is None


def test_supported_formats_and_upload_text_name_every_suffix() -> None:
    assert SUPPORTED_FORMATS == tuple(f.upload_help for f in FORMATS)
    for fmt in FORMATS:
        for suffix in (*fmt.suffixes, *fmt.companions):
            assert suffix in fmt.upload_help, (fmt.key, suffix)
    help_text = upload_help(512)
    assert all(line in help_text for line in SUPPORTED_FORMATS) and help_text.endswith("Limit: 512 MB (ECG_MAX_FILE_MB).")
    assert upload_label(20) == "Upload an ECG (one file, a .zip, or a .hea with its .dat/.xyz/.mat; up to 20 MB)"


def test_fmt_names_are_unchanged() -> None:
    assert FMT_NAMES == ("aecg", "bdf", "cinc2017", "code15", "csv", "dat", "dcm", "dicom", "edf", "edf+", "ge", "h5",
                         "hdf5", "hea", "hl7", "mat", "muse", "npy", "npz", "numpy", "philips", "scp", "sierra", "sph",
                         "tsv", "txt", "wfdb", "xml", "zip")
