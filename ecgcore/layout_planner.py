"""Choose, by measurement on this machine, the memory layout each stage of a Net1D runs in.

Which layout is faster depends on the CPU (its vector width, oneDNN's kernels for it), the thread
count and the batch size, so the plan is measured where the model runs rather than fixed in code:
each stage (and the stem) is timed in both layouts on its real input shape, each possible layout
change is timed as the copy it costs, and a shortest path over the chain of stages picks the plan
with the least total time. The result is a :class:`PlanMeasurement`: the chosen
:class:`~ecgcore.planned_forward.LayoutPlan` with the timings it was chosen on. At batch 32 on the official 12-lead architecture this takes ~2 s once
per :class:`ecgcore.Predictor`; at batch 1 a few tens of milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from ecgcore.model import Net1D
from ecgcore.planned_forward import CHANNELS_FIRST, CHANNELS_LAST, LAYOUTS, LayoutPlan, PlannedNet1D, to_layout

T = TypeVar("T")


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` timed calls after one untimed warm-up (oneDNN builds its kernels then)."""
    return timed_best(run, repeats)[0]


def timed_best(run: Callable[[], T], repeats: int) -> tuple[float, T]:
    """(fastest of ``repeats`` timed calls after one untimed warm-up, the last call's result).

    The minimum, not the median: on a shared machine noise only ever adds time. The result lets
    the planner feed a stage's output to the next stage without running it once more.
    """
    result = run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


@dataclass(frozen=True)
class PlanMeasurement:
    """A chosen plan with what it was chosen on (seconds per batch), for benchmarks and logs."""

    plan: LayoutPlan
    batch_size: int
    node_seconds: dict[str, dict[str, float]] = field(default_factory=dict)   # node -> layout -> s
    conversion_seconds: dict[str, float] = field(default_factory=dict)        # node -> s to change layout
    predicted_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"plan": self.plan.to_dict(), "batch_size": self.batch_size, "node_seconds": self.node_seconds,
                "conversion_seconds": self.conversion_seconds, "predicted_seconds": self.predicted_seconds}

    @classmethod
    def from_dict(cls, data: dict) -> "PlanMeasurement":
        return cls(plan=LayoutPlan.from_dict(data["plan"]), batch_size=int(data["batch_size"]),
                   node_seconds=data["node_seconds"], conversion_seconds=data["conversion_seconds"],
                   predicted_seconds=float(data["predicted_seconds"]))

    def predicted_uniform_seconds(self, layout: str) -> float:
        """What the whole chain would cost in one layout (plus converting the channels-first input)."""
        total = sum(times[layout] for times in self.node_seconds.values())
        return total + (self.conversion_seconds["stem"] if layout != CHANNELS_FIRST else 0.0)


def _other(layout: str) -> str:
    return CHANNELS_LAST if layout == CHANNELS_FIRST else CHANNELS_FIRST


def measure_layouts(model: Net1D, batch_size: int, *, repeats: int = 2,
                    input_samples: int | None = None) -> PlanMeasurement:
    """Time every stage in both layouts at ``batch_size``; the measurement carries the fastest plan.

    Uses random inputs (speed does not depend on values) and leaves ``model`` untouched.
    """
    config = model.config
    samples = input_samples or config.input_samples
    n_stages = len(model.stage_list)
    nets = {layout: PlannedNet1D(model, LayoutPlan.uniform(n_stages, layout)) for layout in LAYOUTS}
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, config.in_channels, samples, generator=generator)

    node_seconds: dict[str, dict[str, float]] = {}
    conversion_seconds: dict[str, float] = {}
    with torch.inference_mode():
        inputs = {layout: to_layout(x, layout) for layout in LAYOUTS}
        conversion_seconds["stem"] = best_seconds(lambda: to_layout(x, CHANNELS_LAST), repeats)
        stem = {layout: timed_best(lambda: nets[layout].forward_stem(inputs[layout]), repeats) for layout in LAYOUTS}
        node_seconds["stem"] = {layout: seconds for layout, (seconds, _) in stem.items()}
        outputs = {layout: out for layout, (_, out) in stem.items()}
        for i in range(n_stages):
            node = f"stage {i}"
            inputs = outputs
            # A conversion costs about the same either way; time the slower direction to be safe.
            conversion_seconds[node] = max(
                best_seconds(lambda: to_layout(inputs[layout], _other(layout)), repeats) for layout in LAYOUTS)
            stage = {layout: timed_best(lambda: nets[layout].forward_stages(inputs[layout], i, i + 1), repeats)
                     for layout in LAYOUTS}
            node_seconds[node] = {layout: seconds for layout, (seconds, _) in stage.items()}
            outputs = {layout: out for layout, (_, out) in stage.items()}

    plan, predicted = _cheapest_chain(node_seconds, conversion_seconds)
    return PlanMeasurement(plan=plan, batch_size=batch_size, node_seconds=node_seconds,
                           conversion_seconds=conversion_seconds, predicted_seconds=predicted)


def _cheapest_chain(node_seconds: dict[str, dict[str, float]],
                    conversion_seconds: dict[str, float]) -> tuple[LayoutPlan, float]:
    """Shortest path through the stages, two states (the current layout) per stage.

    The network's input arrives channels-first; changing layout before a node costs that node's
    conversion time.
    """
    cost = {CHANNELS_FIRST: 0.0, CHANNELS_LAST: float("inf")}
    paths: dict[str, list[str]] = {CHANNELS_FIRST: [], CHANNELS_LAST: []}
    for node, times in node_seconds.items():
        new_cost, new_paths = {}, {}
        for layout in LAYOUTS:
            stay = cost[layout]
            switch = cost[_other(layout)] + conversion_seconds[node]
            previous = layout if stay <= switch else _other(layout)
            new_cost[layout] = min(stay, switch) + times[layout]
            new_paths[layout] = paths[previous] + [layout]
        cost, paths = new_cost, new_paths
    best = min(LAYOUTS, key=lambda layout: cost[layout])
    chosen = paths[best]
    return LayoutPlan(stem=chosen[0], stages=tuple(chosen[1:])), cost[best]
