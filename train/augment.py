"""Batch augmentation for (batch, leads, samples) z-scored ECGs, seeded through a torch.Generator.

Amplitude scaling, Gaussian noise, baseline wander, time shift (zero fill), lead dropout.
Electrical-axis (frontal-plane projection) augmentation is issue #7.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


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
