"""Why does the model say <label> for this ECG? Captum attributions behind one entry point.

    exp = explain(predictor, record, "ATRIAL FIBRILLATION")             # Integrated Gradients
    exp.attribution          # float32 (leads, samples), aligned with the preprocessed window
    exp.per_lead             # {"I": 0.03, ..., "V1": 0.21, ...}: share of the supporting evidence
    exp.describe()           # ["V1–V3, 2.1–2.6 s", ...]
    exps = explain_many(predictor, record, ["ATRIAL FIBRILLATION", "NORMAL ECG"], method="gradcam")

What is attributed: the label's **logit** (not its probability: the sigmoid saturates and would
hide evidence in confident predictions). Positive attribution = pushes towards the finding.

Methods (all through Captum; ``METHODS``):

- ``ig`` (default): Integrated Gradients from a baseline to the input. Baselines: ``"zero"``, the
  all-zero *preprocessed* signal (= the record's mean, since inputs are z-scored; a flat line),
  and ``"blur"``, the input smoothed by a Gaussian of ``blur_sigma_s`` (keeps rhythm and slow
  waves, removes sharp morphology: "what do QRS/P-wave shapes contribute?"). Gauss-Legendre
  quadrature with ``ig_steps`` points; the completeness error (``convergence_delta``, sum of the
  attribution minus the logit difference input-baseline) is returned so a reader can see it.
- ``gradcam``: Layer Grad-CAM on stage ``gradcam_stage`` (default: the last), ReLU'd and linearly
  upsampled to the input length. One map for all leads: it has no lead resolution.
- ``occlusion``: each lead's ``occlusion_window_s`` windows replaced by the baseline in turn;
  attribution = logit drop. Model-agnostic and slow (leads x windows forward passes).
- ``saliency``: absolute input gradient. Fast, noisy, the classic sanity-check baseline.

Several labels of one record share work: one forward feeds every label's backward pass (IG),
one trunk forward gives Grad-CAM's activations for all labels, and occlusion's perturbed
forwards score all labels at once. Display choices (smoothing, scaling, segments) are in
:mod:`ecgcore.explain_display`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgcore.errors import ECGValidationError, LabelError
from ecgcore.ensemble import networks_of
from ecgcore.explain_display import Segment, describe_segments, per_lead_importance, top_segments
from ecgcore.model import Net1D
from ecgcore.predict import Predictor
from ecgcore.preprocessing import resampled_length, window_bounds
from ecgcore.record import Record

METHODS: tuple[str, ...] = ("ig", "gradcam", "occlusion", "saliency")
DEFAULT_METHOD = "ig"
BASELINES: tuple[str, ...] = ("zero", "blur")
# Explanations of mostly zero-padded windows would describe the padding; the model sees 10 s.
MIN_EXPLAIN_DURATION_S = 4.0


@dataclass(frozen=True)
class ExplainConfig:
    """Every knob of the attribution methods, with defaults measured to meet the speed targets.

    ``ig_steps=16`` Gauss-Legendre points: the completeness error is already ~0.1% of the logit
    difference on the trained test model and on ecgfounder-12lead (docs/explanations.md), and 16
    keeps IG under 1.5 s on 2 cores; ``ig_batch=8`` because on this CPU the per-sample cost is
    lowest at small batches (cache), 12 ms vs 15 ms at batch 32.
    """

    ig_steps: int = 16
    ig_rule: str = "gausslegendre"
    ig_batch: int = 8
    baseline: str = "zero"
    blur_sigma_s: float = 0.1
    gradcam_stage: int = -1
    occlusion_window_s: float = 0.5
    occlusion_batch: int = 16
    min_duration_s: float = MIN_EXPLAIN_DURATION_S

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline {self.baseline!r} is not one of {', '.join(BASELINES)}")
        if self.ig_steps < 2 or self.ig_batch < 1 or self.occlusion_batch < 1:
            raise ValueError("ig_steps must be >= 2, ig_batch and occlusion_batch >= 1")
        if self.occlusion_window_s <= 0 or self.blur_sigma_s <= 0:
            raise ValueError("occlusion_window_s and blur_sigma_s must be positive")


DEFAULT_CONFIG = ExplainConfig()


@dataclass(frozen=True)
class Explanation:
    """One label's attribution for one record, and what the app needs to show it in words."""

    attribution: np.ndarray  # float32 (leads, samples), logit units, aligned with `signal`
    per_lead: dict[str, float]  # share of positive evidence per input lead (sums to 1, or all 0)
    segments: tuple[Segment, ...]  # heaviest supporting stretches, times from the window start
    method: str
    label: str
    probability: float
    seconds: float  # wall time of the call divided by the number of labels it explained
    leads: tuple[str, ...]
    fs: float
    signal: np.ndarray = field(repr=False)  # the preprocessed model input (leads, samples)
    valid_samples: int = 0  # samples carrying signal; the rest is zero padding of a short record
    window_start_s: float = 0.0  # where the model's window starts in the record
    record_name: str = ""
    baseline: str | None = None
    convergence_delta: float | None = None  # IG only: sum(attribution) - (logit(x) - logit(baseline))
    trained: bool = True  # False: the bundle was not trained on this label; treat with suspicion

    def describe(self) -> list[str]:
        """The segments in words, e.g. ["V1–V3, 2.1–2.6 s", "II, 4.0–4.3 s"]."""
        return describe_segments(self.segments, self.leads)

    def top_leads(self, n: int = 3) -> list[str]:
        """The ``n`` leads with most evidence; empty when the method cannot tell leads apart (Grad-CAM)."""
        shares = list(self.per_lead.values())
        if self.method == "gradcam" or max(shares, default=0.0) <= 0:
            return []
        return [lead for lead, share in sorted(self.per_lead.items(), key=lambda kv: -kv[1])[:n] if share > 0]


# -- the entry points ---------------------------------------------------------------------------


def explain(
    predictor: Predictor,
    record: Record,
    label: str,
    method: str = DEFAULT_METHOD,
    *,
    start_s: float | None = None,
    config: ExplainConfig = DEFAULT_CONFIG,
    **overrides: Any,
) -> Explanation:
    """Explain one label of ``predictor``'s bundle for ``record``; ``overrides`` change config fields.

    Raises LabelError for a label the bundle does not have, ECGValidationError for a record too
    short to explain, ValueError for an unknown method or option.
    """
    return explain_many(predictor, record, [label], method, start_s=start_s, config=config, **overrides)[0]


def explain_many(
    predictor: Predictor,
    record: Record,
    labels: Sequence[str],
    method: str = DEFAULT_METHOD,
    *,
    start_s: float | None = None,
    config: ExplainConfig = DEFAULT_CONFIG,
    **overrides: Any,
) -> list[Explanation]:
    """Explain several labels of one record, sharing the forward passes (see the module docstring)."""
    started = time.perf_counter()
    config = replace(config, **overrides) if overrides else config
    _check_method(method)
    if isinstance(labels, str) or not labels:
        raise ValueError("labels must be a non-empty sequence of label names (use explain() for one label)")
    targets = [predictor.label_index(label) for label in labels]  # LabelError names the bundle
    x, valid, window_start_s = _prepare(predictor, record, start_s, config)
    probabilities = predictor.probabilities(x[np.newaxis])[0]
    attributions, deltas = attribute(predictor.model, x, targets, method, config, predictor.preprocess_config.target_fs_hz)
    attributions[:, :, valid:] = 0.0  # zero padding is not evidence
    seconds = (time.perf_counter() - started) / len(targets)
    trained = predictor.card.trained_labels
    return [
        _package(predictor, record, x, label, target, attribution, delta, method, config, valid, window_start_s,
                 float(probabilities[target]), seconds, label in trained)
        for label, target, attribution, delta in zip(labels, targets, attributions, deltas)
    ]


def attribute(
    model: nn.Module, x: np.ndarray | torch.Tensor, targets: Sequence[int], method: str = DEFAULT_METHOD,
    config: ExplainConfig = DEFAULT_CONFIG, fs: float = 500.0,
) -> tuple[np.ndarray, list[float | None]]:
    """Raw attributions of output indices ``targets`` for one input ``x`` (leads, samples).

    Returns float32 ``(len(targets), leads, samples)`` and one convergence delta per target (IG)
    or None. ``fs`` is the input's sampling rate (the preprocessing target, 500 Hz). The
    model-level core of :func:`explain_many`, for tests and model comparisons.
    """
    _check_method(method)
    model.eval()
    inputs = torch.as_tensor(np.asarray(x, dtype=np.float32)).unsqueeze(0)
    baseline = make_baseline(inputs, config, fs)
    if method == "ig":
        return _integrated_gradients(model, inputs, baseline, list(targets), config)
    if method == "occlusion":
        return _occlusion(model, inputs, baseline, list(targets), config, fs), [None] * len(targets)
    runner = {"gradcam": _gradcam, "saliency": _saliency}[method]
    return runner(model, inputs, list(targets), config), [None] * len(targets)


def make_baseline(inputs: torch.Tensor, config: ExplainConfig = DEFAULT_CONFIG, fs: float = 500.0) -> torch.Tensor:
    """The reference signal IG integrates from and occlusion pastes in (see the module docstring)."""
    if config.baseline == "zero":
        return torch.zeros_like(inputs)
    from scipy.ndimage import gaussian_filter1d

    blurred = gaussian_filter1d(inputs.numpy(), sigma=config.blur_sigma_s * fs, axis=-1, mode="nearest")
    return torch.from_numpy(blurred.astype(np.float32))


# -- methods ------------------------------------------------------------------------------------


def _integrated_gradients(
    model: nn.Module, inputs: torch.Tensor, baseline: torch.Tensor, targets: list[int], config: ExplainConfig
) -> tuple[np.ndarray, list[float]]:
    """Captum IG for one label; for several, one forward per step batch feeds every label's backward.

    The multi-label path uses Captum's own quadrature (points and weights) and is tested equal to
    ``captum.attr.IntegratedGradients`` label by label.
    """
    if len(targets) == 1:
        from captum.attr import IntegratedGradients

        attr = IntegratedGradients(model).attribute(
            inputs, baselines=baseline, target=targets[0], n_steps=config.ig_steps,
            method=config.ig_rule, internal_batch_size=config.ig_batch,
        )
        attributions = attr.detach()
    else:
        attributions = _shared_forward_ig(model, inputs, baseline, targets, config)
    with torch.no_grad():
        ends = model(torch.cat([inputs, baseline]))[:, targets]
    deltas = attributions.sum(dim=(1, 2)) - (ends[0] - ends[1])
    return attributions.numpy().astype(np.float32), [float(d) for d in deltas]


def _shared_forward_ig(
    model: nn.Module, inputs: torch.Tensor, baseline: torch.Tensor, targets: list[int], config: ExplainConfig
) -> torch.Tensor:
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes_fn, alphas_fn = approximation_parameters(config.ig_rule)
    alphas = torch.tensor(alphas_fn(config.ig_steps), dtype=torch.float32)
    step_sizes = torch.tensor(step_sizes_fn(config.ig_steps), dtype=torch.float32)
    total = torch.zeros((len(targets), *inputs.shape[1:]))
    difference = inputs - baseline
    for first in range(0, len(alphas), config.ig_batch):
        alpha = alphas[first : first + config.ig_batch].view(-1, 1, 1)
        weight = step_sizes[first : first + config.ig_batch].view(-1, 1, 1)
        path = (baseline + alpha * difference).requires_grad_(True)
        outputs = model(path)
        for j, target in enumerate(targets):
            (grad,) = torch.autograd.grad(outputs[:, target].sum(), path, retain_graph=j < len(targets) - 1)
            total[j] += (grad * weight).sum(0)
    return total * difference[0]


def _saliency(model: nn.Module, inputs: torch.Tensor, targets: list[int], config: ExplainConfig) -> np.ndarray:
    """Captum Saliency (absolute gradient); the labels are a batch of copies of the input."""
    from captum.attr import Saliency

    batch = inputs.expand(len(targets), *inputs.shape[1:]).clone().requires_grad_(True)
    return Saliency(model).attribute(batch, target=targets, abs=True).detach().numpy().astype(np.float32)


def _occlusion(
    model: nn.Module, inputs: torch.Tensor, baseline: torch.Tensor, targets: list[int], config: ExplainConfig, fs: float
) -> np.ndarray:
    """Captum Occlusion over (1 lead x window) patches; every perturbed forward scores all labels."""
    from captum.attr import Occlusion

    window = max(1, int(round(config.occlusion_window_s * fs)))

    def selected_logits(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(batch)[:, targets]

    attr = Occlusion(selected_logits).attribute(
        inputs, sliding_window_shapes=(1, window), strides=(1, window), baselines=baseline,
        target=None, perturbations_per_eval=config.occlusion_batch,
    )
    return attr.reshape(len(targets), *inputs.shape[1:]).numpy().astype(np.float32)


class _Tail(nn.Module):
    """The network after stage ``stage``: what Grad-CAM differentiates, once per label.

    ``entry`` is an identity layer whose output is the stage's activation, so Captum's
    LayerGradCam can hook it; the rest is the model's own ``forward_stages`` and ``forward_head``.
    """

    def __init__(self, model: Net1D, stage: int):
        super().__init__()
        self.entry = nn.Identity()
        self.model = model
        self.first_stage = stage + 1

    def forward(self, activation: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_stages(self.entry(activation), self.first_stage))


def stage_activation(model: Net1D, inputs: torch.Tensor, stage: int) -> torch.Tensor:
    """Stage ``stage``'s output for ``inputs``, without gradients; the later stages are not run."""
    with torch.no_grad():
        return model.forward_stages(model.forward_stem(inputs), 0, stage + 1)


def _gradcam(model: nn.Module, inputs: torch.Tensor, targets: list[int], config: ExplainConfig) -> np.ndarray:
    """Captum LayerGradCam on the tail; activations from one forward, the labels as a batch.

    A seed ensemble has no single stage to hook: its map is the mean of its members' maps.
    """
    members = networks_of(model)
    return np.mean([_member_gradcam(network, inputs, targets, config) for network in members], axis=0)


def _member_gradcam(model: Net1D, inputs: torch.Tensor, targets: list[int], config: ExplainConfig) -> np.ndarray:
    from captum.attr import LayerAttribution, LayerGradCam

    stage = config.gradcam_stage % len(model.stage_list)
    activation = stage_activation(model, inputs, stage)
    tail = _Tail(model, stage)
    batch = activation.expand(len(targets), *activation.shape[1:]).clone()
    cam = LayerGradCam(tail, tail.entry).attribute(batch, target=targets, relu_attributions=True)
    upsampled = LayerAttribution.interpolate(cam.detach(), (inputs.shape[-1],), interpolate_mode="linear")
    return upsampled.expand(-1, inputs.shape[1], -1).numpy().astype(np.float32).copy()


# -- helpers ------------------------------------------------------------------------------------


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"Unknown explanation method {method!r}; choose one of {', '.join(METHODS)}.")


def _prepare(predictor: Predictor, record: Record, start_s: float | None, config: ExplainConfig) -> tuple[np.ndarray, int, float]:
    """The model input, how many of its samples are real signal, and the window start in seconds."""
    pre = predictor.preprocess_config
    start, stop = window_bounds(record.n_samples, record.fs, pre, start_s)
    duration_s = (stop - start) / record.fs
    if duration_s < config.min_duration_s:
        raise ECGValidationError(
            f"Record {record.record_name!r} has {duration_s:.1f} s of signal; explanations need at least "
            f"{config.min_duration_s:g} s (the model reads {pre.window_s:g} s, and a mostly zero-padded "
            "window would explain the padding). Use a longer recording."
        )
    x = predictor.prepare(record, start_s)
    return x, resampled_length(stop - start, record.fs, pre), start / record.fs


def _package(
    predictor: Predictor, record: Record, x: np.ndarray, label: str, target: int, attribution: np.ndarray,
    delta: float | None, method: str, config: ExplainConfig, valid: int, window_start_s: float,
    probability: float, seconds: float, trained: bool,
) -> Explanation:
    leads = tuple(predictor.input_leads)
    fs = predictor.preprocess_config.target_fs_hz
    lead_resolved = method != "gradcam"
    return Explanation(
        attribution=attribution,
        per_lead=per_lead_importance(attribution, leads, valid) if lead_resolved else {lead: 1 / len(leads) for lead in leads},
        segments=top_segments(attribution, leads, fs, valid_samples=valid, lead_resolved=lead_resolved),
        method=method,
        label=label,
        probability=probability,
        seconds=seconds,
        leads=leads,
        fs=fs,
        signal=x,
        valid_samples=valid,
        window_start_s=window_start_s,
        record_name=record.record_name,
        baseline=config.baseline if method in ("ig", "occlusion") else None,
        convergence_delta=delta,
        trained=trained,
    )


# -- faithfulness -------------------------------------------------------------------------------


def deletion_drop(
    model: nn.Module, x: np.ndarray, attribution: np.ndarray, target: int, *, fraction: float = 0.1,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Probability drops when zeroing the ``fraction`` most-attributed samples vs a random ``fraction``.

    A faithful attribution gives the first a larger drop (Samek et al.'s deletion check, one step).
    "Most attributed" ranks the signed attribution: evidence *for* the label. Zero is the
    preprocessed signal's mean, the same reference as IG's default baseline.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    k = int(round(fraction * x.size))
    top = np.argsort(attribution, axis=None)[::-1][:k]
    random = rng.choice(x.size, size=k, replace=False)
    batch = np.stack([x, x.copy(), x.copy()]).astype(np.float32)
    batch[1].flat[top] = 0.0
    batch[2].flat[random] = 0.0
    with torch.no_grad():
        p = torch.sigmoid(model.eval()(torch.from_numpy(batch))[:, target]).numpy().astype(np.float64)
    return float(p[0] - p[1]), float(p[0] - p[2])


__all__ = [
    "METHODS", "DEFAULT_METHOD", "BASELINES", "ExplainConfig", "DEFAULT_CONFIG", "Explanation", "Segment",
    "explain", "explain_many", "attribute", "make_baseline", "stage_activation", "deletion_drop", "LabelError",
]
