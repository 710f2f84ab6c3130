"""Several built training sets as one (e.g. reviewed records + the shipped model's training data).

The fit loop reads one :class:`~train.data.shards.TrainingSet`; mixing sets means writing one
folder of the same format. Only sets built with the same leads, window and preprocessing can be
mixed: anything else would feed the network inputs it was not made for.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from train.data.shards import FORMAT, FORMAT_VERSION, SHARD_RECORDS, TrainingSet


def _compatible(sets: Sequence[TrainingSet]) -> None:
    first = sets[0]
    for other in sets[1:]:
        for key in ("leads", "n_samples", "preprocessing", "labels"):
            if first.manifest[key] != other.manifest[key]:
                raise ValueError(f"training sets {first.path} and {other.path} differ in {key!r}; only sets built "
                                 "with the same leads, window, preprocessing and label vocabulary can be combined")


def concatenate(sets: Sequence[TrainingSet], out_dir: str | os.PathLike[str], *, description: str = "",
                shard_records: int = SHARD_RECORDS) -> TrainingSet:
    """Write ``sets`` one after the other into ``out_dir`` (records in order: set 0's, then set 1's ...)."""
    if not sets:
        raise ValueError("concatenate needs at least one training set")
    _compatible(sets)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shards = []
    for ts in sets:
        for start in range(0, len(ts), shard_records):
            idx = np.arange(start, min(start + shard_records, len(ts)))
            name = f"signals-{len(shards):05d}.npy"
            np.save(tmp / name, ts.signals(idx).astype(np.float16))
            shards.append({"file": name, "n": len(idx)})
    labels = np.concatenate([ts.labels for ts in sets])
    mask = np.concatenate([ts.mask for ts in sets])
    np.save(tmp / "labels.npy", labels)
    np.save(tmp / "mask.npy", mask)
    pd.concat([ts.meta for ts in sets], ignore_index=True).to_csv(tmp / "meta.csv", index=False)
    sources: dict[str, int] = {}
    for ts in sets:
        for source, n in ts.manifest.get("sources", {}).items():
            sources[source] = sources.get(source, 0) + int(n)
    names = list(sets[0].manifest["labels"])
    manifest = {**{k: sets[0].manifest[k] for k in ("leads", "n_samples", "dtype", "preprocessing", "labels")},
                "format": FORMAT, "format_version": FORMAT_VERSION,
                "description": description or " + ".join(str(ts.manifest.get("description", ts.path)) for ts in sets),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "n_records": len(labels), "sources": sources,
                "shards": shards, "combined_from": [str(ts.path) for ts in sets],
                "positives": {names[i]: int(c) for i, c in enumerate((labels * mask).sum(0)) if c},
                "known": {names[i]: int(c) for i, c in enumerate(mask.sum(0)) if c},
                "n_skipped": 0, "skipped": []}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return TrainingSet(out_dir)
