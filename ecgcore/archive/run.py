"""An archive run: score (or embed) every file once, writing as it goes, resumable, in one or many processes.

:func:`run_archive` puts the pieces together: the files already in the output with the same
content hash are skipped (:func:`pending_files`), this process takes its shard
(:mod:`ecgcore.archive.distributed`), DataLoader workers read, hash and preprocess while the model
runs (:mod:`ecgcore.batch`), each batch's rows go to this process's part files
(:mod:`ecgcore.archive.store`), and rank 0 merges everything into the output at the end. A file
that cannot be read or scored becomes a row with its error, never the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ecgcore.archive.distributed import ProcessGroup, Ranks, ranks_from_env, shard
from ecgcore.archive.embeddings import COMBINE, bundle_networks, feature_dim, pooled_features
from ecgcore.archive.hashing import content_sha256
from ecgcore.archive.schema import ArchiveLayout, labelled_probabilities, prediction_row
from ecgcore.archive.store import (
    DEFAULT_ROWS_PER_GROUP,
    DoneFile,
    MergeResult,
    PartWriter,
    check_compatible,
    done_files,
    merge_parts,
)
from ecgcore.batch import PreparedItem, Preparer, file_error_message, iterate_batches, progress_bar, scoring_preparer

if TYPE_CHECKING:
    from ecgcore.predict import Predictor


@dataclass(frozen=True)
class HashingPreparer:
    """A worker's job for an archive run: the file's content hash, then what ``preparer`` makes of it."""

    preparer: Preparer

    def __call__(self, path: Path) -> tuple[str | None, PreparedItem]:
        try:
            sha = content_sha256(path)
        except OSError as exc:
            return None, PreparedItem(path, path.stem, error=file_error_message(exc))
        return sha, self.preparer(path)


def pending_files(files: Sequence[Path], done: dict[str, DoneFile], *, retry_failed: bool = False,
                  progress: bool = False) -> list[Path]:
    """The files still to do: not in ``done``, changed since (another content hash), or failed with ``retry_failed``."""
    pending = []
    checked = [f for f in files if str(f) in done]
    bar = progress_bar(len(checked), enabled=progress and bool(checked), desc="Checking done files")
    for path in files:
        entry = done.get(str(path))
        if entry is None or retry_failed and entry.failed:
            pending.append(path)
            continue
        try:
            unchanged = content_sha256(path) == entry.content_sha256
        except OSError:
            unchanged = entry.content_sha256 is None  # still unreadable: its error row stands
        bar.update(1)
        if not unchanged:
            pending.append(path)
    bar.close()
    return pending


def failure_reason(error: str, path: Path) -> str:
    """An error message without what differs from file to file (its name, numbers), to count failures by reason."""
    text = error.replace(str(path), "<file>").replace(path.name, "<file>").replace(path.stem, "<file>")
    return re.sub(r"\d+(\.\d+)?", "#", text)[:200]


@dataclass
class RunSummary:
    """What a run did (one rank's, or all ranks' added up with :meth:`combine`)."""

    n_files: int = 0         # files this run was given (this rank's share)
    n_skipped: int = 0       # already in the output with the same content hash
    n_processed: int = 0     # scored or embedded in this run, failures included
    n_failed: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0     # from the first batch's request to the last row written (start-up excluded)
    n_ranks: int = 1

    @property
    def records_per_s(self) -> float:
        return self.n_processed / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def combine(cls, summaries: Sequence[dict[str, Any]]) -> RunSummary:
        reasons: Counter[str] = Counter()
        for s in summaries:
            reasons.update(s["failures_by_reason"])
        return cls(
            n_files=sum(s["n_files"] for s in summaries), n_skipped=sum(s["n_skipped"] for s in summaries),
            n_processed=sum(s["n_processed"] for s in summaries), n_failed=sum(s["n_failed"] for s in summaries),
            failures_by_reason=dict(reasons.most_common()), seconds=max(s["seconds"] for s in summaries),
            n_ranks=len(summaries),
        )

    def lines(self, verb: str) -> list[str]:
        out = [f"{verb} {self.n_processed - self.n_failed} of {self.n_processed} file(s) in this run, {self.n_failed} "
               f"failed; {self.n_skipped} of {self.n_files} already done (skipped); {self.seconds:.1f} s, "
               f"{self.records_per_s:.1f} records/s" + (f" over {self.n_ranks} processes" if self.n_ranks > 1 else "")]
        out += [f"  failed x{count}: {reason}" for reason, count in self.failures_by_reason.items()]
        return out


@dataclass(frozen=True)
class ArchiveResult:
    summary: RunSummary          # all ranks'
    merged: MergeResult | None   # on rank 0, when it merged


def prediction_layout(predictor: Predictor, *, measure: bool = False, assess: bool = False,
                      include_untrained: bool = False) -> ArchiveLayout:
    card = predictor.card
    return ArchiveLayout(labels=tuple(predictor.labels), model=card.name, model_version=str(card.version),
                         thresholds=tuple(float(t) for t in predictor.thresholds), measure=measure, assess=assess,
                         extra={"trained_labels": list(card.trained_labels), "include_untrained": include_untrained})


def embedding_layout(predictor: Predictor) -> ArchiveLayout:
    card = predictor.card
    return ArchiveLayout(labels=(), model=card.name, model_version=str(card.version), kind="embeddings",
                         feature_dim=feature_dim(predictor),
                         extra={"n_networks": len(bundle_networks(predictor)), "combine": COMBINE,
                                "features": "forward_features averaged over time (the head's input)"})


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward when asked: float16 on CUDA, bfloat16 on the CPU."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)


def to_device(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """One batch on the model's device; through pinned memory (an asynchronous copy) on CUDA."""
    x = torch.from_numpy(np.stack(arrays))
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x


class _PredictionRows:
    """Turns a batch of prepared items into rows of probabilities (each model scores the items routed to it)."""

    def __init__(self, layout: ArchiveLayout, predictor: Predictor, single_lead: Predictor | None,
                 include_untrained: bool, amp: bool):
        self.layout, self.amp, self.include_untrained = layout, amp, include_untrained
        self.models = [(predictor, False)] + ([(single_lead, True)] if single_lead is not None else [])

    def rows(self, batch: list[tuple[str | None, PreparedItem]]) -> list[dict[str, Any]]:
        scored: dict[int, tuple[Predictor, np.ndarray]] = {}
        for model, routed in self.models:
            good = [item for _, item in batch if item.array is not None and item.single_lead == routed]
            if good:
                with autocast(model.device, self.amp):
                    probabilities = model.probabilities(to_device([g.array for g in good], model.device))
                scored.update({id(g): (model, p) for g, p in zip(good, probabilities)})
        rows = []
        for sha, item in batch:
            if item.array is None:
                rows.append(prediction_row(self.layout, str(item.path), sha, item))
                continue
            model, probabilities = scored[id(item)]
            prediction = model.rank(item.record_name, probabilities, include_untrained=self.include_untrained)
            keep = np.ones(len(model.labels), bool) if self.include_untrained else model.trained_mask
            rows.append(prediction_row(self.layout, str(item.path), sha, item, prediction=prediction,
                                       probabilities=labelled_probabilities(model.labels, probabilities, keep),
                                       model=(model.card.name, str(model.card.version))))
        return rows


class _EmbeddingRows:
    def __init__(self, layout: ArchiveLayout, predictor: Predictor, amp: bool):
        self.layout, self.predictor, self.amp = layout, predictor, amp

    def rows(self, batch: list[tuple[str | None, PreparedItem]]) -> list[dict[str, Any]]:
        good = [item for _, item in batch if item.array is not None]
        features: dict[int, np.ndarray] = {}
        if good:
            with autocast(self.predictor.device, self.amp):
                vectors = pooled_features(self.predictor, to_device([g.array for g in good], self.predictor.device))
            features = {id(g): v for g, v in zip(good, vectors.numpy())}
        card = self.predictor.card
        rows = []
        for sha, item in batch:
            row: dict[str, Any] = {"path": str(item.path), "content_sha256": sha, "error": item.error}
            if id(item) in features:
                row.update(record_id=item.record_name, model=card.name, model_version=str(card.version),
                           embedding=features[id(item)].tolist())
            rows.append(row)
        return rows


def archive_workers(ranks: Ranks, environ: dict[str, str] | None = None) -> int:
    """Reader processes per rank: as ``ecg predict`` (cores - 1), the cores split between the ranks on a machine.

    One reader per core was measured no faster on 2 cores (bench/README.md, archive runs: 26.7
    against 26.9 s wall for 320 files with the official network, 7.5 against 7.6 s with the
    default model; slower for the official network in an earlier run), so the main process keeps a
    core for the forward. Under
    torchrun each rank gets its share of the machine (``LOCAL_WORLD_SIZE``), at least one reader.
    """
    env = os.environ if environ is None else environ
    on_this_machine = int(env.get("LOCAL_WORLD_SIZE", 1)) if ranks.distributed else 1
    return max(1, (os.cpu_count() or 1) // max(1, on_this_machine) - 1)


def run_archive(predictor: Predictor, files: Sequence[Path], output: str | Path, *, embed: bool = False,
                single_lead: Predictor | None = None, measure: bool = False, assess: bool = False,
                include_untrained: bool = False, batch_size: int = 32, num_workers: int | None = None,
                rows_per_group: int = DEFAULT_ROWS_PER_GROUP, amp: bool = False, retry_failed: bool = False,
                progress: bool = False, ranks: Ranks | None = None, merge: bool = True) -> ArchiveResult:
    """Score (``embed=False``) or embed ``files`` into the Parquet file ``output``; see the module docstring.

    ``files`` must be the same sorted list on every rank (:func:`ecgcore.batch.discover_ecg_files`
    gives it). ``ranks`` defaults to the environment (torchrun's ``RANK``/``WORLD_SIZE``).
    """
    output = Path(output)
    ranks = ranks_from_env() if ranks is None else ranks
    if embed:
        layout = embedding_layout(predictor)
        preparer = scoring_preparer(predictor)
        make_rows = _EmbeddingRows(layout, predictor, amp).rows
    else:
        layout = prediction_layout(predictor, measure=measure, assess=assess, include_untrained=include_untrained)
        preparer = scoring_preparer(predictor, single_lead=single_lead, measure=measure, assess=assess)
        make_rows = _PredictionRows(layout, predictor, single_lead, include_untrained, amp).rows
    output.parent.mkdir(parents=True, exist_ok=True)
    check_compatible(output, layout)
    show = progress and ranks.is_main
    with ProcessGroup(ranks) as group:
        mine = shard(list(files), ranks)
        todo = pending_files(mine, done_files(output), retry_failed=retry_failed, progress=show)
        summary = RunSummary(n_files=len(mine), n_skipped=len(mine) - len(todo))
        if todo:
            # Plan layouts before the reader processes start: measured on a quiet CPU, not against them.
            predictor.inference_model(min(batch_size, len(todo)))
        writer = PartWriter(output, layout, rank=ranks.rank, rows_per_group=rows_per_group)
        reasons: Counter[str] = Counter()
        bar = progress_bar(len(todo), enabled=show, desc="Embedding" if embed else "Scoring")
        started = time.perf_counter()
        try:
            workers = archive_workers(ranks) if num_workers is None else num_workers
            for batch in iterate_batches(todo, HashingPreparer(preparer), batch_size=batch_size, num_workers=workers):
                for row, (_, item) in zip(make_rows(batch), batch):
                    writer.add(row)
                    if row["error"] is not None:
                        reasons[failure_reason(row["error"], item.path)] += 1
                summary.n_processed += len(batch)
                bar.update(len(batch))
            writer.close()
        finally:
            bar.close()
        summary.seconds = time.perf_counter() - started
        summary.n_failed = sum(reasons.values())
        summary.failures_by_reason = dict(reasons.most_common())
        everyone = RunSummary.combine(group.gather(asdict(summary)))
        merged = merge_parts(output, layout) if merge and ranks.is_main else None
        group.barrier()  # the others leave once the output is whole
    return ArchiveResult(everyone, merged)
