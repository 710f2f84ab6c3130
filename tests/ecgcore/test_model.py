"""Net1D: exact compatibility with the released checkpoints' state dicts, and the layer semantics."""

from __future__ import annotations

import json

import pytest
import torch

from ecgcore.errors import ModelError
from ecgcore.model import MODEL_CONFIGS, MaxPoolSame1d, Net1DConfig, count_parameters, create_model, same_padding
from tests.conftest import REPO_ROOT

REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "ecgfounder_state_dict.json"


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference is not beside the repo")
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", ["ecgfounder-12lead", "ecgfounder-1lead"])
def test_state_dict_matches_release_name_for_name(reference: dict, name: str) -> None:
    model = create_model(name)
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    theirs = [(k, list(shape)) for k, shape in reference[name]["state_dict"].items()]
    assert ours == theirs  # same names, same order, same shapes
    assert count_parameters(model) == reference[name]["n_parameters"]


def test_official_parameter_counts() -> None:
    assert count_parameters(create_model("ecgfounder-12lead")) == 30_819_014
    assert count_parameters(create_model("ecgfounder-1lead")) == 30_807_750


@pytest.mark.parametrize("name", sorted(MODEL_CONFIGS))
def test_every_config_runs_on_a_10s_ecg(name: str) -> None:
    model = create_model(name, n_classes=7).eval()
    x = torch.randn(2, model.config.in_channels, 5000)
    with torch.inference_mode():
        logits = model(x)
        features = model.features(x)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    assert features.shape[1] == model.n_features


def test_same_padding_gives_ceil_length() -> None:
    for length in (5000, 2500, 313, 157, 1):
        for kernel, stride in ((16, 2), (16, 1), (1, 1), (8, 2)):
            left, right = same_padding(length, kernel, stride)
            out = (length + left + right - kernel) // stride + 1
            assert out == -(-length // stride)
            assert right - left in (0, 1)


def test_shortcut_pool_pads_with_zeros_on_the_right() -> None:
    # Release numerics: an odd-length all-negative input pools its last sample against a zero pad.
    x = torch.full((1, 1, 5), -3.0)
    pooled = MaxPoolSame1d(2)(x)
    assert pooled.shape[-1] == 3
    assert pooled[0, 0].tolist() == [-3.0, -3.0, 0.0]


def test_official_config_ignores_batchnorm_as_the_release_does() -> None:
    torch.manual_seed(0)
    model = create_model("ecgfounder-1lead", n_classes=3).eval()
    x = torch.randn(1, 1, 5000)
    with torch.inference_mode():
        before = model(x)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.fill_(5.0)
        after = model(x)
    assert torch.equal(before, after)


def test_small_config_uses_batchnorm() -> None:
    torch.manual_seed(0)
    model = create_model("net1d-tiny", n_classes=3).eval()
    x = torch.randn(1, 12, 5000)
    with torch.inference_mode():
        before = model(x)
        model.first_bn.running_mean.fill_(5.0)
        assert not torch.allclose(before, model(x))


def test_reset_head_changes_outputs_only() -> None:
    model = create_model("net1d-tiny")
    trunk = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("dense.")}
    model.reset_head(4)
    assert model.dense.out_features == 4 and model.config.n_classes == 4
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in trunk.items())


def test_config_round_trip_and_validation() -> None:
    config = MODEL_CONFIGS["net1d-small-12lead"]
    assert Net1DConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ModelError, match="groups_width"):
        Net1DConfig(filter_list=(30,), m_blocks_list=(1,), groups_width=16)
    with pytest.raises(ModelError, match="Unknown model"):
        create_model("resnet-9000")
