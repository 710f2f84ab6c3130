"""Seed-ensemble bundles: saved and loaded exactly, scored as the mean of their members, explained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ecgcore.bundle import CARD_FILE, WEIGHTS_FILE, load_bundle
from ecgcore.ensemble import Net1DEnsemble, combine, ensemble_state_dict, split_state_dict
from ecgcore.errors import ModelError
from ecgcore.explain import attribute
from ecgcore.model import create_model
from ecgcore.predict import Predictor
from tests.ecgcore.helpers import tiny_bundle


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("ens") / "tiny-ensemble", n_networks=3, seed=3)


def _x(seed: int = 0, batch: int = 2) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, 12, 5000)).astype(np.float32))


def test_round_trip_keeps_every_member(ensemble_dir: Path) -> None:
    bundle = load_bundle(ensemble_dir)
    assert isinstance(bundle.model, Net1DEnsemble) and bundle.card.n_networks == 3
    assert len(bundle.networks) == 3
    stored = load_file(str(ensemble_dir / WEIGHTS_FILE))
    assert all(k.startswith("networks.") for k in stored)
    for i, network in enumerate(bundle.networks):
        for key, value in network.state_dict().items():
            assert torch.equal(value, stored[f"networks.{i}.{key}"])
    # the members differ (three seeds' initialisations), so the ensemble is not three copies of one
    first = [n.state_dict()["dense.weight"] for n in bundle.networks]
    assert not torch.equal(first[0], first[1])


def test_probability_is_the_mean_of_the_members(ensemble_dir: Path) -> None:
    bundle = load_bundle(ensemble_dir)
    x = _x()
    with torch.no_grad():
        members = torch.stack([torch.sigmoid(n(x)) for n in bundle.networks])
        combined = torch.sigmoid(bundle.model(x))
    assert torch.allclose(combined, members.mean(0), atol=1e-6)
    assert not torch.allclose(combined, members[0], atol=1e-4)


def test_predictor_planned_layouts_match_the_eager_ensemble(ensemble_dir: Path) -> None:
    x = _x(1).numpy()
    planned = Predictor(ensemble_dir, plan_layouts=True).probabilities(x)
    eager = Predictor(ensemble_dir, plan_layouts=False).probabilities(x)
    np.testing.assert_allclose(planned, eager, atol=1e-5)


def test_features_concatenate_the_members(ensemble_dir: Path) -> None:
    bundle = load_bundle(ensemble_dir)
    x = _x(2, batch=1)
    with torch.no_grad():
        features = bundle.model.forward_features(x)
        parts = [n.forward_features(x) for n in bundle.networks]
    assert features.shape[1] == bundle.model.n_features == sum(p.shape[1] for p in parts)
    assert torch.equal(features, torch.cat(parts, dim=1))


@pytest.mark.parametrize("method", ["saliency", "gradcam", "ig"])
def test_explanations_run_on_an_ensemble(ensemble_dir: Path, method: str) -> None:
    bundle = load_bundle(ensemble_dir)
    x = _x(3, batch=1)[0].numpy()
    attributions, deltas = attribute(bundle.model, x, [0, 1], method)
    assert attributions.shape == (2, 12, 5000) and np.isfinite(attributions).all()
    if method == "gradcam":  # the mean of the members' maps
        members = [attribute(n, x, [0, 1], method)[0] for n in bundle.networks]
        np.testing.assert_allclose(attributions, np.mean(members, axis=0), rtol=1e-5, atol=1e-7)


def test_single_network_bundles_keep_release_keys(tmp_path: Path) -> None:
    path = tiny_bundle(tmp_path / "one")
    stored = load_file(str(path / WEIGHTS_FILE))
    assert not any(k.startswith("networks.") for k in stored)
    assert load_bundle(path).card.n_networks == 1


def test_mismatched_weights_and_card_are_refused(ensemble_dir: Path, tmp_path: Path) -> None:
    import shutil

    broken = Path(shutil.copytree(ensemble_dir, tmp_path / "broken"))
    card = json.loads((broken / CARD_FILE).read_text())
    card["n_networks"], card["weights_sha256"] = 2, ""
    (broken / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="member 0-1"):
        load_bundle(broken)
    card["n_networks"] = 4
    (broken / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"no tensors for ensemble member\(s\) \[3\]"):
        load_bundle(broken)
    pair = [create_model("net1d-tiny", n_classes=4) for _ in range(2)]
    save_file({k: v.contiguous() for k, v in ensemble_state_dict(pair).items()}, str(broken / WEIGHTS_FILE))
    card["n_networks"] = 1
    (broken / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="hold an ensemble"):
        load_bundle(broken)


def test_ensembles_need_two_members_of_one_architecture() -> None:
    a = create_model("net1d-tiny", n_classes=4)
    with pytest.raises(ModelError, match="at least 2"):
        Net1DEnsemble([a])
    with pytest.raises(ModelError, match="one architecture"):
        Net1DEnsemble([a, create_model("net1d-tiny", n_classes=5)])
    assert combine([a]) is a
    with pytest.raises(ModelError, match="no networks"):
        combine([])
    assert split_state_dict(a.state_dict(), 1)[0] is not None
