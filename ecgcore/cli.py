"""Command line: ``python -m ecgcore predict FILES_OR_DIRS [--model PATH] [--top N] [--format ...]``
and ``python -m ecgcore explain FILE --label "ATRIAL FIBRILLATION" --method ig --out fig.png|attr.npy``.

Exit status: 0 when every file was scored, 1 when some files failed (each is reported on stderr
and the others are still scored), 2 when nothing could run (no model, no files, bad arguments).

Output columns: the CSV column and the JSON key ``record_id`` hold the recording's *name* (the
string ``Record.record_name`` / ``Prediction.record_name``, e.g. ``00001_hr``), not a review-store
integer id. The name ``record_id`` is kept there so that existing consumers of the output keep working.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from ecgcore.errors import ECGError
from ecgcore.predict import FileResult


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ecgcore", description="ECGFounder-compatible ECG model tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="rank diagnoses for ECG files or folders of them")
    predict.add_argument("paths", nargs="+", help="ECG files (WFDB .hea, .zip, CSV, NumPy, EDF, ...) or folders")
    predict.add_argument("--model", help="bundle directory or official ECGFounder .pth (default: installed default)")
    predict.add_argument("--top", type=int, default=5, help="findings per record (default 5; 0 = all)")
    predict.add_argument("--format", choices=("table", "csv", "json"), default="table")
    predict.add_argument("--output", "-o", help="write results to this file instead of stdout")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--workers", type=int, default=None, help="reader processes (default: cores - 1)")
    predict.add_argument("--include-untrained", action="store_true", help="also list labels the model was not trained on")
    predict.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    predict.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_explain_parser(commands)
    return parser


def _add_explain_parser(commands: argparse._SubParsersAction) -> None:
    from ecgcore.explain import BASELINES, DEFAULT_METHOD, METHODS

    explain = commands.add_parser("explain", help="attribute one finding of one ECG to its leads and time")
    explain.add_argument("path", help="one ECG file (WFDB .hea, .zip, CSV, NumPy, EDF, ...)")
    explain.add_argument("--label", help="finding to explain, as the model names it (default: the top-ranked one)")
    explain.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    explain.add_argument("--baseline", choices=BASELINES, default="zero", help="reference signal for ig/occlusion")
    explain.add_argument("--model", help="bundle directory or official ECGFounder .pth (default: installed default)")
    explain.add_argument("--start-s", type=float, default=None, help="start of the 10-s window in long records")
    explain.add_argument("--out", "-o", help="write a figure (.png, .pdf, .svg) or the attribution array (.npy)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "predict":
        return run_predict(args)
    if args.command == "explain":
        return run_explain(args)
    return 2  # pragma: no cover - argparse enforces a command


def run_predict(args: argparse.Namespace) -> int:
    from ecgcore.batch import discover_ecg_files
    from ecgcore.predict import Predictor

    if args.top < 0 or args.batch_size < 1:
        print("error: --top must be >= 0 and --batch-size >= 1", file=sys.stderr)
        return 2
    files = discover_ecg_files(args.paths, recursive=not args.no_recursive)
    if not files:
        print(f"error: no ECG files found in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(args.model) if args.model else Predictor.default()
    except ECGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    single_lead = _default_single_lead(predictor) if not args.model else None

    results = predictor.predict_files(
        files,
        batch_size=args.batch_size,
        num_workers=args.workers,
        include_untrained=args.include_untrained,
        progress=not args.quiet and sys.stderr.isatty(),
        single_lead=single_lead,
    )
    out: TextIO = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    n_failed = 0
    started = time.perf_counter()
    try:
        writer = _WRITERS[args.format](out, args.top)
        for result in results:
            if result.error is not None:
                n_failed += 1
                print(f"error: {result.path}: {result.error}", file=sys.stderr)
            writer.write(result)
        writer.close()
    finally:
        if out is not sys.stdout:
            out.close()
    n_ok = len(files) - n_failed
    seconds = time.perf_counter() - started
    models = predictor.name + (f" (one-lead records: {single_lead.name})" if single_lead is not None else "")
    print(
        f"scored {n_ok} of {len(files)} file(s) with {models}; {n_failed} failed; "
        f"{seconds:.1f} s, {len(files) / max(seconds, 1e-9):.1f} records/s",
        file=sys.stderr,
    )
    return 1 if n_failed else 0


def _default_single_lead(predictor):  # noqa: ANN001, ANN202 - Predictor, imported lazily
    """The installed single-lead default for one-lead files, when the main model is a 12-lead-slot one.

    None without one: one-lead files then go to the main model, which refuses them by name.
    """
    from ecgcore.errors import NoDefaultModelError
    from ecgcore.predict import Predictor
    from ecgcore.routing import SINGLE_LEAD, model_lead_count

    if model_lead_count(len(predictor.input_leads)) == SINGLE_LEAD:
        return None
    try:
        return Predictor.default(SINGLE_LEAD)
    except NoDefaultModelError:
        return None


EXPLAIN_FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def run_explain(args: argparse.Namespace) -> int:
    """Explain one finding of one file; summary on stdout, figure or array to ``--out``. Errors exit 2."""
    from pathlib import Path

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (*EXPLAIN_FIGURE_SUFFIXES, ".npy"):
        print(f"error: --out must end in {', '.join(EXPLAIN_FIGURE_SUFFIXES)} or .npy; got {out.name}", file=sys.stderr)
        return 2
    try:
        explanation = _explain_file(args)
    except ECGError as exc:
        print(f"error: {args.path}: {exc}", file=sys.stderr)
        return 2
    if out is not None:
        _write_explanation(explanation, out)
    print(_explanation_summary(explanation, out))
    return 0


def _explain_file(args: argparse.Namespace):
    from ecgcore.explain import explain
    from ecgcore.io import read
    from ecgcore.predict import Predictor

    record = read(args.path)
    predictor = Predictor(args.model) if args.model else Predictor.default(record)  # a one-lead file: single-lead model
    label = args.label or predictor.predict(record, start_s=args.start_s).findings[0].label
    return explain(predictor, record, label, args.method, start_s=args.start_s, baseline=args.baseline)


def _write_explanation(explanation, out) -> None:
    import numpy as np

    from ecgcore.explain_display import plot_explanation

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, explanation.attribution)
    else:
        plot_explanation(explanation, out)


def _explanation_summary(exp, out) -> str:
    lines = [
        f"{exp.record_name}: {exp.label}  p={exp.probability:.3f}  method={exp.method}  ({exp.seconds:.2f} s)",
        f"  leads: {', '.join(f'{lead} {exp.per_lead[lead]:.0%}' for lead in exp.top_leads(3)) or 'all leads (no lead resolution)'}",
        f"  segments: {'; '.join(exp.describe()) or 'none'}",
    ]
    if not exp.trained:
        lines.append("  warning: the model was not trained on this label")
    if out is not None:
        lines.append(f"  wrote {out}")
    return "\n".join(lines)


class _TableWriter:
    def __init__(self, out: TextIO, top: int):
        self.out, self.top = out, top

    def write(self, result: FileResult) -> None:
        if result.prediction is None:
            self.out.write(f"{result.path}\n  ERROR  {result.error}\n\n")
            return
        findings = result.prediction.findings[: self.top or None]
        self.out.write(f"{result.path}  [{result.prediction.record_name}]\n")
        width = max((len(f.label) for f in findings), default=10)
        for f in findings:
            mark = "POSITIVE" if f.positive else ""
            self.out.write(f"  {f.label:<{width}}  p={f.probability:6.3f}  thr={f.threshold:5.3f}  {mark}\n")
        self.out.write("\n")

    def close(self) -> None:
        self.out.flush()


class _CsvWriter:
    FIELDS = ("path", "record_id", "rank", "label", "probability", "threshold", "positive", "error")

    def __init__(self, out: TextIO, top: int):
        self.top = top
        self.out = out
        self.writer = csv.writer(out)
        self.writer.writerow(self.FIELDS)

    def write(self, result: FileResult) -> None:
        if result.prediction is None:
            self.writer.writerow([result.path, "", "", "", "", "", "", result.error])
            return
        for rank, f in enumerate(result.prediction.findings[: self.top or None], start=1):
            self.writer.writerow(
                [result.path, result.prediction.record_name, rank, f.label, f"{f.probability:.6f}", f"{f.threshold:.6f}", int(f.positive), ""]
            )

    def close(self) -> None:
        self.out.flush()


class _JsonWriter:
    """A JSON array written incrementally, so thousands of records never sit in memory at once."""

    def __init__(self, out: TextIO, top: int):
        self.out, self.top, self.first = out, top, True
        self.out.write("[\n")

    def write(self, result: FileResult) -> None:
        item: dict = {"path": str(result.path)}
        if result.prediction is None:
            item["error"] = result.error
        else:
            data = result.prediction.to_dict()
            item["record_id"] = data.pop("record_name")  # the output key stays "record_id" (see the module docstring)
            data["findings"] = data["findings"][: self.top or None]
            item.update(data)
        self.out.write(("" if self.first else ",\n") + json.dumps(item))
        self.first = False

    def close(self) -> None:
        self.out.write("\n]\n")
        self.out.flush()


_WRITERS = {"table": _TableWriter, "csv": _CsvWriter, "json": _JsonWriter}
