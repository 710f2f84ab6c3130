"""The one on-disk training format, written once and memory-mapped afterwards.

Layout of a dataset folder::

    DIR/
      manifest.json          format, version, sources, preprocessing, label names, counts, skipped records
      signals-00000.npy ...  float16 (n, leads, samples) shards, preprocessed with ecgcore's pipeline
      labels.npy             uint8 (N, 150) targets in the ECGFounder vocabulary (0 where unknown)
      mask.npy               bool  (N, 150) known-label mask (False = unknown, left out of the loss)
      meta.csv               one row per record: record_id, source, patient_id, fold, split, age, sex, path

Records are written in the order the adapters yield them; a record that cannot be read,
preprocessed or labelled is skipped, counted and listed in the manifest (never a crash).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ecgcore.labels import N_ECGFOUNDER_LABELS, ecgfounder_labels
from ecgcore.leads import LEADS_12
from ecgcore.preprocessing import DEFAULT_PREPROCESS, PreprocessConfig, preprocess
from ecgcore.record import Record

FORMAT = "ecgfounder-training-set"
FORMAT_VERSION = 1
SHARD_RECORDS = 2048
META_COLUMNS = ["record_id", "source", "patient_id", "fold", "split", "age", "sex", "path"]

logger = logging.getLogger(__name__)


@dataclass
class Example:
    """One labelled record as an adapter yields it; ``load`` reads it lazily (errors are caught)."""

    record_id: str
    source: str
    load: Callable[[], Record]
    y: np.ndarray | None = None  # (150,) targets; None: computed by ``label`` after loading
    mask: np.ndarray | None = None
    label: Callable[[Record], tuple[np.ndarray, np.ndarray]] | None = None
    patient_id: str | None = None
    fold: int | None = None
    split: str = "train"
    path: str = ""
    age: float | None = None
    sex: str | None = None


@dataclass
class BuildResult:
    path: Path
    n_records: int
    skipped: list[dict[str, str]] = field(default_factory=list)


def _sex(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().upper()
    return {"M": "M", "MALE": "M", "0": "M", "F": "F", "FEMALE": "F", "1": "F"}.get(text, None)


def build(
    examples: Iterable[Example],
    out_dir: str | os.PathLike[str],
    *,
    leads: Sequence[str] = LEADS_12,
    config: PreprocessConfig = DEFAULT_PREPROCESS,
    description: str = "",
    total: int | None = None,
    progress: bool = True,
    shard_records: int = SHARD_RECORDS,
) -> BuildResult:
    """Read, label and preprocess every example into ``out_dir`` (written under a temp name, then renamed)."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".building")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    buffer: list[np.ndarray] = []
    shards: list[dict[str, Any]] = []
    ys, masks, rows, skipped = [], [], [], []
    sources: dict[str, int] = {}

    def flush() -> None:
        if buffer:
            name = f"signals-{len(shards):05d}.npy"
            np.save(tmp / name, np.stack(buffer).astype(np.float16))
            shards.append({"file": name, "n": len(buffer)})
            buffer.clear()

    bar = tqdm(examples, total=total, desc=f"building {out_dir.name}", unit="rec", disable=not progress)
    for ex in bar:
        try:
            record = ex.load()
            if ex.y is None:
                y, mask = ex.label(record)  # type: ignore[misc]
            else:
                y, mask = ex.y, ex.mask
            x = preprocess(record, leads=leads, config=config, n_threads=1)
            if not np.isfinite(x).all():
                raise ValueError("preprocessed signal is not finite")
        except Exception as error:  # noqa: BLE001 - a bad record is skipped, never fatal
            skipped.append({"record_id": ex.record_id, "source": ex.source, "path": ex.path,
                            "error": f"{type(error).__name__}: {error}"[:300]})
            bar.set_postfix(skipped=len(skipped))
            continue
        buffer.append(x.astype(np.float16))
        ys.append(np.asarray(y, dtype=np.uint8))
        masks.append(np.asarray(mask, dtype=bool))
        age = ex.age if ex.age is not None else record.age
        rows.append({"record_id": ex.record_id, "source": ex.source, "patient_id": ex.patient_id or
                     f"{ex.source}:{ex.record_id}", "fold": ex.fold if ex.fold is not None else -1,
                     "split": ex.split, "age": age, "sex": _sex(ex.sex if ex.sex is not None else record.sex),
                     "path": ex.path})
        sources[ex.source] = sources.get(ex.source, 0) + 1
        if len(buffer) >= shard_records:
            flush()
    flush()
    n = len(rows)
    labels = np.stack(ys) if ys else np.zeros((0, N_ECGFOUNDER_LABELS), np.uint8)
    mask = np.stack(masks) if masks else np.zeros((0, N_ECGFOUNDER_LABELS), bool)
    np.save(tmp / "labels.npy", labels)
    np.save(tmp / "mask.npy", mask)
    pd.DataFrame(rows, columns=META_COLUMNS).to_csv(tmp / "meta.csv", index=False)
    names = ecgfounder_labels()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "description": description,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "n_records": n, "sources": sources,
        "leads": list(leads), "n_samples": config.n_samples, "dtype": "float16",
        "preprocessing": config.to_dict(), "labels": list(names), "shards": shards,
        "positives": {names[i]: int(c) for i, c in enumerate((labels * mask).sum(0)) if c},
        "known": {names[i]: int(c) for i, c in enumerate(mask.sum(0)) if c},
        "n_skipped": len(skipped), "skipped": skipped,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    if skipped:
        logger.warning("%s: %d records written, %d skipped (listed in manifest.json)", out_dir, n, len(skipped))
    return BuildResult(out_dir, n, skipped)


class TrainingSet:
    """A built dataset folder, memory-mapped: ``signals(idx)`` float32, ``labels``, ``mask``, ``meta``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        try:
            self.manifest = json.loads((self.path / "manifest.json").read_text())
        except (OSError, ValueError) as error:
            raise FileNotFoundError(f"{self.path} is not a built training set (no readable manifest.json): "
                                    f"run `python -m train build-dataset` first") from error
        if self.manifest.get("format") != FORMAT or self.manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{self.path}: unsupported training-set format {self.manifest.get('format')!r}")
        self._shards = [np.load(self.path / s["file"], mmap_mode="r") for s in self.manifest["shards"]]
        self._starts = np.cumsum([0] + [s["n"] for s in self.manifest["shards"]])
        self.labels = np.load(self.path / "labels.npy")
        self.mask = np.load(self.path / "mask.npy")
        self.meta = pd.read_csv(self.path / "meta.csv", dtype={"record_id": str, "patient_id": str, "sex": str})
        self.label_names: tuple[str, ...] = tuple(self.manifest["labels"])

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def n_leads(self) -> int:
        return len(self.manifest["leads"])

    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig.from_dict(self.manifest["preprocessing"])

    def signals(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 ``(len(idx), leads, samples)`` for the given record indices."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), self.n_leads, self.manifest["n_samples"]), np.float32)
        shard_of = np.searchsorted(self._starts, idx, side="right") - 1
        for s in np.unique(shard_of):
            sel = np.nonzero(shard_of == s)[0]
            out[sel] = self._shards[s][idx[sel] - self._starts[s]]
        return out

    def training_signals(self, idx: Sequence[int] | np.ndarray, generator: torch.Generator) -> np.ndarray:
        """What a training step sees before batch augmentation (views such as
        :class:`train.data.single_lead.SingleLeadSet` transform it; here it is :meth:`signals`)."""
        return self.signals(idx)

    def indices(self, *, split: str | Sequence[str] | None = None, folds: Sequence[int] | None = None,
                sources: Sequence[str] | None = None) -> np.ndarray:
        """Record indices matching a split name(s), PTB-XL-style fold numbers and/or sources."""
        keep = np.ones(len(self), bool)
        if split is not None:
            keep &= self.meta["split"].isin([split] if isinstance(split, str) else list(split)).to_numpy()
        if folds is not None:
            keep &= self.meta["fold"].isin(list(folds)).to_numpy()
        if sources is not None:
            keep &= self.meta["source"].isin(list(sources)).to_numpy()
        return np.nonzero(keep)[0]

    def label_columns(self, names: Sequence[str]) -> np.ndarray:
        lookup = {n: i for i, n in enumerate(self.label_names)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise KeyError(f"labels not in this training set's vocabulary: {missing[:5]}")
        return np.array([lookup[n] for n in names], dtype=np.int64)

    def with_labels(self, labels: np.ndarray, mask: np.ndarray | None = None) -> "TrainingSet":
        """The same signals and metadata with other targets (e.g. positives hidden for an experiment)."""
        if labels.shape != self.labels.shape or (mask is not None and mask.shape != self.mask.shape):
            raise ValueError(f"labels must have shape {self.labels.shape}")
        other = copy.copy(self)
        other.labels = labels
        other.mask = self.mask if mask is None else mask
        return other

    def positives(self, idx: np.ndarray | None = None) -> dict[str, int]:
        idx = np.arange(len(self)) if idx is None else idx
        counts = (self.labels[idx].astype(np.int64) * self.mask[idx]).sum(0)
        return {self.label_names[i]: int(c) for i, c in enumerate(counts)}
