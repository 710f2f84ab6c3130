"""The card's out-of-distribution reference (:mod:`ecgcore.ood`) from a recipe's networks.

The embedding score needs distances of records *like* the training data but not trained on: the
cross-validation models give them (each fold's networks embed its held-out records), put on the
final model's scale by :func:`ecgcore.ood.rescaled_distances`. The sampling rates and amplitudes come
from the training records' files as recorded (the training set stores preprocessed arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ecgcore.ensemble import combine
from ecgcore.io import read
from ecgcore.model import Net1D
from ecgcore.ood import fit_embedding_reference, fit_reference, rescaled_distances, typical_amplitude_mv
from train.data.shards import TrainingSet


def pooled_embeddings(networks: Sequence[Net1D], ts: TrainingSet, idx: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(len(idx), n_features) pooled features of ``networks`` (members concatenated, as the bundle's model does)."""
    model = combine(list(networks)).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(idx), batch_size):
            x = torch.from_numpy(ts.signals(idx[start:start + batch_size]))
            out.append(model.forward_features(x).mean(-1).double().numpy())
    return np.concatenate(out)


def held_out_distances(ts: TrainingSet, splits: Sequence[tuple[np.ndarray, np.ndarray]],
                       fold_networks: Sequence[Sequence[Net1D]], final_train_distances: np.ndarray) -> np.ndarray:
    """Every CV fold's held-out distances, each fold on the final model's scale."""
    out = []
    for (train_idx, held), networks in zip(splits, fold_networks):
        train_emb = pooled_embeddings(networks, ts, train_idx)
        ref = fit_embedding_reference(train_emb, np.zeros(1))
        out.append(rescaled_distances(ref.distance(pooled_embeddings(networks, ts, held)),
                                      ref.distance(train_emb), final_train_distances))
    return np.concatenate(out)


def record_statistics(ts: TrainingSet, progress: bool = True) -> tuple[list[float], list[float]]:
    """Sampling rate and typical amplitude (mV) of every training record, read from its file."""
    fs, amplitudes = [], []
    for path in tqdm(ts.meta.path.tolist(), desc="training records", unit="record", disable=not progress):
        record = read(_file_of(Path(path)))
        fs.append(record.fs)
        amplitudes.append(typical_amplitude_mv(record.signal))
    return fs, amplitudes


def _file_of(path: Path) -> Path:
    """The readable file of a training record: WFDB records are stored by their name without ``.hea``."""
    header = path.with_name(path.name + ".hea")
    return header if not path.exists() and header.is_file() else path


def ood_reference(ts: TrainingSet, splits: Sequence[tuple[np.ndarray, np.ndarray]],
                  fold_networks: Sequence[Sequence[Net1D]], final_networks: Sequence[Net1D]) -> dict:
    """The card's ``ood`` entry for a bundle of ``final_networks`` trained on every record of ``ts``."""
    final_emb = pooled_embeddings(final_networks, ts, np.arange(len(ts)))
    provisional = fit_embedding_reference(final_emb, np.zeros(1))
    held = held_out_distances(ts, splits, fold_networks, provisional.distance(final_emb))
    fs, amplitudes = record_statistics(ts)
    reference = fit_reference(fs_hz=fs, amplitudes_mv=amplitudes, embedding=fit_embedding_reference(final_emb, held))
    reference["embedding_from"] = (f"{len(final_emb)} training records; scores against {len(held)} held-out "
                                   f"distances of {len(splits)} cross-validation folds")
    return reference
