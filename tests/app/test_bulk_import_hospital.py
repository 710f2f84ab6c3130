"""The app's bulk import (Worklist page, a .zip run as a background job) takes hospital exports: every
file of ``data/samples/hospital`` (GE MUSE, Philips, DICOM, SCP-ECG, HL7 aECG) becomes a record with the
device's reading and the acquisition stored, the patient identifier only as a keyed hash, and
neither the original file nor its name kept."""

from __future__ import annotations

import io
import time
import zipfile
from collections import Counter

from sqlalchemy import select

from app import jobs
from db.models import StoredRecord
from db.patient_keys import normalise_patient_id
from db.records import load_ecg
from db.session import Database
from ecgcore.io import read
from ecgcore.io.formats import format_for
from tests.app.conftest import sign_in, view_as
from tests.conftest import REPO_ROOT

HOSPITAL = REPO_ROOT / "data" / "samples" / "hospital"
SAMPLES = sorted(p for p in HOSPITAL.rglob("*") if p.suffix.lower() in (".xml", ".dcm", ".scp"))


def _wait(job_id: str) -> jobs.Job:
    deadline = time.time() + 300
    while time.time() < deadline:
        job = jobs.get(job_id)
        if job is not None and job.done:
            return job
        time.sleep(0.05)
    raise AssertionError("the bulk import did not finish")


def _hospital_zip() -> bytes:
    """The samples folder as a hospital would zip an export: licences and manifests included."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in HOSPITAL.rglob("*") if p.is_file()):
            archive.write(path, f"export/{path.relative_to(HOSPITAL).as_posix()}")
    return buffer.getvalue()


def test_the_bulk_import_takes_every_hospital_format_with_its_device_reading(team: Database) -> None:
    assert Counter(format_for(p).key for p in SAMPLES) == {"dicom": 2, "muse": 1, "aecg": 1, "philips": 1, "scp": 3}
    sign_in("carla")  # creates the store and preloads the demo records
    with team.transaction() as session:
        before = set(session.scalars(select(StoredRecord.id)))
    at = view_as("worklist", "carla", "cardiologist").run()
    at.file_uploader(key="bulk_zip").set_value(("export.zip", _hospital_zip(), "application/zip")).run()
    next(b for b in at.button if b.label == "Start import").click().run()
    assert not at.exception, at.exception
    job = _wait(at.session_state["bulk_job"])
    assert job.error is None, job.error
    report = job.result
    # every sample file is a record; Example.scp is the recording Example.dcm holds (same signal: one record)
    assert (report.total, report.new, report.duplicates, report.errors) == (len(SAMPLES), len(SAMPLES) - 1, 1, [])
    at.run()
    assert not at.exception
    assert any(f"Imported {len(SAMPLES) - 1} new record(s); 1 already in the store; 0 file(s) skipped" in s.value
               for s in at.success)

    with team.transaction() as session:
        rows = {r.content_hash: r for r in session.scalars(select(StoredRecord)) if r.id not in before}
    assert len(rows) == len(SAMPLES) - 1
    first_of_hash: set[str] = set()
    for path in SAMPLES:
        ecg = read(path)
        row = rows[ecg.content_hash()]
        stored = load_ecg(team, row.id)
        first = row.content_hash not in first_of_hash
        first_of_hash.add(row.content_hash)
        if ecg.device_reading is None:  # the Healforce handheld's SCP files hold no reading
            assert path.parent.name == "scp_ecg" and path.stem in ("62", "63"), path
            assert stored.device_reading is None, path
        elif first:
            assert stored.device_reading == ecg.device_reading, path
        else:  # the duplicate: the row keeps the reading of the file imported first
            assert stored.device_reading is not None and stored.device_reading.measurements, path
        assert stored.acquisition is not None, path
        if first:
            when = ecg.acquisition.acquired_at
            assert stored.acquisition.acquired_at == (when.replace(tzinfo=None) if when else None), path
            assert (stored.acquisition.device, stored.acquisition.site) == (ecg.acquisition.device,
                                                                            ecg.acquisition.site), path
            assert (stored.age, stored.sex) == (ecg.age, ecg.sex), path
            assert row.file_format == path.suffix.lstrip(".").lower(), path  # 62.SCP: scp
            assert (row.patient_key is not None) == bool(normalise_patient_id(ecg.acquisition.patient_id)), path
        # a hospital file: no original, no file name, no patient identifier in the store
        assert row.original_filename is None and path.stem not in row.record_name, (path, row.record_name)
        assert not ecg.acquisition.patient_id or ecg.acquisition.patient_id not in (row.patient_key, row.record_name)
        originals = team.data_dir / row.storage_path / "original"
        assert not originals.exists() or not any(originals.iterdir()), path
    formats_with_reading = {format_for(p).key for p in SAMPLES if read(p).device_reading is not None}
    assert formats_with_reading == {"dicom", "muse", "aecg", "philips", "scp"}
