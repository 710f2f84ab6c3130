"""The embedding of a record: the network's pooled features, the vector its head reads.

``Net1D.forward_features`` gives the last stage's feature map (batch, channels, time); the head
averages it over time and applies one linear layer, so the average over time is the embedding a
linear probe should see. A bundle of several networks (a seed ensemble, ``Bundle.networks``) has
one feature space per member, and members trained from different seeds do not share the meaning
of a channel, so their features are **concatenated** (member order as in the bundle), not
averaged: the vector is ``n_members * n_features`` long, and a probe can weigh each member's
channels (as ``Net1DEnsemble.forward_features`` does, :mod:`ecgcore.ensemble`). Every member runs its
layout-planned twin (``Predictor.inference_model``): the same numbers as ``forward_features`` to
float32 rounding, faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ecgcore.ensemble import networks_of

if TYPE_CHECKING:
    from ecgcore.predict import Predictor

COMBINE = "concatenate"


def bundle_networks(predictor: Predictor) -> list[torch.nn.Module]:
    """The bundle's member networks (one for a single-network bundle)."""
    return networks_of(predictor.model)


def feature_dim(predictor: Predictor) -> int:
    return int(predictor.model.n_features)


def pooled_features(predictor: Predictor, batch: torch.Tensor) -> torch.Tensor:
    """(batch, feature_dim) float32 on the CPU: :meth:`ecgcore.predict.Predictor.embeddings` (each member's
    ``forward_features`` averaged over time, concatenated, on the layout-planned twins)."""
    return torch.from_numpy(predictor.embeddings(batch)).float()
