"""Dataset adapters -> one on-disk training format (see :mod:`train.data.shards`).

``build_dataset(kind, root, out_dir)`` with ``kind`` one of ``ptbxl``, ``challenge``, ``code15``,
``review-export``, ``shared`` (the real data in ../shared/data: PTB-XL 500 Hz + CinC 2021 + CODE-15%),
``cinc2017`` (single lead, built with lead I only).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from ecgcore.leads import LEADS_12
from train.data.challenge import challenge_examples, challenge_headers
from train.data.cinc2017 import cinc2017_examples
from train.data.code15 import code15_examples
from train.data.ptbxl import ptbxl_examples
from train.data.review_export import review_export_examples
from train.data.shards import BuildResult, Example, TrainingSet, build

KINDS = ("ptbxl", "challenge", "code15", "review-export", "shared", "cinc2017")
LEADS_OF_KIND = {"cinc2017": ("I",)}  # every other kind is built as 12-lead


def shared_examples(root: str | os.PathLike[str], *, sampling_rate: int = 500) -> Iterator[Example]:
    """The labelled 12-lead data in ../shared/data (CinC 2017 is single-lead, SPH/PTB are loader samples)."""
    root = Path(root)
    return itertools.chain(
        ptbxl_examples(root / "ptbxl_subset", sampling_rate=sampling_rate),
        challenge_examples(root / "cinc2021_sample", source="cinc2021"),
        code15_examples(root / "code15_sample"),
    )


def examples_for(kind: str, root: str | os.PathLike[str], **options) -> Iterator[Example]:
    if kind == "ptbxl":
        return ptbxl_examples(root, **options)
    if kind == "challenge":
        return challenge_examples(root, **options)
    if kind == "code15":
        return code15_examples(root, **options)
    if kind == "review-export":
        return review_export_examples(root, **options)
    if kind == "shared":
        return shared_examples(root, **options)
    if kind == "cinc2017":
        return cinc2017_examples(root, **options)
    raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}")


def build_dataset(kind: str, root: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                  progress: bool = True, limit: int | None = None, **options) -> BuildResult:
    """Build (or rebuild) the training set for ``kind`` at ``root`` into ``out_dir``."""
    examples = examples_for(kind, root, **options)
    if limit is not None:
        examples = itertools.islice(examples, limit)
    return build(examples, out_dir, leads=LEADS_OF_KIND.get(kind, LEADS_12), description=f"{kind} from {root}",
                 progress=progress)


def ensure_dataset(kind: str, root: str | os.PathLike[str], out_dir: str | os.PathLike[str], **options) -> TrainingSet:
    """Open ``out_dir`` if it was built already, else build it first (built once, reused)."""
    out_dir = Path(out_dir)
    if not (out_dir / "manifest.json").is_file():
        build_dataset(kind, root, out_dir, **options)
    return TrainingSet(out_dir)


__all__ = ["BuildResult", "Example", "KINDS", "cinc2017_examples", "TrainingSet", "build", "build_dataset", "challenge_examples",
           "challenge_headers", "code15_examples", "ensure_dataset", "examples_for", "ptbxl_examples",
           "review_export_examples", "shared_examples"]
