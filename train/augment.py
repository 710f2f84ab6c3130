"""Batch augmentation for (batch, leads, samples) z-scored ECGs, seeded through a torch.Generator.

Amplitude scaling, Gaussian noise, baseline wander, time shift (zero fill), lead dropout; and the
electrical-axis augmentation that turns 12-lead records into virtual single leads
(:func:`virtual_single_lead`, ECGFounder's recipe for its single-lead model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ecgcore.leads import frontal_dipole


@dataclass(frozen=True)
class AugmentConfig:
    p: float = 0.8                      # probability each record is augmented at all
    scale: tuple[float, float] = (0.8, 1.25)   # global amplitude factor (log-uniform)
    lead_scale: float = 0.1             # extra per-lead factor, +-fraction
    noise_std: float = 0.05             # Gaussian noise (z-score units)
    wander_amplitude: float = 0.2       # baseline wander peak (z-score units)
    wander_hz: tuple[float, float] = (0.05, 0.5)
    max_shift_s: float = 1.0            # circular shifts would create a seam: zero-filled shift instead
    lead_dropout: float = 0.1           # each lead zeroed with this probability
    fs: float = 500.0

    def to_dict(self) -> dict:
        return asdict(self)


NO_AUGMENT = AugmentConfig(p=0.0)


def augment(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augmented copy of ``x`` (float32, on CPU); ``x`` itself is not modified."""
    if config.p <= 0:
        return x
    b, leads, n = x.shape
    g = generator
    on = (torch.rand(b, 1, 1, generator=g) < config.p).float()
    lo, hi = math.log(config.scale[0]), math.log(config.scale[1])
    scale = torch.exp(lo + (hi - lo) * torch.rand(b, 1, 1, generator=g))
    scale = scale * (1 + config.lead_scale * (2 * torch.rand(b, leads, 1, generator=g) - 1))
    out = x * (1 + on * (scale - 1))
    out = out + on * config.noise_std * torch.randn(b, leads, n, generator=g)
    t = torch.arange(n, dtype=torch.float32) / config.fs
    freq = config.wander_hz[0] + (config.wander_hz[1] - config.wander_hz[0]) * torch.rand(b, 1, 1, generator=g)
    phase = 2 * math.pi * torch.rand(b, leads, 1, generator=g)
    amp = config.wander_amplitude * torch.rand(b, leads, 1, generator=g)
    out = out + on * amp * torch.sin(2 * math.pi * freq * t + phase)
    max_shift = int(config.max_shift_s * config.fs)
    if max_shift > 0:
        shifts = torch.randint(-max_shift, max_shift + 1, (b,), generator=g) * on.view(b).long()
        for i, s in enumerate(shifts.tolist()):
            if s > 0:
                out[i, :, s:] = out[i, :, :-s].clone()
                out[i, :, :s] = 0
            elif s < 0:
                out[i, :, :s] = out[i, :, -s:].clone()
                out[i, :, s:] = 0
    if config.lead_dropout > 0 and leads > 1:
        keep = (torch.rand(b, leads, 1, generator=g) >= config.lead_dropout * on).float()
        all_off = keep.sum(1, keepdim=True) == 0
        keep = torch.where(all_off, torch.ones_like(keep), keep)
        out = out * keep
    return out


# -- electrical-axis augmentation ---------------------------------------------------------------
@dataclass(frozen=True)
class AxisAugmentConfig:
    """Virtual single leads from the frontal-plane dipole of 12-lead records.

    A single-lead device (a watch, AliveCor) records roughly lead I, but its axis depends on how
    it is held, and electrodes get swapped. Projecting the cardiac dipole (from leads I and II) on
    a random frontal axis shows the model every such lead from each 12-lead record.
    """

    p_virtual: float = 0.7                          # share of 12-lead records replaced by a virtual lead
    angle_deg: tuple[float, float] = (-60.0, 120.0)  # axis range; 0 = lead I, 60 = II, 90 = aVF, -30 = aVL
    p_invert: float = 0.1                           # polarity flip (device held the other way round)
    p_misplaced: float = 0.1                        # a limb-electrode swap before projecting

    def to_dict(self) -> dict:
        return asdict(self)


# Limb-electrode swaps as maps of (I, II) -> (I', II'): RA<->LA, RA<->LL, LA<->LL.
_SWAPS = (
    lambda i, ii: (-i, ii - i),
    lambda i, ii: (i - ii, -ii),
    lambda i, ii: (ii, i),
)


def zscore_records(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Z-score each record over all its leads and real samples (trailing zero padding excluded),
    as ``ecgcore.preprocess`` does for a record with these leads only."""
    out = torch.zeros_like(x)
    nonzero = (x != 0).any(dim=1)                      # (b, n)
    for i in range(x.shape[0]):
        idx = torch.nonzero(nonzero[i])
        n_real = int(idx[-1]) + 1 if len(idx) else 0
        if n_real:
            seg = x[i, :, :n_real]
            out[i, :, :n_real] = (seg - seg.mean()) / (seg.std(unbiased=False) + eps)
    return out


def virtual_single_lead(lead_i: torch.Tensor, lead_ii: torch.Tensor, config: AxisAugmentConfig,
                        generator: torch.Generator) -> torch.Tensor:
    """(b, 1, n) virtual leads, z-scored per record, from (b, n) leads I and II of 12-lead records.

    Records not chosen (probability ``1 - p_virtual``) keep their real lead I.
    """
    b = lead_i.shape[0]
    g = generator
    i, ii = lead_i.clone(), lead_ii.clone()
    swap = torch.rand(b, generator=g) < config.p_misplaced
    which = torch.randint(0, len(_SWAPS), (b,), generator=g)
    for k in torch.nonzero(swap).flatten().tolist():
        i[k], ii[k] = _SWAPS[int(which[k])](lead_i[k], lead_ii[k])
    x, y = frontal_dipole(i, ii)
    lo, hi = config.angle_deg
    theta = torch.deg2rad(lo + (hi - lo) * torch.rand(b, 1, generator=g))
    virtual = torch.rand(b, 1, generator=g) < config.p_virtual
    theta = torch.where(virtual, theta, torch.zeros_like(theta))
    lead = x * torch.cos(theta) + y * torch.sin(theta)
    lead = torch.where(virtual | swap[:, None], lead, lead_i)
    sign = torch.where(torch.rand(b, 1, generator=g) < config.p_invert, -1.0, 1.0)
    return zscore_records((lead * sign)[:, None, :])
