"""``ecg``: one command for everything the project does, forwarding to each package's own CLI.

    ecg predict FILES_OR_FOLDERS ...   rank diagnoses (ecgcore.cli; also ``python -m ecgcore``)
    ecg predict DIR -o X.parquet       archive runs: resumable, sharded under torchrun (ecgcore.archive)
    ecg embed DIR -o X.parquet         pooled features for linear probes (ecgcore.archive)
    ecg merge X.parquet                fold an archive run's parts into its output
    ecg measure FILES_OR_FOLDERS ...   rate, PR, QRS, QT/QTc, axes (ecgcore.cli)
    ecg explain FILE --label ...       saliency of one finding (ecgcore.cli)
    ecg report FILE_OR_RECORD -o X.pdf one-page report of a file (ecgcore.cli) or a stored record (db)
    ecg train ...                      datasets, fits, evaluation, named recipes (``python -m train``)
    ecg db ...                         the review store: users, backup, export (``python -m db``)
    ecg app [streamlit options]        start the review workspace (``streamlit run app/main.py``)

Each package keeps its own argument parser, so ``python -m ecgcore``, ``python -m train`` and
``python -m db`` keep working and stay the reference; this module only chooses which one runs.
It lives in ``app/`` because it is a front end: it imports the others, nothing imports it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _ecgcore(argv: list[str]) -> int:
    # As in ``python -m ecgcore``: idle OpenMP threads must sleep so reader processes get the CPU;
    # this must be set before torch loads (a user's own value wins).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ecgcore.cli import main

    return main(argv)


def _train(argv: list[str]) -> int:
    from train.__main__ import main

    return main(argv)


def _db(argv: list[str]) -> int:
    from db.__main__ import main

    return main(argv)


_REPORT_VALUE_OPTIONS = ("-o", "--output", "--paper", "--model", "--start-s", "--role")


def _report(argv: list[str]) -> int:
    """``ecg report FILE_OR_RECORD``: a file goes to ``ecgcore``'s report, a stored record's id
    (digits that name no file) to the store's, which adds its confirmed report and pseudonym."""
    positional = [a for i, a in enumerate(argv) if not a.startswith("-")
                  and not (i and argv[i - 1] in _REPORT_VALUE_OPTIONS)]
    target = positional[0] if positional else None
    if target is not None and target.isdigit() and not Path(target).exists():
        return _db(["report", *argv])
    return _ecgcore(["report", *argv])


def _app(argv: list[str]) -> int:
    """``streamlit run`` on the workspace's entry point, wherever the package is installed."""
    from streamlit.web import cli as streamlit_cli

    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parent / "main.py"), *argv]
    return streamlit_cli.main()


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "predict": (lambda argv: _ecgcore(["predict", *argv]), "rank diagnoses for ECG files or folders"),
    "embed": (lambda argv: _ecgcore(["embed", *argv]), "pooled features for linear probes, to Parquet (resumable)"),
    "merge": (lambda argv: _ecgcore(["merge", *argv]), "fold an archive run's part files into its Parquet output"),
    "measure": (lambda argv: _ecgcore(["measure", *argv]), "global measurements: rate, PR, QRS, QT/QTc, axes"),
    "assess": (lambda argv: _ecgcore(["assess", *argv]), "interpretable or not, and why: signal quality, electrode reversals"),
    "explain": (lambda argv: _ecgcore(["explain", *argv]), "attribute one finding of one ECG to leads and time"),
    "report": (lambda argv: _report(argv), "one-page PDF report of an ECG file or a stored record (25 mm/s, 10 mm/mV)"),
    "train": (_train, "build datasets, fit, evaluate, run named recipes"),
    "db": (_db, "the review store: info, users, backup, export, agreement"),
    "app": (_app, "start the review workspace (Streamlit)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  ecg {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: ecg COMMAND [ARGS ...]\n\ncommands:\n" + "\n".join(lines) + "\n\n`ecg COMMAND --help` for each."


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"ecg: unknown command {command!r}; choose one of {', '.join(COMMANDS)}.\n\n{usage()}", file=sys.stderr)
        return 2
    return COMMANDS[command][0](rest) or 0


if __name__ == "__main__":
    sys.exit(main())
