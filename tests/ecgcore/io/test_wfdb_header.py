"""The fast WFDB header parser must read exactly what wfdb.rdheader reads, or decline."""

from __future__ import annotations

from pathlib import Path

import pytest
import wfdb

from ecgcore.io import read
from ecgcore.io.wfdb_header import WfdbHeader, parse_simple_header, read_header

FIELDS = [name for name in WfdbHeader.__dataclass_fields__ if name != "n_seg"]
DEFAULTS = {"samps_per_frame": 1, "skew": 0, "byte_offset": 0, "units": "mV"}


def _normalised(record, name: str):
    """wfdb's value for a field, with its None placeholders replaced by the spec's defaults."""
    value = getattr(record, name)
    if isinstance(value, list):
        value = [DEFAULTS.get(name) if v is None else v for v in value]
        if name == "fmt":
            value = [str(v) for v in value]
        if name in ("adc_gain",):
            value = [float(v) for v in value]
    return value


def _headers(shared: Path, samples: Path) -> list[Path]:
    picked = sorted(samples.rglob("*.hea"))
    for folder, step in (("cinc2021_sample", 1), ("ptbdb_sample", 1), ("ptbxl_subset/records500", 4),
                         ("ptbxl_subset/records100", 16), ("cinc2017_subset", 50)):
        picked += sorted((shared / folder).rglob("*.hea"))[::step]
    return picked


def test_fast_parser_equals_wfdb_on_real_headers(shared_data_dir: Path, samples_dir: Path) -> None:
    headers = _headers(shared_data_dir, samples_dir)
    assert len(headers) > 200
    for path in headers:
        fast = parse_simple_header(path.read_text())
        assert fast is not None, f"{path} should take the fast path"
        slow = wfdb.rdheader(str(path.with_suffix("")))
        for name in FIELDS:
            assert getattr(fast, name) == _normalised(slow, name), f"{path.name}: {name}"


@pytest.mark.parametrize(
    "text",
    [
        "rec/2 2 500 5000\nseg1 2500\nseg2 2500\n",                              # multi-segment
        "rec 1 500\nrec.dat 16 200/mV 16 0 0 0 0 I\n",                         # no sample count
        "rec 1 500/10(3) 5000\nrec.dat 16 200/mV 16 0 0 0 0 I\n",              # counter frequency
        "rec 1 500 5000\nrec.dat 16 200/mV 16 0 0 0\n",                        # signal line cut short
        "rec 2 500 5000\nrec.dat 16 200/mV 16 0 0 0 0 I\n",                    # one signal line missing
        "rec 1 500 5000\nrec.dat 16 200/mV 16 0 0 0 0 I  # lead I\n",          # trailing comment
        "",
    ],
)
def test_unusual_headers_are_left_to_wfdb(text: str) -> None:
    assert parse_simple_header(text) is None


def test_defaults_and_optional_parts_follow_the_spec() -> None:
    header = parse_simple_header(
        "# leading comment\nrec 2 500.5 5000 10:00:00 01/02/2003\n\n"
        "rec.dat 16x2:3+24 2000 16 5 7 -8 0 lead one\n"
        "rec.dat 212 1e3(-4)/uV 12 0 0 9 0 II\n#   Age: 60\n"
    )
    assert header is not None
    assert (header.n_sig, header.fs, header.sig_len) == (2, 500.5, 5000)
    assert header.samps_per_frame == [2, 1] and header.skew == [3, 0] and header.byte_offset == [24, 0]
    assert header.adc_gain == [2000.0, 1000.0] and header.baseline == [5, -4] and header.units == ["mV", "uV"]
    assert header.sig_name == ["lead one", "II"] and header.comments == ["leading comment", "Age: 60"]


def test_declined_headers_still_read_through_wfdb(tmp_path: Path, samples_dir: Path) -> None:
    """A header the fast path declines (counter frequency) gives the same record via wfdb."""
    source = samples_dir / "ptbxl" / "00001_hr.hea"
    for companion in source.parent.glob("00001_hr.*"):
        (tmp_path / companion.name).write_bytes(companion.read_bytes())
    header = tmp_path / "00001_hr.hea"
    lines = header.read_text().splitlines()
    name, n_sig, fs, *rest = lines[0].split()
    header.write_text("\n".join([" ".join([name, n_sig, f"{fs}/1", *rest]), *lines[1:]]) + "\n")
    assert parse_simple_header(header.read_text()) is None
    assert isinstance(read_header(header), wfdb.Record)
    expected = read(source)
    got = read(header)
    assert got.fs == expected.fs and got.leads == expected.leads
    assert (got.signal == expected.signal).all()
