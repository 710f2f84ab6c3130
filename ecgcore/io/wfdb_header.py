"""A fast path for reading WFDB headers of the common, fully specified kind; wfdb for the rest.

Why: ``wfdb.rdheader`` parses each signal line through pandas look-ups, ~6 ms per 12-lead
header, which is more than reading and preprocessing the samples together and made header
parsing the bottleneck of scoring folders. PTB-XL, the PhysioNet Challenge and most exported
records write every field of every signal line, which a pair of strict regular expressions
reads in microseconds. Anything else (multi-segment records, omitted fields, counter
frequencies, unusual spacing) returns ``None`` from :func:`parse_simple_header`, and
:func:`read_header` hands the file to ``wfdb.rdheader`` as before. Tests check the fast path
against wfdb on every header in the shared data.

Spec: https://physionet.org/physiotools/wag/header-5.htm
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import wfdb

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# name n_sig fs n_samples [base_time [base_date]]; no segments, no counter frequency.
_RECORD_LINE = re.compile(rf"^(?P<name>[^\s/]+)\s+(?P<n_sig>\d+)\s+(?P<fs>{_NUMBER})\s+(?P<sig_len>\d+)(?:\s+\S+){{0,2}}$")
# file format[xspf][:skew][+offset] gain[(baseline)][/units] adc_res adc_zero init checksum block description
_SIGNAL_LINE = re.compile(
    rf"^(?P<file>\S+)\s+(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?"
    rf"\s+(?P<gain>{_NUMBER})(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>\S+))?"
    r"\s+(?P<adc_res>\d+)\s+(?P<adc_zero>-?\d+)\s+(?P<init>-?\d+)\s+(?P<checksum>-?\d+)\s+(?P<block>\d+)"
    r"\s+(?P<description>\S.*?)\s*$"
)


@dataclass
class WfdbHeader:
    """The header fields our reader uses, named as on ``wfdb.Record`` so either can be passed on."""

    record_name: str
    n_sig: int
    fs: float
    sig_len: int
    file_name: list[str]
    fmt: list[str]
    samps_per_frame: list[int]
    skew: list[int]
    byte_offset: list[int]
    adc_gain: list[float]
    baseline: list[int]
    units: list[str]
    adc_res: list[int]
    adc_zero: list[int]
    init_value: list[int]
    checksum: list[int]
    block_size: list[int]
    sig_name: list[str]
    comments: list[str]
    n_seg: None = None


def parse_simple_header(text: str) -> WfdbHeader | None:
    """Parse a fully specified single-segment header, or return None to let wfdb do it."""
    comments: list[str] = []
    lines: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comments.append(stripped[1:].strip())
        elif "#" in stripped:
            return None  # a trailing comment: unusual enough to leave to wfdb
        else:
            lines.append(stripped)
    if not lines:
        return None
    record = _RECORD_LINE.match(lines[0])
    if record is None:
        return None
    n_sig = int(record["n_sig"])
    signals = [_SIGNAL_LINE.match(line) for line in lines[1:]]
    if n_sig == 0 or len(signals) != n_sig or any(s is None for s in signals):
        return None
    return WfdbHeader(
        record_name=record["name"],
        n_sig=n_sig,
        fs=float(record["fs"]),
        sig_len=int(record["sig_len"]),
        file_name=[s["file"] for s in signals],
        fmt=[s["fmt"] for s in signals],
        samps_per_frame=[int(s["spf"] or 1) for s in signals],
        skew=[int(s["skew"] or 0) for s in signals],
        byte_offset=[int(s["offset"] or 0) for s in signals],
        adc_gain=[float(s["gain"]) for s in signals],
        baseline=[int(s["baseline"]) if s["baseline"] is not None else int(s["adc_zero"]) for s in signals],
        units=[s["units"] or "mV" for s in signals],
        adc_res=[int(s["adc_res"]) for s in signals],
        adc_zero=[int(s["adc_zero"]) for s in signals],
        init_value=[int(s["init"]) for s in signals],
        checksum=[int(s["checksum"]) for s in signals],
        block_size=[int(s["block"]) for s in signals],
        sig_name=[s["description"] for s in signals],
        comments=comments,
    )


def read_header(header_path: Path) -> WfdbHeader | wfdb.Record:
    """The header of the record at ``header_path`` (.hea): fast path first, then wfdb.

    Raises whatever ``wfdb.rdheader`` raises for a header neither can read.
    """
    try:
        text = Path(header_path).read_text(encoding="ascii")
    except (UnicodeDecodeError, ValueError):
        text = None
    parsed = parse_simple_header(text) if text is not None else None
    if parsed is not None:
        return parsed
    return wfdb.rdheader(str(Path(header_path).with_suffix("")))
