"""Turning a raw attribution into what a reader sees: smoothing, scaling, lead ranking, segments, words.

Every display choice lives here, with its reason, so the app, the CLI figure and the docs agree
(docs/explanations.md repeats them for readers):

- **Evidence is the positive part.** All methods attribute the label's *logit*; a positive value
  means "this part of the trace pushes the model towards the finding". Negative values (evidence
  against) are kept in ``Explanation.attribution`` but not drawn by default: a cardiologist asks
  why the model says AF, not why it almost did not. Saliency is already an absolute gradient and
  Grad-CAM is ReLU'd, so for them positive part = everything.
- **Smoothing**: a centred moving average of ``SMOOTHING_S`` (40 ms, about half a QRS). Gradient
  methods are noisy from sample to sample; clinicians read waves, not samples. Smoothing is for
  display and segments only; the returned attribution is never smoothed.
- **Scaling**: per record, divide by the ``CLIP_PERCENTILE`` (99th) percentile of the smoothed
  magnitude over the recorded part and clip to [0, 1] (or [-1, 1] signed). Per-record, because
  attribution units (logit per z-scored sample) are not comparable across records or methods;
  percentile rather than max, because a single extreme sample would otherwise wash out the rest.
- **Segments**: per lead, runs where the smoothed evidence exceeds the record's
  ``SEGMENT_PERCENTILE`` (95th) percentile, gaps shorter than ``MERGE_GAP_S`` closed, runs shorter
  than ``MIN_SEGMENT_S`` dropped; weight = the run's share of the record's total positive evidence.
  Leads are grouped into words ("V1–V3, 2.1–2.6 s") when their segments overlap in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.ndimage import uniform_filter1d

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

SMOOTHING_S = 0.04
CLIP_PERCENTILE = 99.0
SEGMENT_PERCENTILE = 95.0
MERGE_GAP_S = 0.1
MIN_SEGMENT_S = 0.04
N_SEGMENTS = 5
ALL_LEADS = "all leads"  # the lead name of segments from methods without lead resolution (Grad-CAM)
SCALE_MODES = ("positive", "abs", "signed")


@dataclass(frozen=True)
class Segment:
    """A stretch of one lead that supports the finding; times in seconds from the window start."""

    start_s: float
    end_s: float
    lead: str
    weight: float  # share of the record's positive evidence inside this segment, 0..1


def smooth(attribution: np.ndarray, fs: float, smoothing_s: float = SMOOTHING_S) -> np.ndarray:
    """Centred moving average over time (last axis); a no-op when the window is one sample or less."""
    width = int(round(smoothing_s * fs))
    if width <= 1:
        return np.asarray(attribution, dtype=np.float32)
    return uniform_filter1d(np.asarray(attribution, dtype=np.float32), size=width, axis=-1, mode="constant")


def evidence(attribution: np.ndarray) -> np.ndarray:
    """The part of an attribution that supports the label (see the module docstring)."""
    return np.maximum(attribution, 0.0)


def per_lead_importance(attribution: np.ndarray, leads: Sequence[str], valid_samples: int | None = None) -> dict[str, float]:
    """Each lead's share of the positive evidence (sums to 1; all zeros when there is none)."""
    support = evidence(attribution[:, :valid_samples]).sum(axis=1, dtype=np.float64)
    total = support.sum()
    shares = support / total if total > 0 else np.zeros_like(support)
    return {lead: float(share) for lead, share in zip(leads, shares)}


def display_scale(
    attribution: np.ndarray,
    fs: float,
    *,
    mode: str = "positive",
    valid_samples: int | None = None,
    smoothing_s: float = SMOOTHING_S,
    clip_percentile: float = CLIP_PERCENTILE,
) -> np.ndarray:
    """What to colour: smoothed, divided by the record's percentile, clipped; float32 like the input.

    ``mode``: "positive" (evidence for, in [0, 1]; the default), "abs" (magnitude, [0, 1]) or
    "signed" ([-1, 1], for a diverging colour map). Samples beyond ``valid_samples`` (zero padding
    of a short record) are 0.
    """
    if mode not in SCALE_MODES:
        raise ValueError(f"display mode {mode!r} is not one of {', '.join(SCALE_MODES)}")
    values = smooth(attribution, fs, smoothing_s)
    values = {"positive": evidence, "abs": np.abs, "signed": lambda v: v}[mode](values)
    values = np.array(values, dtype=np.float32)
    if valid_samples is not None:
        values[:, valid_samples:] = 0.0
    scale = float(np.percentile(np.abs(values[:, :valid_samples]), clip_percentile))
    if scale <= 0:
        return np.zeros_like(values)
    low = -1.0 if mode == "signed" else 0.0
    return np.clip(values / scale, low, 1.0).astype(np.float32)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a 1-D boolean mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _merge_close(runs: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] < max_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def top_segments(
    attribution: np.ndarray,
    leads: Sequence[str],
    fs: float,
    *,
    valid_samples: int | None = None,
    n: int = N_SEGMENTS,
    lead_resolved: bool = True,
) -> tuple[Segment, ...]:
    """The ``n`` heaviest supporting segments, heaviest first (rules in the module docstring).

    ``lead_resolved=False`` (Grad-CAM: one map for all leads) yields segments named "all leads".
    """
    raw = evidence(np.asarray(attribution, dtype=np.float64)[:, :valid_samples])
    if not lead_resolved:
        raw, leads = raw[:1], (ALL_LEADS,)
    total = raw.sum()
    if total <= 0:
        return ()
    smoothed = smooth(raw, fs)
    threshold = max(float(np.percentile(smoothed, SEGMENT_PERCENTILE)), 0.0)
    segments = []
    for row, lead in enumerate(leads):
        runs = _merge_close(_runs(smoothed[row] > threshold), int(round(MERGE_GAP_S * fs)))
        for start, stop in runs:
            if stop - start >= MIN_SEGMENT_S * fs:
                weight = float(raw[row, start:stop].sum() / total)
                segments.append(Segment(round(start / fs, 2), round(stop / fs, 2), lead, weight))
    segments.sort(key=lambda s: s.weight, reverse=True)
    return tuple(segments[:n])


def _lead_ranges(names: Sequence[str], order: Sequence[str]) -> str:
    """'V1–V3, aVF' for names in ``order``: consecutive leads collapse to a range."""
    positions = sorted(order.index(name) for name in names)
    parts, start = [], positions[0]
    for previous, current in zip(positions, positions[1:] + [None]):
        if current != previous + 1:
            parts.append(order[start] if start == previous else f"{order[start]}–{order[previous]}")
            start = current
    return ", ".join(parts)


def describe_segments(segments: Sequence[Segment], leads: Sequence[str]) -> list[str]:
    """Segments in words, leads overlapping in time grouped: ["V1–V3, 2.1–2.6 s", ...], heaviest first."""
    groups: list[dict[str, Any]] = []
    for seg in segments:  # heaviest first, so each group is seeded by its heaviest segment
        for group in groups:
            if seg.start_s < group["end_s"] and seg.end_s > group["start_s"]:
                group["leads"].add(seg.lead)
                group["start_s"], group["end_s"] = min(group["start_s"], seg.start_s), max(group["end_s"], seg.end_s)
                break
        else:
            groups.append({"leads": {seg.lead}, "start_s": seg.start_s, "end_s": seg.end_s})
    order = list(leads) + [ALL_LEADS]
    return [f"{_lead_ranges(g['leads'], order)}, {_time_range(g['start_s'], g['end_s'])}" for g in groups]


def _time_range(start_s: float, end_s: float) -> str:
    """'2.1–2.6 s'; two decimals when one would print an empty range (segments under 0.1 s)."""
    digits = 1 if round(start_s, 1) != round(end_s, 1) else 2
    return f"{start_s:.{digits}f}–{end_s:.{digits}f} s"


def plot_explanation(explanation: Any, path: str | Path | None = None, *, mode: str = "positive") -> "Figure":
    """A paper/slide figure: every input lead's trace over a coloured band of its attribution.

    Uses matplotlib's object API (no pyplot), so it is safe in servers and threads. Saves to
    ``path`` when given (format from the suffix: png, pdf, svg) and returns the figure.
    """
    from matplotlib.figure import Figure

    exp = explanation
    scaled = display_scale(exp.attribution, exp.fs, mode=mode, valid_samples=exp.valid_samples)
    n_leads, n_samples = exp.signal.shape
    time_s = np.arange(n_samples) / exp.fs
    fig = Figure(figsize=(11, 0.9 * n_leads + 1.2), layout="constrained")
    axes = fig.subplots(n_leads, 1, sharex=True, squeeze=False)[:, 0]
    cmap, vmin = ("RdBu_r", -1.0) if mode == "signed" else ("Reds", 0.0)
    for row, ax in enumerate(axes):
        trace = exp.signal[row]
        low, high = float(trace.min()), float(trace.max())
        pad = 0.1 * (high - low or 1.0)
        ax.imshow(scaled[row][np.newaxis], aspect="auto", cmap=cmap, vmin=vmin, vmax=1.0, alpha=0.75,
                  extent=(0, n_samples / exp.fs, low - pad, high + pad), interpolation="nearest")
        ax.plot(time_s, trace, color="black", linewidth=0.6)
        ax.set_ylim(low - pad, high + pad)
        ax.set_yticks([])
        ax.set_ylabel(exp.leads[row], rotation=0, ha="right", va="center")
    axes[-1].set_xlabel("time (s) from window start")
    words = "; ".join(describe_segments(exp.segments, exp.leads)) or "no supporting segment"
    fig.suptitle(f"{exp.label}: p = {exp.probability:.2f}, {exp.method} ({exp.record_name})\n{words}", fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
