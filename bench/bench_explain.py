"""Explanation speed: every method of ``ecgcore.explain`` on the full ``ecgfounder-12lead`` architecture.

    python -m bench.bench_explain [--records N] [--repeats 3]

For each method: median wall time of ``explain(predictor, record, label)`` per (record, label),
and of ``explain_many`` with 5 labels of one record (total, and per label), over real PTB-XL
sample records, after one warm-up. Everything the app pays is inside the timing: preprocessing,
the probability forward, attribution, per-lead importance and segments. Random weights: the
arithmetic is the same as with the released ones. Prints a table and writes
``bench/results/explain.json`` with the load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from bench.timing import median_seconds
from ecgcore.bundle import make_card, save_bundle
from ecgcore.config import REPO_ROOT
from ecgcore.explain import DEFAULT_CONFIG, METHODS, attribute, explain, explain_many
from ecgcore.io import read
from ecgcore.labels import ecgfounder_labels
from ecgcore.model import create_model
from ecgcore.predict import Predictor

SAMPLES = REPO_ROOT / "data" / "samples" / "ptbxl"
TARGETS_S = {"ig": 1.5, "gradcam": 0.5}
LABELS_5 = ["ATRIAL FIBRILLATION", "NORMAL ECG", "SINUS RHYTHM", "LEFT AXIS DEVIATION", "SINUS BRADYCARDIA"]


def official_predictor(directory: Path) -> Predictor:
    torch.manual_seed(0)
    labels = list(ecgfounder_labels())
    model = create_model("ecgfounder-12lead", n_classes=len(labels))
    return Predictor(save_bundle(model, make_card("bench-ecgfounder-12lead", model, labels), directory))


def bench_method(predictor: Predictor, records: list, method: str, repeats: int) -> dict:
    single = [median_seconds(lambda r=r: explain(predictor, r, LABELS_5[0], method), repeats) for r in records]
    batched = [median_seconds(lambda r=r: explain_many(predictor, r, LABELS_5, method), repeats) for r in records]
    target = TARGETS_S.get(method)
    s_single = statistics.median(single)
    return {
        "method": method,
        "s_per_record_label": s_single,
        "s_5_labels_batched": statistics.median(batched),
        "s_per_label_in_batch": statistics.median(batched) / len(LABELS_5),
        "target_s": target,
        "meets_target": None if target is None else s_single < target,
    }


def ig_convergence(predictor: Predictor, record, steps: tuple[int, ...]) -> list[dict]:
    """IG's completeness error vs steps: |delta| relative to |logit(x) - logit(baseline)|."""
    x = predictor.prepare(record)
    target = predictor.label_index(LABELS_5[0])
    rows = []
    for n in steps:
        config = DEFAULT_CONFIG.__class__(ig_steps=n)
        attr, (delta,) = attribute(predictor.model, x, [target], "ig", config)
        rows.append({"ig_steps": n, "delta": delta, "relative_delta": abs(delta) / max(abs(attr.sum() - delta), 1e-12)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "explain.json"))
    args = parser.parse_args()

    load_before = os.getloadavg()
    records = [read(p) for p in sorted(SAMPLES.glob("*.hea"))[: args.records]]
    with tempfile.TemporaryDirectory() as tmp:
        predictor = official_predictor(Path(tmp) / "bundle")
        rows = [bench_method(predictor, records, method, args.repeats) for method in METHODS]
        convergence = ig_convergence(predictor, records[0], (16, 32, 64))
    load_after = os.getloadavg()

    print(f"ecgfounder-12lead (random weights), {len(records)} records, median of {args.repeats}; "
          f"load avg {load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'method':<10} {'s/(record,label)':>17} {'5 labels batched':>17} {'per label':>10} {'target':>8}")
    for row in rows:
        target = f"<{row['target_s']:g} s" if row["target_s"] else "-"
        print(f"{row['method']:<10} {row['s_per_record_label']:>17.3f} {row['s_5_labels_batched']:>17.3f} "
              f"{row['s_per_label_in_batch']:>10.3f} {target:>8}")
    print("IG completeness (random weights): " + ", ".join(
        f"{c['ig_steps']} steps {c['relative_delta']:.2%}" for c in convergence))

    result = {
        "model": "ecgfounder-12lead",
        "weights": "random (timing only)",
        "records": [r.record_name for r in records],
        "repeats": args.repeats,
        "labels_batched": LABELS_5,
        "config": DEFAULT_CONFIG.__dict__,
        "rows": rows,
        "ig_convergence_random_weights": convergence,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "load_avg_before": load_before, "load_avg_after": load_after},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
