"""How often the out-of-distribution check (ecgcore.ood) warns, on real records and on real records
made unlike the training data: ``python -m scripts.evaluate_ood`` -> docs/ood.md + bench/results/ood.json.

Sets (../shared/data): PTB-XL records (in the default model's training data: the rate there is the
floor), and records of hospitals and devices never trained on (cinc2020_sample, LUDB,
SPH, PTB). Perturbations of the PTB-XL records, each a known way of being unlike the training data:
a gain error (x4, x0.25), broadband noise of 0.5 mV RMS, a slow recorder (125 Hz) and a short strip (5 s).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from ecgcore.config import REPO_ROOT
from ecgcore.errors import ECGError
from ecgcore.io import read
from ecgcore.ood import check_distribution
from ecgcore.predict import Predictor
from ecgcore.record import Record
from train.paths import SHARED_DATA_DIR


def _headers(folder: Path, limit: int | None = None) -> list[Path]:
    found = sorted(p for p in folder.rglob("*.hea") if not p.name.startswith("."))
    return found[:limit] if limit else found


SETS: dict[str, tuple[str, Callable[[Path], list[Path]]]] = {
    "ptbxl (training)": ("in training", lambda root: _headers(root / "ptbxl_subset" / "records500")),
    "cinc2020_sample": ("other hospitals", lambda root: _headers(root / "cinc2020_sample")),
    "ludb_dev": ("other hospital", lambda root: _headers(root / "ludb_dev" / "data")),
    "sph_sample": ("other hospital", lambda root: sorted((root / "sph_sample").glob("*.h5"))),
    "ptbdb_sample": ("other hospital", lambda root: _headers(root / "ptbdb_sample")),
}

PERTURBATIONS: dict[str, Callable[[Record, np.random.Generator], Record]] = {
    "gain x4": lambda r, rng: r.replace(signal=r.signal * 4),
    "gain x0.25": lambda r, rng: r.replace(signal=r.signal * 0.25),
    "noise 0.5 mV RMS": lambda r, rng: r.replace(
        signal=(r.signal + rng.normal(0, 0.5, r.signal.shape)).astype(np.float32)),
    "125 Hz recorder": lambda r, rng: r.replace(signal=resample_poly(r.signal, 1, 4, axis=1).astype(np.float32),
                                                fs=r.fs / 4),
    "5 s strip": lambda r, rng: r.replace(signal=r.signal[:, : int(5 * r.fs)]),
}


def _records(paths: list[Path]) -> Iterator[Record]:
    for path in paths:
        try:
            yield read(path)
        except ECGError:
            continue


def _rate(checks: list) -> dict:
    warned = [c for c in checks if not c.in_distribution]
    scores = [c.score for c in checks if c.score is not None]
    return {"n": len(checks), "warned": len(warned), "rate": len(warned) / len(checks) if checks else float("nan"),
            "median_score": float(np.median(scores)) if scores else None,
            "reasons": {reason: sum(any(key in w for w in c.warnings) for c in warned)
                        for reason, key in REASONS.items() if any(key in w for c in warned for w in c.warnings)}}


REASONS = {"amplitude": "typical amplitude", "sampling rate": "sampled at", "duration": "s recorded",
           "embedding": "unlike the training data"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--perturbed", type=int, default=100, help="PTB-XL records perturbed per perturbation")
    args = parser.parse_args(argv)
    started = time.time()
    predictor = Predictor.default(12)
    rows: dict[str, dict] = {}
    for name, (kind, find) in SETS.items():
        checks = [check_distribution(r, predictor) for r in tqdm(list(_records(find(args.shared))), desc=name)
                  if r.n_leads == 12]
        rows[name] = {"kind": kind, **_rate(checks)}
    ptb = list(_records(_headers(args.shared / "ptbxl_subset" / "records500")))[-args.perturbed:]
    for name, perturb in PERTURBATIONS.items():
        rng = np.random.default_rng(0)
        checks = [check_distribution(perturb(r, rng), predictor) for r in tqdm(ptb, desc=name)]
        rows[name] = {"kind": "perturbed PTB-XL", **_rate(checks)}
    result = {"model": predictor.name, "sets": rows, "seconds": round(time.time() - started, 1)}
    (REPO_ROOT / "bench" / "results" / "ood.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# How often the out-of-distribution warning fires", "",
             f"Written by `python -m scripts.evaluate_ood` with {predictor.name}. The check "
             "(`ecgcore/ood.py`): sampling rate below the training data's, shorter than the model's window, "
             "typical amplitude outside the training range widened 1.5x, or an embedding further from the "
             "training embeddings than 99% of held-out training-like records. Perturbations use the last "
             f"{len(ptb)} PTB-XL records (in training, so any warning is the perturbation's doing).", "",
             "| set | kind | records | warned | rate | median embedding score | reasons |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        score = "–" if r["median_score"] is None else f"{r['median_score']:.2f}"
        lines.append(f"| {name} | {r['kind']} | {r['n']} | {r['warned']} | {r['rate']:.1%} | {score} | "
                     f"{', '.join(f'{k} {v}' for k, v in r['reasons'].items())} |")
    lines += ["", "What it shows: the sampling-rate and duration rules catch every slow or short record; the "
              "amplitude rule catches a gain error of x0.25 mostly and x4 in a quarter of records (the training range "
              "is wide); the embedding score is blind to gain (the model z-scores each record, so its features do "
              "not change) and nearly blind to broadband noise, which is the signal-quality check's job "
              "(`ecgcore.assess`, docs/assessment.md). Records from other hospitals sit further from the training "
              "embeddings (median score above the training records' about 0.54), but few pass the 0.99 limit: the "
              "warning marks the clearly unusual, not every shift. The rate on training records is the false-warning "
              "floor."]
    (REPO_ROOT / "docs" / "ood.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
