"""Reader benchmark: records per second for every file format, from the format table.

    python -m bench.bench_readers [--folder DIR ...] [--repeats 5]

Every ECG file under the folders (default: the shipped ``data/samples/`` and, when it is beside
the repository, ``../shared/data/hospital_formats/``) is read with ``ecgcore.read``; files are
grouped by the format the table assigns them, so a new format's demo file gets its row without
touching this script. Prints a table and writes ``bench/results/readers.json``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from bench.timing import median_seconds
from ecgcore.batch import discover_ecg_files
from ecgcore.config import REPO_ROOT
from ecgcore.errors import ECGError
from ecgcore.io import read
from ecgcore.io.formats import format_for
from train.paths import SHARED_DATA_DIR

RESULTS = REPO_ROOT / "bench" / "results" / "readers.json"


def default_folders() -> list[Path]:
    folders = [REPO_ROOT / "data" / "samples"]
    hospital = SHARED_DATA_DIR / "hospital_formats"
    if hospital.is_dir():
        folders.append(hospital)
    return folders


def files_by_format(folders: list[Path]) -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = defaultdict(list)
    for folder in folders:
        for path in discover_ecg_files([folder]):
            grouped[format_for(path).name].append(path)
    return dict(sorted(grouped.items()))


def time_format(paths: list[Path], repeats: int) -> dict[str, object]:
    """Median seconds per file over the files of one format that read; the others are counted."""
    readable, failed = [], []
    for path in paths:
        try:
            read(path)
            readable.append(path)
        except ECGError as error:
            failed.append(f"{path.name}: {error}")
    if not readable:
        return {"files": len(paths), "read": 0, "failed": failed}
    seconds = median_seconds(lambda: [read(p) for p in readable], repeats=repeats) / len(readable)
    return {"files": len(paths), "read": len(readable), "failed": failed, "ms_per_record": seconds * 1000.0,
            "records_per_s": 1.0 / seconds}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", action="append", type=Path, help="folders to scan (repeatable)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    grouped = files_by_format(args.folder or default_folders())
    rows = {name: time_format(paths, args.repeats) for name, paths in grouped.items()}
    print(f"{'format':<28} {'files':>5} {'read':>5} {'ms/record':>10} {'records/s':>10}")
    for name, row in rows.items():
        ms = f"{row['ms_per_record']:.2f}" if "ms_per_record" in row else "-"
        rate = f"{row['records_per_s']:.0f}" if "records_per_s" in row else "-"
        print(f"{name:<28} {row['files']:>5} {row['read']:>5} {ms:>10} {rate:>10}")
        for failure in row["failed"]:
            print(f"    not read: {failure[:150]}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nWrote {args.json}")
    return rows


if __name__ == "__main__":
    main()
