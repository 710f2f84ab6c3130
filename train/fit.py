"""One training loop: from scratch, fine-tuning (bundle or official ECGFounder .pth), linear probe.

Single process on the CPU, or one process per GPU with ``torchrun --nproc_per_node N -m train fit
...`` (DistributedDataParallel, DistributedSampler, bf16 autocast on GPU; gloo on CPU). Resumable:
``last.pt`` in the output folder holds model, optimiser, schedule, early-stopping state and history;
every random stream is re-seeded from (seed, epoch, rank) at the start of each epoch, so a resumed
run gives the same weights as an uninterrupted one.

Outputs in ``out_dir``: ``last.pt``, ``best.pt``, ``history.csv`` / ``history.json`` (one row per
epoch) and ``bundle/`` (safetensors + card; thresholds chosen on the validation split if any).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from scipy.special import expit
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from ecgcore.bundle import load_bundle, make_card, save_bundle
from ecgcore.model import Net1D, create_model

from train.augment import AugmentConfig, augment
from train.data.shards import TrainingSet
from train.losses import get_loss, labeled_fractions
from train.metrics import choose_threshold, per_label_auroc


@dataclass
class FitConfig:
    out_dir: str
    model: str = "net1d-small-12lead"       # named config (ignored when ``init`` is given)
    init: str | None = None                 # bundle folder or official ECGFounder .pth to fine-tune
    labels: list[str] | None = None         # labels to train; default: >= min_positives in the train set
    min_positives: int = 10
    freeze_backbone: bool = False           # linear probe: only the head learns
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    schedule: str = "cosine"                # or "constant"
    patience: int | None = 8                # early stopping on validation macro AUROC (None: off)
    seed: int = 0
    loss: str = "bce"                      # or "pu" (nnPU for incomplete labels, see train.losses)
    loss_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"label_frequency": 0.4} for "pu"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    eval_batch_size: int = 64
    threshold_method: str = "f1"
    num_threads: int | None = None
    progress: bool = True
    resume: bool = True
    stop_after_epochs: int | None = None    # stop (as if killed) after this many epochs of this call
    bundle_name: str = "net1d-model"
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["augment"] = self.augment.to_dict()
        return data


@dataclass
class FitResult:
    model: Net1D
    labels: list[str]                 # trained labels
    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float
    bundle_dir: Path | None
    thresholds: dict[str, float]


# -- distributed helpers ----------------------------------------------------------------------
def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def _setup_distributed() -> tuple[int, int, torch.device]:
    world, rank, local = _dist_info()
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, rank, device


def _broadcast_buffers(model: torch.nn.Module) -> None:
    """BatchNorm running stats are updated per rank: make rank 0's the truth after each epoch."""
    if dist.is_initialized():
        for buf in model.buffers():
            dist.broadcast(buf.data, src=0)


# -- model set-up -----------------------------------------------------------------------------
def build_model(config: FitConfig, label_names: Sequence[str]) -> Net1D:
    if config.init:
        bundle = load_bundle(config.init)
        model = bundle.model
        if list(bundle.card.labels) != list(label_names):
            model.reset_head(len(label_names))
    else:
        model = create_model(config.model, n_classes=len(label_names), **config.model_overrides)
    if config.freeze_backbone:
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("dense.")
    return model


def select_labels(ts: TrainingSet, idx: np.ndarray, min_positives: int) -> list[str]:
    """Labels with at least ``min_positives`` positives and as many known negatives among ``idx``."""
    y = ts.labels[idx].astype(np.int64)
    m = ts.mask[idx]
    pos = (y * m).sum(0)
    neg = ((1 - y) * m).sum(0)
    return [ts.label_names[j] for j in range(len(ts.label_names)) if pos[j] >= min_positives and neg[j] >= min_positives]


def _lr_lambda(config: FitConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    warm = int(config.warmup_epochs * steps_per_epoch)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))
    return f


@torch.no_grad()
def predict_outputs(model: Net1D, ts: TrainingSet, idx: np.ndarray, batch_size: int = 64,
                    device: torch.device | str = "cpu") -> np.ndarray:
    """Raw outputs (logits, or standardised values of regression tasks) ``(len(idx), n_outputs)``, eval mode."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(idx), batch_size):
        x = torch.from_numpy(ts.signals(idx[start:start + batch_size])).to(device)
        out.append(model(x).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, model.config.n_classes), np.float32)


def predict_probabilities(model: Net1D, ts: TrainingSet, idx: np.ndarray, batch_size: int = 64,
                          device: torch.device | str = "cpu") -> np.ndarray:
    """Sigmoid outputs ``(len(idx), n_outputs)`` in eval mode."""
    return expit(predict_outputs(model, ts, idx, batch_size, device))


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_history(history: list[dict], out_dir: Path) -> None:
    pd.DataFrame(history).to_csv(out_dir / "history.csv", index=False)
    (out_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")


# -- the loop ---------------------------------------------------------------------------------
def _loss_options(config: FitConfig, ts: TrainingSet, train_idx: np.ndarray, cols: np.ndarray) -> dict[str, Any]:
    """The loss's options; PU also needs each label's labelled fraction over the training rows."""
    options = dict(config.loss_options)
    if config.loss == "pu" and "labeled_fraction" not in options:
        mask = ts.mask[train_idx] & cols[None, :]
        options["labeled_fraction"] = labeled_fractions(ts.labels[train_idx], mask)
    return options


def fit(config: FitConfig, ts: TrainingSet, train_idx: np.ndarray, val_idx: np.ndarray | None = None, *,
        card_extra: dict[str, Any] | None = None) -> FitResult:
    """Train on ``ts[train_idx]``, early-stopping on validation macro AUROC over the trained labels."""
    world, rank, device = _setup_distributed()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    out_dir = Path(config.out_dir)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    val_idx = None if val_idx is None or len(val_idx) == 0 else np.asarray(val_idx, dtype=np.int64)
    labels = list(config.labels) if config.labels else select_labels(ts, train_idx, config.min_positives)
    if not labels:
        raise ValueError("no label has enough positives in the training data; lower min_positives")
    cols = ts.label_columns(labels)
    output_names = list(ts.label_names)
    train_mask_cols = np.zeros(len(output_names), bool)
    train_mask_cols[cols] = True

    torch.manual_seed(config.seed)
    model = build_model(config, output_names).to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # pre-activation blocks leave some BatchNorm affine params unused
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    sampler = DistributedSampler(range(len(train_idx)), num_replicas=world, rank=rank, shuffle=True,
                                 seed=config.seed, drop_last=False)
    steps_per_epoch = math.ceil(len(sampler) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, steps_per_epoch))
    loss_fn = get_loss(config.loss, **_loss_options(config, ts, train_idx, train_mask_cols))
    labels_all = torch.from_numpy(ts.labels.astype(np.float32))
    mask_all = torch.from_numpy(ts.mask & train_mask_cols[None, :])
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))

    history: list[dict[str, Any]] = []
    start_epoch, best_metric, best_epoch, bad_epochs = 0, -float("inf"), -1, 0
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if config.resume and last_path.is_file():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_metric, best_epoch = state["epoch"], state["best_metric"], state["best_epoch"]
        bad_epochs, history = state["bad_epochs"], state["history"]
        if rank == 0 and config.progress:
            print(f"resuming {out_dir} after epoch {start_epoch}")

    epochs_this_call = 0
    stopped_early = bool(history and history[-1].get("stopped_early"))
    for epoch in range(start_epoch, config.epochs):
        if stopped_early:
            break
        if config.stop_after_epochs is not None and epochs_this_call >= config.stop_after_epochs:
            break
        t0 = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch * 101 + rank)
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch * 1009 + rank)
        sampler.set_epoch(epoch)
        order = train_idx[np.fromiter(iter(sampler), dtype=np.int64)]
        net.train()
        if config.freeze_backbone:
            model.eval()  # frozen BatchNorm statistics
            model.dense.train()
        losses, n_seen = [], 0
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=not (config.progress and rank == 0), leave=False, unit="batch")
        for start in bar:
            idx = order[start:start + config.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            x = augment(torch.from_numpy(ts.training_signals(idx, gen)), config.augment, gen).to(device)
            y, m = labels_all[idx].to(device), mask_all[idx].to(device)
            with autocast:
                logits = net(x)
            loss = loss_fn(logits, y, m)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            n_seen += len(idx)
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        _broadcast_buffers(model)
        train_seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                               "lr": optimizer.param_groups[0]["lr"], "seconds": train_seconds,
                               "samples_per_s": n_seen * world / max(train_seconds, 1e-9)}
        if val_idx is not None:
            probs = predict_probabilities(model, ts, val_idx, config.eval_batch_size, device)
            aurocs = per_label_auroc(ts.labels[val_idx][:, cols], probs[:, cols], ts.mask[val_idx][:, cols])
            metric = float(np.nanmean(aurocs)) if np.isfinite(aurocs).any() else float("nan")
            row.update(val_macro_auroc=metric, val_labels_scored=int(np.isfinite(aurocs).sum()))
            improved = np.isfinite(metric) and metric > best_metric
        else:
            metric, improved = float("nan"), True  # no validation: the last epoch is the model
        if improved:
            best_metric, best_epoch, bad_epochs = (metric if np.isfinite(metric) else best_metric), epoch + 1, 0
            if rank == 0:
                _atomic_save(model.state_dict(), best_path)
        else:
            bad_epochs += 1
        if config.patience is not None and val_idx is not None and bad_epochs >= config.patience:
            row["stopped_early"] = True
            stopped_early = True
        history.append(row)
        if rank == 0:
            _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "best_metric": best_metric,
                          "best_epoch": best_epoch, "bad_epochs": bad_epochs, "history": history,
                          "config": config.to_dict(), "labels": labels}, last_path)
            _write_history(history, out_dir)
            if config.progress:
                shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                print(json.dumps(shown), flush=True)
        epochs_this_call += 1
        if world > 1:
            dist.barrier()

    finished = stopped_early or (history and history[-1]["epoch"] >= config.epochs)
    if world > 1:
        dist.barrier()
    if best_path.is_file():
        model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    model.eval()
    thresholds: dict[str, float] = {}
    if val_idx is not None:
        probs = predict_probabilities(model, ts, val_idx, config.eval_batch_size, device)
        for name, j in zip(labels, cols):
            keep = ts.mask[val_idx, j]
            thresholds[name] = choose_threshold(ts.labels[val_idx, j][keep], probs[keep, j], config.threshold_method)
    bundle_dir = None
    if finished and rank == 0:
        bundle_dir = out_dir / "bundle"
        card = make_card(config.bundle_name, model.cpu(), output_names,
                         thresholds=[thresholds.get(n, 0.5) for n in output_names], trained_labels=labels,
                         input_leads=list(ts.manifest["leads"]), preprocessing=ts.preprocess_config(),
                         training={"config": config.to_dict(), "dataset": ts.manifest.get("description"),
                                   "n_train": int(len(train_idx)), "n_val": int(0 if val_idx is None else len(val_idx)),
                                   "best_epoch": best_epoch, "thresholds_from": "validation split" if thresholds
                                   else "none (0.5)"},
                         metrics={"val_macro_auroc": best_metric} if val_idx is not None else {},
                         default=False, **(card_extra or {}))
        save_bundle(model, card, bundle_dir)
        model.to(device)
    return FitResult(model, labels, history, best_epoch, best_metric, bundle_dir, thresholds)
