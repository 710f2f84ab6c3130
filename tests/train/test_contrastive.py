"""Contrastive pretraining: the NT-Xent loss and a real (tiny) pretraining run + recipe."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from ecgcore.bundle import load_bundle
from train.contrastive import ContrastiveConfig, fit_contrastive, nt_xent
from train.recipes.experiments import contrastive


def test_nt_xent_rewards_matching_views():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 16, generator=g)
    matched = nt_xent(z, z + 0.01 * torch.randn(8, 16, generator=g), 0.1)
    unmatched = nt_xent(z, torch.randn(8, 16, generator=g), 0.1)
    assert matched < 0.1 < math.log(15) - 1 < unmatched
    # Orthogonal one-hot embeddings, partner identical: the only competitor terms are exp(0).
    eye = torch.eye(4)
    expected = -math.log(math.exp(10) / (math.exp(10) + 6))
    assert nt_xent(eye, eye, 0.1).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_tiny_contrastive_run_learns_and_is_reused(small_set, tmp_path):
    config = ContrastiveConfig(out_dir=str(tmp_path / "simclr"), model="net1d-tiny", epochs=4, batch_size=16,
                               progress=False)
    model = fit_contrastive(config, small_set, np.arange(len(small_set)))
    bundle = load_bundle(tmp_path / "simclr" / "bundle")
    history = bundle.card.training["history"]
    assert len(history) == 4 and history[-1]["loss"] < history[0]["loss"]
    again = fit_contrastive(config, small_set, np.arange(len(small_set)))   # finished: loaded, not retrained
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_contrastive_recipe_writes_its_table(small_set, tmp_path):
    settings = contrastive.SETTINGS.with_epochs(1)
    settings = replace(settings, pretrain=replace(settings.pretrain, model="net1d-tiny", batch_size=16), n_boot=20)
    results = contrastive.run(settings, work=tmp_path / "work", docs=tmp_path / "docs", data_dir=small_set.path,
                              workers=1)
    assert [r["fraction"] for r in results["rows"]] == [0.1, 1.0]
    assert "contrastive pretraining" in (tmp_path / "docs" / "contrastive.md").read_text()
