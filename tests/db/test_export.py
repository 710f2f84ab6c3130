"""Expert-review export: folder layout, manifest, and the reader the training code uses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from db import audit
from db.errors import ExportError
from db.export import export_expert_review, load_expert_review_export
from db.labels import vocabulary
from db.migrate import head_revision
from db.records import add_prediction, add_record
from db.reviews import save_review

AF, SB = "ATRIAL FIBRILLATION", "SINUS BRADYCARDIA"


def test_export_round_trip(db, team, ptbxl_records, tmp_path):
    ids = []
    for i, ecg in enumerate(ptbxl_records[:4]):
        rid = add_record(db, ecg.replace(age=40.0 + i, sex="F" if i % 2 else "M"))[0].id
        ids.append(rid)
        add_prediction(db, rid, "ecgfounder-12lead", "1.0", {AF: 0.7, SB: 0.2})
        verdict = "present" if i < 2 else "absent"
        save_review(db, rid, "alice", {AF: verdict}, saw_model_output=False)
        if i < 3:  # the 4th record has one review only: not exported
            save_review(db, rid, "bob", {AF: verdict, SB: "absent"}, saw_model_output=True)
    out = export_expert_review(db, tmp_path / "export", exported_by="erin")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_records"] == 3 and manifest["n_excluded_records"] == 1 and manifest["exported_by"] == "erin"
    assert manifest["model_versions"] == [{"model_name": "ecgfounder-12lead", "model_version": "1.0", "n_records": 3}]
    assert {r["name"] for r in manifest["reviewers"]} == {"alice", "bob"} and manifest["n_blinded_reviews"] == 3
    assert manifest["schema_revision"] == head_revision()
    assert sorted(p.name for p in (out / "waveforms").iterdir())[:2] == [f"ecg{ids[0]:06d}.dat", f"ecg{ids[0]:06d}.hea"]

    data = load_expert_review_export(out)
    assert len(data) == 3 and data.labels.shape == (3, len(vocabulary()))
    col = data.label_names.index(AF)
    assert data.labels[:, col].tolist() == [1, 1, 0] and data.labels.sum() == 2
    assert data.records[0].labels == (AF,) and data.records[2].labels == ()
    assert data.records[1].age == 41.0 and data.records[1].sex == "F"
    assert data.table["n_reviewers"].tolist() == [2, 2, 2]
    for ecg, original in zip(data.records, ptbxl_records, strict=False):
        assert ecg.leads == original.leads and ecg.fs == 500
        assert np.abs(ecg.signal - original.signal).max() < 0.01  # 16-bit WFDB quantisation
    assert audit.events(db, action="export")[0].details["n_records"] == 3

    with pytest.raises(ExportError, match="already exists"):
        export_expert_review(db, out)
    (out / "labels.csv").write_text((out / "labels.csv").read_text().replace(",1,", ",0,", 1))
    with pytest.raises(ExportError, match="modified"):
        load_expert_review_export(out)


def test_empty_store_exports_an_empty_but_valid_set(db, tmp_path):
    out = export_expert_review(db, tmp_path / "empty")
    data = load_expert_review_export(out)
    assert len(data) == 0 and data.labels.shape == (0, len(vocabulary()))


def test_not_an_export(tmp_path):
    with pytest.raises(ExportError, match="not an expert-review export"):
        load_expert_review_export(tmp_path)
