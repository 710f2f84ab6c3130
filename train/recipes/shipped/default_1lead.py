"""The shipped single-lead model, and experiment 2 (issue #7) that chooses it: electrical-axis lead augmentation.

One command: ``python -m train recipe run default-1lead`` (about 45 min on 2 CPU cores).

A. Does the augmentation help? Patient-disjoint 5-fold CV over PTB-XL (as for the default model),
   the 12-lead training data only, the default model's labels. Single-lead models
   (``net1d-small-1lead``, lead I input) trained on real lead I vs on virtual leads
   (:func:`train.augment.virtual_single_lead`), both scored on the *real* lead I of the held-out
   fold, next to a 12-lead model with the same budget (``Settings.reference_fit``).
B. The shipped single-lead model: the better variant of A trained on the 12-lead data (seen
   through lead I) plus the 2,500 CinC 2017 AliveCor recordings (N/A/O/~). Held-out check on
   CinC 2017 folds 1-2 (AF and sinus rhythm AUROC; both variants with ``compare_on_cinc``), then
   the final model on everything, saved as
   ``models/net1d-small-1lead-default`` (the app's model for one-lead uploads). Thresholds: max F1
   on the held-out predictions of A (PTB-XL labels) and B (CinC 2017 labels). Only labels
   validated on held-out device recordings with an AUROC CI above chance are shown
   (:func:`labels_with_skill`); the device check measures why.

The tables go to ``docs/experiments/single_lead.*`` (section 2 of docs/experiments.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.bundle import make_card, save_bundle
from train.augment import AxisAugmentConfig
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.data.single_lead import SingleLeadSet
from train.evaluate import choose_thresholds, evaluate_predictions
from train.experiments import cv_splits, fmt_ci, fmt_diff, paired_bootstrap, run_jobs, write_experiment_report
from train.fit import FitConfig, fit, predict_probabilities, select_labels
from train.paths import ARTIFACTS_DIR, EXPERIMENT_DOCS_DIR, LOCAL_DATA_DIR, MODELS_DIR, SHARED_DATA_DIR
from train.recipes.presets import fit_preset

logger = logging.getLogger(__name__)

NAME = "net1d-small-1lead-default"
RECIPE_FILE = "train/recipes/shipped/default_1lead.py"
COMMAND = "python -m train recipe run default-1lead"


@dataclass(frozen=True)
class Settings:
    """Everything that decides what this recipe trains and ships."""

    fit: FitConfig                    # every single-lead fit (part A with its epochs, part B with final_epochs)
    reference_fit: FitConfig          # part A's 12-lead reference: masked BCE, the same budget
    final_epochs: int                 # part B: 6x more records per epoch once CinC 2017 is in
    seeds: tuple[int, ...]            # part A; one seed fits the 1-hour budget
    cinc_holdout_folds: tuple[int, ...]
    axis: AxisAugmentConfig           # the electrical-axis augmentation of the "axis" variant
    n_boot: int
    compare_on_cinc: bool             # part B hold-out for both variants, not only the chosen one
    name: str
    version: str

    def with_epochs(self, epochs: int) -> "Settings":
        """Part A's budget (single-lead and reference fits); part B keeps ``final_epochs``."""
        return replace(self, fit=replace(self.fit, epochs=epochs), reference_fit=replace(self.reference_fit, epochs=epochs))

    def variants(self) -> dict[str, AxisAugmentConfig | None]:
        return {"lead-i": None, "axis": self.axis}


SETTINGS = Settings(
    fit=replace(fit_preset("net1d-small-1lead"), bundle_name=NAME),
    reference_fit=replace(fit_preset("net1d-small-12lead"), bundle_name="net1d-small-12lead-reference"),
    final_epochs=12,
    seeds=(0,),
    cinc_holdout_folds=(1, 2),
    axis=AxisAugmentConfig(),
    n_boot=500,
    compare_on_cinc=False,
    name=NAME,
    version="1.0.0",
)
VARIANTS = ("lead-i", "axis")
_VARIANT_NAMES = {"lead-i": "lead I", "axis": "lead I + axis augmentation"}


@dataclass(frozen=True)
class Job:
    data_12lead: str
    data_cinc2017: str | None       # None: the 12-lead data only (part A)
    work: str
    config: FitConfig               # Settings.fit with the epochs of the part
    axis: AxisAugmentConfig | None  # the variant's augmentation (None: real lead I)
    cinc_holdout_folds: tuple[int, ...]
    labels: tuple[str, ...]
    variant: str                    # "lead-i" or "axis"
    seed: int
    fold: int | None                # part A: CV fold; None: part B (CinC hold-out, or all with train_all)
    train_all: bool = False


def single_lead_set(data_12lead: str, data_cinc2017: str | None, axis: AxisAugmentConfig | None) -> SingleLeadSet:
    sets = [TrainingSet(data_12lead)] + ([TrainingSet(data_cinc2017)] if data_cinc2017 else [])
    return SingleLeadSet(sets, lead="I", axis=axis)


def run_job(job: Job) -> Any:
    ts = single_lead_set(job.data_12lead, job.data_cinc2017, job.axis)
    if job.fold is not None:
        train_idx, held = cv_splits(ts)[job.fold]
        name = f"{job.variant}-s{job.seed}-f{job.fold}"
    elif job.train_all:
        train_idx, held = np.arange(len(ts)), None
        name = f"final-{job.variant}"
    else:
        held = ts.indices(sources=["cinc2017"], folds=job.cinc_holdout_folds)
        train_idx = np.setdiff1d(np.arange(len(ts)), held)
        name = f"cinc-holdout-{job.variant}-s{job.seed}"
    config = replace(job.config, out_dir=str(Path(job.work) / name), labels=list(job.labels),
                     seed=job.config.seed + job.seed)
    result = fit(config, ts, train_idx, None)
    if held is None:
        return result.model.cpu().eval()
    return predict_probabilities(result.model, ts, held)[:, ts.label_columns(job.labels)]


@dataclass(frozen=True)
class ReferenceJob:
    dataset: str
    work: str
    config: FitConfig
    labels: tuple[str, ...]
    seed: int
    fold: int


def run_reference_job(job: ReferenceJob) -> np.ndarray:
    """Part A's 12-lead reference on one fold: its held-out probabilities over ``job.labels``."""
    ts = TrainingSet(job.dataset)
    train_idx, held = cv_splits(ts)[job.fold]
    config = replace(job.config, out_dir=str(Path(job.work) / f"12lead-s{job.seed}-f{job.fold}"),
                     labels=list(job.labels), seed=job.config.seed + job.seed)
    result = fit(config, ts, train_idx, None)
    return predict_probabilities(result.model, ts, held)[:, ts.label_columns(job.labels)]


def run(settings: Settings = SETTINGS, *, work: Path = ARTIFACTS_DIR / "single_lead", docs: Path = EXPERIMENT_DOCS_DIR,
        models_dir: Path = MODELS_DIR, shared: Path = SHARED_DATA_DIR,
        data_12lead: Path = LOCAL_DATA_DIR / "shared-12lead", data_cinc2017: Path = LOCAL_DATA_DIR / "cinc2017",
        workers: int | None = None, ship: bool = True) -> dict:
    seeds, epochs, final_epochs, n_boot = settings.seeds, settings.fit.epochs, settings.final_epochs, settings.n_boot
    variants = settings.variants()
    t0 = time.time()
    ts12 = ensure_dataset("shared", shared, data_12lead)
    cinc = ensure_dataset("cinc2017", shared / "cinc2017_subset", data_cinc2017)
    labels = select_labels(ts12, np.arange(len(ts12)), settings.fit.min_positives)
    splits = cv_splits(ts12)
    cols = ts12.label_columns(labels)

    # A: lead I vs axis augmentation vs the 12-lead reference, same folds, seeds and budget.
    jobs_a = [Job(str(ts12.path), None, str(work), settings.fit, variants[v], settings.cinc_holdout_folds,
                  tuple(labels), v, seed, k)
              for seed in seeds for v in VARIANTS for k in range(len(splits))]
    ref_jobs = [ReferenceJob(str(ts12.path), str(work), settings.reference_fit, tuple(labels), seed, k)
                for seed in seeds for k in range(len(splits))]
    logger.info("A: %d single-lead fits + %d 12-lead reference fits", len(jobs_a), len(ref_jobs))
    probs_a = run_jobs(run_job, jobs_a, workers=workers, desc="single-lead CV")
    probs_ref = run_jobs(run_reference_job, ref_jobs, workers=workers, desc="12-lead reference")
    held = np.concatenate([h for _, h in splits])
    y, m = ts12.labels[held][:, cols], ts12.mask[held][:, cols]

    def oof(variant: str) -> list[np.ndarray]:
        return [np.concatenate([p for j, p in zip(jobs_a, probs_a) if (j.variant, j.seed) == (variant, seed)])
                for seed in seeds]

    oof_ref = [np.concatenate([p for j, p in zip(ref_jobs, probs_ref) if j.seed == seed]) for seed in seeds]
    results: dict[str, Any] = {"labels": labels, "seeds": list(seeds), "epochs": epochs, "n_records": int(len(held)),
                               "n_boot": n_boot, "axis_config": settings.axis.to_dict(), "comparisons": []}
    for metric in ("auroc", "auprc"):
        aug = paired_bootstrap(y, m, oof("lead-i"), oof("axis"), metric=metric, n_boot=n_boot)
        gap = paired_bootstrap(y, m, oof_ref, oof("axis"), metric=metric, n_boot=n_boot)
        gap_plain = paired_bootstrap(y, m, oof_ref, oof("lead-i"), metric=metric, n_boot=n_boot)
        results["comparisons"].append({"metric": metric, "axis_vs_lead_i": aug.to_dict(),
                                       "axis_vs_12lead": gap.to_dict(), "lead_i_vs_12lead": gap_plain.to_dict()})
        logger.info(f"A {metric}: 12-lead {gap.a:.3f}, lead I {aug.a:.3f}, lead I + axis {aug.b:.3f} "
                    f"(axis - lead I {aug.diff:+.3f} {aug.diff_ci})")
    per_label = {}
    mean = {name: np.mean(v, axis=0) for name, v in (("12-lead", oof_ref), ("lead-i", oof("lead-i")),
                                                     ("axis", oof("axis")))}
    for name, scores in mean.items():
        ev = evaluate_predictions(y, scores, m, labels, n_boot=200)
        per_label[name] = {r["label"]: {"auroc": r["auroc"], "auroc_ci": r["auroc_ci"], "positives": r["positives"]}
                           for r in ev.labels}
    results["per_label"] = per_label
    auroc = next(c for c in results["comparisons"] if c["metric"] == "auroc")["axis_vs_lead_i"]
    chosen = "axis" if auroc["diff"] >= 0 else "lead-i"
    results["chosen_variant"] = chosen
    logger.info("shipped variant: %s", chosen)

    # B: CinC 2017 hold-out for both variants, then the final model.
    both = SingleLeadSet([ts12, cinc])
    all_labels = select_labels(both, np.arange(len(both)), settings.fit.min_positives)
    cinc_held = both.indices(sources=["cinc2017"], folds=settings.cinc_holdout_folds)
    cinc_labels = [n for n in ("ATRIAL FIBRILLATION", "SINUS RHYTHM") if n in all_labels]
    variants_b = list(VARIANTS) if settings.compare_on_cinc else [chosen]
    config_b = replace(settings.fit, epochs=final_epochs)
    jobs_b = [Job(str(ts12.path), str(cinc.path), str(work), config_b, variants[v], settings.cinc_holdout_folds,
                  tuple(all_labels), v, 0, None) for v in variants_b]
    if ship:
        jobs_b.append(Job(str(ts12.path), str(cinc.path), str(work), config_b, variants[chosen],
                          settings.cinc_holdout_folds, tuple(all_labels), chosen, 0, None, train_all=True))
    logger.info("B: %d fits on 12-lead + CinC 2017 (%d labels)", len(jobs_b), len(all_labels))
    out_b = run_jobs(run_job, jobs_b, workers=workers, desc="single-lead + CinC 2017")
    bc = both.label_columns(cinc_labels)
    yb, mb = both.labels[cinc_held][:, bc], both.mask[cinc_held][:, bc]
    in_all = [all_labels.index(n) for n in cinc_labels]
    results["cinc2017_holdout"] = {"folds": list(settings.cinc_holdout_folds), "n_records": int(len(cinc_held)),
                                   "epochs": final_epochs}
    for job, probs in zip(jobs_b, out_b):
        if job.train_all:
            continue
        ev = evaluate_predictions(yb, probs[:, in_all], mb, cinc_labels, n_boot=1000)
        results["cinc2017_holdout"][job.variant] = {r["label"]: {"auroc": r["auroc"], "auroc_ci": r["auroc_ci"],
                                                                 "auprc": r["auprc"], "auprc_ci": r["auprc_ci"],
                                                                 "positives": r["positives"], "n": r["n"]}
                                                    for r in ev.labels}
    # Device check: at the shipped thresholds, how often does each label fire on held-out AliveCor
    # recordings of each rhythm class? Labels validated only on PTB-XL's lead I turned out to fire
    # on most AliveCor recordings, so the bundle shows only labels validated on device recordings.
    cinc_held_probs = next(p for j, p in zip(jobs_b, out_b) if j.variant == chosen and not j.train_all)
    thresholds = choose_thresholds(y, mean[chosen], m, labels)
    thresholds.update(choose_thresholds(yb, cinc_held_probs[:, in_all], mb, cinc_labels))
    rhythm = _cinc_classes(both, cinc_held)
    results["device_check"] = {
        name: {c: float((cinc_held_probs[rhythm == c, k] >= thresholds.get(name, 0.5)).mean())
               for c in ("N", "A", "O", "~") if (rhythm == c).any()}
        for k, name in enumerate(all_labels)}
    results["shown_labels"] = labels_with_skill(results["cinc2017_holdout"][chosen], all_labels)
    results["minutes"] = (time.time() - t0) / 60
    write_experiment_report(docs, "single_lead", results, report(results), _plot)
    if ship and not results["shown_labels"]:
        # A card with no trained labels would show every output: better no bundle than that.
        logger.warning("no label is validated on held-out device recordings: the single-lead bundle is NOT written")
    elif ship:
        _ship(settings, out_b[-1], both, all_labels, thresholds, results, models_dir / settings.name)
        logger.info("bundle written to %s", models_dir / settings.name)
    logger.info("done in %.0f min", (time.time() - t0) / 60)
    return results


def _cinc_classes(ts: SingleLeadSet, idx: np.ndarray) -> np.ndarray:
    """The CinC 2017 rhythm class (N, A, O, ~) of each record, read back from its encoded labels."""
    af, sr = ts.label_columns(["ATRIAL FIBRILLATION", "SINUS RHYTHM"])
    y, m = ts.labels[idx], ts.mask[idx]
    return np.select([y[:, af] == 1, m[:, sr] & (y[:, sr] == 1), m[:, af]], ["A", "N", "O"], default="~")


def labels_with_skill(per_label: dict[str, dict], labels: list[str], chance: float = 0.5) -> list[str]:
    """Labels whose held-out AUROC 95% CI lies above chance; the others are hidden as untrained.

    A single lead carries no information for some findings (LAFB is read from the frontal axis,
    incomplete RBBB from V1): a model that cannot beat chance on them must not show them.
    """
    return [n for n in labels if n in per_label and (per_label[n].get("auroc_ci") or [0.0])[0] > chance]


def _ship(settings: Settings, model, both: SingleLeadSet, all_labels: list[str], thresholds: dict[str, float],
          results: dict, bundle_dir: Path) -> None:
    """Save the final model; ``thresholds`` come from held-out predictions (PTB-XL OOF lead I, CinC 2017)."""
    names = list(both.label_names)
    chosen = results["chosen_variant"]
    per_label = {k: {**v, "evaluated_on": "PTB-XL out-of-fold, real lead I"}
                 for k, v in results["per_label"][chosen].items()}
    for k, v in results["cinc2017_holdout"][chosen].items():
        per_label[k] = {**v, "evaluated_on": "CinC 2017 hold-out"}
    for k in per_label:
        per_label[k]["threshold"] = thresholds.get(k)
    shown = results["shown_labels"]
    config = replace(settings.fit, out_dir="", labels=list(all_labels), epochs=settings.final_epochs)
    card = make_card(
        settings.name, model, names, version=settings.version, architecture=settings.fit.model,
        thresholds=[thresholds.get(n, 0.5) for n in names], trained_labels=shown, input_leads=["I"],
        preprocessing=both.preprocess_config(),
        training={"data": {"sources": both.manifest["sources"], "n_records": len(both),
                           "description": "PTB-XL folds 1-9 + CinC 2021 + CODE-15% samples seen through lead I "
                                          + ("with electrical-axis augmentation" if chosen == "axis" else "")
                                          + "; CinC 2017 AliveCor subset (2,500 recordings, first 10 s)"},
                  "recipe": f"{RECIPE_FILE} ({COMMAND})",
                  "config": {**config.to_dict(), "axis_augment": settings.axis.to_dict() if chosen == "axis" else None},
                  "thresholds_from": "max F1 on held-out predictions (PTB-XL OOF real lead I; CinC 2017 folds 1-2)",
                  "labels_rule": "trained on every label with >= 10 positives and negatives; shown (trained_labels) "
                                 "only where validated on held-out single-lead device recordings (CinC 2017) with an "
                                 "AUROC 95% CI above chance: labels learnt from PTB-XL lead I alone fire on most "
                                 "AliveCor recordings (see docs/experiments.md, device check)",
                  "trained_on": list(all_labels)},
        metrics={"evaluation": "PTB-XL labels: out-of-fold on real lead I, patient-disjoint 5-fold CV, 12-lead "
                               "training data only, mean of seeds; ATRIAL FIBRILLATION / SINUS RHYTHM: CinC 2017 "
                               "folds 1-2 held out (record-level split: no patient ids are published)",
                 "per_label": per_label, "comparisons": results["comparisons"]},
        default=True,
        description="Small single-lead Net1D (lead I, e.g. a smartwatch or AliveCor recording exported as CSV), "
                    "trained from scratch on real ECGs. Predicts only its trained labels. Research software, "
                    "not a diagnosis.")
    save_bundle(model, card, bundle_dir)  # re-writing an earlier run's bundle bumps its version


def report(results: dict) -> str:
    lines = ["## 2. Electrical-axis lead augmentation and the single-lead model", "",
             f"**A. PTB-XL, real lead I.** Out-of-fold over {results['n_records']} PTB-XL records (patient-disjoint "
             f"5-fold CV, 12-lead training data only), {len(results['labels'])} labels, {results['epochs']} epochs, "
             f"mean of {len(results['seeds'])} seeds; 95% CIs from a paired bootstrap over records "
             f"({results['n_boot']} resamples).", "",
             "| metric | 12-lead model | lead I | lead I + axis augmentation | axis − lead I | axis − 12-lead |",
             "|---|---|---|---|---|---|"]
    for c in results["comparisons"]:
        a, g = c["axis_vs_lead_i"], c["axis_vs_12lead"]
        lines.append(f"| macro {c['metric'].upper()} | {fmt_ci(g['a'], g['a_ci'])} | {fmt_ci(a['a'], a['a_ci'])} | "
                     f"{fmt_ci(a['b'], a['b_ci'])} | {fmt_diff(a['diff'], a['diff_ci'])} | "
                     f"{fmt_diff(g['diff'], g['diff_ci'])} |")
    lines += ["", "Per label (AUROC, seed-averaged predictions, bootstrap 95% CI):", "",
              "| label | positives | 12-lead | lead I | lead I + axis |", "|---|---|---|---|---|"]
    pl = results["per_label"]
    for name in sorted(pl["12-lead"], key=lambda n: -pl["12-lead"][n]["positives"]):
        cells = [fmt_ci(pl[v][name]["auroc"], pl[v][name]["auroc_ci"]) if name in pl[v] else "–"
                 for v in ("12-lead", "lead-i", "axis")]
        lines.append(f"| {name} | {pl['12-lead'][name]['positives']} | " + " | ".join(cells) + " |")
    h = results["cinc2017_holdout"]
    lines += ["", f"**B. CinC 2017 hold-out** (folds {h['folds']}, {h['n_records']} AliveCor recordings; trained on "
              f"the other CinC 2017 folds + the 12-lead data through lead I, {h['epochs']} epochs, one seed):", "",
              "| label | positives / known | " + " | ".join(_VARIANT_NAMES[v] for v in VARIANTS if v in h) + " |",
              "|---|---|" + "---|" * sum(v in h for v in VARIANTS)]
    first = next(v for v in VARIANTS if v in h)
    for name in h[first]:
        cells = [fmt_ci(h[v][name]["auroc"], h[v][name]["auroc_ci"]) for v in VARIANTS if v in h]
        lines.append(f"| {name} | {h[first][name]['positives']} / {h[first][name]['n']} | " + " | ".join(cells) + " |")
    if results.get("device_check"):
        lines += ["", "**Device check.** Share of held-out CinC 2017 recordings flagged positive at the shipped "
                  "thresholds, by rhythm class (N normal, A AF, O other, ~ noisy). Labels learnt from PTB-XL's lead I "
                  "alone fire on most AliveCor recordings, whatever their rhythm (a shift in device and population, "
                  "and a shortcut: CinC AF recordings are the only AliveCor ones labelled abnormal):", "",
                  "| label | N | A | O | ~ | shown |", "|---|---|---|---|---|---|"]
        for name, rates in results["device_check"].items():
            cells = [f"{rates[c]:.2f}" if c in rates else "–" for c in ("N", "A", "O", "~")]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {'yes' if name in results['shown_labels'] else ''} |")
    lines += ["", f"Shipped: `models/{NAME}` ({'with' if results['chosen_variant'] == 'axis' else 'without'} the "
              "augmentation, chosen by A's macro AUROC). It shows only the labels validated on held-out single-lead "
              f"device recordings with an AUROC CI above chance: {', '.join(results.get('shown_labels', []))}. "
              "Every other output is marked untrained and hidden.", "", "![single-lead](single_lead.png)", ""]
    return "\n".join(lines)


def _plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pl = results["per_label"]
    names = sorted(pl["12-lead"], key=lambda n: -pl["12-lead"][n]["positives"])
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(names))
    for offset, key, label in ((-0.25, "12-lead", "12-lead"), (0.0, "lead-i", "lead I"),
                               (0.25, "axis", "lead I + axis aug.")):
        vals = [pl[key].get(n, {}).get("auroc", np.nan) for n in names]
        ax.bar(x + offset, vals, width=0.25, label=label)
    ax.set_xticks(x, [n.title()[:22] for n in names], rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("out-of-fold AUROC")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
