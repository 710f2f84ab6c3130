"""Net1D: exact compatibility with the released checkpoints' state dicts, and the layer semantics."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from ecgcore.errors import ModelError
from ecgcore.model import (
    MODEL_CONFIGS,
    MaxPoolSame1d,
    Net1DConfig,
    count_parameters,
    create_model,
    same_conv_padding,
    same_padding,
)
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
        features = model.forward_features(x)
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


@pytest.mark.parametrize("length", [5000, 2500, 313, 8])
@pytest.mark.parametrize(("kernel", "stride"), [(16, 2), (16, 1), (15, 1), (1, 1), (8, 2), (3, 2)])
def test_same_conv_padding_gives_the_windows_of_an_explicit_pad(length: int, kernel: int, stride: int) -> None:
    x = torch.randn(1, 2, length)
    weight = torch.randn(3, 2, kernel)
    expected = F.conv1d(F.pad(x, same_padding(length, kernel, stride)), weight, stride=stride)
    padding = same_conv_padding(length, kernel, stride)
    out = F.conv1d(F.pad(x, padding.before), weight, stride=stride, padding=padding.conv)
    out = out[..., 1:] if padding.drop_first else out
    torch.testing.assert_close(out, expected)  # same windows; the summation order may differ
    assert padding.before == (0, 0) or stride > 1  # at stride 1 the convolution always pads itself


def test_forward_is_head_of_features_and_stages_split_anywhere() -> None:
    torch.manual_seed(0)
    model = create_model("net1d-tiny", n_classes=5).eval()
    x = torch.randn(2, 12, 5000)
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        assert torch.equal(model.forward_head(features), logits)
        stem = model.forward_stem(x)
        for k in range(len(model.stage_list) + 1):
            assert torch.equal(model.forward_stages(model.forward_stages(stem, 0, k), k), features)


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


def _conv_same(x: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    k, s = conv.kernel_size[0], conv.stride[0]
    out_len = (x.shape[-1] + s - 1) // s
    p = max(0, (out_len - 1) * s + k - x.shape[-1])
    return F.conv1d(F.pad(x, (p // 2, p - p // 2)), conv.weight, conv.bias, s, 0, 1, conv.groups)


def _plain_release_forward(model, x: torch.Tensor) -> torch.Tensor:
    """The release's forward written out naively (explicit pads, no in-place ops, no fusions)."""
    use_bn = model.config.use_bn
    out = _conv_same(x, model.first_conv.conv)
    out = F.silu(model.first_bn(out) if use_bn else out)
    for i_stage, stage in enumerate(model.stage_list):
        for i_block, block in enumerate(stage.block_list):
            identity = out
            h = out
            if not (i_stage == 0 and i_block == 0):
                h = F.silu(block.bn1(h) if use_bn else h)
            h = _conv_same(h, block.conv1.conv)
            h = _conv_same(F.silu(block.bn2(h) if use_bn else h), block.conv2.conv)
            h = _conv_same(F.silu(block.bn3(h) if use_bn else h), block.conv3.conv)
            se = torch.sigmoid(block.se_fc2(F.silu(block.se_fc1(h.mean(-1)))))
            h = torch.einsum("abc,ab->abc", h, se)
            if i_block == 0:
                k = block.stride
                identity = F.max_pool1d(F.pad(identity, ((k - 1) // 2, k - 1 - (k - 1) // 2)), k)
            if h.shape[1] != identity.shape[1]:
                extra = h.shape[1] - identity.shape[1]
                identity = F.pad(identity.transpose(-1, -2), (extra // 2, extra - extra // 2)).transpose(-1, -2)
            out = h + identity
    return model.dense(out.mean(-1))


@pytest.mark.parametrize("name", ["ecgfounder-1lead", "net1d-small-12lead"])
@pytest.mark.parametrize("length", [5000, 4999])
def test_forward_matches_a_plain_reimplementation(name: str, length: int) -> None:
    torch.manual_seed(3)
    model = create_model(name, n_classes=5).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, so a skipped BN would show
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, model.config.in_channels, length)
    with torch.no_grad():
        expected = _plain_release_forward(model, x)
    with torch.inference_mode():  # the fast path: in-place activations, padding folded into convs
        fast = model(x)
    x_grad = x.clone().requires_grad_(True)
    with_grad = model(x_grad)  # the gradient path (saliency) must give the same numbers
    with_grad.sum().backward()
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(with_grad.detach(), expected, atol=1e-5, rtol=1e-4)
    assert x_grad.grad is not None and torch.isfinite(x_grad.grad).all()
