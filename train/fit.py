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
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from scipy.special import expit
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from ecgcore.bundle import DEFAULT_THRESHOLD, load_bundle, make_card, save_bundle
from ecgcore.model import Net1D, create_model
from train.augment import AugmentConfig, augment
from train.data.shards import TrainingSet
from train.losses import get_loss, labeled_fractions
from train.metrics import choose_threshold, per_label_auroc

logger = logging.getLogger(__name__)


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
def build_model(config: FitConfig, label_names: Sequence[str], network: Net1D | None = None) -> Net1D:
    """The network to train: ``network`` itself when given (fine-tuning a loaded model, e.g. each member
    of an ensemble in turn), else the ``config.init`` bundle/checkpoint, else a new named model."""
    if network is not None:
        model = network
        if model.config.n_classes != len(label_names):
            model.reset_head(len(label_names))
    elif config.init:
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


# -- the loop: set-up, resume, one epoch, validate, checkpoint, ship ---------------------------
def _loss_options(config: FitConfig, ts: TrainingSet, train_idx: np.ndarray, cols: np.ndarray) -> dict[str, Any]:
    """The loss's options; PU also needs each label's labelled fraction over the training rows."""
    options = dict(config.loss_options)
    if config.loss == "pu" and "labeled_fraction" not in options:
        mask = ts.mask[train_idx] & cols[None, :]
        options["labeled_fraction"] = labeled_fractions(ts.labels[train_idx], mask)
    return options


@dataclass
class _Run:
    """Everything :func:`_set_up` builds and the later steps use."""

    config: FitConfig
    ts: TrainingSet
    train_idx: np.ndarray
    val_idx: np.ndarray | None
    labels: list[str]                   # trained labels
    cols: np.ndarray                    # their columns among the outputs
    output_names: list[str]             # every output (the training set's vocabulary)
    world: int
    rank: int
    device: torch.device
    out_dir: Path
    model: Net1D
    net: torch.nn.Module                # ``model``, wrapped in DDP when distributed
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sampler: DistributedSampler
    loss_fn: Any
    labels_all: torch.Tensor
    mask_all: torch.Tensor              # known-label mask restricted to the trained labels
    autocast: Any
    on_step: Callable[[int, int], None] | None = None  # (steps done, steps in the run) after every batch

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"


@dataclass
class _Progress:
    """Where training stands (saved in ``last.pt`` after every epoch)."""

    epoch: int = 0                      # epochs done
    best_metric: float = -float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stopped_early(self) -> bool:
        return bool(self.history and self.history[-1].get("stopped_early"))


def _set_up(config: FitConfig, ts: TrainingSet, train_idx: np.ndarray, val_idx: np.ndarray | None,
            network: Net1D | None = None, on_step: Callable[[int, int], None] | None = None) -> _Run:
    """Processes, labels, seeded model (DDP-wrapped when distributed), optimiser, sampler, schedule, loss."""
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
    model = build_model(config, output_names, network).to(device)
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
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    return _Run(config, ts, train_idx, val_idx, labels, cols, output_names, world, rank, device, out_dir, model, net,
                optimizer, scheduler, sampler, loss_fn, labels_all=torch.from_numpy(ts.labels.astype(np.float32)),
                mask_all=torch.from_numpy(ts.mask & train_mask_cols[None, :]), autocast=autocast, on_step=on_step)


# Settings that may differ between an interrupted run and its resumption (they do not change the weights).
_RESUMABLE_CHANGES = ("out_dir", "resume", "stop_after_epochs", "progress", "num_threads", "eval_batch_size")


def _settings_that_shape_the_weights(config: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in config.items() if k not in _RESUMABLE_CHANGES}, sort_keys=True, default=str)


def _resume(run: _Run) -> _Progress:
    """The state of ``out_dir/last.pt`` (model, optimiser, schedule, early stopping, history), if resuming.

    A ``last.pt`` written with other settings is refused rather than continued: recipes share fit
    folders (the learning curve reuses the default recipe's), and a silent reuse would mix settings.
    """
    config = run.config
    if not (config.resume and run.last_path.is_file()):
        return _Progress()
    state = torch.load(run.last_path, map_location=run.device, weights_only=False)
    saved = state.get("config")
    if saved is not None and _settings_that_shape_the_weights(saved) != _settings_that_shape_the_weights(config.to_dict()):
        raise ValueError(f"{run.out_dir} holds a run with other settings than this one; choose another output "
                         "folder, or start over with resume=False (--no-resume)")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.rank == 0 and config.progress:
        logger.info("resuming %s after epoch %d", run.out_dir, state["epoch"])
    return _Progress(state["epoch"], state["best_metric"], state["best_epoch"], state["bad_epochs"], state["history"])


def _epochs_to_run(run: _Run, progress: _Progress):
    """The epochs still to train in this call: none after early stopping, at most ``stop_after_epochs``."""
    for n_done, epoch in enumerate(range(progress.epoch, run.config.epochs)):
        if progress.stopped_early:
            return
        if run.config.stop_after_epochs is not None and n_done >= run.config.stop_after_epochs:
            return
        yield epoch


def _train_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """One pass over this rank's share of the training records; every random stream seeded from
    (seed, epoch, rank), so a resumed run repeats an uninterrupted one exactly. Returns the history row."""
    config, model = run.config, run.model
    t0 = time.perf_counter()
    torch.manual_seed(config.seed * 100_003 + epoch * 101 + run.rank)
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch * 1009 + run.rank)
    run.sampler.set_epoch(epoch)
    order = run.train_idx[np.fromiter(iter(run.sampler), dtype=np.int64)]
    run.net.train()
    if config.freeze_backbone:
        model.eval()  # frozen BatchNorm statistics
        model.dense.train()
    losses, n_seen = [], 0
    steps_per_epoch = math.ceil(len(order) / config.batch_size)
    bar = tqdm(range(0, len(order), config.batch_size), desc=f"epoch {epoch + 1}/{config.epochs}",
               disable=not (config.progress and run.rank == 0), leave=False, unit="batch")
    for step, start in enumerate(bar):
        idx = order[start:start + config.batch_size]
        if run.on_step is not None:  # progress for a page; raising here cancels the run
            run.on_step(epoch * steps_per_epoch + step, config.epochs * steps_per_epoch)
        if len(idx) < 2:
            continue  # BatchNorm needs two samples
        x = augment(torch.from_numpy(run.ts.training_signals(idx, gen)), config.augment, gen).to(run.device)
        y, m = run.labels_all[idx].to(run.device), run.mask_all[idx].to(run.device)
        with run.autocast:
            logits = run.net(x)
        loss = run.loss_fn(logits, y, m)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        losses.append(loss.item())
        n_seen += len(idx)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
    _broadcast_buffers(model)
    seconds = time.perf_counter() - t0
    return {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": run.optimizer.param_groups[0]["lr"], "seconds": seconds,
            "samples_per_s": n_seen * run.world / max(seconds, 1e-9)}


def _validate(run: _Run, progress: _Progress, row: dict[str, Any]) -> None:
    """Validation macro AUROC into ``row``; keeps the best model (``best.pt``) and decides early stopping.

    Without a validation split every epoch counts as the best: the last epoch is the model.
    """
    config, ts, val_idx = run.config, run.ts, run.val_idx
    if val_idx is not None:
        probs = predict_probabilities(run.model, ts, val_idx, config.eval_batch_size, run.device)
        aurocs = per_label_auroc(ts.labels[val_idx][:, run.cols], probs[:, run.cols], ts.mask[val_idx][:, run.cols])
        metric = float(np.nanmean(aurocs)) if np.isfinite(aurocs).any() else float("nan")
        row.update(val_macro_auroc=metric, val_labels_scored=int(np.isfinite(aurocs).sum()))
        improved = np.isfinite(metric) and metric > progress.best_metric
    else:
        metric, improved = float("nan"), True
    if improved:
        progress.best_metric = metric if np.isfinite(metric) else progress.best_metric
        progress.best_epoch, progress.bad_epochs = row["epoch"], 0
        if run.rank == 0:
            _atomic_save(run.model.state_dict(), run.best_path)
    else:
        progress.bad_epochs += 1
    if config.patience is not None and val_idx is not None and progress.bad_epochs >= config.patience:
        row["stopped_early"] = True


def _checkpoint(run: _Run, progress: _Progress, row: dict[str, Any]) -> None:
    """Record the epoch: ``last.pt`` (everything needed to resume) and the history files, on rank 0."""
    progress.history.append(row)
    progress.epoch = row["epoch"]
    if run.rank == 0:
        _atomic_save({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                      "scheduler": run.scheduler.state_dict(), "epoch": progress.epoch,
                      "best_metric": progress.best_metric, "best_epoch": progress.best_epoch,
                      "bad_epochs": progress.bad_epochs, "history": progress.history,
                      "config": run.config.to_dict(), "labels": run.labels}, run.last_path)
        _write_history(progress.history, run.out_dir)
        if run.config.progress:
            shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            logger.info(json.dumps(shown))
    if run.world > 1:
        dist.barrier()


def _ship(run: _Run, progress: _Progress, card_extra: dict[str, Any] | None) -> FitResult:
    """The best model, its thresholds (max F1 on the validation split) and, once training is finished,
    ``out_dir/bundle`` written by rank 0."""
    config, ts, val_idx, model = run.config, run.ts, run.val_idx, run.model
    finished = progress.stopped_early or bool(progress.history and progress.history[-1]["epoch"] >= config.epochs)
    if run.world > 1:
        dist.barrier()
    if run.best_path.is_file():
        model.load_state_dict(torch.load(run.best_path, map_location=run.device, weights_only=True))
    model.eval()
    thresholds: dict[str, float] = {}
    if val_idx is not None:
        probs = predict_probabilities(model, ts, val_idx, config.eval_batch_size, run.device)
        for name, j in zip(run.labels, run.cols):
            keep = ts.mask[val_idx, j]
            thresholds[name] = choose_threshold(ts.labels[val_idx, j][keep], probs[keep, j], config.threshold_method)
    bundle_dir = None
    if finished and run.rank == 0:
        bundle_dir = run.out_dir / "bundle"
        names = run.output_names
        card = make_card(config.bundle_name, model.cpu(), names,
                         thresholds=[thresholds.get(n, DEFAULT_THRESHOLD) for n in names], trained_labels=run.labels,
                         input_leads=list(ts.manifest["leads"]), preprocessing=ts.preprocess_config(),
                         training={"config": config.to_dict(), "dataset": ts.manifest.get("description"),
                                   "n_train": int(len(run.train_idx)), "n_val": int(0 if val_idx is None else len(val_idx)),
                                   "best_epoch": progress.best_epoch, "thresholds_from": "validation split" if thresholds
                                   else "none (0.5)"},
                         metrics={"val_macro_auroc": progress.best_metric} if val_idx is not None else {},
                         default=False, **(card_extra or {}))
        save_bundle(model, card, bundle_dir)
        model.to(run.device)
    return FitResult(model, run.labels, progress.history, progress.best_epoch, progress.best_metric, bundle_dir,
                     thresholds)


def fit(config: FitConfig, ts: TrainingSet, train_idx: np.ndarray, val_idx: np.ndarray | None = None, *,
        card_extra: dict[str, Any] | None = None, network: Net1D | None = None,
        on_step: Callable[[int, int], None] | None = None) -> FitResult:
    """Train on ``ts[train_idx]``, early-stopping on validation macro AUROC over the trained labels.

    ``network``: train this module (fine-tuned in place) instead of building one from ``config``.
    ``on_step(done, total)`` is called before every batch; an exception it raises stops the run there
    (how a background job is cancelled), leaving ``last.pt`` of the last finished epoch.
    """
    run = _set_up(config, ts, train_idx, val_idx, network, on_step)
    progress = _resume(run)
    for epoch in _epochs_to_run(run, progress):
        row = _train_epoch(run, epoch)
        _validate(run, progress, row)
        _checkpoint(run, progress, row)
    return _ship(run, progress, card_extra)
