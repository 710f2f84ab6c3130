"""Write the reference test set of the learning loop (issue #21) from PhysioNet/CinC 2020 records.

    python scripts/make_reference_test_set.py [--source ../shared/data/cinc2020_sample] [--out data/local/reference]

The 59 labelled 12-lead records of ``cinc2020_sample`` (CPSC, Chapman-Shaoxing/Ningbo, Georgia, PTB)
come from hospitals none of the shipped models was trained on. They are written in the
expert-review export layout (``db.export.export_labelled_records``), so the loop reads them like
reviewed records; set ``ECG_REFERENCE_TEST_SET`` to the folder. A label column is kept only where
every record's SNOMED codes state it (present or absent): a label that is unknown for some record
would otherwise count as a negative. The repository never reads ``../shared`` at run time: this
script writes a folder that the deployment keeps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from db.export import export_labelled_records
from ecgcore.config import REPO_ROOT
from ecgcore.errors import ECGError
from ecgcore.io import read
from ecgcore.labels import ecgfounder_labels, encode


def labelled_records(source: Path) -> tuple[list, list[str], list[str]]:
    """(records with their positive labels, the labels every record states, files skipped with why)."""
    names = ecgfounder_labels()
    records, masks, skipped = [], [], []
    for header in sorted(source.rglob("*.hea")):
        try:
            record = read(header, record_name=header.stem)
            if not record.labels:
                raise ValueError("no '# Dx:' codes")
            y, mask = encode(list(record.labels), "snomed", strict=False)
        except (ECGError, ValueError, OSError) as error:
            skipped.append(f"{header.name}: {error}")
            continue
        records.append(record.replace(labels=tuple(names[j] for j in np.flatnonzero(y * mask)),
                                      source=f"cinc2020:{header.parent.name}"))
        masks.append(mask)
    known = np.logical_and.reduce(masks) if masks else np.zeros(len(names), bool)
    stated = [names[j] for j in np.flatnonzero(known)]
    kept = [r.replace(labels=tuple(label for label in r.labels if label in stated)) for r in records]
    return kept, stated, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(REPO_ROOT.parent / "shared" / "data" / "cinc2020_sample"))
    parser.add_argument("--out", default=str(REPO_ROOT / "data" / "local" / "reference-cinc2020"))
    args = parser.parse_args(argv)
    records, labels, skipped = labelled_records(Path(args.source))
    if not records:
        print(f"error: no labelled record under {args.source}", file=sys.stderr)
        return 1
    out = export_labelled_records(records, args.out, labels=labels, description=(
        f"PhysioNet/CinC Challenge 2020 sample ({len(records)} records from CPSC, Chapman-Shaoxing/Ningbo, "
        "Georgia and PTB): hospitals no shipped model was trained on; labels from the records' SNOMED CT codes"))
    positives = {label: sum(label in r.labels for r in records) for label in labels}
    print(f"{out}: {len(records)} records, {len(labels)} labels stated for every record, {len(skipped)} skipped")
    for label, n in sorted(positives.items(), key=lambda item: -item[1]):
        if n:
            print(f"  {n:3d}  {label}")
    for line in skipped:
        print(f"  skipped {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
