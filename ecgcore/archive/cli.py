"""The archive commands behind ``ecgcore.cli``: ``predict -o X.parquet``, ``embed``, ``merge``.

Exit status as ``ecg predict``'s: 0 when every file was done, 1 when some failed (each is a row
with its error, and counted by reason in the summary), 2 when nothing could run (no model, no
files, bad arguments, an output written by another model). Under torchrun only rank 0 prints the
summary, which adds up every rank's, and a finished run exits 0 even with failed files: torchrun
would take status 1 for a crashed worker.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ecgcore.archive.distributed import Ranks, ranks_from_env
from ecgcore.archive.run import ArchiveResult, run_archive
from ecgcore.archive.store import DEFAULT_ROWS_PER_GROUP, ArchiveError, merge_parts
from ecgcore.errors import ECGError


def device_for(name: str, ranks: Ranks) -> torch.device:
    """``--device``: a bare ``cuda`` under torchrun means this process's GPU (``cuda:LOCAL_RANK``)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ArchiveError(f"--device must be cpu, cuda or cuda:N; got {name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ArchiveError(f"--device {name}: no CUDA device is available here; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
    return device


def _check_options(args: argparse.Namespace) -> str | None:
    if args.batch_size < 1:
        return "--batch-size must be >= 1"
    if args.workers is not None and args.workers < 0:
        return "--workers must be >= 0"
    if args.rows_per_group is not None and args.rows_per_group < 1:
        return "--rows-per-group must be >= 1"
    if not args.output.lower().endswith(".parquet"):
        return f"--output must end in .parquet; got {args.output}"
    if getattr(args, "format", "table") != "table":
        return f"--format {args.format} does not apply to a Parquet output; leave it out"
    return None


def _run(args: argparse.Namespace, *, embed: bool) -> int:
    from ecgcore.cli import _default_single_lead, _discover_files
    from ecgcore.predict import Predictor

    problem = _check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    files = _discover_files(args)
    if not files:
        return 2
    try:
        ranks = ranks_from_env()
        device = device_for(args.device, ranks)
        predictor = Predictor(args.model, device=device) if args.model else Predictor.default(device=str(device))
        single_lead = None if embed or args.model else _default_single_lead(predictor)
        if single_lead is not None and device.type != "cpu":
            single_lead = Predictor(single_lead.bundle, device=device)
        result = run_archive(
            predictor, files, args.output, embed=embed, single_lead=single_lead,
            measure=getattr(args, "measure", False), assess=getattr(args, "assess", False),
            include_untrained=getattr(args, "include_untrained", False), batch_size=args.batch_size,
            num_workers=args.workers, rows_per_group=args.rows_per_group or DEFAULT_ROWS_PER_GROUP, amp=args.amp,
            retry_failed=args.retry_failed, progress=not args.quiet and sys.stderr.isatty(), ranks=ranks,
            merge=not args.no_merge,
        )
    except ECGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if ranks.is_main:
        _print_summary(result, "embedded" if embed else "scored", predictor.name, args.output)
    # torchrun takes any non-zero status for a crashed worker (and stops the others): a finished
    # distributed run exits 0, its failures are in the summary and the ``error`` column.
    return 1 if result.summary.n_failed and not ranks.distributed else 0


def _print_summary(result: ArchiveResult, verb: str, model: str, output: str) -> None:
    for line in result.summary.lines(f"{verb} with {model}:"):
        print(line, file=sys.stderr)
    if result.merged is not None:
        m = result.merged
        print(f"wrote {m.output}: {m.n_rows} rows ({m.n_parts} new row groups merged"
              + (f", {m.n_superseded} earlier rows of rescored files replaced" if m.n_superseded else "") + ")",
              file=sys.stderr)
    else:
        print(f"parts left in {output}.parts/ (merge with: ecg merge {output})", file=sys.stderr)


def run_predict_archive(args: argparse.Namespace) -> int:
    return _run(args, embed=False)


def run_embed(args: argparse.Namespace) -> int:
    return _run(args, embed=True)


def run_merge(args: argparse.Namespace) -> int:
    try:
        m = merge_parts(args.output)
    except ECGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {m.output}: {m.n_rows} rows ({m.n_parts} parts merged"
          + (f", {m.n_superseded} superseded rows dropped" if m.n_superseded else "") + ")")
    return 0
