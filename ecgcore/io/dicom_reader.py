"""DICOM ECG waveform objects (12-lead ECG, General ECG and Ambulatory ECG Waveform Storage), via pydicom.

Layout we read (DICOM PS3.3 C.10.9, Waveform module)::

    SOPClassUID                        1.2.840.10008.5.1.4.1.1.9.1.1 / .9.1.2 / .9.1.3
    WaveformSequence                   one item per multiplex group
      MultiplexGroupLabel              "RHYTHM", "MEDIAN BEAT" ...
      WaveformOriginality              ORIGINAL (rhythm) or DERIVED (median beats)
      NumberOfWaveformChannels, NumberOfWaveformSamples, SamplingFrequency
      WaveformBitsAllocated + WaveformSampleInterpretation   (16 + SS: int16 ...)
      WaveformPaddingValue             optional: the raw value that marks a missing sample
      ChannelDefinitionSequence        one item per channel, in the order of the interleaved data
        ChannelSourceSequence          the lead as a code: SCPECG 5.6.3-9-n or MDC 2:n (CID 3001)
        ChannelSensitivity + ChannelSensitivityUnitsSequence   e.g. 1.25 uV per unit
        ChannelSensitivityCorrectionFactor, ChannelBaseline
      WaveformData                     C1S1, C2S1 ... CnS1, C1S2 ... (little or big endian)
    WaveformAnnotationSequence         the device's measurements (coded numeric values), its
                                       statements (unformatted text) and fiducials

Each sample is ``raw * ChannelSensitivity * ChannelSensitivityCorrectionFactor + ChannelBaseline``
in the sensitivity's unit (pydicom's ``waveform_array`` convention); the data are decoded here
rather than by ``ds.waveform_array`` so that the declared sizes are checked against the bytes and
padding can be told from data. Channels are chosen by their coded source, never by position;
channels whose code is not one of the twelve standard leads are dropped and listed in
``metadata['dropped_channels']``. The rhythm group is the record; a median-beat group is kept in
``metadata['device_median_beats']``. Patient identifier, age at acquisition (from the birth date),
sex, acquisition time, device and institution go to ``Record.acquisition``/``age``/``sex``; the
patient's name is never read. See docs/formats/dicom.md for producer quirks.
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.acquisition import Acquisition, DeviceReading, age_at
from ecgcore.errors import ECGError, ECGFormatError
from ecgcore.io._common import (
    check_file_size,
    device_value_range,
    parse_sex,
    qtc_by_formula,
    resolve_fs,
    unit_scale_to_mv,
)
from ecgcore.io._finalize import finalize
from ecgcore.leads import LEAD_INDEX, canonical_lead_name, derive_limb_leads
from ecgcore.record import Record

SOURCE = "DICOM ECG"

ECG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.3": "Ambulatory ECG Waveform Storage",
}

# Lead numbers shared by SCP-ECG (SCPECG "5.6.3-9-n") and ISO/IEEE 11073 (MDC "2:n", or 131072 + n
# context-free), DICOM PS3.16 CID 3001. The twelve standard leads are read; the others are named so
# that metadata['dropped_channels'] says what was left out.
_STANDARD_LEAD_NUMBERS = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6",
                          61: "III", 62: "aVR", 63: "aVL", 64: "aVF"}
_OTHER_LEAD_NUMBERS = {9: "V7", 10: "V2R", 11: "V3R", 12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R", 16: "X",
                       17: "Y", 18: "Z", 19: "CC5", 20: "CM5", 65: "-aVR", 66: "V8", 67: "V9", 68: "V8R", 69: "V9R"}
_LEAD_SCHEMES = {"SCPECG", "MDC"}
_MDC_CONTEXT_FREE_BASE = 131072  # MDC partition 2 (ECG) << 16

# (5400,1004) bits allocated + (5400,1006) interpretation -> numpy kind and size. mu-law/A-law (MB, AB)
# are audio encodings and refused.
_SAMPLE_TYPES = {(8, "SB"): "i1", (8, "UB"): "u1", (16, "SS"): "i2", (16, "US"): "u2",
                 (32, "SL"): "i4", (32, "UL"): "u4", (64, "SV"): "i8", (64, "UV"): "u8"}

# The device's measurements: WaveformAnnotationSequence items with a ConceptNameCodeSequence and a
# NumericValue. SCP-ECG codes as the Mortara ELI 250 and ECG Toolkit write them, MDC reference ids,
# then the code meaning (normalised) for producers with other codes. "qtc" is a QTc whose formula
# the code does not say (see io._common.qtc_by_formula).
_QTC_UNSPECIFIED = "qtc"
_MEASURE_BY_CODE = {
    "5.10.2.1-3": "rr_ms", "5.13.5-7": "pr_ms", "5.13.5-9": "qrs_ms", "5.13.5-11": "qt_ms",
    "5.10.2.5-5": _QTC_UNSPECIFIED, "5.10.3-11": "p_axis_deg", "5.10.3-13": "qrs_axis_deg",
    "5.10.3-15": "t_axis_deg",
    "MDC_ECG_HEART_RATE": "heart_rate_bpm", "MDC_ECG_TIME_PD_RR": "rr_ms", "MDC_ECG_TIME_PD_RR_GL": "rr_ms",
    "MDC_ECG_TIME_PD_P": "p_duration_ms", "MDC_ECG_TIME_PD_P_GL": "p_duration_ms",
    "MDC_ECG_TIME_PD_PR": "pr_ms", "MDC_ECG_TIME_PD_PR_GL": "pr_ms",
    "MDC_ECG_TIME_PD_QRS": "qrs_ms", "MDC_ECG_TIME_PD_QRS_GL": "qrs_ms",
    "MDC_ECG_TIME_PD_QT": "qt_ms", "MDC_ECG_TIME_PD_QT_GL": "qt_ms",
    "MDC_ECG_TIME_PD_QTC": _QTC_UNSPECIFIED, "MDC_ECG_TIME_PD_QTCB": "qtc_bazett_ms",
    "MDC_ECG_TIME_PD_QTCF": "qtc_fridericia_ms",
    "MDC_ECG_ANGLE_P_FRONT": "p_axis_deg", "MDC_ECG_ANGLE_QRS_FRONT": "qrs_axis_deg",
    "MDC_ECG_ANGLE_T_FRONT": "t_axis_deg",
}
_MEASURE_BY_MEANING = {
    "heart rate": "heart_rate_bpm", "ventricular rate": "heart_rate_bpm", "vent rate": "heart_rate_bpm",
    "rr interval": "rr_ms", "p duration": "p_duration_ms", "p wave duration": "p_duration_ms",
    "pr interval": "pr_ms", "qrs duration": "qrs_ms", "qt interval": "qt_ms",
    "qtc interval": _QTC_UNSPECIFIED, "qtc": _QTC_UNSPECIFIED, "corrected qt interval": _QTC_UNSPECIFIED,
    "qtc bazett": "qtc_bazett_ms", "qtcb": "qtc_bazett_ms", "qtc fridericia": "qtc_fridericia_ms",
    "qtcf": "qtc_fridericia_ms", "p axis": "p_axis_deg", "p wave axis": "p_axis_deg", "qrs axis": "qrs_axis_deg",
    "t axis": "t_axis_deg", "t wave axis": "t_axis_deg",
}
_MS_PER_UNIT = {"ms": 1.0, "s": 1000.0}
_BPM_UNITS = {"/min", "{beats}/min", "bpm", "1/min", "beats/min"}


def read_dicom(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read the rhythm waveforms of a DICOM ECG waveform file (see the module docstring)."""
    path = Path(path)
    check_file_size(path)
    with warnings.catch_warnings():  # pydicom warns on invalid UIDs and the like; the waveform is still fine
        warnings.filterwarnings("ignore", module=r"pydicom(\..*)?$")
        dataset = _read_dataset(path)
        try:
            return _record_from_dataset(dataset, path, fs=fs, record_name=record_name,
                                        allow_flat_leads=allow_flat_leads)
        except (ECGError, MemoryError):
            raise
        except Exception as exc:  # a malformed element that pydicom only decodes on access
            raise ECGFormatError(f"Could not read {path.name} as a DICOM ECG waveform: {exc}") from exc


def _read_dataset(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError:
        raise ECGFormatError(
            f"{path.name} is not a DICOM file (no 'DICM' marker after the 128-byte preamble)."
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # pydicom stops wherever the bytes run out or stop making sense
        raise ECGFormatError(f"{path.name}: the DICOM file is truncated or corrupt ({exc}).") from exc
    _check_complete(dataset, path)
    return dataset


def _check_complete(ds: Any, path: Path) -> None:
    """Refuse a file that ends inside an element: pydicom returns what it could read without a word.

    A value shorter than its declared length, or a few bytes after the last element (an element
    header cut off), means the file was truncated; sizes inside the waveform are checked later.
    """
    if len(ds) == 0:
        raise ECGFormatError(f"{path.name} is truncated or empty: no data elements after the DICOM file header.")
    size = path.stat().st_size
    last_end = None
    for tag in ds.keys():  # noqa: SIM118 -- iterating the Dataset itself would convert every raw element
        raw = ds.get_item(tag)
        length, tell = getattr(raw, "length", None), getattr(raw, "value_tell", None)
        if length is None or tell is None or length == 0xFFFFFFFF:
            last_end = None  # a parsed sequence: pydicom raises when one is cut short
            continue
        if raw.value is not None and len(raw.value) < length:
            raise ECGFormatError(f"{path.name} is truncated: element {raw.tag} declares {length} bytes, "
                                 f"the file holds {len(raw.value)}.")
        last_end = tell + length
    if last_end is not None and 0 < size - last_end < 12:
        raise ECGFormatError(f"{path.name} is truncated: it ends inside an element header ({size - last_end} bytes "
                             "after the last complete element).")


def _record_from_dataset(ds: Any, path: Path, *, fs: float | None, record_name: str | None,
                         allow_flat_leads: bool) -> Record:
    sop_name = _check_ecg_sop_class(ds, path)
    little_endian = _is_little_endian(ds)
    groups = list(ds.get("WaveformSequence") or [])
    notes: list[str] = []
    rhythm_index, median_index = _choose_groups(groups, path, notes)

    rhythm = _decode_group(groups[rhythm_index], rhythm_index, little_endian, path, notes)
    signal, names = rhythm["signal"], rhythm["leads"]
    file_fs = rhythm["fs"]

    metadata: dict[str, Any] = {
        "dicom_sop_class": sop_name,
        "multiplex_group": rhythm["label"] or f"#{rhythm_index + 1}",
        "original_lead_names": rhythm["meanings"],
    }
    if rhythm["filters"]:
        metadata["device_filters"] = rhythm["filters"]
    if median_index is not None:
        try:
            median = _decode_group(groups[median_index], median_index, little_endian, path, notes)
        except ECGFormatError as exc:
            metadata["device_median_beats_note"] = f"Median beats not read: {exc}"
        else:
            metadata["device_median_beats"] = _median_beats(median)

    acquisition, age = _acquisition(ds, notes)
    reading = _device_reading(ds, acquisition.device, sop_name, notes, metadata)
    if notes:
        metadata["dicom_notes"] = notes
    record = finalize(
        signal,
        resolve_fs(file_fs, fs, path),
        names,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        age=age,
        sex=parse_sex(str(ds.get("PatientSex") or "").strip() or None),
        metadata=metadata,
        dropped_channels=rhythm["dropped"],
    )
    return record.replace(acquisition=acquisition, device_reading=reading)


# -- what kind of DICOM object this is -------------------------------------------------------------
def _check_ecg_sop_class(ds: Any, path: Path) -> str:
    file_meta = getattr(ds, "file_meta", None)
    sop = str(ds.get("SOPClassUID") or (file_meta.get("MediaStorageSOPClassUID") if file_meta else "") or "").strip()
    modality = str(ds.get("Modality") or "").strip().upper()
    has_waveforms = bool(ds.get("WaveformSequence"))
    if sop in ECG_SOP_CLASSES and has_waveforms:
        return ECG_SOP_CLASSES[sop]
    if sop in ECG_SOP_CLASSES:
        raise ECGFormatError(
            f"{path.name} is a {ECG_SOP_CLASSES[sop]} object without a WaveformSequence: no signal "
            "(is the file complete?)."
        )
    if not sop and modality == "ECG" and has_waveforms:
        return "ECG waveform (no SOP Class UID)"
    kind = _sop_class_name(sop) if sop else "DICOM object without a SOP Class UID"
    raise ECGFormatError(
        f"{path.name} is a DICOM file but not an ECG waveform: it is a {kind}"
        f"{f' (modality {modality})' if modality else ''}. Accepted: {', '.join(ECG_SOP_CLASSES.values())}."
    )


def _sop_class_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else f"object of SOP class {uid}"


def _is_little_endian(ds: Any) -> bool:
    encoding = getattr(ds, "original_encoding", None)
    if encoding and encoding[1] is not None:
        return bool(encoding[1])
    uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return bool(getattr(uid, "is_little_endian", True)) if uid is not None else True


# -- multiplex groups -------------------------------------------------------------------------------
def _label(group: Any) -> str:
    return str(group.get("MultiplexGroupLabel") or "").strip()


def _is_median(group: Any) -> bool:
    label = _label(group).upper()
    if any(word in label for word in ("MEDIAN", "REPRESENTATIVE", "AVERAGE", "TEMPLATE")):
        return True
    return not label and str(group.get("WaveformOriginality") or "").upper() == "DERIVED"


def _choose_groups(groups: list[Any], path: Path, notes: list[str]) -> tuple[int, int | None]:
    """The rhythm group (labelled RHYTHM, else the first original group that is not a median beat)
    and the median-beat group, if any, as indices into the WaveformSequence."""
    if not groups:
        raise ECGFormatError(f"{path.name}: the WaveformSequence is empty: no waveform to read.")
    medians = [i for i, g in enumerate(groups) if _is_median(g)]
    rhythms = [i for i, g in enumerate(groups) if i not in medians]
    if not rhythms:
        raise ECGFormatError(
            f"{path.name} holds only median/representative beats ({', '.join(_label(groups[i]) for i in medians)}), "
            "no rhythm recording to read."
        )
    labelled = [i for i in rhythms if "RHYTHM" in _label(groups[i]).upper()]
    originals = [i for i in rhythms if str(groups[i].get("WaveformOriginality") or "").upper() != "DERIVED"]
    rhythm = (labelled or originals or rhythms)[0]
    others = [i for i in range(len(groups)) if i != rhythm and i not in medians[:1]]
    if others:
        skipped = ", ".join(_label(groups[i]) or f"#{i + 1}" for i in others)
        notes.append(f"Multiplex group(s) not read: {skipped}.")
    return rhythm, (medians[0] if medians else None)


def _decode_group(group: Any, index: int, little_endian: bool, path: Path, notes: list[str]) -> dict[str, Any]:
    """One multiplex group: its standard-lead channels in mV (padding as NaN), names, rate, filters."""
    name = f"{path.name}: multiplex group {index + 1}" + (f" ({_label(group)})" if _label(group) else "")
    try:
        n_channels = int(group.NumberOfWaveformChannels)
        n_samples = int(group.NumberOfWaveformSamples)
        bits = int(group.WaveformBitsAllocated)
        interpretation = str(group.WaveformSampleInterpretation).strip().upper()
        data = group.WaveformData
    except AttributeError as exc:
        raise ECGFormatError(f"{name} lacks a required waveform attribute ({exc}).") from None
    channels = list(group.get("ChannelDefinitionSequence") or [])
    if n_channels <= 0 or n_samples <= 0:
        raise ECGFormatError(f"{name} declares {n_channels} channels x {n_samples} samples: no waveform.")
    if len(channels) != n_channels:
        raise ECGFormatError(
            f"{name} declares {n_channels} channels but defines {len(channels)} (ChannelDefinitionSequence)."
        )
    kind = _SAMPLE_TYPES.get((bits, interpretation))
    if kind is None:
        raise ECGFormatError(
            f"{name}: {bits}-bit samples of interpretation {interpretation!r} are not supported "
            "(8/16/32/64-bit signed or unsigned integers; mu-law and A-law are audio encodings)."
        )
    dtype = np.dtype(kind).newbyteorder("<" if little_endian else ">")
    expected = n_samples * n_channels * dtype.itemsize
    if len(data) != expected and not (expected % 2 and len(data) == expected + 1):  # OB/OW are padded to even length
        raise ECGFormatError(
            f"{name}: WaveformData holds {len(data)} bytes, but {n_channels} channels x {n_samples} samples x "
            f"{dtype.itemsize} bytes = {expected} are declared. The file is corrupt or truncated."
        )
    sampling = group.get("SamplingFrequency")
    group_fs = float(sampling) if sampling not in (None, "") else None
    if group_fs is not None and not (math.isfinite(group_fs) and group_fs > 0):
        raise ECGFormatError(f"{name}: sampling frequency {sampling!r} is not a positive rate in Hz.")
    raw = np.frombuffer(data, dtype=dtype, count=n_samples * n_channels).reshape(n_samples, n_channels)
    missing = _padding_mask(raw, group, dtype, name, notes)

    rows: list[int] = []
    leads: list[str] = []
    meanings: list[str] = []
    dropped: list[str] = []
    seen: dict[str, int] = {}
    for number, channel in enumerate(channels, start=1):
        lead, description = _channel_lead(channel, notes, f"{name}, channel {number}")
        if lead is None:
            dropped.append(description)
            continue
        if lead in seen:
            raise ECGFormatError(
                f"{name}: channels {seen[lead]} and {number} are both coded as lead {lead}; each lead may appear once."
            )
        seen[lead] = number
        rows.append(number - 1)
        leads.append(lead)
        meanings.append(description)
    if not rows:
        raise ECGFormatError(
            f"{name} has no channel coded as one of the 12 standard leads (SCPECG 5.6.3-9-n or MDC 2:n); "
            f"channels: {', '.join(dropped)}."
        )
    signal = np.empty((len(rows), n_samples), dtype=np.float32)
    for out, row in enumerate(rows):
        scale, baseline = _channel_scale_mv(channels[row], f"{name}, lead {leads[out]}")
        values = raw[:, row].astype(np.float64) * scale + baseline
        if missing is not None:
            values[missing[:, row]] = np.nan
        signal[out] = values
    if missing is not None:
        signal = _trim_padding(signal, name, notes)
    return {"label": _label(group), "fs": group_fs, "signal": signal, "leads": leads, "meanings": meanings,
            "dropped": dropped, "filters": _filters([channels[r] for r in rows])}


def _median_beats(median: dict[str, Any]) -> dict[str, Any]:
    """The device's median beats as the other readers keep them: fs and one float32 mV array per lead
    (canonical order; III, aVR, aVL, aVF derived when only I and II are stored), and the group label."""
    order = sorted(range(len(median["leads"])), key=lambda i: LEAD_INDEX[median["leads"][i]])
    leads = {median["leads"][i]: median["signal"][i] for i in order}
    if {"I", "II"} <= set(leads):
        for name, row in derive_limb_leads(leads["I"], leads["II"]).items():
            leads.setdefault(name, row.astype(np.float32))
    return {"fs": median["fs"], "leads": leads, "label": median["label"]}


def _padding_mask(raw: np.ndarray, group: Any, dtype: np.dtype, name: str, notes: list[str]) -> np.ndarray | None:
    """Which raw samples are padding (missing), or None when none are.

    A declared WaveformPaddingValue is honoured when it is an extreme of the sample type (0x8000 for
    signed 16 bits, the convention); a value inside the range of real samples (ECG Toolkit declares
    0x0000) cannot be told from data and is ignored, with a note. Undeclared, the most negative
    signed value is still taken as padding: producers fill unused samples with it (ECG Toolkit's
    median beats) and a real sample there is clipped anyway.
    """
    info = np.iinfo(dtype)
    padding: int | None = None
    declared = group.get("WaveformPaddingValue")
    if declared not in (None, b"", ""):
        if isinstance(declared, (bytes, bytearray)):
            if len(declared) < dtype.itemsize:
                notes.append(f"{name}: WaveformPaddingValue has {len(declared)} bytes, fewer than a sample; ignored.")
                declared = None
            else:
                declared = int(np.frombuffer(bytes(declared[:dtype.itemsize]), dtype=dtype)[0])
        if declared is not None:
            declared = int(declared)
            if declared in (info.min, info.max):
                padding = declared
            else:
                notes.append(f"{name}: declared padding value {declared} lies within the signal's range; "
                             "samples with that value are read as data.")
    if padding is None and info.min < 0:
        padding = int(info.min)
    if padding is None:
        return None
    mask = raw == padding
    return mask if mask.any() else None


def _trim_padding(signal: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """Drop leading and trailing samples that are padding on every lead; keep interior gaps as NaN."""
    present = ~np.isnan(signal).all(axis=0)
    if not present.any():
        raise ECGFormatError(f"{name}: every sample is padding (missing): no signal.")
    first, last = int(np.argmax(present)), len(present) - int(np.argmax(present[::-1]))
    if first or last < signal.shape[1]:
        notes.append(f"{name}: {first + signal.shape[1] - last} padding sample(s) at the start/end removed.")
    return signal[:, first:last]


def _code_item(item: Any, sequence: str) -> tuple[str, str, str] | None:
    seq = item.get(sequence)
    if not seq:
        return None
    code = seq[0]
    value = str(code.get("CodeValue") or code.get("LongCodeValue") or "").strip()
    scheme = str(code.get("CodingSchemeDesignator") or "").strip().upper()
    return value, scheme, str(code.get("CodeMeaning") or "").strip()


def _lead_number(value: str, scheme: str) -> int | None:
    match = re.fullmatch(r"5\.6\.3-9-(\d+)", value) if scheme in ("SCPECG", "") else None
    if match is None and scheme in ("MDC", ""):
        match = re.fullmatch(r"2:(\d+)", value)
        if match is None and value.isdigit() and int(value) > _MDC_CONTEXT_FREE_BASE:
            return int(value) - _MDC_CONTEXT_FREE_BASE
    return int(match.group(1)) if match else None


def _channel_lead(channel: Any, notes: list[str], where: str) -> tuple[str | None, str]:
    """The canonical lead a channel's coded source names (None: not a standard lead) and a description."""
    code = _code_item(channel, "ChannelSourceSequence")
    label = str(channel.get("ChannelLabel") or "").strip()
    if code is None:
        lead = canonical_lead_name(label) if label else None
        if lead is not None:
            notes.append(f"{where}: no ChannelSourceSequence; lead {lead} taken from ChannelLabel {label!r}.")
        return lead, label or "(uncoded channel)"
    value, scheme, meaning = code
    description = meaning or f"{scheme} {value}"
    if value.upper().startswith("MDC_ECG_LEAD_"):
        return canonical_lead_name(value[len("MDC_ECG_LEAD_"):]), description
    number = _lead_number(value, scheme)
    if number is not None:
        lead = _STANDARD_LEAD_NUMBERS.get(number)
        if lead is None and number not in _OTHER_LEAD_NUMBERS:
            description = f"{description} ({scheme} {value}: unknown lead code)"
        return lead, description
    if scheme in _LEAD_SCHEMES:
        return None, f"{description} ({scheme} {value}: unknown lead code)"
    # A coding scheme we do not know (a vendor's own): the code meaning, if it names a standard lead.
    lead = canonical_lead_name(re.sub(r"\(.*?\)", "", meaning)) if meaning else None
    if lead is not None:
        notes.append(f"{where}: source coded {scheme} {value}; lead {lead} taken from its meaning {meaning!r}.")
        return lead, description
    return None, f"{description} ({scheme} {value}: unknown coding scheme)"


def _channel_scale_mv(channel: Any, where: str) -> tuple[float, float]:
    """mV per raw unit and the baseline in mV, from sensitivity, its units and the correction factor."""
    sensitivity = channel.get("ChannelSensitivity")
    if sensitivity in (None, ""):
        raise ECGFormatError(f"{where} has no ChannelSensitivity: its amplitude in mV cannot be known.")
    unit_code = _code_item(channel, "ChannelSensitivityUnitsSequence")
    if unit_code is None:
        raise ECGFormatError(f"{where} has no ChannelSensitivityUnitsSequence: the unit of its samples is unknown.")
    unit_value, _, unit_meaning = unit_code
    to_mv = unit_scale_to_mv(unit_value)
    if to_mv is None:
        to_mv = unit_scale_to_mv(unit_meaning)
    if to_mv is None:
        raise ECGFormatError(f"{where}: sensitivity unit {unit_value or unit_meaning!r} is not a voltage (uV, mV, V).")
    correction = channel.get("ChannelSensitivityCorrectionFactor")
    baseline = channel.get("ChannelBaseline")
    scale = float(sensitivity) * (float(correction) if correction not in (None, "") else 1.0)
    base = float(baseline) if baseline not in (None, "") else 0.0
    if not (math.isfinite(scale) and scale != 0 and math.isfinite(base)):
        raise ECGFormatError(f"{where}: sensitivity {sensitivity!r} x correction {correction!r} is not usable.")
    return scale * to_mv, base * to_mv


def _filters(channels: list[Any]) -> dict[str, float]:
    """Filter settings (Hz) the channels agree on, named as the other readers name them (the pass band's
    lower edge is the high-pass cutoff); channels that omit one do not vote."""
    out: dict[str, float] = {}
    for key, attribute in (("highpass_hz", "FilterLowFrequency"), ("lowpass_hz", "FilterHighFrequency"),
                           ("mains_filter_hz", "NotchFilterFrequency")):
        values = set()
        for channel in channels:
            value = channel.get(attribute)
            if value not in (None, ""):
                values.add(float(value))
        if key == "mains_filter_hz":
            values.discard(0.0)  # notch 0 Hz: no notch filter
        if len(values) == 1:
            out[key] = values.pop()
    return out


# -- who, when, where --------------------------------------------------------------------------------
def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


def _datetime(ds: Any, notes: list[str]) -> datetime | None:
    from pydicom.valuerep import DA, DT, TM

    offset = _text(ds, "TimezoneOffsetFromUTC")
    candidates = [(_text(ds, "AcquisitionDateTime"), None)] + [
        (_text(ds, f"{prefix}Date"), _text(ds, f"{prefix}Time")) for prefix in ("Acquisition", "Content", "Study")
    ]
    for date_text, time_text in candidates:
        if not date_text:
            continue
        try:
            if time_text is None:  # a DT value, its own UTC offset or else TimezoneOffsetFromUTC
                has_offset = bool(re.search(r"[+-]\d{4}$", date_text))
                stamp = DT(date_text + (offset if offset and not has_offset else ""))
            else:
                day, moment = DA(date_text), TM(time_text) if time_text else None
                stamp = datetime.combine(day, moment) if moment is not None else datetime(day.year, day.month, day.day)
                if offset:
                    stamp = DT(stamp.strftime("%Y%m%d%H%M%S.%f") + offset)
            return datetime(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second,
                            stamp.microsecond, tzinfo=stamp.tzinfo)  # a plain datetime, not pydicom's DT
        except (ValueError, TypeError, OverflowError):
            notes.append(f"Unreadable acquisition date/time {date_text!r} {time_text or ''}".rstrip() + "; ignored.")
    return None


def _age(ds: Any, acquired: datetime | None, notes: list[str]) -> float | None:
    """Age in whole years at acquisition from the birth date, else the stated PatientAge (nnnY/M/W/D)."""
    from pydicom.valuerep import DA

    birth_text = _text(ds, "PatientBirthDate")
    if birth_text and acquired is not None:
        try:
            birth = DA(birth_text)
            years = age_at(datetime(birth.year, birth.month, birth.day), acquired.replace(tzinfo=None))
        except (ValueError, TypeError):
            notes.append("Unreadable PatientBirthDate; age taken from PatientAge if stated.")
        else:
            if 0 <= years <= 130:
                return years
            notes.append("PatientBirthDate gives an implausible age at acquisition; age left out.")
            return None
    stated = re.fullmatch(r"(\d{3})([DWMY])", _text(ds, "PatientAge") or "")
    if stated:
        count = int(stated.group(1))
        years = float(count // {"D": 365, "W": 52, "M": 12, "Y": 1}[stated.group(2)])
        return years if years <= 130 else None
    return None


def _acquisition(ds: Any, notes: list[str]) -> tuple[Acquisition, float | None]:
    acquired = _datetime(ds, notes)
    manufacturer = _text(ds, "Manufacturer")
    if manufacturer and manufacturer.lower() in {"unknown", "none", "n/a"}:
        manufacturer = None
    device = " ".join(part for part in (manufacturer, _text(ds, "ManufacturerModelName")) if part) or None
    acquisition = Acquisition(
        patient_id=_text(ds, "PatientID"),
        acquired_at=acquired,
        device=device,
        site=_text(ds, "InstitutionName"),
    )
    return acquisition, _age(ds, acquired, notes)


# -- the device's reading ------------------------------------------------------------------------------
def _normalised_meaning(meaning: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", meaning.lower())).strip()


def _measure_name(code: tuple[str, str, str]) -> str | None:
    value, _, meaning = code
    return _MEASURE_BY_CODE.get(value) or _MEASURE_BY_CODE.get(value.upper()) or _MEASURE_BY_MEANING.get(
        _normalised_meaning(meaning))


def _numeric(item: Any) -> float | None:
    value = item.get("NumericValue")
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        if len(value) != 1:
            return None
        value = value[0]
    number = float(value)
    return number if math.isfinite(number) else None


def _in_units(name: str, number: float, unit: str, label: str, notes: list[str]) -> float | None:
    """The value in the unit GLOBAL_MEASURES uses (bpm, ms, deg), or None when the unit cannot be."""
    if name.endswith("_axis_deg"):
        if unit and unit.lower() not in {"deg", "degree", "degrees", "°"}:
            notes.append(f"{label} is stated in {unit!r}; an axis is in degrees, read as such.")
    elif name == "heart_rate_bpm":
        if unit and unit.lower() not in _BPM_UNITS:
            notes.append(f"{label} is stated in {unit!r}, not per minute; left out.")
            return None
    else:
        factor = _MS_PER_UNIT.get(unit.lower() if unit else "ms")
        if factor is None:
            notes.append(f"{label} is stated in {unit!r}, not a time; left out.")
            return None
        number *= factor
    low, high = device_value_range(name)
    if not low <= number <= high:
        return None  # 0 = not measured (Mortara's PP interval), sentinels, nonsense
    return number


def _is_global(item: Any) -> bool:
    """Whether an annotation refers to all channels: ReferencedWaveformChannels absent, or every
    (multiplex group, channel) pair with channel 0."""
    refs = item.get("ReferencedWaveformChannels")
    if refs is None or refs == "":
        return True
    values = [int(v) for v in (refs if isinstance(refs, (list, tuple)) or type(refs).__name__ == "MultiValue"
                               else [refs])]
    return all(channel == 0 for channel in values[1::2])


def _device_reading(ds: Any, device: str | None, sop_name: str, notes: list[str],
                    metadata: dict[str, Any]) -> DeviceReading | None:
    measured: dict[str, float] = {}
    unmapped: dict[str, float] = {}
    statements: list[str] = []
    qtc_unspecified: float | None = None
    for item in ds.get("WaveformAnnotationSequence") or []:
        # Membership tests first: pydicom converts an element on access, and most items are fiducials.
        if "UnformattedTextValue" in item:
            text = str(item.UnformattedTextValue or "").strip()
            statements.extend(line.strip() for line in text.splitlines() if line.strip())
            continue
        if any(where in item for where in ("ReferencedSamplePositions", "ReferencedTimeOffsets", "ReferencedDateTime")):
            continue  # a fiducial point or range (P onset ... T offset), not a global value
        if "NumericValue" not in item:
            coded = _code_item(item, "ConceptCodeSequence")  # a coded statement
            if coded is not None and coded[2] and _is_global(item):
                statements.append(coded[2])
            continue
        concept = _code_item(item, "ConceptNameCodeSequence")
        if concept is None or not _is_global(item):
            continue  # per-lead values (a lead's QRS duration) are not the global measurements
        number = _numeric(item)
        if number is None:
            continue
        unit_code = _code_item(item, "MeasurementUnitsCodeSequence")
        unit = unit_code[0] if unit_code else ""
        label = concept[2] or f"{concept[1]} {concept[0]}"
        name = _measure_name(concept)
        if name == _QTC_UNSPECIFIED:
            if unit.lower() in ("", "ms") and 1 <= number <= 2000:
                qtc_unspecified = number
            continue
        value = _in_units(name, number, unit, label, notes) if name else None
        if name is None:
            if number != 0:
                unmapped[f"{label} ({unit})" if unit else label] = number
        elif value is not None and name not in measured:
            measured[name] = value
    if qtc_unspecified is not None:
        by_formula = qtc_by_formula(qtc_unspecified, measured, notes)
        if by_formula:
            for name, value in by_formula.items():
                measured.setdefault(name, value)
        else:
            unmapped["QTc, formula not stated (ms)"] = qtc_unspecified
    if unmapped:
        metadata["device_measurements_unmapped"] = unmapped
    if not measured and not statements:
        return None
    return DeviceReading(measurements=measured, statements=tuple(statements),
                         source=f"{device or 'unknown device'} (DICOM {sop_name})")


__all__ = ["ECG_SOP_CLASSES", "read_dicom"]
