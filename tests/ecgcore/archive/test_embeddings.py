"""``ecg embed``: each vector is ``Net1D.forward_features`` averaged over time; several networks concatenate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from ecgcore.archive.embeddings import feature_dim, pooled_features
from ecgcore.archive.schema import METADATA_KEY
from ecgcore.bundle import load_bundle
from ecgcore.cli import main
from ecgcore.ensemble import Net1DEnsemble
from ecgcore.io import read
from ecgcore.predict import Predictor


def test_embeddings_equal_forward_features(folder: Path, bundle: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "embeddings.parquet"
    assert main(["embed", str(folder), "--model", str(bundle), "-o", str(out), "-q", "--workers", "0",
                 "--batch-size", "4"]) == 1  # the broken file
    assert "embedded with tiny-test" in capsys.readouterr().err
    table = pq.read_table(out)
    net = load_bundle(bundle).model.eval()
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), net.n_features)
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    assert meta["kind"] == "embeddings" and meta["combine"] == "concatenate" and meta["feature_dim"] == net.n_features

    predictor = Predictor(bundle)
    rows = [r for r in table.to_pylist() if r["error"] is None]
    assert len(rows) == 6
    inputs = torch.from_numpy(np.stack([predictor.prepare(read(r["path"])) for r in rows]))
    with torch.no_grad():
        expected = net.forward_features(inputs).mean(-1).numpy()
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), expected, rtol=1e-4, atol=1e-5)


def test_several_networks_concatenate_in_member_order(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    first, second = loaded.model.eval(), load_bundle(bundle).model.eval()
    with torch.no_grad():
        for p in second.parameters():
            p.mul_(0.5)
    loaded.model = Net1DEnsemble([first, second])
    predictor = Predictor(loaded)
    x = torch.randn(3, 12, 5000)
    features = pooled_features(predictor, x)
    assert feature_dim(predictor) == 2 * first.n_features == features.shape[1]
    with torch.no_grad():
        expected = torch.cat([net.forward_features(x).mean(-1) for net in (first, second)], 1)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)
