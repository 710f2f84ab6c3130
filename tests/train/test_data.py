"""Dataset adapters on a handful of real records; label mapping round-trips; bad records skipped."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json

import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgcore.labels import encode, encode_ptbxl, label_index, labels_from_vector, map_source_codes
from ecgcore.leads import LEADS_12
from train.data import Example, TrainingSet, build, challenge_examples, review_export_examples
from train.data.ptbxl import ptbxl_split


def test_small_set_layout(small_set):
    assert len(small_set) == 46
    assert small_set.manifest["sources"] == {"ptbxl": 40, "cinc2021": 4, "code15": 2}
    x = small_set.signals([0, 45, 3])
    assert x.shape == (3, 12, 5000) and x.dtype == np.float32 and np.isfinite(x).all()
    shard = np.load(small_set.path / small_set.manifest["shards"][0]["file"], mmap_mode="r")
    assert shard.dtype == np.float16
    # z-scored by the ECGFounder pipeline
    assert abs(float(x[0].std()) - 1.0) < 0.1
    assert small_set.labels.shape == (46, 150) and small_set.mask.shape == (46, 150)
    assert not (small_set.labels.astype(bool) & ~small_set.mask).any(), "a positive is never masked"


def test_ptbxl_labels_round_trip(small_set, ptbxl_root):
    table = pd.read_csv(ptbxl_root / "ptbxl_database.csv").head(40)
    for i, row in enumerate(table.itertuples()):
        y, mask = encode_ptbxl(ast.literal_eval(row.scp_codes))
        assert np.array_equal(small_set.labels[i], y.astype(np.uint8))
        assert np.array_equal(small_set.mask[i], mask)
        meta = small_set.meta.iloc[i]
        assert meta.record_id == str(row.ecg_id) and meta.fold == row.strat_fold
        assert meta.split == ptbxl_split(row.strat_fold) and meta.patient_id == f"ptbxl:{int(row.patient_id)}"
    # record 1: NORM + SR -> NORMAL ECG and SINUS RHYTHM positive, ABNORMAL ECG a known negative
    names = set(labels_from_vector(small_set.labels[0].astype(np.float32)))
    assert {"NORMAL ECG", "SINUS RHYTHM"} <= names
    assert small_set.mask[0, label_index("ABNORMAL ECG")] and not small_set.labels[0, label_index("ABNORMAL ECG")]


def test_splits_follow_strat_fold():
    assert [ptbxl_split(f) for f in (1, 8, 9, 10)] == ["train", "train", "val", "test"]


def test_challenge_labels_from_dx(small_set, shared_data_dir):
    import ecgcore

    rows = small_set.meta.index[small_set.meta.source == "cinc2021"]
    for i in rows:
        record = ecgcore.read(shared_data_dir / "cinc2021_sample" / f"{small_set.meta.record_id[i]}.hea")
        y, mask = encode(list(record.labels), "snomed", strict=False)
        assert np.array_equal(small_set.labels[i], y.astype(np.uint8)) and np.array_equal(small_set.mask[i], mask)
    # round trip: positives decoded from the stored matrix are what the mapping says
    i = rows[0]
    codes = ecgcore.read(shared_data_dir / "cinc2021_sample" / f"{small_set.meta.record_id[i]}.hea").labels
    assert set(labels_from_vector(small_set.labels[i].astype(np.float32))) == map_source_codes(codes, "snomed",
                                                                                                strict=False)


def test_code15_metadata(small_set):
    rows = small_set.meta[small_set.meta.source == "code15"]
    assert rows.age.notna().all() and rows.sex.isin(["M", "F"]).all()


def test_bad_records_are_skipped_not_fatal(tmp_path, ptbxl_root):
    def broken():
        raise OSError("disk on fire")

    good = list(itertools.islice(__import__("train.data", fromlist=["x"]).ptbxl_examples(ptbxl_root), 2))
    bad_label = Example("bad-label", "test", load=good[0].load, label=lambda r: encode(["NOT-A-CODE"], "scp"))
    examples = [good[0], Example("broken", "test", load=broken, label=lambda r: None), bad_label, good[1]]
    result = build(examples, tmp_path / "set", progress=False)
    assert result.n_records == 2
    assert [s["record_id"] for s in result.skipped] == ["broken", "bad-label"]
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["n_skipped"] == 2 and "disk on fire" in manifest["skipped"][0]["error"]
    assert len(TrainingSet(tmp_path / "set")) == 2


def test_challenge_flat_leads_record_is_skipped(tmp_path, shared_data_dir):
    # JS20004 has zero-filled V2/V4/V6 in the real data: reported, not a crash
    examples = [e for e in challenge_examples(shared_data_dir / "cinc2021_sample") if e.record_id in ("JS20003",
                                                                                                     "JS20004")]
    result = build(examples, tmp_path / "c", progress=False)
    assert result.n_records == 1 and result.skipped[0]["record_id"] == "JS20004"


def _write_export(folder, shared_data_dir):
    """A minimal expert-review export in db.export's format (format_version 1) from 2 real records."""
    (folder / "waveforms").mkdir(parents=True)
    labels = ["NORMAL ECG", "ATRIAL FIBRILLATION"]
    rows = []
    for k, (name, src) in enumerate([("ecg000001", "ptbxl_subset/records500/00000/00001_hr"),
                                     ("ecg000002", "cinc2021_sample/E07500")]):
        signal, fields = wfdb.rdsamp(str(shared_data_dir / src))
        wfdb.wrsamp(name, fs=fields["fs"], units=["mV"] * 12, sig_name=list(LEADS_12), p_signal=signal,
                    fmt=["16"] * 12, write_dir=str(folder / "waveforms"))
        rows.append({"record": name, "record_id": k + 1, "content_hash": f"h{k}", "fs": fields["fs"],
                     "n_samples": len(signal), "age": 50 + k, "sex": "F", "status": "complete", "n_reviewers": 2,
                     "n_adjudicators": 0, "agreement": 1.0, "NORMAL ECG": 1 - k, "ATRIAL FIBRILLATION": k})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    files = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest = {"format": "ecgfounder-expert-review", "format_version": 1, "labels": labels, "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_review_export_adapter(tmp_path, shared_data_dir):
    pytest.importorskip("sqlalchemy")
    _write_export(tmp_path / "export", shared_data_dir)
    result = build(review_export_examples(tmp_path / "export"), tmp_path / "set", progress=False)
    assert result.n_records == 2 and not result.skipped
    ts = TrainingSet(tmp_path / "set")
    normal, af = label_index("NORMAL ECG"), label_index("ATRIAL FIBRILLATION")
    assert ts.mask.sum(1).tolist() == [2, 2], "only the exported labels are known"
    assert ts.labels[:, normal].tolist() == [1, 0] and ts.labels[:, af].tolist() == [0, 1]
    assert ts.meta.split.tolist() == ["test", "test"] and ts.meta.age.tolist() == [50, 51]
