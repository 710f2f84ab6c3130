"""The linear-probe recipe on a small fixed example: a label the features carry, one they do not, unknowns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgcore.archive.schema import ArchiveLayout
from ecgcore.archive.store import PartWriter, merge_parts
from train.__main__ import main
from train.linear_probe import apply_probe, load_probe_data

N_RECORDS, DIM = 240, 8


def _write_embeddings(path: Path, features: np.ndarray) -> None:
    layout = ArchiveLayout(labels=(), model="probe-test", model_version="1.0.0", kind="embeddings", feature_dim=DIM)
    writer = PartWriter(path, layout, rows_per_group=100)
    for i, vector in enumerate(features):
        writer.add({"path": f"/ecgs/{i:05d}.hea", "content_sha256": "0" * 64, "record_id": f"{i:05d}",
                    "model": "probe-test", "model_version": "1.0.0", "embedding": vector.tolist()})
    writer.add({"path": "/ecgs/broken.edf", "content_sha256": None, "error": "not an EDF file"})
    writer.close()
    merge_parts(path, layout)


@pytest.fixture()
def example(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(N_RECORDS, DIM)).astype(np.float32)
    carried = (features[:, 0] + 0.5 * features[:, 1] + 0.3 * rng.normal(size=N_RECORDS) > 0).astype(int)
    unrelated = rng.integers(0, 2, N_RECORDS)
    labels = pd.DataFrame({"record_id": [f"{i:05d}" for i in range(N_RECORDS)], "carried": carried.astype(float),
                           "unrelated": unrelated.astype(float)})
    labels.loc[:19, "carried"] = np.nan  # unknown for 20 records: left out of that label only
    embeddings, csv = tmp_path / "embeddings.parquet", tmp_path / "labels.csv"
    _write_embeddings(embeddings, features)
    labels.to_csv(csv, index=False)
    return embeddings, csv, features


def test_probe_finds_the_carried_label_and_not_the_unrelated_one(example, tmp_path: Path) -> None:
    embeddings, csv, features = example
    out = tmp_path / "probe"
    assert main(["linear-probe", "--embeddings", str(embeddings), "--labels", str(csv), "--out", str(out),
                 "--n-boot", "200"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["label"]: r for r in metrics["labels"]}
    assert rows["carried"]["n"] == N_RECORDS - 20 and rows["unrelated"]["n"] == N_RECORDS
    assert rows["carried"]["auroc"] > 0.9 and rows["carried"]["auroc_ci"][0] > 0.85
    low, high = rows["unrelated"]["auroc_ci"]
    assert low < 0.5 < high and rows["unrelated"]["auroc"] < 0.65
    assert metrics["summary"]["embeddings_model"] == {"model": "probe-test", "model_version": "1.0.0"}
    assert "Linear probe" in (out / "report.md").read_text()

    probe = json.loads((out / "probe.json").read_text())
    scores = apply_probe(probe, features.astype(np.float64))
    truth = pd.read_csv(csv)["carried"].to_numpy()
    known = ~np.isnan(truth)
    assert ((scores["carried"][known] > 0.5) == truth[known].astype(bool)).mean() > 0.85


def test_labels_must_be_zero_one_and_keyed(example, tmp_path: Path) -> None:
    embeddings, csv, _ = example
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"record_id": ["00001"], "carried": [2]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="label column 'carried' must hold 1, 0 or nothing; got '2'"):
        load_probe_data(embeddings, bad)
    pd.DataFrame({"ecg": ["00001"], "carried": [1]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"needs a key column, one of \('record_id', 'path'\)"):
        load_probe_data(embeddings, bad)
    assert main(["linear-probe", "--embeddings", str(embeddings), "--labels", str(bad)]) == 2
    data = load_probe_data(embeddings, csv)
    assert data.features.shape == (N_RECORDS, DIM) and data.labels == ["carried", "unrelated"]
