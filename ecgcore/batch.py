"""Folders of ECGs: find the record files, read, preprocess and measure them in worker processes.

What ``ecg predict`` and ``ecg measure`` share: :func:`discover_ecg_files` expands files and
folders, a :class:`Preparer` turns one file into a :class:`PreparedItem` (the model input, the
measurements, or both) and :func:`iterate_batches` runs it over many files in DataLoader workers,
in file order. For scoring, the model's matrix work runs in the main process while the workers
read and preprocess the next batches, so file I/O and filtering overlap with inference. A file
that fails carries its error message through the pipeline instead of raising, so one bad file
never stops a long run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecgcore.errors import ECGError
from ecgcore.io.formats import is_ecg_file
from ecgcore.preprocessing import PreprocessConfig, preprocess, window_bounds
from ecgcore.routing import SINGLE_LEAD, model_lead_count

if TYPE_CHECKING:
    from ecgcore.assessment import Assessment
    from ecgcore.measurements import Measurements, Statement
    from ecgcore.predict import Predictor

FILE_ERRORS: tuple[type[BaseException], ...] = (ECGError, OSError, ValueError, MemoryError)
"""What reading, preprocessing or measuring one file may raise; it fails that file, not the run."""


def file_error_message(exc: BaseException) -> str:
    """A failed file's message: ours as written, anything else a broken file provoked with its type."""
    return str(exc) if isinstance(exc, ECGError) else f"{type(exc).__name__}: {exc}"


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
    measurements: Measurements | None = None  # with Preparer(measure=True)
    statements: tuple[Statement, ...] | None = None  # the measurement-based statements, with measurements
    assessment: Assessment | None = None  # with Preparer(assess=True): ecgcore.assess(record)


@dataclass(frozen=True)
class Preparer:
    """What a worker needs to turn a file into a model input and/or measurements: picklable, no weights.

    With ``single_lead`` (that model's input leads and preprocessing), the records
    :func:`ecgcore.routing.model_lead_count` sends to the single-lead model (one lead) are
    prepared for it instead. With ``measure``, :func:`ecgcore.measure` runs on the record too: on
    the stretch the model input is cut from, or from ``start_s`` when there is no model input
    (``input_leads=None``, as ``ecg measure`` uses it); its measurement-based statements
    (:func:`ecgcore.measurements.statements`) use the record's sex and age when the file gives them.
    With ``assess``, :func:`ecgcore.assess` runs on the record (``ecg assess``).
    """

    input_leads: tuple[str, ...] | None
    config: PreprocessConfig | None = None
    single_lead: tuple[tuple[str, ...], PreprocessConfig] | None = None
    measure: bool = False
    start_s: float | None = None
    assess: bool = False

    def __call__(self, path: Path) -> PreparedItem:
        from ecgcore.io import read  # imported in the worker

        try:
            record = read(path)
            item = PreparedItem(path, record.record_name)
            start_s = self.start_s
            if self.input_leads is not None:
                leads, config = self.input_leads, self.config
                if self.single_lead is not None and model_lead_count(record) == SINGLE_LEAD:
                    (leads, config), item.single_lead = self.single_lead, True
                item.array = preprocess(record, leads=leads, config=config)
                start_s = window_bounds(record.n_samples, record.fs, config)[0] / record.fs  # what the model saw
            if self.measure:
                from ecgcore.measurements import measure, statements

                item.measurements = measure(record, start_s=start_s)
                item.statements = tuple(statements(item.measurements, sex=record.sex, age=record.age))
            if self.assess:
                from ecgcore.assessment import assess

                item.assessment = assess(record)
            return item
        except FILE_ERRORS as exc:  # anything a broken file can provoke
            return PreparedItem(path, path.stem, error=file_error_message(exc))


class _FileDataset:
    """Map-style dataset for DataLoader: item ``i`` is what the preparer makes of file ``i``."""

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


def iterate_batches(files: list[Path], preparer: Preparer, *, batch_size: int = 32,
                    num_workers: int | None = None) -> Iterator[list[PreparedItem]]:
    """``preparer`` over ``files`` in DataLoader worker processes: batches of items in file order.

    ``num_workers=0`` works in the main process (without loading torch); ``None`` is
    :func:`default_num_workers`. Each worker keeps up to four batches ready ahead of the consumer,
    so a slow consumer never holds thousands of prepared records in memory.
    """
    if not files:
        return
    workers = default_num_workers() if num_workers is None else num_workers
    if workers == 0:
        for lo in range(0, len(files), batch_size):
            yield [preparer(path) for path in files[lo: lo + batch_size]]
        return
    from torch.utils.data import DataLoader  # only for worker processes: reading alone does not need torch

    yield from DataLoader(
        _FileDataset(files, preparer),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_keep_list,
        prefetch_factor=4,
        persistent_workers=False,
    )


def iterate_prepared_batches(
    predictor: "Predictor", files: list[Path], *, batch_size: int = 32, num_workers: int | None = None,
    single_lead: "Predictor | None" = None, measure: bool = False,
) -> Iterator[list[PreparedItem]]:
    """Batches of model inputs in file order; ``num_workers=0`` reads in the main process.

    ``single_lead`` takes the one-lead records when ``predictor`` is a 12-lead-slot model; a
    single-lead ``predictor`` keeps them. With ``measure``, each item carries the record's
    measurements on the window the model scores.
    """
    preparer = scoring_preparer(predictor, single_lead=single_lead, measure=measure)
    yield from iterate_batches(files, preparer, batch_size=batch_size, num_workers=num_workers)


def scoring_preparer(predictor: Predictor, *, single_lead: Predictor | None = None, measure: bool = False,
                     assess: bool = False) -> Preparer:
    """The :class:`Preparer` of a scoring run: ``predictor``'s input, one-lead records routed to ``single_lead``
    when ``predictor`` is a 12-lead-slot model."""
    routed = None
    if single_lead is not None and model_lead_count(len(predictor.input_leads)) != SINGLE_LEAD:
        routed = (tuple(single_lead.input_leads), single_lead.preprocess_config)
    return Preparer(tuple(predictor.input_leads), predictor.preprocess_config, routed, measure=measure, assess=assess)


MIN_FILES_FOR_WORKERS = 8  # measure_files: fewer files are measured in the main process


def measure_files(paths: Iterable[str | os.PathLike[str]], *, start_s: float | None = None,
                  num_workers: int | None = None, progress: bool = False) -> Iterator[PreparedItem]:
    """:func:`ecgcore.measure` over many files in worker processes, in input order; errors never stop the run.

    Each item has ``measurements`` and ``statements`` set, or ``error`` for a file that could not be
    read or measured. Nothing runs in the main process but collecting results, so ``num_workers=None`` uses one worker
    per core, or none for fewer than ``MIN_FILES_FOR_WORKERS`` files (starting workers costs more
    than it saves there).
    """
    yield from _prepare_files(paths, Preparer(None, measure=True, start_s=start_s), num_workers=num_workers,
                              progress=progress, desc="Measuring")


def assess_files(paths: Iterable[str | os.PathLike[str]], *, num_workers: int | None = None,
                 progress: bool = False) -> Iterator[PreparedItem]:
    """:func:`ecgcore.assess` over many files as :func:`measure_files` measures them: each item has
    ``assessment`` set, or ``error``."""
    yield from _prepare_files(paths, Preparer(None, assess=True), num_workers=num_workers,
                              progress=progress, desc="Assessing")


def _prepare_files(paths: Iterable[str | os.PathLike[str]], preparer: Preparer, *, num_workers: int | None,
                   progress: bool, desc: str) -> Iterator[PreparedItem]:
    """``preparer`` over files in worker processes (none for fewer than ``MIN_FILES_FOR_WORKERS``), in input order."""
    files = [Path(p) for p in paths]
    if num_workers is None:
        num_workers = 0 if len(files) < MIN_FILES_FOR_WORKERS else os.cpu_count() or 1
    bar = progress_bar(len(files), enabled=progress, desc=desc)
    try:
        for items in iterate_batches(files, preparer, batch_size=4, num_workers=num_workers):
            yield from items
            bar.update(len(items))
    finally:
        bar.close()


def progress_bar(total: int, enabled: bool, desc: str = "Scoring"):  # a tqdm bar
    """The progress bar of folder runs (on stderr; ``enabled=False`` draws nothing)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="ECG", desc=desc, disable=not enabled, dynamic_ncols=True)
