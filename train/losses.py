"""Losses for multi-label ECG training with a known-label mask.

``masked_bce``: binary cross-entropy over the known labels only (mask False = unknown for the
record's source dataset, never treated as negative). PU learning (issue #7) plugs in through
:func:`register_loss` with the same signature ``loss(logits, targets, mask) -> scalar``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_LOSSES: dict[str, Callable[..., LossFn]] = {}


def register_loss(name: str):
    def wrap(factory):
        _LOSSES[name] = factory
        return factory
    return wrap


@register_loss("bce")
def make_masked_bce(pos_weight: torch.Tensor | None = None) -> LossFn:
    def loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_bce(logits, targets, mask, pos_weight=pos_weight)
    return loss


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
               pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE over known (mask True) entries; 0 (with a gradient) when nothing is known."""
    per = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none", pos_weight=pos_weight)
    mask = mask.to(per.dtype)
    return (per * mask).sum() / mask.sum().clamp_min(1.0)


@register_loss("pu")
def make_pu_loss(**_: object) -> LossFn:  # pragma: no cover - issue #7
    raise NotImplementedError("PU loss is issue #7: register it with train.losses.register_loss('pu')")


def get_loss(name: str, **options) -> LossFn:
    try:
        return _LOSSES[name](**options)
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(sorted(_LOSSES))}") from None
