"""Evaluation: per-label AUROC/AUPRC with bootstrap 95% CIs, thresholds chosen on validation data,
sensitivity/specificity/F1 at those thresholds, macro/micro averages, markdown report and plots.

Thresholds are always chosen on a *different* set of predictions (validation split, or out-of-fold
predictions) than the one the metrics are computed on, never on the test split itself.

CLI: ``python -m train evaluate --bundle DIR --dataset DIR [--test-split test] [--val-split val]
[--write-thresholds] [--out DIR]``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import roc_curve

from train.metrics import (
    bootstrap_ci,
    bootstrap_macro_ci,
    choose_threshold,
    confusion_metrics,
    fast_auroc,
    fast_average_precision,
    micro_auprc,
    micro_auroc,
)


@dataclass
class Evaluation:
    labels: list[dict[str, Any]]            # one dict per evaluated label
    summary: dict[str, Any]
    skipped: list[str] = field(default_factory=list)   # labels without positives and negatives

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "labels": self.labels, "not_scored": self.skipped}


def choose_thresholds(y: np.ndarray, scores: np.ndarray, mask: np.ndarray, names: Sequence[str],
                      method: str = "f1") -> dict[str, float]:
    """Per-label thresholds from (validation / out-of-fold) predictions; 0.5 where a label can't be tuned."""
    out = {}
    for j, name in enumerate(names):
        keep = mask[:, j].astype(bool)
        out[name] = float(choose_threshold(y[keep, j], scores[keep, j], method))
    return out


def evaluate_predictions(y: np.ndarray, scores: np.ndarray, mask: np.ndarray, names: Sequence[str],
                         thresholds: dict[str, float] | None = None, *, n_boot: int = 1000,
                         seed: int = 0) -> Evaluation:
    """Metrics for each column of ``y``/``scores`` (known entries only, per ``mask``)."""
    y = np.asarray(y).astype(np.int64)
    mask = np.asarray(mask).astype(bool)
    thresholds = thresholds or {}
    rows, skipped, scored = [], [], []
    for j, name in enumerate(names):
        keep = mask[:, j]
        t, s = y[keep, j], scores[keep, j]
        if t.size == 0 or t.min() == t.max():
            skipped.append(name)
            continue
        scored.append(j)
        # sklearn's values by rank sums (train.metrics): its per-call checks dominated 1000-resample CIs
        auroc, lo, hi = bootstrap_ci(t, s, fast_auroc, n_boot=n_boot, seed=seed + j)
        auprc, plo, phi = bootstrap_ci(t, s, fast_average_precision, n_boot=n_boot, seed=seed + j)
        row = {"label": name, "n": int(t.size), "positives": int(t.sum()), "auroc": auroc, "auroc_ci": [lo, hi],
               "auprc": auprc, "auprc_ci": [plo, phi], "prevalence": float(t.mean())}
        if name in thresholds:
            row["threshold"] = thresholds[name]
            row.update(confusion_metrics(t, s, thresholds[name]))
        rows.append(row)
    cols = np.array(scored, dtype=np.int64)
    summary: dict[str, Any] = {"n_records": int(len(y)), "n_labels": len(names), "n_labels_scored": len(rows),
                               "n_labels_not_scored": len(skipped)}
    if rows:
        summary["macro_auroc"] = float(np.mean([r["auroc"] for r in rows]))
        summary["macro_auroc_ci"] = list(bootstrap_macro_ci(y, scores, mask, cols, n_boot=min(n_boot, 300),
                                                            seed=seed))
        summary["macro_auprc"] = float(np.mean([r["auprc"] for r in rows]))
        summary["micro_auroc"] = micro_auroc(y, scores, mask, cols)
        summary["micro_auprc"] = micro_auprc(y, scores, mask, cols)
        with_t = [r for r in rows if "threshold" in r]
        for key in ("sensitivity", "specificity", "f1"):
            vals = [r[key] for r in with_t if np.isfinite(r[key])]
            if vals:
                summary[f"macro_{key}"] = float(np.mean(vals))
    return Evaluation(rows, summary, skipped)


def _fmt_ci(value: float, ci: Sequence[float]) -> str:
    return f"{value:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"


def markdown_report(ev: Evaluation, *, title: str, notes: Sequence[str] = ()) -> str:
    s = ev.summary
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes]
    lines += [f"- records: {s['n_records']}; labels scored: {s['n_labels_scored']} of {s['n_labels']} "
              f"(the others lack positives or negatives in this set: {', '.join(ev.skipped) or 'none'})"]
    if "macro_auroc" in s:
        lines += [f"- macro AUROC: **{_fmt_ci(s['macro_auroc'], s['macro_auroc_ci'])}** (95% bootstrap CI); "
                  f"micro AUROC {s['micro_auroc']:.3f}; macro AUPRC {s['macro_auprc']:.3f}; "
                  f"micro AUPRC {s['micro_auprc']:.3f}"]
        if "macro_f1" in s:
            lines += [f"- at the chosen thresholds: macro sensitivity {s['macro_sensitivity']:.3f}, "
                      f"specificity {s['macro_specificity']:.3f}, F1 {s['macro_f1']:.3f}"]
    lines += ["", "| label | n | pos | AUROC (95% CI) | AUPRC (95% CI) | threshold | sens | spec | F1 |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(ev.labels, key=lambda r: -r["positives"]):
        t = _decision_cells(r)
        lines.append(f"| {r['label']} | {r['n']} | {r['positives']} | {_fmt_ci(r['auroc'], r['auroc_ci'])} | "
                     f"{_fmt_ci(r['auprc'], r['auprc_ci'])} | {t} |")
    return "\n".join(lines) + "\n"


def _decision_cells(r: dict) -> str:
    """Threshold, sensitivity, specificity, F1 cells; rates with their CIs when the row has them, and the
    reason when the label has no threshold (the threshold policy's "never shown positive")."""
    if "threshold" not in r:
        return "– | – | – | –"
    if r["threshold"] is None:
        return f"none: {r.get('threshold_reason', 'not set')} | – | – | –"

    def rate(key: str) -> str:
        ci = r.get(f"{key}_ci")
        return f"{r[key]:.2f} ({ci[0]:.2f}–{ci[1]:.2f})" if ci else f"{r[key]:.2f}"

    return f"{r['threshold']:.3f} | {rate('sensitivity')} | {rate('specificity')} | {r['f1']:.2f}"


def plot_report(ev: Evaluation, y: np.ndarray, scores: np.ndarray, mask: np.ndarray, names: Sequence[str],
                out_dir: Path, top: int = 6) -> list[Path]:
    """ROC curves of the ``top`` labels with most positives, and a per-label AUROC chart with CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    by_name = {n: j for j, n in enumerate(names)}
    rows = sorted(ev.labels, key=lambda r: -r["positives"])
    fig, ax = plt.subplots(figsize=(6, 6))
    for r in rows[:top]:
        j = by_name[r["label"]]
        keep = mask[:, j].astype(bool)
        fpr, tpr, _ = roc_curve(y[keep, j], scores[keep, j])
        ax.plot(fpr, tpr, label=f"{r['label'][:32]} ({r['auroc']:.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC, labels with most positives")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    files.append(out_dir / "roc_top_labels.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    rows = sorted(ev.labels, key=lambda r: r["auroc"])
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.2))
    pos = np.arange(len(rows))
    au = np.array([r["auroc"] for r in rows])
    lo = au - np.array([r["auroc_ci"][0] for r in rows])
    hi = np.array([r["auroc_ci"][1] for r in rows]) - au
    ax.barh(pos, au, xerr=[lo, hi], color="#4c72b0", ecolor="k", capsize=2)
    ax.set_yticks(pos, [f"{r['label'][:38]} (n+={r['positives']})" for r in rows], fontsize=7)
    ax.axvline(0.5, color="k", ls=":", lw=1)
    ax.set(xlim=(0.3, 1.0), xlabel="AUROC (95% bootstrap CI)", title="Per-label AUROC")
    fig.tight_layout()
    files.append(out_dir / "auroc_per_label.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files


def write_thresholds(bundle_dir: str | os.PathLike[str], thresholds: dict[str, float], *,
                     source: str, metrics: dict[str, Any] | None = None) -> str:
    """Put per-label thresholds (and optionally metrics) into a bundle's card, weights unchanged.

    Written through :func:`ecgcore.bundle.update_card`, the one card writer: the card's patch version
    is bumped when the thresholds change, so predictions stored under the old version keep their
    thresholds' meaning. Returns the card's version.
    """
    from ecgcore.bundle import load_card, update_card

    card = load_card(bundle_dir)
    changes: dict[str, Any] = {
        "thresholds": [float(thresholds.get(n, t)) for n, t in zip(card.labels, card.thresholds)],
        "training": {**card.training, "thresholds_from": source},
    }
    if metrics is not None:
        changes["metrics"] = metrics
    return update_card(bundle_dir, **changes).version


def evaluate_bundle(bundle_dir: str, dataset: str, *, test_split: str = "test", val_split: str | None = "val",
                    out_dir: str | None = None, write_card: bool = False, n_boot: int = 1000,
                    threshold_method: str = "f1") -> Evaluation:
    """Score ``dataset``'s ``test_split`` with a bundle; thresholds from ``val_split`` (or the card's)."""
    from ecgcore.bundle import load_bundle
    from train.data.shards import TrainingSet
    from train.fit import predict_probabilities

    bundle = load_bundle(bundle_dir)
    ts = TrainingSet(dataset)
    names = list(bundle.card.trained_labels or bundle.card.labels)
    names = [n for n in names if n in ts.label_names]
    out_cols = np.array([bundle.card.labels.index(n) for n in names])
    ds_cols = ts.label_columns(names)
    test_idx = ts.indices(split=test_split)
    if len(test_idx) == 0:
        raise ValueError(f"{dataset} has no records in split {test_split!r}")
    scores = predict_probabilities(bundle.model, ts, test_idx)[:, out_cols]
    if val_split:
        val_idx = ts.indices(split=val_split)
        if set(val_idx) & set(test_idx):
            raise ValueError("validation and test splits overlap: thresholds would be chosen on test data")
        val_scores = predict_probabilities(bundle.model, ts, val_idx)[:, out_cols]
        thresholds = choose_thresholds(ts.labels[val_idx][:, ds_cols], val_scores, ts.mask[val_idx][:, ds_cols],
                                       names, threshold_method)
        source = f"{val_split} split of {ts.manifest.get('description')}"
    else:
        thresholds = {n: bundle.card.thresholds[bundle.card.labels.index(n)] for n in names}
        source = "card"
    y, mask = ts.labels[test_idx][:, ds_cols], ts.mask[test_idx][:, ds_cols]
    ev = evaluate_predictions(y, scores, mask, names, thresholds, n_boot=n_boot)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(ev.to_dict(), indent=1) + "\n")
        plot_report(ev, y, scores, mask, names, out)
        (out / "report.md").write_text(markdown_report(
            ev, title=f"Evaluation of {bundle.card.name} on {test_split}",
            notes=[f"dataset: {ts.manifest.get('description')}", f"thresholds from: {source}",
                   "plots: roc_top_labels.png, auroc_per_label.png"]))
    if write_card and val_split:
        write_thresholds(bundle_dir, thresholds, source=source)
    return ev
