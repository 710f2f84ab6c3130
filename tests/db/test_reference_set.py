"""A reference test set in the expert-review export layout (issue #21): written from labelled records,
read back by the same reader and training adapter as the reviews."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from db.errors import ExportError
from db.export import export_labelled_records, load_expert_review_export
from ecgcore.config import REPO_ROOT
from train.data.review_export import review_export_examples

LABELS = ("NORMAL ECG", "ATRIAL FIBRILLATION", "SINUS RHYTHM")


def test_labelled_records_round_trip_through_the_export_reader(ptbxl_records, tmp_path):
    records = [r.replace(labels=labels) for r, labels in zip(ptbxl_records[:3], [("NORMAL ECG", "SINUS RHYTHM"),
                                                                                ("ATRIAL FIBRILLATION",), ()])]
    out = export_labelled_records(records, tmp_path / "reference", labels=LABELS, description="three PTB-XL records")
    data = load_expert_review_export(out)
    assert data.manifest["kind"] == "reference test set" and data.manifest["description"] == "three PTB-XL records"
    assert data.label_names == LABELS and data.labels.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert data.table["record_id"].tolist() == [r.record_name for r in records]
    assert np.abs(data.records[1].signal - records[1].signal).max() < 0.01
    examples = list(review_export_examples(out, source="reference"))
    assert [e.mask.sum() for e in examples] == [3, 3, 3] and examples[0].patient_id.startswith("reference:")
    with pytest.raises(ExportError, match="already exists"):
        export_labelled_records(records, out, labels=LABELS, description="again")
    with pytest.raises(ExportError, match=r"\['SINUS RHYTHM'\] are not among the set's labels"):
        export_labelled_records(records, tmp_path / "other", labels=LABELS[:2], description="x")


def test_the_reference_script_keeps_only_labels_every_record_states(shared_data_dir, tmp_path):
    spec = importlib.util.spec_from_file_location("make_reference", REPO_ROOT / "scripts" / "make_reference_test_set.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    records, labels, skipped = script.labelled_records(shared_data_dir / "cinc2020_sample" / "G12EC")
    assert len(records) + len(skipped) == 10 and records and labels
    assert all(set(r.labels) <= set(labels) for r in records)
    assert script.main(["--source", str(shared_data_dir / "cinc2020_sample" / "G12EC"),
                        "--out", str(tmp_path / "ref")]) == 0
    assert len(load_expert_review_export(tmp_path / "ref")) == len(records)
