"""Electrical-axis augmentation: virtual leads are true frontal-plane projections, z-scored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgcore.leads import derive_limb_leads
from train.augment import AxisAugmentConfig, virtual_single_lead, zscore_records


def _limb(seed: int = 0, n: int = 2, samples: int = 5000):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, samples, generator=g), torch.randn(n, samples, generator=g)


def _z(x: torch.Tensor) -> torch.Tensor:
    return zscore_records(x[:, None, :])[:, 0]


@pytest.mark.parametrize("angle, lead", [(0.0, "I"), (60.0, "II"), (120.0, "III"), (90.0, "aVF"), (-30.0, "aVL")])
def test_fixed_angle_gives_the_standard_lead(angle, lead):
    i, ii = _limb()
    derived = {"I": i, "II": ii, **{k: torch.as_tensor(v) for k, v in derive_limb_leads(i.numpy(), ii.numpy()).items()}}
    config = AxisAugmentConfig(p_virtual=1.0, angle_deg=(angle, angle), p_invert=0.0, p_misplaced=0.0)
    out = virtual_single_lead(i, ii, config, torch.Generator().manual_seed(0))[:, 0]
    assert torch.allclose(out, _z(derived[lead]), atol=1e-4)


def test_no_virtual_leads_keeps_real_lead_i_and_inversion_flips_it():
    i, ii = _limb()
    keep = AxisAugmentConfig(p_virtual=0.0, p_invert=0.0, p_misplaced=0.0)
    assert torch.allclose(virtual_single_lead(i, ii, keep, torch.Generator())[:, 0], _z(i), atol=1e-5)
    flip = AxisAugmentConfig(p_virtual=0.0, p_invert=1.0, p_misplaced=0.0)
    assert torch.allclose(virtual_single_lead(i, ii, flip, torch.Generator())[:, 0], -_z(i), atol=1e-5)


def test_arm_electrode_swap_inverts_lead_i():
    i, ii = _limb(n=64)
    swap = AxisAugmentConfig(p_virtual=0.0, p_invert=0.0, p_misplaced=1.0)
    out = virtual_single_lead(i, ii, swap, torch.Generator().manual_seed(3))[:, 0]
    # Each record got one of the three swaps: RA<->LA gives -I, LA<->LL gives II, RA<->LL gives I - II.
    candidates = torch.stack([_z(-i), _z(ii), _z(i - ii)])
    match = (out[None] - candidates).abs().amax(-1) < 1e-4
    assert match.any(0).all() and match.any(1).sum() >= 2


def test_output_is_zscored_seeded_and_padding_stays_zero():
    i, ii = _limb(n=4)
    i[:, 4000:] = 0
    ii[:, 4000:] = 0
    config = AxisAugmentConfig()
    a = virtual_single_lead(i, ii, config, torch.Generator().manual_seed(5))
    b = virtual_single_lead(i, ii, config, torch.Generator().manual_seed(5))
    assert a.shape == (4, 1, 5000) and torch.equal(a, b)
    assert torch.all(a[..., 4000:] == 0)
    real = a[..., :4000]
    assert np.allclose(real.mean(-1).numpy(), 0, atol=1e-5) and np.allclose(real.std(-1).numpy(), 1, atol=1e-3)
