"""Command line: ``python -m ecgcore predict FILES_OR_DIRS [--model PATH] [--top N] [--format ...] [--measure]``,
``python -m ecgcore measure FILES_OR_DIRS [--format table|csv|json] [--start-s S]``,
``python -m ecgcore assess FILES_OR_DIRS [--format table|csv|json]`` (signal quality, electrode reversals),
``python -m ecgcore predict FILES_OR_DIRS -o results.parquet [--assess] [--device cuda] [--amp]`` (archive runs:
resumable, under torchrun sharded over processes; ``docs/archive_scoring.md``),
``python -m ecgcore embed FILES_OR_DIRS -o embeddings.parquet``, ``python -m ecgcore merge OUTPUT.parquet``,
``python -m ecgcore explain FILE --label "ATRIAL FIBRILLATION" --method ig --out fig.png|attr.npy`` and
``python -m ecgcore report FILE -o report.pdf [--paper A4|Letter] [--model PATH] [--start-s S] [--no-model]
[--filtered]``.

Exit status of ``predict``, ``measure`` and ``assess``: 0 when every file was scored (measured), 1 when some
files failed (each is reported on stderr and the others are still done), 2 when nothing could run
(no model, no files, bad arguments). A record measured with some values missing is not a failure:
each missing value carries its reason. ``report``: 0 when the report was written, 1 when the file
could not be read or scored, 2 for bad arguments, no installed model, or an output it cannot write.

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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ecgcore.errors import ECGError

if TYPE_CHECKING:  # torch loads only for the commands that run a model
    from ecgcore.batch import PreparedItem
    from ecgcore.measurements import Measurements, Statement
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
    predict.add_argument("--workers", type=int, default=None,
                         help="reader processes (default: cores - 1; under torchrun the cores are split between ranks)")
    predict.add_argument("--include-untrained", action="store_true", help="also list labels the model was not trained on")
    predict.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    predict.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    predict.add_argument("--measure", action="store_true",
                         help="also give each record's global measurements (rate, PR, QRS, QT/QTc, axes)")
    _add_archive_options(predict)
    _add_embed_parser(commands)
    _add_measure_parser(commands)
    _add_assess_parser(commands)
    _add_explain_parser(commands)
    _add_report_parser(commands)
    return parser


def _add_archive_options(parser: argparse.ArgumentParser, *, scoring: bool = True) -> None:
    """Options of Parquet archive runs (``-o X.parquet``): quality flags, device, precision, resume."""
    archive = parser.add_argument_group("archive runs (-o FILE.parquet; docs/archive_scoring.md)")
    if scoring:
        archive.add_argument("--assess", action="store_true",
                             help="also give each record's quality flags (ecgcore.assess); Parquet output only")
    archive.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (under torchrun: cuda:LOCAL_RANK)")
    archive.add_argument("--amp", action="store_true",
                         help="mixed precision forward (float16 on CUDA, bfloat16 on the CPU); Parquet output only")
    archive.add_argument("--rows-per-group", type=int, default=None,
                         help="rows per Parquet row group, each saved as soon as it is full (default 512)")
    archive.add_argument("--retry-failed", action="store_true", help="when resuming, score failed files again")
    archive.add_argument("--no-merge", action="store_true",
                         help="leave each process's parts beside the output (merge later with `ecg merge`)")


def _add_embed_parser(commands: argparse._SubParsersAction) -> None:
    embed = commands.add_parser("embed", help="pooled features before the head, for linear probes (Parquet)")
    embed.add_argument("paths", nargs="+", help="ECG files (WFDB .hea, .zip, CSV, NumPy, EDF, ...) or folders")
    embed.add_argument("--output", "-o", required=True, help="the Parquet file to write (resumed if it exists)")
    embed.add_argument("--model", help="bundle directory or official ECGFounder .pth (default: installed default)")
    embed.add_argument("--batch-size", type=int, default=32)
    embed.add_argument("--workers", type=int, default=None, help="reader processes (default: cores - 1, split between ranks)")
    embed.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_archive_options(embed, scoring=False)
    merge = commands.add_parser("merge", help="fold an archive run's part files into its Parquet output")
    merge.add_argument("output", help="the .parquet output of an archive run (its parts are OUTPUT.parts/)")


def _add_measure_parser(commands: argparse._SubParsersAction) -> None:
    measure = commands.add_parser("measure", help="global measurements (rate, PR, QRS, QT/QTc, axes) of ECG files or folders")
    measure.add_argument("paths", nargs="+", help="ECG files (WFDB .hea, .zip, CSV, NumPy, EDF, ...) or folders")
    measure.add_argument("--format", choices=("table", "csv", "json"), default="table")
    measure.add_argument("--output", "-o", help="write results to this file instead of stdout")
    measure.add_argument("--workers", type=int, default=None, help="measuring processes (default: one per core; 0 = in this process)")
    measure.add_argument("--start-s", type=float, default=None, help="start of the measured 10-s window in long records")
    measure.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    measure.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _add_assess_parser(commands: argparse._SubParsersAction) -> None:
    assess = commands.add_parser("assess", help="interpretable or not, and why: signal quality, electrode reversals, pacing")
    assess.add_argument("paths", nargs="+", help="ECG files (WFDB .hea, .zip, CSV, NumPy, EDF, ...) or folders")
    assess.add_argument("--format", choices=("table", "csv", "json"), default="table")
    assess.add_argument("--output", "-o", help="write results to this file instead of stdout")
    assess.add_argument("--workers", type=int, default=None, help="processes (default: one per core; 0 = in this process)")
    assess.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    assess.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


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


def _add_report_parser(commands: argparse._SubParsersAction) -> None:
    from ecgcore.report.layout import DEFAULT_PAPER, PAPERS

    report = commands.add_parser("report", help="one-page PDF report: the 12 leads at 25 mm/s, 10 mm/mV, and the header")
    report.add_argument("path", help="one ECG file (WFDB .hea, .zip, CSV, NumPy, EDF, hospital XML/DICOM/SCP, ...)")
    report.add_argument("--output", "-o", required=True, help="the report to write (.pdf, or .png for a picture)")
    report.add_argument("--paper", choices=tuple(PAPERS), default=DEFAULT_PAPER, help="landscape page size")
    report.add_argument("--model", help="bundle directory or official ECGFounder .pth (default: installed default)")
    report.add_argument("--no-model", action="store_true", help="no model findings (the report says so)")
    report.add_argument("--start-s", type=float, default=None,
                        help="start of the printed, measured and scored 10-s window in long records (default 0)")
    report.add_argument("--filtered", action="store_true",
                        help="draw the traces through the model's filters (default: the signal as recorded)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "predict":
        return run_predict(args)
    if args.command in ("embed", "merge"):
        from ecgcore.archive.cli import run_embed, run_merge

        return run_embed(args) if args.command == "embed" else run_merge(args)
    if args.command == "measure":
        return run_measure(args)
    if args.command == "assess":
        return run_assess(args)
    if args.command == "explain":
        return run_explain(args)
    if args.command == "report":
        return run_report(args)
    return 2  # pragma: no cover - argparse enforces a command


def _discover_files(args: argparse.Namespace) -> list[Path]:
    """The record files of ``args.paths``; an empty list after reporting that there are none."""
    from ecgcore.batch import discover_ecg_files

    files = discover_ecg_files(args.paths, recursive=not args.no_recursive)
    if not files:
        print(f"error: no ECG files found in {', '.join(args.paths)}", file=sys.stderr)
    return files


def _write_results(results: Iterable, writer, output: str | None) -> tuple[int, float]:
    """Write every result (each has ``path`` and ``error``) to ``output`` or stdout; report failures on stderr.

    Returns the number of failed files and the seconds the run took (``results`` is consumed lazily,
    so this is the scoring or measuring time, after start-up and model loading).
    """
    out: TextIO = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    n_failed = 0
    started = time.perf_counter()
    try:
        sink = writer(out)
        for result in results:
            if result.error is not None:
                n_failed += 1
                print(f"error: {result.path}: {result.error}", file=sys.stderr)
            sink.write(result)
        sink.close()
    finally:
        if out is not sys.stdout:
            out.close()
    return n_failed, time.perf_counter() - started


def _summary(verb: str, n_files: int, n_failed: int, seconds: float, how: str) -> str:
    return (f"{verb} {n_files - n_failed} of {n_files} file(s) {how}; {n_failed} failed; "
            f"{seconds:.1f} s, {n_files / max(seconds, 1e-9):.1f} records/s")


def run_measure(args: argparse.Namespace) -> int:
    """Measure files or folders in worker processes; table, CSV or JSON; exit 0/1/2 as ``predict``."""
    from ecgcore.batch import measure_files
    from ecgcore.measurements import ALGORITHM_VERSION

    if args.workers is not None and args.workers < 0 or args.start_s is not None and args.start_s < 0:
        print("error: --workers and --start-s must be >= 0", file=sys.stderr)
        return 2
    files = _discover_files(args)
    if not files:
        return 2
    results = measure_files(files, start_s=args.start_s, num_workers=args.workers,
                            progress=not args.quiet and sys.stderr.isatty())
    n_failed, seconds = _write_results(results, _MEASURE_WRITERS[args.format], args.output)
    print(_summary("measured", len(files), n_failed, seconds, f"(measurements {ALGORITHM_VERSION})"), file=sys.stderr)
    return 1 if n_failed else 0


def run_assess(args: argparse.Namespace) -> int:
    """``ecgcore.assess`` over files or folders with the batch machinery of ``ecg measure``; exit 0/1/2 as ``measure``."""
    from ecgcore.assessment import ASSESSMENT_VERSION
    from ecgcore.batch import assess_files

    if args.workers is not None and args.workers < 0:
        print("error: --workers must be >= 0", file=sys.stderr)
        return 2
    files = _discover_files(args)
    if not files:
        return 2
    results = assess_files(files, num_workers=args.workers, progress=not args.quiet and sys.stderr.isatty())
    n_failed, seconds = _write_results(results, _ASSESS_WRITERS[args.format], args.output)
    print(_summary("assessed", len(files), n_failed, seconds, f"(assessment {ASSESSMENT_VERSION})"), file=sys.stderr)
    return 1 if n_failed else 0


def run_predict(args: argparse.Namespace) -> int:
    from ecgcore.predict import Predictor

    if args.top < 0 or args.batch_size < 1:
        print("error: --top must be >= 0 and --batch-size >= 1", file=sys.stderr)
        return 2
    if args.output and args.output.lower().endswith(".parquet"):
        from ecgcore.archive.cli import run_predict_archive

        return run_predict_archive(args)
    if args.assess or args.amp:
        print("error: --assess and --amp need a Parquet output (-o FILE.parquet)", file=sys.stderr)
        return 2
    files = _discover_files(args)
    if not files:
        return 2
    try:
        predictor = Predictor(args.model, device=args.device) if args.model else Predictor.default(device=args.device)
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
        measure=args.measure,
    )
    writer = _WRITERS[args.format]
    n_failed, seconds = _write_results(results, lambda out: writer(out, args.top, args.measure), args.output)
    models = predictor.name + (f" (one-lead records: {single_lead.name})" if single_lead is not None else "")
    print(_summary("scored", len(files), n_failed, seconds, f"with {models}"), file=sys.stderr)
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


def run_report(args: argparse.Namespace) -> int:
    """Read one file, measure it, score it with the routed default model (or ``--model``), print the report.

    The printed window, the measurements and the model all use the same 10 s (from ``--start-s``,
    default 0). No patient identifier is printed; from a file there is no store, so the pseudonym is ``—``.
    """
    from ecgcore.io import read
    from ecgcore.measurements import measure, statements
    from ecgcore.report.layout import report_window

    out = Path(args.output)
    if out.suffix.lower() not in (".pdf", ".png"):
        print(f"error: --output must end in .pdf or .png; got {out.name}", file=sys.stderr)
        return 2
    if args.model and args.no_model:
        print("error: --model and --no-model exclude each other", file=sys.stderr)
        return 2
    try:
        record = read(args.path)
    except (ECGError, OSError) as exc:
        print(f"error: {args.path}: {exc}", file=sys.stderr)
        return 1
    try:
        i0, _ = report_window(record.n_samples, record.fs, args.start_s)
    except ECGError as exc:
        print(f"error: {args.path}: {exc}", file=sys.stderr)
        return 2
    start_s = i0 / record.fs
    m = measure(record, start_s=start_s)
    prediction, model_name = None, None
    if not args.no_model:
        from ecgcore.predict import Predictor

        try:
            predictor = Predictor(args.model) if args.model else Predictor.default(record)  # one lead: single-lead model
        except ECGError as exc:
            print(f"error: {exc} (--no-model prints the report without the model)", file=sys.stderr)
            return 2
        try:
            prediction = predictor.predict(record, start_s=start_s)
        except ECGError as exc:
            print(f"error: {args.path}: the model {predictor.name} cannot score it: {exc}", file=sys.stderr)
            return 1
        model_name = predictor.card.display_name
    from ecgcore.report import render_report

    try:
        written = render_report(record, measurements=m, statements=statements(m, sex=record.sex, age=record.age),
                                prediction=prediction, model=model_name, paper=args.paper, start_s=start_s,
                                filtered=args.filtered, out=out)
    except OSError as exc:
        print(f"error: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    size_kb = written.stat().st_size / 1024
    print(f"wrote {written} ({size_kb:.0f} KB, {args.paper} landscape"
          f"{', model ' + model_name if model_name else ', no model'})")
    return 0


class _TableWriter:
    def __init__(self, out: TextIO, top: int, measured: bool = False):
        self.out, self.top, self.measured = out, top, measured

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
        for note in result.prediction.notes:
            self.out.write(f"  note: {note}\n")
        if self.measured and result.measurements is not None:
            self.out.write(_measurement_lines(result.measurements, result.statements or ()))
        self.out.write("\n")

    def close(self) -> None:
        self.out.flush()


class _CsvWriter:
    FIELDS = ("path", "record_id", "rank", "label", "probability", "threshold", "positive", "error")

    def __init__(self, out: TextIO, top: int, measured: bool = False):
        """With ``measured``, each row ends with the record's measurement columns (``measure_display``)."""
        from ecgcore.measure_display import MEASUREMENT_COLUMNS

        self.top, self.measured = top, measured
        self.out = out
        self.writer = csv.writer(out)
        self.writer.writerow(self.FIELDS + (MEASUREMENT_COLUMNS if measured else ()))

    def _measurement_cells(self, result: FileResult) -> list[str]:
        from ecgcore.measure_display import csv_cells, empty_csv_cells

        if not self.measured:
            return []
        return empty_csv_cells() if result.measurements is None else csv_cells(result.measurements, result.statements)

    def write(self, result: FileResult) -> None:
        extra = self._measurement_cells(result)
        if result.prediction is None:
            self.writer.writerow([result.path, "", "", "", "", "", "", result.error, *extra])
            return
        for rank, f in enumerate(result.prediction.findings[: self.top or None], start=1):
            self.writer.writerow(
                [result.path, result.prediction.record_name, rank, f.label, f"{f.probability:.6f}", f"{f.threshold:.6f}", int(f.positive), "", *extra]
            )

    def close(self) -> None:
        self.out.flush()


class _JsonArray:
    """A JSON array written incrementally, so thousands of records never sit in memory at once."""

    def __init__(self, out: TextIO):
        self.out, self.first = out, True
        self.out.write("[\n")

    def add(self, item: dict) -> None:
        self.out.write(("" if self.first else ",\n") + json.dumps(item))
        self.first = False

    def close(self) -> None:
        self.out.write("\n]\n")
        self.out.flush()


class _JsonWriter(_JsonArray):
    def __init__(self, out: TextIO, top: int, measured: bool = False):
        super().__init__(out)
        self.top, self.measured = top, measured

    def write(self, result: FileResult) -> None:
        item: dict = {"path": str(result.path)}
        if result.prediction is None:
            item["error"] = result.error
        else:
            data = result.prediction.to_dict()
            item["record_id"] = data.pop("record_name")  # the output key stays "record_id" (see the module docstring)
            data["findings"] = data["findings"][: self.top or None]
            item.update(data)
        if self.measured and result.measurements is not None:
            item["measurements"] = result.measurements.to_dict()
            item["statements"] = [s.to_dict() for s in result.statements or ()]
        self.add(item)


_WRITERS = {"table": _TableWriter, "csv": _CsvWriter, "json": _JsonWriter}


def _measurement_lines(m: Measurements, statements: Sequence[Statement]) -> str:
    """The lines ``predict --measure`` adds under a record in the table: the cart line, the
    measurement-based statements with their criteria, then any remarks."""
    from ecgcore.measure_display import cart_line, remarks, statement_texts

    text = f"  measurements: {cart_line(m)}\n"
    text += f"  statements: {statement_texts(statements, criteria=True)}\n" if statements else ""
    return text + (f"  notes: {remarks(m)}\n" if remarks(m) else "")


# -- measure ------------------------------------------------------------------------------------
# Results are ecgcore.batch.PreparedItem: path, record_name, and measurements or error.


class _MeasureTableWriter:
    """One row per record: the cart's values, the statements, then flags, reasons for missing values and notes.

    Rows are aligned when the run ends (the widths depend on every record's path).
    """

    def __init__(self, out: TextIO):
        self.out = out
        self.rows: list[list[str]] = []

    def write(self, result: PreparedItem) -> None:
        from ecgcore.measure_display import CART_COLUMNS, cart_cells, remarks, statement_texts

        if result.measurements is None:
            self.rows.append([str(result.path), *[""] * len(CART_COLUMNS), "", f"ERROR {result.error}"])
        else:
            m = result.measurements
            self.rows.append([str(result.path), *cart_cells(m), statement_texts(result.statements or ()), remarks(m)])

    def close(self) -> None:
        from ecgcore.measure_display import CART_COLUMNS

        head = [["file", *(h for h, _, _ in CART_COLUMNS), "statements", "flags / notes"],
                ["", *(u for _, u, _ in CART_COLUMNS), "", ""]]
        rows = head + self.rows
        widths = [max(len(row[i]) for row in rows) for i in range(len(head[0]) - 1)]
        for row in rows:
            self.out.write(("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]).rstrip() + "\n")
        self.out.flush()


class _MeasureCsvWriter:
    """One row per record: path, record name, a column per ``GLOBAL_MEASURES`` name, statements, flags, reasons, notes."""

    def __init__(self, out: TextIO):
        from ecgcore.measure_display import MEASUREMENT_COLUMNS

        self.out = out
        self.writer = csv.writer(out)
        self.writer.writerow(("path", "record_name", *MEASUREMENT_COLUMNS, "error"))

    def write(self, result: PreparedItem) -> None:
        from ecgcore.measure_display import csv_cells, empty_csv_cells

        if result.measurements is None:
            self.writer.writerow([result.path, result.record_name, *empty_csv_cells(), result.error])
        else:
            self.writer.writerow([result.path, result.record_name, *csv_cells(result.measurements, result.statements), ""])

    def close(self) -> None:
        self.out.flush()


class _MeasureJsonWriter(_JsonArray):
    """Per record: path, record name, ``Measurements.to_dict()`` and the statements (or the error)."""

    def write(self, result: PreparedItem) -> None:
        item: dict = {"path": str(result.path), "record_name": result.record_name}
        if result.measurements is None:
            item["error"] = result.error
        else:
            item.update(result.measurements.to_dict())
            item["statements"] = [s.to_dict() for s in result.statements or ()]
        self.add(item)


_MEASURE_WRITERS = {"table": _MeasureTableWriter, "csv": _MeasureCsvWriter, "json": _MeasureJsonWriter}


# -- assess -------------------------------------------------------------------------------------
# Results are ecgcore.batch.PreparedItem with ``assessment`` (ecgcore.Assessment) or ``error``.

_ASSESS_FIELDS = ("path", "record_name", "interpretable", "reversal", "possible_reversals", "paced", "beats",
                  "reasons", "warnings", "error")


def _assess_cells(result: PreparedItem) -> list[str]:
    a = result.assessment
    if a is None:
        return [str(result.path), result.record_name, "", "", "", "", "", "", "", result.error or ""]
    return [str(result.path), result.record_name, "yes" if a.interpretable else "no", a.reversal or "",
            "; ".join(a.possible_reversals), "yes" if a.paced else "no", str(a.beats), " | ".join(a.reasons),
            " | ".join(a.warnings), ""]


class _AssessTableWriter:
    """One row per record: file, interpretable, reversal, possible reversals, paced, beats, then reasons / warnings."""

    def __init__(self, out: TextIO):
        self.out = out
        self.rows: list[list[str]] = []

    def write(self, result: PreparedItem) -> None:
        cells = _assess_cells(result)
        why = cells[9] and f"ERROR {cells[9]}" or " | ".join(c for c in (cells[7], cells[8]) if c)
        self.rows.append([cells[0], cells[2], cells[3], cells[4], cells[5], cells[6], why])

    def close(self) -> None:
        rows = [["file", "interpretable", "reversal", "possible", "paced", "beats", "reasons / warnings"], *self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            self.out.write(("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]).rstrip() + "\n")
        self.out.flush()


class _AssessCsvWriter:
    """One row per record: ``_ASSESS_FIELDS`` (lists joined with ' | ' or '; ')."""

    def __init__(self, out: TextIO):
        self.out = out
        self.writer = csv.writer(out)
        self.writer.writerow(_ASSESS_FIELDS)

    def write(self, result: PreparedItem) -> None:
        self.writer.writerow(_assess_cells(result))

    def close(self) -> None:
        self.out.flush()


class _AssessJsonWriter(_JsonArray):
    """Per record: path, record name and ``Assessment.to_dict()`` (or the error)."""

    def write(self, result: PreparedItem) -> None:
        item: dict = {"path": str(result.path), "record_name": result.record_name}
        if result.assessment is None:
            item["error"] = result.error
        else:
            item.update(result.assessment.to_dict())
        self.add(item)


_ASSESS_WRITERS = {"table": _AssessTableWriter, "csv": _AssessCsvWriter, "json": _AssessJsonWriter}
