"""The ECGFounder release's way of scoring a folder, as the baseline of ``bench/bench_archive.py``.

    python -m bench.release_pipeline DIR --bundle BUNDLE [--workers 1] [--batch-size 32] -o out.csv

What the release prescribes (``../shared/reference/preprocessing.md``) written the way its scripts
do it: a torch ``Dataset`` whose ``__getitem__`` calls ``wfdb.rdsamp``, reorders the leads, and
filters one lead at a time (``ecgcore/_reference_preprocess.py``: ``filtfilt(iirnotch)``,
``filtfilt(butter)``, minus ``medfilt``, ``np.interp``, one z-score), a ``DataLoader`` with worker
processes, and the eager network (``ecgcore.model.Net1D``, state-dict compatible with the release's
``net1d.py``) under ``torch.no_grad``; probabilities are collected and written once at the end.
The bundle's weights are loaded into the eager network; nothing of ecgcore's fast paths (layout
plan, folded BatchNorm, vectorised filters) is used. The last stderr line reports the scoring time
after start-up, as ``ecg predict`` does.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch
import wfdb
from torch.utils.data import DataLoader, Dataset

from ecgcore._reference_preprocess import reference_preprocess_window
from ecgcore.bundle import load_bundle
from ecgcore.leads import LEADS_12
from ecgcore.preprocessing import DEFAULT_PREPROCESS


class ReleaseDataset(Dataset):
    """One WFDB record per item, read and filtered in the worker, as the release's ``dataset.py`` does."""

    def __init__(self, headers: list[Path]):
        self.headers = headers

    def __len__(self) -> int:
        return len(self.headers)

    def __getitem__(self, index: int) -> torch.Tensor:
        signal, meta = wfdb.rdsamp(str(self.headers[index].with_suffix("")))
        names = [n.upper() for n in meta["sig_name"]]
        order = [names.index(lead.upper()) for lead in LEADS_12]
        window = np.nan_to_num(signal.T[order])[:, : int(10 * meta["fs"])]
        return torch.from_numpy(reference_preprocess_window(window, float(meta["fs"]), DEFAULT_PREPROCESS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", "-o", type=Path, required=True)
    args = parser.parse_args(argv)

    headers = sorted(args.folder.glob("*.hea"))
    bundle = load_bundle(args.bundle)
    model = bundle.model.eval()
    started = time.perf_counter()
    loader = DataLoader(ReleaseDataset(headers), batch_size=args.batch_size, num_workers=args.workers)
    probabilities = []
    with torch.no_grad():
        for batch in loader:
            probabilities.append(torch.sigmoid(model(batch)).numpy())
    scores = np.concatenate(probabilities)
    with args.output.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", *bundle.card.labels])
        for header, row in zip(headers, scores):
            writer.writerow([str(header), *(f"{p:.6f}" for p in row)])
    seconds = time.perf_counter() - started
    print(f"release pipeline: scored {len(headers)} records; {seconds:.2f} s, {len(headers) / seconds:.1f} records/s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
