"""Privacy at import: nothing identifying from a hospital file reaches the store, the logs or an export.

For every hospital sample file the readers can read (files a reader still refuses are skipped),
the identifying strings are taken from the raw file itself, independently of the readers: patient
identifiers, names and dates of birth (in the usual spellings), per format (GE MUSE, Philips, HL7
aECG and DICOM tags, SCP-ECG Section 1 tags 0-3 and 5). Each file is uploaded through the app's
path (``workspace.import_upload``) into a fresh SQLite store, reviewed and exported; then none of
the strings may appear in any row of any table, in any file under the data directory (the SQLite
file and its WAL included), in the export folder, the verdict and audit CSVs, or the logs and
warnings captured at DEBUG (SQLAlchemy's statement log included).

Strings that identify nobody are not looked for: placeholders ("xxxxxx", "---", "9999",
"00000", "Anonymous", one repeated character) and values under 3 letters or digits. Matching is
case-insensitive and bounded by non-alphanumerics, so "9999" inside a hex hash is not a hit.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import warnings
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from db import audit, dashboard_data, workspace
from db.export import export_expert_review, load_expert_review_export
from db.models import StoredRecord
from db.patient_keys import key_file, normalise_patient_id, patient_key
from db.records import (
    acquisition_for,
    add_record,
    device_reading_for,
    load_ecg,
    other_records_of_patient,
    records_of_patient,
)
from db.reviews import save_review
from db.session import Database
from db.users import create_user
from ecgcore.acquisition import Acquisition, DeviceReading
from ecgcore.config import REPO_ROOT
from ecgcore.errors import ECGError
from ecgcore.io import read
from ecgcore.io.formats import format_for, is_ecg_file
from ecgcore.io.xml_safe import decode_xml_text
from train.paths import SHARED_DATA_DIR

HOSPITAL_DIRS = (REPO_ROOT / "data" / "samples" / "hospital", SHARED_DATA_DIR / "hospital_formats")
AF = "ATRIAL FIBRILLATION"

# Element names (lower-case, namespace stripped) whose text identifies the patient, per XML format.
XML_IDENTIFYING_TAGS = {
    "muse": {"patientid", "patientlastname", "patientfirstname", "patientmiddlename", "dateofbirth"},
    "philips": {"patientid", "mrn", "lastname", "firstname", "middlename", "dateofbirth"},
}
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%m-%d-%Y", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y")
PLACEHOLDER_NAMES = {"ANONYMOUS", "UNKNOWN", "NONE", "NULL", "NA"}
# (file name, string): a sample's identifying value that the same file also uses for something the
# store keeps on purpose, so finding it proves nothing. Each entry says why.
COINCIDENCES = {
    ("hl7aecg-Example2.xml", "ABC"): "the subject's made-up name 'ABC' is also in the device name "
                                     "'Manufacturer ABC 12345'",
}


# -- what identifies the patient, from the raw file --------------------------------------------------
def _date_spellings(value: str) -> set[str]:
    """A date of birth as the file writes it, and as ISO / compact / US / European dates."""
    value = value.strip()
    for fmt in DATE_FORMATS:
        try:
            day = datetime.strptime(value[:10] if "-" in value or "/" in value or "." in value else value[:8], fmt).date()
        except ValueError:
            continue
        return {value} | {day.strftime(f) for f in DATE_FORMATS}
    return {value} if value else set()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _xml_strings(path: Path, key: str) -> set[str]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(decode_xml_text(path.read_bytes()))
    found: set[str] = set()
    if key in XML_IDENTIFYING_TAGS:
        for element in root.iter():
            name = _local(element.tag)
            text = (element.text or "").strip()
            if name in XML_IDENTIFYING_TAGS[key] and text:
                found |= _date_spellings(text) if "birth" in name else {text}
    elif key == "aecg":  # subject: id extension; demographic person: name (or given/family), birthTime
        for element in root.iter():
            if _local(element.tag) in {"trialsubject", "patient"}:
                for child in element:
                    if _local(child.tag) == "id" and child.get("extension"):
                        found.add(child.get("extension"))
            if _local(element.tag) in {"subjectdemographicperson", "patientperson"}:
                for part in element.iter():
                    name = _local(part.tag)
                    if name in {"name", "given", "family"} and (part.text or "").strip():
                        found.add(part.text.strip())
                    if name == "birthtime" and part.get("value"):
                        found |= _date_spellings(part.get("value"))
    return found


def _dicom_strings(path: Path) -> set[str]:
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    found: set[str] = set()
    for keyword in ("PatientID", "OtherPatientIDs", "AccessionNumber", "IssuerOfPatientID"):
        if ds.get(keyword):
            found.add(str(ds.get(keyword)))
    for keyword in ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"):
        if ds.get(keyword):
            text = str(ds.get(keyword))
            found |= {text, *(part for part in re.split(r"[\^=]", text) if part)}
    if ds.get("PatientBirthDate"):
        found |= _date_spellings(str(ds.get("PatientBirthDate")))
    return found


def _scp_section1(buf: bytes) -> bytes:
    """Section 1's body, by Section 0's pointers (1-based, or 0-based as one known producer writes them)."""
    section0_length = struct.unpack_from("<I", buf, 6 + 4)[0]
    entries = [struct.unpack_from("<HII", buf, offset) for offset in range(6 + 16, 6 + section0_length - 9, 10)]
    base = 0 if any(sid == 0 and index == 6 for sid, _, index in entries) else 1
    for sid, length, index in entries:
        if sid == 1 and length and index:
            start = index - base
            return buf[start + 16:start + struct.unpack_from("<I", buf, start + 4)[0]]
    return b""


def _scp_strings(path: Path) -> set[str]:
    body, found, offset = _scp_section1(path.read_bytes()), set(), 0
    while offset + 3 <= len(body):
        tag, length = body[offset], struct.unpack_from("<H", body, offset + 1)[0]
        value = body[offset + 3:offset + 3 + length]
        if tag == 255:
            break
        if tag in (0, 1, 2, 3):  # last name, first name, patient ID, second last name
            text = value.split(b"\0", 1)[0].decode("latin-1").strip()
            if text:
                found.add(text)
        elif tag == 5 and length >= 4:  # date of birth: year (little-endian; big-endian in Healforce files)
            for year in (struct.unpack_from("<H", value)[0], struct.unpack_from(">H", value)[0]):
                try:
                    found |= _date_spellings(date(year, value[2], value[3]).isoformat())
                except ValueError:
                    pass
        offset += 3 + length
    return found


def identifying_strings(path: Path) -> set[str]:
    """What identifies the patient in the raw file (placeholders and very short values left out)."""
    key = format_for(path).key
    if key in ("muse", "philips", "aecg"):
        found = _xml_strings(path, key)
    elif key == "dicom":
        found = _dicom_strings(path)
    elif key == "scp":
        found = _scp_strings(path)
    else:
        raise AssertionError(f"{path}: no identifying-field list for format {key!r}")
    kept = set()
    for text in found:
        alnum = "".join(ch for ch in text if ch.isalnum())
        if len(alnum) < 3 or normalise_patient_id(text) is None or text.strip().upper() in PLACEHOLDER_NAMES:
            continue
        if (path.name, text.strip()) not in COINCIDENCES:
            kept.add(text.strip())
    return kept


def hospital_files() -> list[tuple[Path, set[str]]]:
    files = []
    for folder in HOSPITAL_DIRS:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_ecg_file(p)):
            try:
                read(path)
            except ECGError:  # a reader still landing, or a deliberately broken edge case
                continue
            files.append((path, identifying_strings(path)))
    return files


# -- where to look ----------------------------------------------------------------------------------
def _hit_pattern(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![0-9A-Za-z])" + re.escape(text) + r"(?![0-9A-Za-z])", re.IGNORECASE)


def find_leaks(strings: set[str], places: dict[str, str | bytes]) -> list[str]:
    """``place: string`` for every identifying string found in a place's text (or bytes: as UTF-8 and UTF-16)."""
    leaks = []
    for where, content in places.items():
        texts = [content] if isinstance(content, str) else [content.decode("latin-1")]
        for text_value in strings:
            hit = any(_hit_pattern(text_value).search(t) for t in texts)
            if not hit and isinstance(content, bytes):
                hit = any(variant.encode("utf-16-le") in content
                          for variant in {text_value, text_value.upper(), text_value.lower()})
            if hit:
                leaks.append(f"{where}: {text_value!r}")
    return leaks


def table_dump(db: Database) -> str:
    """Every row of every table of the store, as text."""
    meta = MetaData()
    meta.reflect(db.engine)
    lines = []
    with db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                lines.append(f"{table.name}: " + " | ".join(
                    json.dumps(v, default=str) if isinstance(v, dict | list) else str(v) for v in row))
    return "\n".join(lines)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- the test ---------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.delenv("ECG_PATIENT_KEY", raising=False)
    data = tmp_path / "data"
    database = Database(f"sqlite:///{data / 'review.sqlite'}", data_dir_path=data)
    for name, role in {"alice": "cardiologist", "bob": "cardiologist", "erin": "admin"}.items():
        create_user(database, name, role, f"{name}-password")
    yield database
    database.dispose()


def _upload(db: Database, path: Path, name: str | None = None, data: bytes | None = None) -> int:
    result, _ = workspace.import_upload(db, [(name or path.name, data if data is not None else path.read_bytes())],
                                        predictor_for=lambda ecg: None, uploader="alice")
    return result.record_id


def test_nothing_identifying_reaches_the_store_the_logs_or_an_export(store: Database, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    samples = hospital_files()
    if not samples:
        pytest.skip("no hospital sample file is readable yet")
    formats = {format_for(p).key for p, _ in samples}
    identifying = set().union(*(strings for _, strings in samples))
    assert {"muse", "philips"} <= formats and len(identifying) >= 5  # the test looks at something
    muse = next(p for p, _ in samples if p.name == "muse_ecg1.xml")
    muse2 = next(p for p, _ in samples if p.name == "muse_ecg2.xml")
    muse3 = next(p for p, _ in samples if p.name == "muse_ecg3.xml")
    # The same patient as muse_ecg1 in another ECG: muse_ecg2 (uploaded only so) with muse_ecg1's
    # identifier spelt otherwise, another name, and a file name made of both
    relabelled = (muse2.read_bytes().replace(b"<PatientID>JAX12345</PatientID>", b"<PatientID> jax01234 </PatientID>")
                  .replace(b"TEST 04", b"RENAMED PATIENT"))
    assert relabelled != muse2.read_bytes()
    identifying |= {"RENAMED PATIENT", "JAX01234_TEST_05"}

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQLAlchemy sets its own loggers to WARNING
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = {path: _upload(store, path) for path, _ in samples if path != muse2}
        again = _upload(store, muse, name="JAX01234_TEST_05.xml")  # the same file under another name
        linked = _upload(store, muse2, name="JAX01234_RENAMED_PATIENT.xml", data=relabelled)
        for record_id in {*ids.values(), linked}:  # reviewed twice, so that the export holds them
            for reviewer in ("alice", "bob"):
                save_review(store, record_id, reviewer, {AF: "absent"}, saw_model_output=False)
        out = export_expert_review(store, tmp_path / "export", exported_by="erin")
        verdicts = dashboard_data.verdicts_csv(store, actor="alice")
        events = audit.events_csv(store, actor="erin")
        loaded = load_expert_review_export(out)
    logs = caplog.text + "\n".join(str(w.message) for w in caught)

    # the capture saw the store at work (else an empty log would pass): the key's creation, and SQL
    assert "patient key" in caplog.text and "INSERT INTO records" in caplog.text
    places: dict[str, str | bytes] = {"tables": table_dump(store), "logs": logs, "verdicts.csv": verdicts,
                                      "audit.csv": events}
    places |= {f"data dir/{k}": v for k, v in files_under(store.data_dir).items()}
    places |= {f"export/{k}": v for k, v in files_under(out).items()}
    assert find_leaks(identifying, places) == []

    # the originals of hospital files are not kept, nor their file names
    with store.transaction() as session:
        rows = {row.id: row for row in session.scalars(select(StoredRecord))}
    assert again == ids[muse]
    for row in rows.values():
        assert row.original_filename is None
        assert not (store.data_dir / row.storage_path / "original").exists()
    assert rows[ids[muse]].record_name == "GE MUSE 2021-05-10 13:15"
    # the same patient links across uploads, whatever the spelling of the identifier; others do not
    assert rows[linked].patient_key == rows[ids[muse]].patient_key is not None
    assert [r.id for r in records_of_patient(store, rows[linked].patient_key)] == [ids[muse], linked]  # newest first
    assert [r.id for r in other_records_of_patient(store, linked)] == [ids[muse]]
    assert rows[ids[muse3]].patient_key not in (None, rows[linked].patient_key)
    # placeholder identifiers (the two Philips "9999" patients are a man of 60 and a woman of 32) link nothing
    philips_9999 = [ids[p] for p, _ in samples if p.name in ("3191723_ZZDEMOPTONLY_1-04_orig.xml",
                                                               "ad4d3d80-d165_1-04_orig.xml")]
    assert philips_9999 and all(rows[i].patient_key is None for i in philips_9999)
    # another installation (another key) hashes the same identifier differently
    assert patient_key("JAX01234", data_dir=tmp_path / "other-installation") not in (None, rows[linked].patient_key)
    assert patient_key("JAX01234", data_dir=store.data_dir) == rows[linked].patient_key
    assert key_file(store.data_dir).is_file()

    # what the file knows beyond the signal is stored, exported and read back
    reading = device_reading_for(store, ids[muse])
    assert reading is not None and reading.statements and reading.measurements
    assert acquisition_for(store, ids[muse]) == Acquisition(acquired_at=datetime(2021, 5, 10, 13, 15, 18),
                                                            device="MAC55", site="Research, FL Research Location")
    assert load_ecg(store, ids[muse]).device_reading == reading
    exported = {r.metadata["content_hash"]: r for r in loaded.records}
    back = exported[rows[ids[muse]].content_hash]
    assert back.device_reading == reading and back.acquisition.device == "MAC55"
    assert back.metadata["patient_key"] == rows[ids[muse]].patient_key
    assert loaded.device_readings is not None and len(loaded.device_readings) == loaded.manifest["n_device_readings"]
    assert loaded.manifest["n_patients_linked"] == len({r.patient_key for r in rows.values() if r.patient_key})


def test_patient_records_are_ordered_and_acquisition_filled_on_a_duplicate(db: Database, ptbxl_records,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite and PostgreSQL: newest acquisition first (a file without one: its upload time, 0006),
    then newest import; a plain upload of an ECG gets the acquisition of a later hospital upload of the
    same signal, whose time replaces the upload time."""
    monkeypatch.delenv("ECG_PATIENT_KEY", raising=False)
    one = Acquisition(patient_id="MRN-42", acquired_at=datetime(2024, 1, 2, 3, 4, 5), device="cart", site="ward")
    reading = DeviceReading(measurements={"qrs_ms": 96.0, "pr_ms": float("nan")}, statements=("Sinus rhythm",),
                            source="cart v1")
    old = add_record(db, ptbxl_records[0].replace(acquisition=one, device_reading=reading))[0]
    newer = add_record(db, ptbxl_records[1].replace(acquisition=Acquisition(
        patient_id="mrn-42", acquired_at=datetime(2025, 6, 7, 8, 9, 10))))[0]
    undated = add_record(db, ptbxl_records[2].replace(acquisition=Acquisition(patient_id="MRN-42")))[0]
    plain = add_record(db, ptbxl_records[3])[0]
    assert plain.patient_key is None and plain.record_name == ptbxl_records[3].record_name
    assert old.record_name == f"{ptbxl_records[0].source} 2024-01-02 03:04"
    assert undated.acquired_at_is_upload_time and not old.acquired_at_is_upload_time
    assert [r.id for r in records_of_patient(db, old.patient_key)] == [undated.id, newer.id, old.id]
    assert [r.id for r in records_of_patient(db, old.patient_key, exclude=newer.id)] == [undated.id, old.id]
    assert records_of_patient(db, "0" * 32) == [] and other_records_of_patient(db, plain.id) == []
    assert device_reading_for(db, old.id) == DeviceReading(measurements={"qrs_ms": 96.0}, statements=("Sinus rhythm",),
                                                           source="cart v1")  # NaN is not stored
    assert acquisition_for(db, old.id) == Acquisition(acquired_at=datetime(2024, 1, 2, 3, 4, 5), device="cart",
                                                      site="ward")
    assert device_reading_for(db, plain.id) is None and acquisition_for(db, plain.id) is None
    # the same signal again, from a hospital file: the plain row gains what it lacked, nothing else changes
    row, created = add_record(db, ptbxl_records[3].replace(acquisition=Acquisition(
        patient_id="MRN-42", acquired_at=datetime(2023, 1, 1, 0, 0))))
    assert not created and row.id == plain.id and row.patient_key == old.patient_key
    assert row.record_name == ptbxl_records[3].record_name
    assert [r.id for r in records_of_patient(db, old.patient_key)] == [undated.id, newer.id, old.id, plain.id]
    assert not row.acquired_at_is_upload_time and row.acquired_at == datetime(2023, 1, 1, 0, 0)
    assert audit.events(db, action="upload", limit=1)[0].details["filled"] == ["patient_key", "acquired_at"]
