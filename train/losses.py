"""Losses for multi-label ECG training with a known-label mask.

``masked_bce``: binary cross-entropy over the known labels only (mask False = unknown for the
record's source dataset, never treated as negative).

``nnpu_risk``: positive-unlabeled learning for incomplete labels (Kiryo et al., NeurIPS 2017), in
the *censoring* form that fits ECG reports: every record is in the training set, and a true
positive of label k carries its label with probability ``c_k`` (the label frequency; SCAR).
Known entries marked 0 are therefore *unlabeled* (hidden positives + negatives), not negatives.
With the observed labeled fraction p_k = c_k * pi_k of the known entries, the unbiased risk is

    R_k = pi_k E_P[l(f, +1)] + (1 - p_k) E_U[l(f, -1)] - (pi_k - p_k) E_P[l(f, -1)]

with the logistic loss l. The last two terms estimate the negatives' risk and can go below zero
on a flexible model (overfitting); nnPU keeps them non-negative by stepping back along them when
they fall below ``-beta``. With c = 1 (labels complete) R is exactly the masked BCE.

``multitask``: downstream tasks in one head, mean squared error on standardised regression outputs
and BCE on the binary ones (:mod:`train.tasks`).

Every loss has the signature ``loss(logits, targets, mask) -> scalar`` and is built by name with
:func:`get_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np
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
def make_nnpu_loss(labeled_fraction: Sequence[float] | torch.Tensor, label_frequency: float | Sequence[float] = 1.0,
                   prior: float | Sequence[float] | None = None, beta: float = 0.0, gamma: float = 1.0) -> LossFn:
    """nnPU for every label; ``labeled_fraction`` per label from the training set (:func:`labeled_fractions`).

    Give either ``label_frequency`` c (the chance that a true positive is labelled; 1 = complete
    labels; e.g. from :func:`estimate_label_frequency`) or the class ``prior`` pi (the true
    prevalence, e.g. from a fully labelled reference population); a scalar or one value per label.
    """
    p_obs = torch.as_tensor(labeled_fraction, dtype=torch.float32)
    if prior is not None:
        pi = torch.as_tensor(prior, dtype=torch.float32).expand_as(p_obs)
        if (pi <= 0).any() or (pi > 1).any():
            raise ValueError("prior must be in (0, 1]")
        label_frequency = (p_obs / pi).clamp(min=1e-3, max=1.0)
    c = torch.as_tensor(label_frequency, dtype=torch.float32).expand_as(p_obs)
    if (c <= 0).any() or (c > 1).any():
        raise ValueError("label_frequency must be in (0, 1]")
    prior = (p_obs / c).clamp(max=1.0)

    def loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return nnpu_risk(logits, targets, mask, prior, p_obs, beta=beta, gamma=gamma)

    return loss


def nnpu_risk(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, prior: torch.Tensor,
              labeled_fraction: torch.Tensor, *, beta: float = 0.0, gamma: float = 1.0) -> torch.Tensor:
    """The training objective: mean over labels with known entries in the batch of the nnPU risk.

    Where a label's estimated negative risk is below ``-beta`` the objective for that label is
    ``-gamma * negative_risk`` (Kiryo et al.'s step back), otherwise the full risk.
    """
    z = logits.float()
    known = mask.to(z.dtype)
    positive = targets.to(z.dtype) * known
    unlabeled = (1.0 - targets.to(z.dtype)) * known
    n_pos, n_unl = positive.sum(0), unlabeled.sum(0)
    loss_as_pos, loss_as_neg = F.softplus(-z), F.softplus(z)
    r_p_plus = (loss_as_pos * positive).sum(0) / n_pos.clamp_min(1.0)
    r_p_minus = (loss_as_neg * positive).sum(0) / n_pos.clamp_min(1.0)
    r_u_minus = (loss_as_neg * unlabeled).sum(0) / n_unl.clamp_min(1.0)
    pi = prior.to(z.device)
    p_obs = labeled_fraction.to(z.device)
    has_pos = n_pos > 0
    positive_risk = torch.where(has_pos, pi * r_p_plus, torch.zeros_like(pi))
    negative_risk = (1.0 - p_obs) * r_u_minus - torch.where(has_pos, (pi - p_obs) * r_p_minus, torch.zeros_like(pi))
    objective = torch.where(negative_risk < -beta, -gamma * negative_risk, positive_risk + negative_risk)
    active = (n_pos + n_unl) > 0
    if not active.any():
        return z.sum() * 0.0
    return objective[active].mean()


def labeled_fractions(targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per label, the fraction of known entries labelled positive (p = c * pi under SCAR)."""
    known = mask.astype(bool)
    n_known = known.sum(0)
    n_pos = (targets.astype(bool) & known).sum(0)
    return np.where(n_known > 0, n_pos / np.maximum(n_known, 1), 0.0).astype(np.float32)


@register_loss("multitask")
def make_multitask_loss(regression: Sequence[bool]) -> LossFn:
    """Downstream tasks in one head: mean squared error on (standardised) regression outputs,
    BCE on the others; each task weighs the same, unknown targets (mask False) are left out."""
    is_regression = torch.as_tensor(list(regression), dtype=torch.bool)

    def loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z, t, known = logits.float(), targets.float(), mask.to(torch.float32)
        reg = is_regression.to(z.device)
        per = torch.where(reg, (z - t) ** 2, F.binary_cross_entropy_with_logits(z, t, reduction="none"))
        n = known.sum(0)
        per_task = (per * known).sum(0) / n.clamp_min(1.0)
        active = n > 0
        return per_task[active].mean() if active.any() else z.sum() * 0.0

    return loss


def estimate_label_frequency(scores: np.ndarray, labeled: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Elkan & Noto's (KDD 2008) estimator e1 of c per label: the mean score on labelled positives.

    ``scores`` must come from a "labelled vs unlabelled" classifier (a model trained with plain
    BCE on the incomplete labels) on records it was *not* trained on (a validation split or
    cross-fitted predictions); on its own training records it would be overconfident (c near 1).
    Returns NaN for labels without labelled positives.
    """
    scores = np.asarray(scores, dtype=np.float64)
    keep = np.asarray(labeled).astype(bool)
    if mask is not None:
        keep &= np.asarray(mask).astype(bool)
    n = keep.sum(0)
    return np.where(n > 0, (scores * keep).sum(0) / np.maximum(n, 1), np.nan).clip(max=1.0)


def get_loss(name: str, **options) -> LossFn:
    try:
        return _LOSSES[name](**options)
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(sorted(_LOSSES))}") from None
