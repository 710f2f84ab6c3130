"""The embedding of a record: the network's pooled features, the vector its head reads.

``Net1D.forward_features`` gives the last stage's feature map (batch, channels, time); the head
averages it over time and applies one linear layer, so the average over time is the embedding a
linear probe should see. A bundle of several networks (a seed ensemble, ``Bundle.networks``) has
one feature space per member, and members trained from different seeds do not share the meaning
of a channel, so their features are **concatenated** (member order as in the bundle), not
averaged: the vector is ``n_members * n_features`` long, and a probe can weigh each member's
channels (as ``Net1DEnsemble.forward_features`` does, :mod:`ecgcore.ensemble`). A one-network bundle runs its layout-planned twin (``Predictor.inference_model``), the
same numbers as ``forward_features`` to float32 rounding, faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ecgcore.predict import Predictor

COMBINE = "concatenate"


def bundle_networks(predictor: Predictor) -> list[torch.nn.Module]:
    """The bundle's member networks (``Bundle.networks`` when it has several), else its one model."""
    members = getattr(predictor.bundle, "networks", None)
    return list(members) if members else [predictor.model]


def feature_dim(predictor: Predictor) -> int:
    return sum(network.dense.in_features for network in bundle_networks(predictor))


def pooled_features(predictor: Predictor, batch: torch.Tensor) -> torch.Tensor:
    """(batch, feature_dim) float32 on the CPU: each member's ``forward_features`` averaged over time, concatenated."""
    x = torch.as_tensor(batch, dtype=torch.float32, device=predictor.device)
    members = bundle_networks(predictor)
    with torch.inference_mode():
        if len(members) == 1:
            features = [predictor.inference_model(x.shape[0]).forward_features(x).flatten(2).mean(-1)]
        else:
            features = [network.to(predictor.device).eval().forward_features(x).mean(-1) for network in members]
        return torch.cat(features, dim=1).float().cpu()
