"""The layout planner: the shortest path over stages, and a real measurement on a small network."""

from __future__ import annotations

import pytest

from ecgcore.layout_planner import PlanMeasurement, _cheapest_chain, measure_layouts
from ecgcore.model import create_model
from ecgcore.planned_forward import CHANNELS_FIRST, CHANNELS_LAST, LayoutPlan

CF, CL = CHANNELS_FIRST, CHANNELS_LAST


def _times(*pairs: tuple[float, float]) -> dict[str, dict[str, float]]:
    names = ["stem"] + [f"stage {i}" for i in range(len(pairs) - 1)]
    return {name: {CF: cf, CL: cl} for name, (cf, cl) in zip(names, pairs)}


def test_switches_layout_where_the_saving_beats_the_conversion() -> None:
    times = _times((6, 4), (50, 20), (30, 28), (70, 85), (40, 46))
    conversions = {"stem": 0.5, "stage 0": 2, "stage 1": 1, "stage 2": 0.3, "stage 3": 0.7}
    plan, total = _cheapest_chain(times, conversions)
    assert plan == LayoutPlan(CL, (CL, CL, CF, CF))
    assert total == pytest.approx(0.5 + 4 + 20 + 28 + 0.3 + 70 + 40)


def test_stays_in_one_layout_when_converting_costs_more_than_it_saves() -> None:
    times = _times((6, 4), (50, 20), (30, 28), (70, 72), (40, 42))
    conversions = {"stem": 0.5, "stage 0": 2, "stage 1": 5, "stage 2": 5, "stage 3": 5}
    plan, _ = _cheapest_chain(times, conversions)
    assert plan == LayoutPlan.uniform(4, CL)


def test_input_conversion_counts_against_a_channels_last_stem() -> None:
    # The stem alone is faster channels-last, but not by more than converting the input costs.
    plan, total = _cheapest_chain(_times((5, 4.5), (10, 10)), {"stem": 1.0, "stage 0": 1.0})
    assert plan == LayoutPlan(CF, (CF,))
    assert total == pytest.approx(15)


def test_measures_every_stage_and_picks_no_worse_than_either_uniform_plan() -> None:
    model = create_model("net1d-tiny").eval()
    measurement = measure_layouts(model, batch_size=2, repeats=1)
    assert list(measurement.node_seconds) == ["stem", "stage 0", "stage 1", "stage 2"]
    assert all(t[CF] > 0 and t[CL] > 0 for t in measurement.node_seconds.values())
    assert len(measurement.plan.stages) == 3
    for layout in (CF, CL):
        assert measurement.predicted_seconds <= measurement.predicted_uniform_seconds(layout) + 1e-12
    assert PlanMeasurement.from_dict(measurement.to_dict()) == measurement
    assert model.training is False and all(p.grad is None for p in model.parameters())
