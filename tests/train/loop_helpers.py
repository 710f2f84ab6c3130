"""Builders of the learning-loop tests (issue #21): a tiny base bundle, a store with real reviewed
PTB-XL records, a reference test set and a rehearsal set, all small enough for seconds on a CPU."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from db.export import export_labelled_records
from db.overread import set_patient
from db.records import add_record
from db.reviews import save_review
from db.session import Database
from db.users import create_user
from ecgcore.bundle import make_card, save_bundle
from ecgcore.labels import ecgfounder_labels
from ecgcore.leads import LEADS_12
from ecgcore.model import create_model
from ecgcore.record import Record
from train.data import TrainingSet, build, ptbxl_examples

# Outputs of the tiny base: labels PTB-XL's first records carry (the last one untrained).
LOOP_LABELS = ["NORMAL ECG", "ABNORMAL ECG", "SINUS RHYTHM", "LEFT VENTRICULAR HYPERTROPHY", "SINUS BRADYCARDIA",
               "LEFT AXIS DEVIATION"]
TRAINED = LOOP_LABELS[:5]


def tiny_base_bundle(directory: Path, *, seed: int = 0, default: bool = True,
                     in_leads: tuple[str, ...] | None = None) -> Path:
    """A random-weight net1d-tiny bundle (12 leads, or ``in_leads``) answering :data:`LOOP_LABELS` (version 1.0.0)."""
    torch.manual_seed(seed)
    model = create_model("net1d-tiny", n_classes=len(LOOP_LABELS), in_channels=len(in_leads or LEADS_12))
    card = make_card("tiny-loop", model, LOOP_LABELS, version="1.0.0", trained_labels=TRAINED, default=default,
                     input_leads=list(in_leads or LEADS_12),
                     thresholds=[0.5] * len(LOOP_LABELS), description="tiny base model of the learning-loop tests")
    return save_bundle(model, card, directory)


def labelled_ptbxl(ptbxl_root: Path, start: int, n: int) -> list[Record]:
    """``n`` real PTB-XL records from the ``start``-th on, with their positive labels (``Record.labels``)."""
    names = ecgfounder_labels()
    out = []
    for ex in itertools.islice(ptbxl_examples(ptbxl_root), start, start + n):
        record = ex.load()
        y, mask = ex.label(record)
        out.append(record.replace(labels=tuple(names[j] for j in np.flatnonzero(np.asarray(y) * np.asarray(mask)))))
    return out


def reviewed_store(db: Database, records: list[Record]) -> list[int]:
    """The records in the store, two patients' ECGs each pair, read by two cardiologists who agree
    with PTB-XL's labels (on the tiny model's labels; the rest absent). Returns the record ids."""
    for name in ("alice", "bob"):
        create_user(db, name, "cardiologist", f"{name}-password")
    create_user(db, "erin", "admin", "erin-password")
    create_user(db, "vic", "viewer", "vic-password")
    ids = []
    for i, record in enumerate(records):
        row, _ = add_record(db, record.replace(labels=()), uploader="alice")
        set_patient(db, row.id, "alice", f"patient-{1000 + i // 2}")
        verdicts = {label: "present" for label in record.labels if label in LOOP_LABELS}
        for reviewer in ("alice", "bob"):
            save_review(db, row.id, reviewer, verdicts, saw_model_output=False)
        ids.append(row.id)
    return ids


def reference_set(ptbxl_root: Path, out: Path) -> Path:
    """Ten other real PTB-XL records and their labels in the export layout (the reference test set)."""
    return export_labelled_records(labelled_ptbxl(ptbxl_root, 40, 10), out,
                                   description="PTB-XL records 41-50 (test stand-in for the external check set)")


def rehearsal_set(ptbxl_root: Path, out: Path) -> TrainingSet:
    """Ten more PTB-XL records as a built training set (stand-in for the shipped training data)."""
    build(itertools.islice(ptbxl_examples(ptbxl_root), 50, 60), out, progress=False)
    return TrainingSet(out)
