"""Philips SierraECG / PhilipsECG XML (schema 1.03 and 1.04.x): PageWriter carts, HeartStart monitors.

Layout we read (namespace ``http://www3.medical.philips.com`` on every element; 1.03 names in brackets)::

    restingecgdata                          @status ("Confirmed", "Await confirm" ...)
      documentinfo/documenttype, documentversion    SierraECG 1.03 | PhilipsECG 1.04, 1.04.01 ...
      dataacquisition @date @time
        machine (text: model) @detaildescription (firmware)
        acquirer/institutionname, facilityname, departmentname
        signalcharacteristics/samplingrate, resolution [signalresolution] (uV per count),
          hipass, lowpass [signalbandwidth "0.05-150"], notchfiltered, acsetting,
          acquisitiontype [leadset] (STD-12 / 10-WIRE), numberchannelsallocated
      patient/generalpatientdata/patientid, sex, age/dateofbirth [age/years]   (the name is never read)
      interpretations/interpretation
        globalmeasurements [interpretationmeasurements]: heartrate, rrint, pdur, print [meanprint],
          qrsdur [meanqrsdur], qtint [meanqtint], qtcb, qtcf [meanqtc], pfrontaxis, qrsfrontaxis, tfrontaxis
        statement/leftstatement, rightstatement;  severity ("- ABNORMAL ECG -")
        interpretationdatastructure/statementcomponents/codedstatement   (the analysis program's own)
      waveforms/parsedwaveforms             @dataencoding Base64|Plain, @compression XLI
                                            [@compressflag True, @compressmethod XLI], @durationperchannel (ms),
                                            1.04: @numberofleads @leadlabels @samplespersecond @resolution
      waveforms/repbeats/repbeat            the cart's median beats (kept in metadata, not the signal)

The rhythm strip is XLI-compressed (:mod:`ecgcore.io.xli`), one chunk per channel (carts write 16,
the first ``numberofleads`` are leads). Leads III, aVR, aVL and aVF are stored as residuals against I
and II and rebuilt here (:func:`reconstruct_limb_leads`); whether a lead is a residual is checked on
the data, so a producer that stores full leads is read correctly too. The strip (11 s on PageWriter
and HeartStart) ends with a 1 mV calibration pulse in every channel with zero padding around it: that
tail is not ECG and is cut off (:func:`strip_calibration_tail`); its height is kept in metadata as a
check of the amplitude scale.

The device's reading goes to ``Record.device_reading`` (measurements under the GLOBAL_MEASURES names,
statements as printed, the analysis program's own statements when an editor changed them) and the
acquisition to ``Record.acquisition`` (patient identifier, date and time, device, site). A date of
birth becomes ``Record.age``; the patient's name is never read, nor are clinicians' names.

Security: parsed by ``ecgcore.io.xml_safe`` (entity declarations and internal DTD subsets refused,
UTF-16 with a BOM and lying encoding declarations tolerated); XLI decoding is bounded by the declared
sample count and refuses codes outside its dictionary.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, time
from pathlib import Path

import numpy as np

from ecgcore import config
from ecgcore.acquisition import Acquisition, DeviceReading, age_at
from ecgcore.errors import ECGFormatError, ECGValidationError
from ecgcore.io._common import check_file_size, parse_age, parse_date, parse_date_time, parse_sex, resolve_fs
from ecgcore.io._finalize import finalize
from ecgcore.io.xli import XLIError, decode_xli
from ecgcore.io.xml_safe import parse_xml_safely
from ecgcore.leads import LEADS_12, canonical_lead_name
from ecgcore.record import Record

SOURCE = "Philips SierraECG XML"
ROOT = "restingecgdata"
_VERSION = re.compile(r"^1\.0(3|4(\.\d+)?)$")  # 1.03, 1.04, 1.04.01, 1.04.02 ...
_STANDARD_LEAD_SETS = {"STD-12", "10-WIRE"}  # 1.03 files name no leads: these are I, II ... V6
CALIBRATION_MV = 1.0  # the pulse the carts append to every channel
_REPBEAT_PADDING = (32767, -32768)
_PLACEHOLDER = re.compile(r"^[\s\-x*?.,]*$", re.IGNORECASE)  # '---', 'xxxxxx', ',' in anonymised exports
_STATEMENT_VARIABLE = re.compile(r"\*\*\*|\*[A-Z]+\*")  # 'V-rate<***', 'BASELINE WANDER IN LEAD(S) *LEAD*'
_AGE_UNIT_YEARS = {"years": 1.0, "months": 1 / 12, "weeks": 7 / 365.25, "days": 1 / 365.25, "hours": 1 / 8766}

# globalmeasurements (1.04) and interpretationmeasurements / measurements/globalmeasurements (1.03)
# tags -> GLOBAL_MEASURES names. meanqtc (1.03) is matched to its correction formula by its value.
_MEASURES: dict[str, str] = {
    "heartrate": "heart_rate_bpm",
    "meanventrate": "heart_rate_bpm",
    "rrint": "rr_ms",
    "pdur": "p_duration_ms",
    "print": "pr_ms",
    "meanprint": "pr_ms",
    "qrsdur": "qrs_ms",
    "meanqrsdur": "qrs_ms",
    "qtint": "qt_ms",
    "meanqtint": "qt_ms",
    "qtcb": "qtc_bazett_ms",
    "qtcf": "qtc_fridericia_ms",
    "pfrontaxis": "p_axis_deg",
    "qrsfrontaxis": "qrs_axis_deg",
    "tfrontaxis": "t_axis_deg",
}


def read_philips(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read the rhythm strip, the device's reading and the acquisition of a Philips XML file."""
    path = Path(path)
    check_file_size(path)
    root = parse_xml_safely(path.read_bytes(), path)
    doc = _Document(root, path)

    waveforms = doc.find("waveforms/parsedwaveforms")
    if waveforms is None:
        raise ECGFormatError(
            f"{path.name}: no waveform data in the Philips document (<waveforms>/<parsedwaveforms> is "
            "missing); it holds no rhythm strip to read."
        )
    doc.check_version()
    file_fs = doc.sampling_rate(waveforms)
    resolution_uv = doc.resolution_uv(waveforms)
    n_samples = doc.samples_per_lead(waveforms, file_fs)
    labels = doc.lead_labels(waveforms)
    counts = _decode_counts(waveforms, len(labels), n_samples, path)

    metadata: dict[str, object] = {
        "philips_schema": " ".join(p for p in (doc.text("documentinfo/documenttype"),
                                               doc.text("documentinfo/documentversion")) if p),
        "resolution_uv": resolution_uv,
    }
    counts, rebuilt = reconstruct_limb_leads(counts, labels)
    if rebuilt:
        metadata["limb_leads_rebuilt"] = rebuilt
    counts, tail = strip_calibration_tail(counts, round(CALIBRATION_MV * 1000.0 / resolution_uv))
    if tail is not None:
        if tail["signal_samples"] == 0:
            severity = doc.severity()
            raise ECGValidationError(
                f"{path.name}: every lead is flat (all channels hold only the calibration pulse): the "
                "electrodes were off or the cart recorded no signal, so there is no ECG to read, even with "
                f"allow_flat_leads{f' (the cart printed {severity!r})' if severity else ''}."
            )
        tail["pulse_mv"] = round(tail.pop("pulse_counts") * resolution_uv / 1000.0, 4)
        if abs(tail["pulse_mv"] - CALIBRATION_MV) > 0.05 * CALIBRATION_MV:
            metadata["calibration_note"] = (
                f"The calibration pulse measures {tail['pulse_mv']:g} mV, not {CALIBRATION_MV:g} mV: the stated "
                f"resolution ({resolution_uv:g} uV per count) may be wrong."
            )
        tail["start_s"] = round(tail["start"] / file_fs, 4)
        metadata["calibration_pulse"] = tail
    else:
        metadata["calibration_pulse"] = None  # none found at the end of the strip: nothing was cut

    acquisition = doc.acquisition()
    metadata.update(doc.filters())
    status = root.get("status")
    if status:
        metadata["device_statement_status"] = status
    interpretation = doc.find("interpretations/interpretation")
    reading, notes = doc.device_reading(interpretation)
    if notes:
        metadata["device_measurement_notes"] = notes
    if len(doc.findall("interpretations/interpretation")) > 1:
        metadata["philips_note"] = "Read the first of several <interpretation> elements."
    beats = doc.find("waveforms/repbeats")
    if beats is not None:
        try:
            median = doc.median_beats(beats, reading.measurements if reading else {})
            if median:
                metadata["device_median_beats"] = median
        except ECGFormatError as error:
            metadata["device_median_beats_note"] = f"Median beats not read: {error}"

    record = finalize(
        counts.astype(np.float64) * (resolution_uv / 1000.0),
        resolve_fs(file_fs, fs, path),
        labels,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        age=doc.age(acquisition.acquired_at),
        sex=parse_sex(doc.text("patient/generalpatientdata/sex")),
        metadata={k: v for k, v in metadata.items() if v is not None or k == "calibration_pulse"},
    )
    has_acquisition = any(v is not None for v in vars(acquisition).values())
    return record.replace(acquisition=acquisition if has_acquisition else None, device_reading=reading)


# -- the signal --------------------------------------------------------------------------------------------
def _decode_counts(waveforms: ET.Element, n_leads: int, n_samples: int, path: Path) -> np.ndarray:
    """``(n_leads, n_samples)`` int64 counts from the Base64/XLI, Base64 or Plain waveform data."""
    encoding = (waveforms.get("dataencoding") or "Base64").strip()
    text = waveforms.text or ""
    compression = _compression(waveforms)
    if compression not in ("XLI", None):
        raise ECGFormatError(
            f"{path.name}: waveform compression {compression!r} is not supported (XLI or uncompressed are)."
        )
    if encoding.lower() == "plain":
        if compression:
            raise ECGFormatError(f"{path.name}: Plain (text) waveform data cannot be {compression}-compressed.")
        try:
            values = np.array(text.split(), dtype=np.int64)
        except (ValueError, OverflowError):
            raise ECGFormatError(f"{path.name}: the Plain waveform data holds non-integer values.") from None
        return _split_channels(values, n_leads, n_samples, path)
    if encoding.lower() != "base64":
        raise ECGFormatError(f"{path.name}: waveform data encoding {encoding!r} is not supported (Base64 or Plain).")
    compact = "".join(text.split())
    if not compact:
        raise ECGFormatError(f"{path.name}: <parsedwaveforms> is empty (no waveform data).")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ECGFormatError(
            f"{path.name}: the waveform data is not valid Base64 ({len(compact)} characters; truncated or "
            "altered?)."
        ) from None
    if compression == "XLI":
        try:
            return np.vstack(decode_xli(data, n_leads, n_samples))
        except XLIError as error:
            raise ECGFormatError(f"{path.name}: XLI waveform data: {error}") from None
    if len(data) % 2:
        raise ECGFormatError(
            f"{path.name}: the waveform data is {len(data)} bytes, not a whole number of 16-bit samples."
        )
    return _split_channels(np.frombuffer(data, dtype="<i2").astype(np.int64), n_leads, n_samples, path)


def _split_channels(values: np.ndarray, n_leads: int, n_samples: int, path: Path) -> np.ndarray:
    """Uncompressed data: channel after channel, ``n_samples`` each; extra whole channels are ignored."""
    needed = n_leads * n_samples
    if values.size < needed or values.size % n_samples:
        raise ECGFormatError(
            f"{path.name}: the uncompressed waveform data holds {values.size} samples, not {n_leads} leads of "
            f"{n_samples} samples (extra whole channels are allowed); the data is truncated or the declared "
            "duration or lead count is wrong."
        )
    return values[:needed].reshape(n_leads, n_samples)


def _compression(waveforms: ET.Element) -> str | None:
    method = waveforms.get("compression")  # 1.04
    if method is None and (waveforms.get("compressflag") or "").strip().lower() == "true":
        method = waveforms.get("compressmethod") or "XLI"  # 1.03
    method = (method or "").strip()
    return None if method.lower() in ("", "none", "uncompressed") else method.upper()


def reconstruct_limb_leads(counts: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Rebuild III, aVR, aVL and aVF that Philips stores as residuals against I and II (integer counts).

    ``III = II - I - r``, ``aVR = -r - floor((I + II) / 2)``, ``aVL = floor((I - III) / 2) - r``,
    ``aVF = floor((II + III) / 2) - r``, with ``r`` the stored channel. A stored channel is taken as a
    residual when it is closer to zero than to the full lead computed from I and II (residuals are a
    count or two, full leads are the ECG), so files that store full limb leads pass unchanged; a tie
    (a strip of zeros) follows the specification (residual).
    Returns the counts and the names of the leads rebuilt.
    """
    index = {canonical_lead_name(name): row for row, name in enumerate(labels)}
    if "I" not in index or "II" not in index:
        return counts, []
    out = counts.copy()
    lead_i, lead_ii = counts[index["I"]], counts[index["II"]]
    rebuilt: list[str] = []

    def rebuild(name: str, full_from) -> None:
        if name not in index:
            return
        stored = counts[index[name]]
        full = full_from(np.zeros_like(stored))
        if not np.median(np.abs(stored - full)) < np.median(np.abs(stored)):  # a tie (all zero) is the spec's residual
            out[index[name]] = full_from(stored)
            rebuilt.append(name)

    rebuild("III", lambda r: lead_ii - lead_i - r)
    lead_iii = out[index["III"]] if "III" in index else lead_ii - lead_i
    rebuild("aVR", lambda r: -r - (lead_i + lead_ii) // 2)
    rebuild("aVL", lambda r: (lead_i - lead_iii) // 2 - r)
    rebuild("aVF", lambda r: (lead_ii + lead_iii) // 2 - r)
    return out, rebuilt


def strip_calibration_tail(counts: np.ndarray, pulse_counts: int) -> tuple[np.ndarray, dict | None]:
    """Cut the calibration tail off the strip: the trailing stretch where every channel holds the same
    value and that contains the pulse (a run of one nonzero value, 1 mV on the carts seen).

    Returns the counts before the tail and what was cut (``start``: first sample cut, ``pulse_start``,
    ``pulse_samples``, ``pulse_counts``, ``signal_samples``), or the counts unchanged and None when the
    strip does not end that way (or has a single channel). ``signal_samples`` 0 means the channels held
    nothing but the tail (leads off). ``pulse_counts`` is the expected height and only used to prefer that run.
    """
    n = counts.shape[1]
    if counts.shape[0] < 2:  # one channel is always "the same as every channel": no tail can be told apart
        return counts, None
    same = np.all(counts == counts[:1], axis=0)
    if not same[-1]:
        return counts, None
    differing = np.flatnonzero(~same)
    start = int(differing[-1]) + 1 if differing.size else 0
    tail = counts[0, start:]
    nonzero = np.flatnonzero(tail != 0)
    if nonzero.size == 0:
        return counts, None
    runs = np.split(nonzero, np.flatnonzero(np.diff(nonzero) != 1) + 1)
    constant = [r for r in runs if np.all(tail[r] == tail[r[0]])]
    if not constant:
        return counts, None
    pulse = min(constant, key=lambda r: (tail[r[0]] != pulse_counts, -r.size))
    return counts[:, :start], {
        "start": start,
        "pulse_start": start + int(pulse[0]),
        "pulse_samples": int(pulse.size),
        "pulse_counts": int(tail[pulse[0]]),
        "signal_samples": start,
        "samples_cut": n - start,
    }


# -- the document ------------------------------------------------------------------------------------------
class _Document:
    """Namespace-aware lookups and the fields of one Philips document."""

    def __init__(self, root: ET.Element, path: Path) -> None:
        local = root.tag.rsplit("}", 1)[-1]
        if local != ROOT:
            raise ECGFormatError(
                f"{path.name} is XML but not a Philips SierraECG document (root element <{local}>; Philips "
                f"XML has <{ROOT}>)."
            )
        self.root = root
        self.path = path
        self.ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""

    def _q(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" if self.ns else part for part in path.split("/"))

    def find(self, path: str, element: ET.Element | None = None) -> ET.Element | None:
        base = self.root if element is None else element
        return base.find(self._q(path))

    def findall(self, path: str, element: ET.Element | None = None) -> list[ET.Element]:
        base = self.root if element is None else element
        return base.findall(self._q(path))

    def text(self, path: str, element: ET.Element | None = None) -> str | None:
        """The stripped text at ``path``; None when absent, empty or an anonymisation placeholder."""
        found = self.find(path, element)
        value = " ".join((found.text or "").split()) if found is not None else ""
        return None if _PLACEHOLDER.match(value) else value

    # -- waveform parameters
    def check_version(self) -> None:
        kind = self.text("documentinfo/documenttype")
        version = self.text("documentinfo/documentversion")
        if kind is not None and kind not in ("SierraECG", "PhilipsECG"):
            raise ECGFormatError(f"{self.path.name}: document type {kind!r} is not SierraECG or PhilipsECG.")
        if version is not None and not _VERSION.match(version):
            raise ECGFormatError(
                f"{self.path.name}: Philips XML schema version {version} is not supported (1.03 and 1.04.x are)."
            )

    def _number(self, raw: str | None, what: str) -> float | None:
        if raw is None or not raw.strip():
            return None
        try:
            value = float(raw)
        except ValueError:
            raise ECGFormatError(f"{self.path.name}: {what} {raw!r} is not a number.") from None
        if not math.isfinite(value) or value <= 0:
            raise ECGFormatError(f"{self.path.name}: {what} {raw!r} is not a positive number.")
        return value

    def sampling_rate(self, waveforms: ET.Element) -> float:
        raw = waveforms.get("samplespersecond") or self.text("dataacquisition/signalcharacteristics/samplingrate")
        value = self._number(raw, "sampling rate")
        if value is None:
            raise ECGFormatError(
                f"{self.path.name}: no sampling rate (parsedwaveforms@samplespersecond or "
                "signalcharacteristics/samplingrate)."
            )
        return value

    def resolution_uv(self, waveforms: ET.Element) -> float:
        raw = (waveforms.get("resolution") or self.text("dataacquisition/signalcharacteristics/resolution")
               or self.text("dataacquisition/signalcharacteristics/signalresolution"))
        value = self._number(raw, "resolution")
        if value is None:
            raise ECGFormatError(
                f"{self.path.name}: no amplitude resolution (parsedwaveforms@resolution or "
                "signalcharacteristics/resolution, in uV per count)."
            )
        return value

    def samples_per_lead(self, waveforms: ET.Element, fs: float) -> int:
        duration_ms = self._number(waveforms.get("durationperchannel"), "durationperchannel")
        if duration_ms is None:
            raise ECGFormatError(f"{self.path.name}: <parsedwaveforms> has no durationperchannel (ms).")
        if duration_ms / 1000.0 > config.MAX_DURATION_S:
            raise ECGFormatError(
                f"{self.path.name}: durationperchannel {duration_ms:g} ms is beyond the limit of "
                f"{config.MAX_DURATION_S:g} s (ECG_MAX_DURATION_S)."
            )
        samples = duration_ms * fs / 1000.0
        if abs(samples - round(samples)) > 1e-6 or round(samples) < 1:
            raise ECGFormatError(
                f"{self.path.name}: durationperchannel {duration_ms:g} ms at {fs:g} Hz is not a whole number "
                "of samples."
            )
        return round(samples)

    def lead_labels(self, waveforms: ET.Element) -> list[str]:
        """Lead names in channel order: @leadlabels (1.04), else the 1.03 lead set's standard order."""
        declared_raw = waveforms.get("numberofleads") or self.text(
            "dataacquisition/signalcharacteristics/numberchannelsallocated")
        try:
            declared = int(declared_raw) if declared_raw else None
        except ValueError:
            raise ECGFormatError(f"{self.path.name}: lead count {declared_raw!r} is not a whole number.") from None
        if declared is not None and not 1 <= declared <= 16:
            raise ECGFormatError(f"{self.path.name}: lead count {declared} is not between 1 and 16.")
        labels = (waveforms.get("leadlabels") or "").split()
        if labels:
            if declared is not None and len(labels) < declared:
                raise ECGFormatError(
                    f"{self.path.name}: {declared} leads are declared (numberofleads) but leadlabels names "
                    f"{len(labels)} ({' '.join(labels)}); the file is inconsistent."
                )
            return labels[:declared] if declared is not None else labels
        lead_set = (self.text("dataacquisition/signalcharacteristics/acquisitiontype")
                    or self.text("dataacquisition/signalcharacteristics/leadset") or "")
        if lead_set.upper() not in _STANDARD_LEAD_SETS:
            raise ECGFormatError(
                f"{self.path.name}: the waveform names no leads (no leadlabels) and lead set {lead_set or '(none)'!r} "
                f"is not one whose order is known ({', '.join(sorted(_STANDARD_LEAD_SETS))})."
            )
        count = declared if declared is not None else 12
        if count > 12:
            raise ECGFormatError(
                f"{self.path.name}: {count} channels are declared for lead set {lead_set}, which has 12 leads."
            )
        return list(LEADS_12[:count])

    def filters(self) -> dict[str, object]:
        """The cart's filters in the GE reader's keys (highpass_hz, lowpass_hz, mains_filter_hz)."""
        signal = "dataacquisition/signalcharacteristics"
        high, low = _float(self.text(f"{signal}/hipass")), _float(self.text(f"{signal}/lowpass"))
        band = self.text(f"{signal}/signalbandwidth")  # 1.03: "0.05-150"
        if band and high is None and low is None:
            parts = band.split("-")
            if len(parts) == 2:
                high, low = _float(parts[0]), _float(parts[1])
        mains = None
        if (self.text(f"{signal}/notchfiltered") or "").lower() == "true":
            mains = _float(self.text(f"{signal}/notchfilterfreqs")) or _float(self.text(f"{signal}/acsetting"))
        filters = {"highpass_hz": high, "lowpass_hz": low, "mains_filter_hz": mains}
        filters = {k: v for k, v in filters.items() if v is not None}
        return {"device_filters": filters} if filters else {}

    # -- acquisition and demographics
    def acquisition(self) -> Acquisition:
        acquired = self.find("dataacquisition")
        acquired_at = _datetime(acquired.get("date"), acquired.get("time")) if acquired is not None else None
        names = [self.text(f"dataacquisition/acquirer/{tag}")
                 for tag in ("institutionname", "facilityname", "departmentname")]
        site = ", ".join(dict.fromkeys(n for n in names if n)) or None
        return Acquisition(
            patient_id=self.text("patient/generalpatientdata/patientid"),
            acquired_at=acquired_at,
            device=self.device(),
            site=site,
        )

    def device(self) -> str | None:
        machine = self.find("dataacquisition/machine")
        if machine is None:
            return None
        model = self.text("dataacquisition/machine")
        detail = " ".join((machine.get("detaildescription") or "").split())
        firmware = detail.split(":", 1)[1] if detail.startswith("Philips Medical Products:") else detail
        parts = [f"Philips {model}" if model else "Philips device", firmware or None]
        return " ".join(p for p in parts if p)

    def age(self, acquired_at: datetime | None) -> float | None:
        """Age at acquisition from the date of birth (never kept), else age/years (months, weeks ...).
        age@defaultage is the cart's default for a patient with no age entered, not an age."""
        age = self.find("patient/generalpatientdata/age")
        if age is None:
            return None
        birth = _date(self.text("dateofbirth", age))
        if birth is not None and acquired_at is not None and birth <= acquired_at.date():
            return parse_age(age_at(datetime.combine(birth, time()), acquired_at))
        for unit, factor in _AGE_UNIT_YEARS.items():
            value = _float(self.text(unit, age))
            if value is not None:
                return parse_age(value if factor == 1.0 else round(value * factor, 2))
        return None

    def severity(self) -> str | None:
        raw = self.text("interpretations/interpretation/severity")
        return raw.strip(" -") or None if raw else None

    # -- the device's reading
    def device_reading(self, interpretation: ET.Element | None) -> tuple[DeviceReading | None, list[str]]:
        if interpretation is None:
            return None, []
        notes: list[str] = []
        measurements = self._measurements(interpretation, notes)
        statements = [self._statement_line(s) for s in self.findall("statement", interpretation)]
        lines = tuple(s for s in statements if s)
        original = self._original_statements(interpretation)
        if original == lines:
            original = ()
        severity = self.severity()
        if severity:
            lines = (*lines, severity)
        if not (measurements or lines or original):
            return None, notes
        criteria = interpretation.get("criteriaversion")
        source = " ".join(p for p in (self.device() or "Philips device",
                                      f"(criteria {criteria})" if criteria else None) if p)
        reading = DeviceReading(measurements=measurements, statements=lines, original_statements=original,
                                source=source)
        return reading, notes

    def _measurements(self, interpretation: ET.Element, notes: list[str]) -> dict[str, float]:
        """The printed measurements (globalmeasurements, 1.03 interpretationmeasurements), the 1.03
        cross-lead ones filling gaps. Intervals and rates of 0 or less mean "not measured" and are left out."""
        sections = [self.find("globalmeasurements", interpretation),
                    self.find("interpretationmeasurements", interpretation),
                    self.find("measurements/globalmeasurements")]
        raw: dict[str, float] = {}
        qtc_unknown: float | None = None
        for section in (s for s in sections if s is not None):
            for child in section:
                tag = child.tag.rsplit("}", 1)[-1]
                value = _float(" ".join((child.text or "").split()))
                if value is None:
                    continue
                if tag == "meanqtc":
                    qtc_unknown = value if qtc_unknown is None else qtc_unknown
                elif tag in _MEASURES and _MEASURES[tag] not in raw:
                    raw[_MEASURES[tag]] = value
        out = {k: v for k, v in raw.items() if k.endswith("_deg") or v > 0}
        if not any(k in out for k in ("heart_rate_bpm", "rr_ms", "pr_ms", "qrs_ms", "qt_ms")):
            return {}  # nothing measured (leads off): the zero axes are not axes
        out = {k: v for k, v in out.items() if not k.endswith("_deg") or -360 <= v <= 360}
        if qtc_unknown is not None and qtc_unknown > 0:
            _place_qtc(qtc_unknown, out, notes)
        pr, p_dur = out.get("pr_ms"), out.get("p_duration_ms")
        if p_dur is not None and pr is not None and p_dur > pr:
            del out["p_duration_ms"]
            notes.append(
                f"P duration {p_dur:g} ms not taken: longer than the PR interval {pr:g} ms (the P wave ends "
                "before the QRS starts), so the field does not hold a P duration."
            )
        return out

    def _statement_line(self, statement: ET.Element) -> str | None:
        left = self.text("leftstatement", statement)
        right = self.text("rightstatement", statement)
        if not left:
            return None
        return f"{left} ({right})" if right else left

    def _original_statements(self, interpretation: ET.Element) -> tuple[str, ...]:
        """The analysis program's own statements when the file shows an edit (a statement added by an
        editor, one deleted, changed modifiers or values, a statement flagged edited); otherwise ().

        Each is built like a printed line: modifiers before the text ("PROBABLE" + "LEFT VENTRICULAR
        HYPERTROPHY"), placeholders ("V-rate<***", "*LEAD*") filled from the statement's variables.
        """
        components = self.find("interpretationdatastructure/statementcomponents", interpretation)
        if components is None:
            return ()
        edited = any((s.get("editedflag") or "").lower() == "true" for s in self.findall("statement", interpretation))
        lines: list[str] = []
        for component in components:
            source = (component.get("source") or "").strip().lower()
            changed = [e for e in (self.find("modifiers", component), self.find("variables", component))
                       if e is not None and (e.get("changed") or "").lower() == "true"]
            if source != "analysis program" or (component.get("deleted") or "").lower() == "true" or changed:
                edited = True
            unparsed = self.find("unparsedstatement", component)
            if source != "analysis program" or unparsed is None:
                continue
            variables = self.find("variables", component)
            values = [" ".join((v.text or "").split()) for v in variables] if variables is not None else []
            modifiers = self.find("modifiers", component)
            prefix = [" ".join((m.text or "").split()) for m in modifiers] if modifiers is not None else []
            lhs = self.text("lhsstatement", unparsed)
            left = _fill(" ".join([*(m for m in prefix if m), lhs]) if lhs else None, values)
            right = _fill(self.text("rhsstatement", unparsed), values[_count_variables(lhs):])
            if left:
                lines.append(f"{left} ({right})" if right else left)
        return tuple(lines) if edited else ()

    def median_beats(self, beats: ET.Element, measurements: dict[str, float]) -> dict[str, object] | None:
        """The cart's median beats (``repbeats``): fs, one float32 mV array per lead, fiducials (samples)."""
        fs = self._number(beats.get("samplespersec"), "repbeats samplespersec")
        resolution = self._number(beats.get("resolution"), "repbeats resolution")
        if fs is None or resolution is None:
            return None
        encoding = (beats.get("dataencoding") or "Base64").strip().lower()
        leads: dict[str, np.ndarray] = {}
        for beat in self.findall("repbeat", beats):
            name = canonical_lead_name(beat.get("leadname") or "")
            waveform = self.find("waveform", beat)
            text = (waveform.text if waveform is not None else beat.text) or ""
            if name is None or not text.strip():
                continue
            if encoding == "plain":
                try:
                    values = np.array(text.split(), dtype=np.int64)
                except (ValueError, OverflowError):
                    raise ECGFormatError(f"the median beat of lead {name} holds non-integer values.") from None
            else:
                try:
                    raw = base64.b64decode("".join(text.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise ECGFormatError(f"the median beat of lead {name} is not valid Base64.") from None
                values = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int64)
            keep = values.size
            while keep and values[keep - 1] in _REPBEAT_PADDING:  # the 500 Hz beats are padded with 32767
                keep -= 1
            if keep:
                leads[name] = (values[:keep] * (resolution / 1000.0)).astype(np.float32)
        if not leads:
            return None
        out: dict[str, object] = {"fs": fs, "leads": leads}
        fiducials = _fiducials(self.find("interpretations/interpretation/globalmeasurements"), measurements, fs,
                               min(v.size for v in leads.values()), self)
        if fiducials:
            out["fiducials"] = fiducials
        return out


# -- small helpers -----------------------------------------------------------------------------------------
def _place_qtc(qtc: float, out: dict[str, float], notes: list[str]) -> None:
    """1.03's meanqtc names no formula: it is Bazett or Fridericia when it matches that formula applied to
    the device's own QT and rate (within 2 % or 5 ms), else it is left out."""
    qt, rate = out.get("qt_ms"), out.get("heart_rate_bpm")
    rr_s = out["rr_ms"] / 1000.0 if "rr_ms" in out else (60.0 / rate if rate else None)
    if qt is None or rr_s is None:
        notes.append(f"QTc {qtc:g} ms not taken: the file does not say which correction it used.")
        return
    for name, value in (("qtc_bazett_ms", qt / math.sqrt(rr_s)), ("qtc_fridericia_ms", qt / rr_s ** (1 / 3))):
        if abs(qtc - value) <= max(5.0, 0.02 * value):
            out.setdefault(name, qtc)
            return
    notes.append(f"QTc {qtc:g} ms not taken: it matches neither Bazett nor Fridericia for QT {qt:g} ms.")


def _fiducials(section: ET.Element | None, measurements: dict[str, float], fs: float, n: int,
               doc: _Document) -> dict[str, int]:
    """Median-beat fiducials in samples from the global qonset (ms into the beat) and the intervals."""
    onset = _float(doc.text("qonset", section)) if section is not None else None
    if onset is None or onset <= 0:
        return {}
    ms = {"qrs_onset": onset}
    if "qrs_ms" in measurements:
        ms["qrs_offset"] = onset + measurements["qrs_ms"]
    if "qt_ms" in measurements:
        ms["t_offset"] = onset + measurements["qt_ms"]
    if "pr_ms" in measurements:
        ms["p_onset"] = onset - measurements["pr_ms"]
        if "p_duration_ms" in measurements:
            ms["p_offset"] = ms["p_onset"] + measurements["p_duration_ms"]
    samples = {k: round(v * fs / 1000.0) for k, v in ms.items()}
    return {k: v for k, v in samples.items() if 0 <= v < n}


def _count_variables(text: str | None) -> int:
    return len(_STATEMENT_VARIABLE.findall(text or ""))


def _fill(text: str | None, values: list[str]) -> str | None:
    """'V-rate<***' with values ['60'] -> 'V-rate<60'; unchanged when there are too few values."""
    if not text:
        return None
    if _count_variables(text) > len(values):
        return text
    supply = iter(values)
    return _STATEMENT_VARIABLE.sub(lambda _: next(supply), text)


def _float(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y")  # Philips dates are YYYY-MM-DD


def _date(text: str | None) -> date | None:
    return parse_date(text, _DATE_FORMATS)


def _datetime(day: str | None, clock: str | None) -> datetime | None:
    return parse_date_time(day, clock, _DATE_FORMATS)


__all__ = ["read_philips", "reconstruct_limb_leads", "strip_calibration_tail"]
