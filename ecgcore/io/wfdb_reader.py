"""WFDB records: a text header (.hea) plus signal files (.dat, .mat, .xyz ...).

Format: https://physionet.org/physiotools/wag/header-5.htm and signal-5.htm. The header's
record line gives ``name n_sig fs n_samples``; each signal line gives ``file format gain(baseline)/units
adc_res adc_zero init_value checksum block_size description``. PhysioNet Challenge 2020/2021
records store the samples in a MATLAB v4 file (``.mat``, format ``16x1+24``: 16-bit, 24-byte
MATLAB preamble) and put ``# Age:``, ``# Sex:`` and ``# Dx:`` (SNOMED CT codes) in header comments;
LUDB writes ``# <age>:`` / ``# <sex>:`` / ``# <diagnoses>:`` and PTB ``# age:`` / ``# sex:``
(all read by :func:`parse_comments`).

Headers go through :mod:`ecgcore.io.wfdb_header` (a fast path for fully specified headers, else
``wfdb.rdheader``); plain format-16 samples are decoded with NumPy, anything else by
``wfdb.rdrecord``. Before decoding we compare every signal file's size with what the
header declares, so a truncated download or a header from another record gives a specific
message instead of wfdb's generic "Samples were not loaded correctly", and afterwards check
the header's per-signal checksums, which catch a data file that belongs to another record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import wfdb

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import check_file_size, parse_age, parse_sex, resolve_fs, unit_scale_to_mv
from ecgcore.io._finalize import finalize
from ecgcore.io.wfdb_header import WfdbHeader, read_header
from ecgcore.record import Record

SOURCE = "WFDB"
T = TypeVar("T")

# Bytes per sample for the fixed-width WFDB storage formats (212 packs 2 samples in 3 bytes,
# 310/311 pack 3 samples in 4 bytes). FLAC formats (508, 516, 524) are compressed: not checked.
_BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1,
    "16": 2,
    "61": 2,
    "80": 1,
    "160": 2,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
    "24": 3,
    "32": 4,
}


def read_wfdb(
    header_path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
    units: str = "mV",
) -> Record:
    """Read the WFDB record whose header is ``header_path`` (signal files must sit beside it)."""
    header_path = Path(header_path)
    if header_path.suffix.lower() != ".hea":
        header_path = header_path.with_suffix(".hea")
    if not header_path.exists():
        raise ECGFormatError(
            f"WFDB header {header_path.name} not found: a WFDB record needs its .hea header beside the "
            ".dat/.mat signal file (upload both, or a .zip holding both)."
        )
    check_file_size(header_path, "Header")
    record_base = str(header_path.with_suffix(""))
    try:
        header = read_header(header_path)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on malformed headers
        raise ECGFormatError(f"{header_path.name} is not a valid WFDB header: {exc}") from exc
    if not header.n_sig:
        raise ECGFormatError(f"{header_path.name} declares no signals.")
    if getattr(header, "n_seg", None):
        raise ECGFormatError(f"{header_path.name} is a multi-segment WFDB record; these are not supported.")
    _check_signal_files(header_path.parent, header)

    d_signal = read_plain_format16(header_path.parent, header)
    if d_signal is not None:
        rec = header  # the header object carries every field rdrecord would add, bar the samples
    else:
        try:
            rec = wfdb.rdrecord(record_base, physical=False, return_res=32)
        except Exception as exc:
            raise ECGFormatError(f"Could not read the signals of WFDB record {header_path.stem}: {exc}") from exc
        d_signal = np.asarray(rec.d_signal)
    if d_signal.ndim != 2 or d_signal.shape[0] == 0:
        raise ECGFormatError(f"WFDB record {header_path.stem} holds no samples.")
    _check_checksums(header_path, rec, d_signal)

    signal_mv, names, dropped = _to_millivolts(header_path, rec, d_signal)
    record_fs = resolve_fs(float(rec.fs), fs, header_path)
    age, sex, labels, meta = parse_comments(rec.comments or [])
    meta["wfdb_signal_files"] = sorted(set(rec.file_name))
    return finalize(
        signal_mv,
        record_fs,
        names,
        source=SOURCE,
        path=header_path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        age=age,
        sex=sex,
        labels=labels,
        metadata=meta,
        dropped_channels=dropped,
    )


def read_plain_format16(folder: Path, header: WfdbHeader | wfdb.Record) -> np.ndarray | None:
    """Digital samples (n_samples, n_sig) int32 for the commonest layout, or None for any other.

    PTB-XL and the PhysioNet Challenge .mat files keep every channel in one file as interleaved
    little-endian 16-bit samples (format 16, one sample per frame, no skew, optional byte
    offset). Decoding that directly saves wfdb.rdrecord parsing the header a second time, which
    costs more than the samples themselves when scoring folders. Call after _check_signal_files.
    """
    n_sig, n_samples = int(header.n_sig), int(header.sig_len or 0)
    files = set(header.file_name)
    offsets = {int(o or 0) for o in (header.byte_offset or [0] * n_sig)}
    if (
        n_samples <= 0
        or len(files) != 1
        or len(offsets) != 1
        or any(str(f) != "16" for f in header.fmt)
        or any((s or 1) != 1 for s in (header.samps_per_frame or []))
        or any(k for k in (header.skew or []))
    ):
        return None
    data = np.fromfile(folder / files.pop(), dtype="<i2", count=n_samples * n_sig, offset=offsets.pop())
    if data.size != n_samples * n_sig:
        return None  # let wfdb report it
    return data.reshape(n_samples, n_sig).astype(np.int32)


def _check_signal_files(folder: Path, header: WfdbHeader | wfdb.Record) -> None:
    """Each signal file must exist, be within the size limit and hold what the header declares."""
    n_samples = header.sig_len
    by_file: dict[str, list[int]] = {}
    for i, name in enumerate(header.file_name):
        by_file.setdefault(name, []).append(i)
    for name, channels in by_file.items():
        path = folder / name
        if not path.exists():
            raise ECGFormatError(
                f"Signal file {name} named in {header.record_name}.hea is missing; upload it with the header."
            )
        size = check_file_size(path, "Signal file")
        fmt = str(header.fmt[channels[0]])
        per_sample = _BYTES_PER_SAMPLE.get(fmt)
        if per_sample is None or not n_samples:
            continue  # compressed format or length not declared: wfdb infers it
        offsets = header.byte_offset or [0] * header.n_sig
        spf = header.samps_per_frame or [1] * header.n_sig
        offset = int(offsets[channels[0]] or 0)
        frame = sum(int(spf[c] or 1) for c in channels)
        expected = offset + int(np.ceil(n_samples * frame * per_sample))
        if size < expected:
            held = max(size - offset, 0) / (frame * per_sample)
            raise ECGFormatError(
                f"Signal file {name} is truncated: the header declares {n_samples} samples x {len(channels)} "
                f"channel(s) ({expected} bytes) but the file has {size} bytes (about {int(held)} samples). "
                "Download or export it again."
            )
        # A MATLAB .mat may carry a few trailing bytes of padding; anything beyond one frame is a mismatch.
        if size - expected > max(8, int(np.ceil(frame * per_sample))):
            raise ECGFormatError(
                f"Header/data mismatch: {name} has {size} bytes but {header.record_name}.hea describes only "
                f"{n_samples} samples x {len(channels)} channel(s) ({expected} bytes). "
                "The header probably belongs to another record."
            )


def _check_checksums(header_path: Path, rec: wfdb.Record, d_signal: np.ndarray) -> None:
    """Compare the header's 16-bit checksums with the data (WFDB: sum of samples mod 65536).

    A declared checksum of 0 is skipped: some writers (e.g. the CinC 2017 headers) put 0 there
    as a placeholder, and a real sum of exactly 0 mod 65536 is rare enough not to matter.
    """
    declared = rec.checksum
    if not declared or rec.samps_per_frame and any((s or 1) != 1 for s in rec.samps_per_frame):
        return
    actual = (d_signal.astype(np.int64).sum(axis=0) + 32768) % 65536 - 32768
    bad = [
        rec.sig_name[i]
        for i, want in enumerate(declared)
        if want and (int(want) - int(actual[i])) % 65536 != 0
    ]
    if bad:
        raise ECGFormatError(
            f"Header/data mismatch in WFDB record {header_path.stem}: the checksums of signal(s) "
            f"{', '.join(bad)} do not match the data. The signal file is corrupt or belongs to another record."
        )


def _to_millivolts(
    header_path: Path, rec: wfdb.Record, d_signal: np.ndarray
) -> tuple[np.ndarray, list[str], list[str]]:
    """Digital samples -> physical mV per channel; non-voltage channels are dropped.

    WFDB marks missing samples with the most negative value of the storage format; those
    become NaN (a lead that is entirely missing is then refused by Record).
    """
    rows: list[np.ndarray] = []
    names: list[str] = []
    dropped: list[str] = []
    invalid = _invalid_values(rec)
    for i, name in enumerate(rec.sig_name):
        unit = rec.units[i] if rec.units else None
        scale = unit_scale_to_mv(unit or "mV")  # WFDB's default unit for an absent field is mV
        if scale is None:
            dropped.append(f"{name} ({unit})")
            continue
        gain = float(rec.adc_gain[i]) or 200.0  # WFDB: a gain of 0 means the default 200 adu/unit
        digital = d_signal[:, i].astype(np.float64)
        physical = (digital - float(rec.baseline[i])) / gain * scale
        if invalid[i] is not None:
            physical[digital == invalid[i]] = np.nan
        rows.append(physical)
        names.append(name)
    if not rows:
        raise ECGFormatError(f"WFDB record {header_path.stem} has no voltage channels (units: {rec.units}).")
    return np.vstack(rows), names, dropped


def _invalid_values(rec: wfdb.Record) -> list[int | None]:
    """The 'missing sample' sentinel of each signal's storage format (WFDB signal-5 spec)."""
    sentinels = {"8": -128, "16": -32768, "61": -32768, "80": -128, "160": -32768, "212": -2048,
                 "310": -512, "311": -512, "24": -8388608, "32": -2147483648}
    return [sentinels.get(str(f)) for f in rec.fmt]


# Values the header conventions use for "not recorded" (Challenge ``NaN``/``Unknown``, PTB ``n/a``,
# hand-typed ``?``). They become None without an ``*_raw`` entry: there is nothing more to keep.
_MISSING_VALUES = frozenset({"", "nan", "unknown", "n/a", "na", "?", "none", "-"})
_AGE_KEYS = frozenset({"age"})
_SEX_KEYS = frozenset({"sex", "gender"})
_DX_KEYS = frozenset({"dx"})
_DIAGNOSES_KEY = "diagnoses"


def split_comment(line: str) -> tuple[str | None, str, bool]:
    """``(key, value, bracketed)`` of one comment line; key is None when the line has no colon.

    The key is folded to one spelling so every convention reaches the same branch: Challenge
    ``Age: 74``, PTB ``age: 81`` and LUDB ``<age>: 51`` (or ``< Age > :51``) all give ``"age"``.
    ``bracketed`` says the key was in angle brackets, LUDB's mark for a field (as opposed to a
    diagnosis such as ``Rhythm: Sinus rhythm.``).
    """
    key, sep, value = line.partition(":")
    if not sep:
        return None, line.strip(), False
    key = key.strip()
    bracketed = key.startswith("<") and key.endswith(">")
    folded = " ".join(key.strip("<>").split()).lower()
    return folded, value.strip(), bracketed


def _demographic(value: str, parse: Callable[[str], T | None], raw_key: str, meta: dict[str, Any]) -> T | None:
    """``parse(value)``; a value that is neither parseable nor a 'missing' marker (e.g. ``>89``, or
    PTB-XL's ``300`` for 'over 89') is kept as ``meta[raw_key]``: nothing invented, nothing lost."""
    parsed = parse(value)
    if parsed is None and value.lower() not in _MISSING_VALUES:
        meta[raw_key] = value
    return parsed


def parse_comments(comments: list[str]) -> tuple[float | None, str | None, list[str], dict[str, Any]]:
    """Age, sex, Dx codes and the remaining comments from WFDB header comment lines.

    The one place that reads header comments, for every convention found in real data:

    - PhysioNet Challenge 2020/2021: ``Age: 74`` / ``Age: NaN``, ``Sex: Male`` / ``Female``,
      ``Dx: 164889003,59118001`` (-> labels), ``Rx:``/``Hx:`` kept as other comments.
    - LUDB: ``<age>: 51``, ``<sex>: F``, then ``<diagnoses>:`` and one diagnosis per line until
      the end or the next ``<field>:``; the diagnoses go to ``meta["diagnoses"]`` as written (they
      are free text, not mapped to labels).
    - PTB Diagnostic: lower-case ``age: 81`` / ``sex: female`` (``n/a`` when not recorded), then
      the clinical summary, kept as other comments.

    Keys are case-, space- and bracket-insensitive. Missing or unparseable values give None
    (never a guess); unparseable ones are kept as ``meta["age_raw"]`` / ``meta["sex_raw"]``.
    Every other line is kept, in order, in ``meta["header_comments"]``.
    """
    age: float | None = None
    sex: str | None = None
    labels: list[str] = []
    other: list[str] = []
    diagnoses: list[str] = []
    has_diagnoses = in_diagnoses = False
    meta: dict[str, Any] = {}
    for line in comments:
        key, value, bracketed = split_comment(line)
        if in_diagnoses and not bracketed:
            if line.strip():
                diagnoses.append(line.strip())
            continue
        in_diagnoses = False
        if key in _AGE_KEYS:
            age = _demographic(value, parse_age, "age_raw", meta)
        elif key in _SEX_KEYS:
            sex = _demographic(value, parse_sex, "sex_raw", meta)
        elif key in _DX_KEYS:
            labels = [code.strip() for code in value.split(",") if code.strip()]
        elif key == _DIAGNOSES_KEY and bracketed:
            has_diagnoses = in_diagnoses = True
            diagnoses += [value] if value else []
        else:
            other.append(line)
    if other:
        meta["header_comments"] = other
    if has_diagnoses:
        meta["diagnoses"] = diagnoses
    return age, sex, labels, meta
