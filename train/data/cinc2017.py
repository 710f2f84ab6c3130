"""PhysioNet/CinC Challenge 2017 (AliveCor single lead, 300 Hz): ``training2017/*.hea`` + ``.mat`` and
``REFERENCE-v3.csv`` (``record,label`` with N normal rhythm, A AF, O other rhythm, ~ noisy).

For the single-lead model. No patient ids are published (one person may have several
recordings), so each record is its own group. Records get folds 1-9, stratified by class and
seeded, so that cross-validation can hold out the same fold numbers as PTB-XL's ``strat_fold``.
The label mapping (``ecgcore/resources/cinc2017_to_ecgfounder.csv``) keeps only what the class
says: N = SINUS RHYTHM, A = ATRIAL FIBRILLATION (+ ABNORMAL ECG); everything else is unknown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ecgcore.io import read
from ecgcore.labels import encode
from train.data.shards import Example

REFERENCE = "REFERENCE-v3.csv"
N_FOLDS = 9
FOLD_SEED = 2017


def stratified_folds(labels: pd.Series, n_folds: int = N_FOLDS, seed: int = FOLD_SEED) -> pd.Series:
    """Fold 1..n per record: each class shuffled (seeded) and dealt round-robin."""
    rng = np.random.default_rng(seed)
    folds = pd.Series(0, index=labels.index, dtype=np.int64)
    for _, members in labels.groupby(labels, sort=True):
        order = rng.permutation(members.index.to_numpy())
        folds.loc[order] = np.arange(len(order)) % n_folds + 1
    return folds


def cinc2017_examples(root: str | os.PathLike[str], *, source: str = "cinc2017", split: str = "train",
                      reference: str = REFERENCE) -> Iterator[Example]:
    root = Path(root)
    ref_path = root / reference
    if not ref_path.is_file():
        raise FileNotFoundError(f"{ref_path} not found: expected the CinC 2017 layout "
                                f"(REFERENCE-v3.csv + training2017/*.hea)")
    table = pd.read_csv(ref_path, header=None, names=["record", "label"], dtype=str)
    table["label"] = table["label"].str.strip()
    folds = stratified_folds(table.set_index("record")["label"])
    for row in table.itertuples(index=False):
        header = root / "training2017" / f"{row.record}.hea"
        y, mask = encode([row.label], "cinc2017")

        def load(header=header, record_name=row.record):
            return read(header, record_name=record_name)

        yield Example(record_id=row.record, source=source, load=load, y=y, mask=mask,
                      patient_id=f"{source}:{row.record}", fold=int(folds[row.record]), split=split,
                      path=str(header))
