"""Contrastive pretraining without labels (SimCLR-style; Chen et al. 2020, as CLOCS did for ECGs).

Two augmented views of each record are pulled together and pushed away from the other records of
the batch (NT-Xent loss). The network's head serves as a linear projection; downstream, the
pooled features before it are what a linear probe or fine-tuning uses (:mod:`train.tasks`).
Kept deliberately small: one loop, the same augmentations and schedule as supervised training.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ecgcore.bundle import make_card, save_bundle
from ecgcore.model import Net1D, create_model
from train.augment import AugmentConfig, augment
from train.data.shards import TrainingSet

# Stronger than the supervised defaults: the views must differ enough that matching them needs the ECG's content.
CONTRASTIVE_AUGMENT = AugmentConfig(p=1.0, scale=(0.6, 1.6), lead_scale=0.2, noise_std=0.1, wander_amplitude=0.3,
                                    max_shift_s=1.0, lead_dropout=0.3)


@dataclass
class ContrastiveConfig:
    out_dir: str
    model: str = "net1d-small-12lead"
    projection_dim: int = 64
    temperature: float = 0.1
    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    seed: int = 0
    augment: AugmentConfig = field(default_factory=lambda: CONTRASTIVE_AUGMENT)
    num_threads: int | None = 1
    progress: bool = True

    def to_dict(self) -> dict:
        data = asdict(self)
        data["augment"] = self.augment.to_dict()
        return data


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised-temperature cross-entropy: each view must pick its partner among 2B - 1 candidates."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def fit_contrastive(config: ContrastiveConfig, ts: TrainingSet, train_idx: np.ndarray) -> Net1D:
    """Pretrain on ``ts[train_idx]`` (labels unused); writes ``out_dir/bundle`` and returns the model.

    A finished run (its bundle exists) is loaded instead of retrained, so recipes can be rerun.
    """
    out = Path(config.out_dir)
    if (out / "bundle" / "card.json").is_file():
        from ecgcore.bundle import load_bundle
        return load_bundle(out / "bundle").model
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    model = create_model(config.model, n_classes=config.projection_dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(train_idx) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 20)) * (0.02 + 0.49 * (1 + math.cos(math.pi * s / steps))))
    history = []
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        order = np.asarray(train_idx)[torch.randperm(len(train_idx), generator=gen).numpy()]
        model.train()
        losses = []
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"contrastive {epoch + 1}/{config.epochs}",
                   disable=not config.progress, leave=False, unit="batch")
        for start in bar:
            idx = order[start:start + config.batch_size]
            if len(idx) < 2:
                continue
            x = torch.from_numpy(ts.training_signals(idx, gen))
            loss = nt_xent(model(augment(x, config.augment, gen)), model(augment(x, config.augment, gen)),
                           config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0})
    model.eval()
    card = make_card(f"contrastive-{config.model}", model, [f"projection_{i}" for i in range(config.projection_dim)],
                     input_leads=list(ts.manifest["leads"]), preprocessing=ts.preprocess_config(),
                     training={"objective": "SimCLR NT-Xent, no labels", "config": config.to_dict(),
                               "n_train": int(len(train_idx)), "history": history},
                     description="Contrastively pretrained backbone; the head is a projection, not diagnoses.")
    save_bundle(model, card, out / "bundle")
    return model
