"""PlannedNet1D: the layout-planned inference forward must give Net1D's outputs, whatever the plan."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from ecgcore.errors import ModelError
from ecgcore.model import Net1DForward, create_model
from ecgcore.planned_forward import (
    CHANNELS_FIRST,
    CHANNELS_LAST,
    LayoutPlan,
    PlannedNet1D,
    in_layout,
    pad_in_layout,
    to_layout,
)

CF, CL = CHANNELS_FIRST, CHANNELS_LAST


def _with_trained_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """BatchNorm with non-trivial statistics and affine terms, so folding it is really exercised."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) * 2 + 0.3)
            module.weight.data.copy_(torch.randn(n, generator=generator) * 0.3 + 1)
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return model.eval()


def _plans(n_stages: int) -> list[LayoutPlan]:
    """Both uniform plans, and every switch point in both directions (conversions at each stage)."""
    plans = [LayoutPlan.uniform(n_stages, CF), LayoutPlan.uniform(n_stages, CL)]
    for switch in range(n_stages + 1):
        plans.append(LayoutPlan(CL, (CL,) * switch + (CF,) * (n_stages - switch)))
        plans.append(LayoutPlan(CF, (CF,) * switch + (CL,) * (n_stages - switch)))
    plans.append(LayoutPlan(CL, tuple(itertools.islice(itertools.cycle((CF, CL)), n_stages))))
    return plans


@pytest.mark.parametrize("samples", [5000, 4999, 1234])  # odd lengths take the asymmetric-padding paths
def test_tiny_model_with_batchnorm_matches_eager_for_every_plan(samples: int) -> None:
    torch.manual_seed(0)
    model = _with_trained_batchnorm(create_model("net1d-tiny", n_classes=7))
    x = torch.randn(3, 12, samples)
    with torch.inference_mode():
        expected = model(x)
        for plan in _plans(len(model.stage_list)):
            got = PlannedNet1D(model, plan)(x)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, msg=f"plan {plan}")


@pytest.mark.parametrize("name", ["ecgfounder-12lead", "ecgfounder-1lead", "net1d-small-1lead"])
def test_released_and_single_lead_architectures_match_eager(name: str) -> None:
    torch.manual_seed(1)
    model = _with_trained_batchnorm(create_model(name))
    x = torch.randn(2, model.config.in_channels, 5000)
    n_stages = len(model.stage_list)
    mixed = LayoutPlan(CL, (CL,) * (n_stages - 2) + (CF, CF))  # what this machine's planner picks
    with torch.inference_mode():
        expected = model(x)
        features = model.forward_features(x)
        for plan in (mixed, LayoutPlan.uniform(n_stages, CF)):
            planned = PlannedNet1D(model, plan)
            torch.testing.assert_close(planned(x), expected, rtol=1e-4, atol=2e-5)
            torch.testing.assert_close(planned.forward_features(x), features, rtol=1e-4, atol=2e-5)


def test_input_is_left_untouched() -> None:
    """The planned blocks work in place on their own buffers; the caller's batch must survive."""
    model = _with_trained_batchnorm(create_model("net1d-tiny"))
    x = torch.randn(2, 12, 5000)
    before = x.clone()
    with torch.inference_mode():
        for plan in _plans(len(model.stage_list))[:4]:
            PlannedNet1D(model, plan)(x)
    assert torch.equal(x, before)


def test_refuses_training_mode_gradients_and_mismatched_plans() -> None:
    model = create_model("net1d-tiny")
    with pytest.raises(ModelError, match="eval"):
        PlannedNet1D(model.train(), LayoutPlan.uniform(3, CF))
    model.eval()
    with pytest.raises(ModelError, match="the model has 3"):
        PlannedNet1D(model, LayoutPlan.uniform(2, CF))
    planned = PlannedNet1D(model, LayoutPlan.uniform(3, CL))
    with pytest.raises(ModelError, match="gradients"):
        planned(torch.randn(1, 12, 5000))


def test_twin_keeps_every_tensor_in_module_bookkeeping_and_runs_net1d_order() -> None:
    model = _with_trained_batchnorm(create_model("net1d-tiny"))
    planned = PlannedNet1D(model, LayoutPlan(CL, (CL, CF, CL)))
    loose = [(name, attr) for name, module in planned.named_modules() for attr, value in vars(module).items()
             if isinstance(value, torch.Tensor)]
    assert loose == []  # nothing it computes with hides from buffers(), to() or a printout
    assert {name for name, _ in planned.named_buffers()} >= {"stem.weight", "stage_list.1.0.conv2.weight",
                                                             "stage_list.1.0.pre_scale"}
    assert planned.dense is model.dense and planned.stage_list[0][0].se_fc1 is model.stage_list[0].block_list[0].se_fc1
    assert all(".se_fc" in k or k.startswith("dense.") for k in planned.state_dict())  # folded: never saved
    for method in ("forward", "forward_stages", "forward_head"):  # forward_features only adds a no-gradient check
        assert getattr(PlannedNet1D, method) is getattr(Net1DForward, method)
    assert not planned.training
    with pytest.raises(ModelError, match="inference only"):
        planned.train()


def test_layout_plan_validates_and_round_trips() -> None:
    plan = LayoutPlan(CL, [CL, CF, CF])
    assert plan.stages == (CL, CF, CF)
    assert LayoutPlan.from_dict(plan.to_dict()) == plan
    with pytest.raises(ModelError, match="unknown memory layout"):
        LayoutPlan("nhwc", (CF,))


def test_layout_helpers() -> None:
    x = torch.randn(2, 5, 7)
    last = to_layout(x, CL)
    assert in_layout(last, CL) and not in_layout(last, CF)
    assert torch.equal(last, x) and last.stride(1) == 1
    assert to_layout(last, CL) is last  # no copy when already there
    assert in_layout(to_layout(last, CF), CF)
    for layout in (CF, CL):
        padded = pad_in_layout(to_layout(x, layout), 3, 4, layout)
        assert in_layout(padded, layout)
        assert torch.equal(padded, F.pad(x, (3, 4)))
