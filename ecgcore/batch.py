"""Scoring folders of ECGs: find the record files, read and preprocess them in worker processes.

The model's matrix work runs in the main process while DataLoader workers read and preprocess
the next batches, so file I/O and filtering overlap with inference. A file that fails carries its
error message through the pipeline instead of raising, so one bad file never stops a long run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torch.utils.data import DataLoader, Dataset

from ecgcore.errors import ECGError
from ecgcore.io.formats import is_ecg_file
from ecgcore.preprocessing import PreprocessConfig, preprocess
from ecgcore.routing import SINGLE_LEAD, model_lead_count

if TYPE_CHECKING:
    from ecgcore.predict import Predictor


def discover_ecg_files(paths: Iterable[str | os.PathLike[str]], recursive: bool = True) -> list[Path]:
    """Expand files and folders into record files, sorted within each folder.

    In folders, a record is listed once under its entry file, as the format table says
    (:func:`ecgcore.io.formats.is_ecg_file`): a ``.hea`` and not its ``.dat``/``.mat``, every suffix
    ``read()`` accepts as a record of its own. Explicitly named files are kept whatever their
    suffix, so the reader can give its own clear error for unsupported ones.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(sorted(p for p in path.glob(pattern) if p.is_file() and is_ecg_file(p)))
        else:
            found.append(path)
    return found


@dataclass
class PreparedItem:
    path: Path
    record_name: str
    array: np.ndarray | None = None
    error: str | None = None
    single_lead: bool = False   # prepared for the single-lead model


@dataclass(frozen=True)
class Preparer:
    """What a worker needs to turn a file into a model input: picklable, no model weights.

    With ``single_lead`` (that model's input leads and preprocessing), the records
    :func:`ecgcore.routing.model_lead_count` sends to the single-lead model (one lead) are
    prepared for it instead.
    """

    input_leads: tuple[str, ...]
    config: PreprocessConfig
    single_lead: tuple[tuple[str, ...], PreprocessConfig] | None = None

    def __call__(self, path: Path) -> PreparedItem:
        from ecgcore.io import read  # imported in the worker

        record_name = path.stem
        try:
            record = read(path)
            if self.single_lead is not None and model_lead_count(record) == SINGLE_LEAD:
                leads, config = self.single_lead
                return PreparedItem(path, record.record_name, preprocess(record, leads=leads, config=config),
                                    single_lead=True)
            return PreparedItem(path, record.record_name, preprocess(record, leads=self.input_leads, config=self.config))
        except ECGError as exc:
            return PreparedItem(path, record_name, error=str(exc))
        except (OSError, ValueError, MemoryError) as exc:  # anything a broken file can still provoke
            return PreparedItem(path, record_name, error=f"{type(exc).__name__}: {exc}")


class _FileDataset(Dataset):
    def __init__(self, files: list[Path], preparer: Preparer):
        self.files = files
        self.preparer = preparer

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> PreparedItem:
        return self.preparer(self.files[index])


def _keep_list(items: list[PreparedItem]) -> list[PreparedItem]:
    return items


def default_num_workers() -> int:
    """One reader per spare core, at least one so reading overlaps with the model."""
    return max(1, (os.cpu_count() or 2) - 1)


def iterate_prepared_batches(
    predictor: "Predictor", files: list[Path], *, batch_size: int = 32, num_workers: int | None = None,
    single_lead: "Predictor | None" = None,
) -> Iterator[list[PreparedItem]]:
    """Batches of prepared items in file order; ``num_workers=0`` reads in the main process.

    ``single_lead`` takes the one-lead records when ``predictor`` is a 12-lead-slot model; a
    single-lead ``predictor`` keeps them.
    """
    if not files:
        return
    workers = default_num_workers() if num_workers is None else num_workers
    routed = None
    if single_lead is not None and model_lead_count(len(predictor.input_leads)) != SINGLE_LEAD:
        routed = (tuple(single_lead.input_leads), single_lead.preprocess_config)
    loader = DataLoader(
        _FileDataset(files, Preparer(predictor.input_leads, predictor.preprocess_config, routed)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_keep_list,
        prefetch_factor=4 if workers > 0 else None,
        persistent_workers=False,
    )
    yield from loader
