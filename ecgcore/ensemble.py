"""A bundle of several networks (a seed ensemble) that downstream code uses like one Net1D.

Why an ensemble: on < 500 labelled records three seeds of the same recipe disagree by a few
AUROC points per label; averaging their probabilities measured +0.008 macro AUROC out of fold
(docs/experiments.md, learning curve) at three times the inference cost of a 0.5M-parameter network,
which is still milliseconds per record.

What "one network" means for each caller:

- ``forward(x)`` returns logits whose sigmoid is the **mean of the members' probabilities**
  (``logit(mean(sigmoid(z_i)))``), so the Predictor, Captum (IG, saliency, occlusion) and the
  convergence checks keep working on logits, and a probability is what every member agreed on.
- ``forward_features(x)`` concatenates the members' last feature maps along channels: members
  trained from different seeds have unrelated feature spaces, so averaging them would mix
  unrelated channels; concatenation keeps each member's embedding intact (``n_features`` is the sum).
- Grad-CAM needs one network's stages: :mod:`ecgcore.explain` averages the members' maps
  (:attr:`Net1DEnsemble.networks`).

Weights are stored in one safetensors file with keys ``networks.<i>.<Net1D key>``; a one-network
bundle keeps the plain Net1D keys, state-dict compatible with the ECGFounder release.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecgcore.errors import ModelError
from ecgcore.model import Net1D, Net1DConfig

MEMBER_PREFIX = "networks."
# Probabilities are clipped away from 0 and 1 before the logit, so a unanimous member vote stays finite.
_EPS = 1e-7


class Net1DEnsemble(nn.Module):
    """Members of one architecture and label set, scored together (see the module docstring)."""

    def __init__(self, networks: Sequence[nn.Module]):
        super().__init__()
        if len(networks) < 2:
            raise ModelError(f"an ensemble needs at least 2 networks, got {len(networks)}; use the network itself")
        configs = {_config_key(getattr(n, "config", None)) for n in networks}
        if len(configs) != 1:
            raise ModelError("ensemble members must share one architecture (the same Net1DConfig)")
        self.networks = nn.ModuleList(networks)
        self.config: Net1DConfig = networks[0].config

    @property
    def n_features(self) -> int:
        return sum(int(n.dense.in_features) for n in self.networks)

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(members, batch, n_classes) sigmoid outputs: what each seed says, e.g. to show disagreement."""
        return torch.stack([torch.sigmoid(n(x)) for n in self.networks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.member_probabilities(x).mean(0).clamp(_EPS, 1 - _EPS)
        return torch.logit(mean)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Members' last feature maps (batch, sum of channels, time), concatenated along channels."""
        return torch.cat([n.forward_features(x) for n in self.networks], dim=1)


def networks_of(model: nn.Module) -> list[nn.Module]:
    """The networks inside ``model``: its members for an ensemble, else ``[model]``."""
    return list(model.networks) if isinstance(model, Net1DEnsemble) else [model]


def combine(networks: Sequence[Net1D]) -> Net1D | Net1DEnsemble:
    """One network as itself, several as a :class:`Net1DEnsemble`."""
    if not networks:
        raise ModelError("no networks to combine")
    return networks[0] if len(networks) == 1 else Net1DEnsemble(networks)


def ensemble_state_dict(networks: Sequence[Net1D]) -> dict[str, torch.Tensor]:
    """The tensors of a bundle's weights file: plain keys for one network, ``networks.<i>.`` keys for several."""
    if len(networks) == 1:
        return dict(networks[0].state_dict())
    return {f"{MEMBER_PREFIX}{i}.{k}": v for i, n in enumerate(networks) for k, v in n.state_dict().items()}


def split_state_dict(state: dict[str, torch.Tensor], n_networks: int) -> list[dict[str, torch.Tensor]]:
    """Inverse of :func:`ensemble_state_dict`; raises when the keys do not hold ``n_networks`` members."""
    if n_networks == 1:
        if any(k.startswith(MEMBER_PREFIX) for k in state):
            raise ModelError("the weights hold an ensemble (networks.<i>. keys) but the card says one network")
        return [state]
    parts: list[dict[str, torch.Tensor]] = [{} for _ in range(n_networks)]
    for key, value in state.items():
        head, _, rest = key.partition(".")
        index, _, name = rest.partition(".")
        if head + "." != MEMBER_PREFIX or not index.isdigit() or int(index) >= n_networks:
            raise ModelError(f"weight {key!r} does not belong to member 0-{n_networks - 1} of this ensemble")
        parts[int(index)][name] = value
    empty = [i for i, p in enumerate(parts) if not p]
    if empty:
        raise ModelError(f"the weights hold no tensors for ensemble member(s) {empty} of {n_networks}")
    return parts


def _config_key(config: object) -> str:
    return repr(config.to_dict()) if hasattr(config, "to_dict") else repr(config)
