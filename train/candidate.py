"""From verdicts to a candidate model: fine-tune the current bundle on the reviewed records (issue #21).

Input: an expert-review export (``db.export``: consensus labels of the records whose review is
final), the bundle serving now (the base), optionally the shipped model's own training data as a
built training set (the *rehearsal* set: mixed in so the model does not forget what it knew) and a
*reference test set* (a labelled folder in the export layout that no shipped model was trained on).

Steps, each visible in the candidate's card:

1. The reviewed records are split patient-disjoint (:func:`holdout_split`, groups = the store's
   patient key, else each record alone): ``holdout_fraction`` of them is kept out for evaluation.
2. The base network is fine-tuned (:func:`fine_tune`, the one fit loop :func:`train.fit.fit`, fixed
   epochs, a small learning rate) on the rest of the reviewed records plus the rehearsal set, on the
   labels the base claims (its ``trained_labels``), so candidate and base answer the same question.
   A seed ensemble's members are fine-tuned one after the other (each from its own seed) and saved
   as an ensemble again.
   Thresholds are the base's: the held-out records are for evaluation only, and too few to tune
   thresholds on as well; the comparison's calibration and changed calls show what that means.
3. Candidate and base are compared (:mod:`train.compare`) on the held-out reviewed records and on the
   reference test set; the comparison and the lineage (the export, the review versions, the base
   model, the code version, the data sets) go into the card, and the bundle is written once to
   ``<candidates dir>/<name>-<version>``, the version a minor step above the base's not yet used
   there. Nothing of the base or of the shipped bundles is touched; a person decides on promotion
   (:mod:`db.model_registry`).

Long work reports progress through ``on_progress(fraction, stage)`` and stops with
:class:`CandidateCancelled` when ``should_stop()`` turns true (checked before every batch).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import GroupShuffleSplit

from ecgcore.bundle import Bundle, ModelCard, load_bundle, next_version, save_bundle
from ecgcore.config import REPO_ROOT
from ecgcore.ensemble import combine
from ecgcore.model import Net1D
from train.augment import AugmentConfig
from train.compare import ComparisonSet, compare_models
from train.data.combine import concatenate
from train.data.review_export import review_export_examples
from train.data.shards import TrainingSet, build
from train.fit import FitConfig, fit

REVIEW_SOURCE = "expert-review"
REFERENCE_SOURCE = "reference"
ProgressCallback = Callable[[float, str], None]


class CandidateCancelled(Exception):
    """The person who started the candidate cancelled it; nothing was written to the candidates folder."""


@dataclass
class CandidateConfig:
    """How a candidate is fine-tuned and compared (every field is written into its card)."""

    holdout_fraction: float = 0.3     # of the reviewed records (by patient), kept out for the comparison
    epochs: int = 5
    lr: float = 3e-4                  # a tenth of training from scratch: adjust, do not relearn
    batch_size: int = 32
    weight_decay: float = 0.05
    seed: int = 0
    n_boot: int = 500                 # bootstrap resamples of the comparison's CIs
    num_threads: int | None = 1       # leaves the other core to the app while a job trains
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction={self.holdout_fraction!r}; give a fraction strictly between 0 and 1 "
                             "(e.g. 0.3): some reviewed records must train and some must be kept out")
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r}; fine-tuning needs at least one epoch")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "augment": self.augment.to_dict()}


@dataclass
class CandidateResult:
    bundle_dir: Path
    card: ModelCard
    comparison: dict[str, Any]
    holdout_records: list[str]


# -- the pieces ---------------------------------------------------------------------------------
def holdout_split(patient_ids: Sequence[str], fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices with no patient on both sides; about ``fraction`` of the patients held out.

    Raises when there are fewer than two patients: nothing could be both trained on and kept out.
    """
    groups = np.asarray([str(p) for p in patient_ids])
    if len(np.unique(groups)) < 2:
        raise ValueError(f"{len(groups)} reviewed record(s) of {len(np.unique(groups))} patient(s): a candidate needs "
                         "records of at least two patients with a final consensus (one to train on, one to hold out)")
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train, held = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train), np.sort(held)


def outputs_view(ts: TrainingSet, names: Sequence[str]) -> TrainingSet:
    """``ts`` with its label columns cut to ``names`` in that order: the targets of a network whose
    outputs are ``names`` (a bundle may predict a subset of the vocabulary)."""
    cols = ts.label_columns(names)
    view = copy.copy(ts)
    view.labels, view.mask, view.label_names = ts.labels[:, cols], ts.mask[:, cols], tuple(names)
    return view


def fine_tune(networks: Sequence[Net1D], ts: TrainingSet, train_idx: np.ndarray, labels: Sequence[str],
              config: CandidateConfig, work_dir: Path, *, on_progress: ProgressCallback | None = None,
              should_stop: Callable[[], bool] | None = None) -> list[Net1D]:
    """Fine-tuned copies of ``networks`` (each member of an ensemble in turn; the originals are untouched)
    on ``ts[train_idx]``, outputs in ``ts.label_names`` order, loss on ``labels`` only."""
    tuned = []
    threads = torch.get_num_threads()  # fit sets the process-wide count; the app's other threads get it back
    try:
        for member, network in enumerate(networks):
            tuned.append(_fine_tune_member(member, len(networks), network, ts, train_idx, labels, config, work_dir,
                                           on_progress, should_stop))
    finally:
        torch.set_num_threads(threads)
    return tuned


def _fine_tune_member(member: int, n_members: int, network: Net1D, ts: TrainingSet, train_idx: np.ndarray,
                      labels: Sequence[str], config: CandidateConfig, work_dir: Path,
                      on_progress: ProgressCallback | None, should_stop: Callable[[], bool] | None) -> Net1D:
    """One member through the fit loop, from its own seed; progress counted over all members."""
    def on_step(done: int, total: int) -> None:
        if should_stop is not None and should_stop():
            raise CandidateCancelled("cancelled")
        if on_progress is not None:
            which = f" member {member + 1}/{n_members}" if n_members > 1 else ""
            on_progress((member + done / max(total, 1)) / n_members, f"fine-tuning{which}: step {done + 1}/{total}")

    fit_config = FitConfig(out_dir=str(work_dir / f"member-{member}"), labels=list(labels), epochs=config.epochs,
                           batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                           warmup_epochs=0.0, patience=None, seed=config.seed + member, augment=config.augment,
                           num_threads=config.num_threads, progress=False, resume=False)
    result = fit(fit_config, ts, train_idx, None, network=copy.deepcopy(network).train(), on_step=on_step)
    return result.model.cpu().eval()


def code_version() -> str:
    """The git commit of this code (``+dirty`` when files differ from it), else the package version."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from ecgcore import __version__

        return f"ecgcore {__version__} (not a git checkout)"


def candidate_version(base: ModelCard, candidates_dir: Path) -> str:
    """The base's next minor version not yet taken by a candidate folder of the same name."""
    version = next_version(base.version if base.version.replace(".", "").isdigit() else "1.0.0", "minor")
    while (candidates_dir / f"{base.name}-{version}").exists():
        version = next_version(version, "minor")
    return version


def _build(folder: Path, out: Path, base: Bundle, source: str) -> TrainingSet:
    result = build(review_export_examples(folder, split=source, source=source), out,
                   leads=list(base.card.input_leads), config=base.card.preprocess_config,
                   description=f"{source} records of {folder}", progress=False)
    if result.n_records == 0:
        raise ValueError(f"{folder} holds no usable records ({len(result.skipped)} skipped): "
                         "nothing to train or evaluate on")
    return TrainingSet(result.path)


def _set_info(folder: Path | None, ts: TrainingSet | None) -> dict[str, Any] | None:
    if folder is None or ts is None:
        return None
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return {"path": str(folder), "description": manifest.get("description") or ts.manifest.get("description"),
            "n_records": len(ts), "created": manifest.get("created_at") or ts.manifest.get("created")}


# -- the whole step -----------------------------------------------------------------------------
def train_candidate(export_dir: str | Path, base_bundle: str | Path, candidates_dir: str | Path, *,
                    rehearsal_set: str | Path | None = None, reference_set: str | Path | None = None,
                    config: CandidateConfig | None = None, started_by: str | None = None,
                    on_progress: ProgressCallback | None = None,
                    should_stop: Callable[[], bool] | None = None) -> CandidateResult:
    """Fine-tune ``base_bundle`` on the export's reviewed records, compare, write the candidate bundle."""
    config = config or CandidateConfig()
    export_dir, candidates_dir = Path(export_dir), Path(candidates_dir)
    report = on_progress or (lambda fraction, stage: None)
    base = load_bundle(base_bundle)
    networks = base.networks  # one, or each member of a seed ensemble in turn
    candidates_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".candidate-", dir=candidates_dir))
    try:
        report(0.0, "reading the reviewed records")
        reviewed = _build(export_dir, work / "reviewed", base, REVIEW_SOURCE)
        train_reviewed, held = holdout_split(reviewed.meta["patient_id"].tolist(), config.holdout_fraction, config.seed)
        rehearsal = TrainingSet(rehearsal_set) if rehearsal_set else None
        reference = _build(Path(reference_set), work / "reference", base, REFERENCE_SOURCE) if reference_set else None
        if rehearsal is not None:
            report(0.05, "mixing in the rehearsal set")
            combined = concatenate([reviewed, rehearsal], work / "combined")
            rehearsal_idx = len(reviewed) + np.setdiff1d(np.arange(len(rehearsal)), rehearsal.indices(split="test"))
            train_idx = np.concatenate([train_reviewed, rehearsal_idx])
        else:
            combined, train_idx = reviewed, train_reviewed
        labels = [n for n in base.card.trained_labels if n in combined.label_names]
        report(0.1, "fine-tuning")
        tuned = fine_tune(networks, outputs_view(combined, base.card.labels), train_idx, labels, config,
                            work / "fit", should_stop=should_stop,
                            on_progress=lambda f, stage: report(0.1 + 0.75 * f, stage))
        version = candidate_version(base.card, candidates_dir)
        card = _candidate_card(base, version, export_dir, config, started_by, n_train=len(train_idx),
                               n_train_reviewed=len(train_reviewed), holdout=reviewed.meta["record_id"].iloc[held].tolist(),
                               patient_disjoint=_patients_known(export_dir), rehearsal=_set_info(
                                   Path(rehearsal_set) if rehearsal_set else None, rehearsal),
                               reference=_set_info(Path(reference_set) if reference_set else None, reference))
        report(0.85, "comparing with the current model")
        if should_stop is not None and should_stop():
            raise CandidateCancelled("cancelled")
        sets = [ComparisonSet("holdout", reviewed, held, "reviewed records held out of fine-tuning")]
        if reference is not None:
            sets.append(ComparisonSet("reference", reference, np.arange(len(reference)),
                                      str(card.training["lineage"]["reference_test_set"]["description"])))
        comparison = compare_models(base.model, base.card, combine(tuned), card, sets, n_boot=config.n_boot,
                                    seed=config.seed)
        card.metrics = {**card.metrics, "comparison": comparison}
        bundle_dir = save_bundle(tuned, card, candidates_dir / f"{card.name}-{version}")
        report(1.0, "done")
        return CandidateResult(bundle_dir, card, comparison, card.training["lineage"]["holdout"]["records"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def candidate_from_store(db: Any, *, actor: str | int | None, config: CandidateConfig | None = None,
                         base_bundle: str | Path | None = None, n_leads: int = 12,
                         candidates_dir: str | Path | None = None,
                         rehearsal_set: str | Path | None = None, reference_set: str | Path | None = None,
                         on_progress: ProgressCallback | None = None,
                         should_stop: Callable[[], bool] | None = None) -> CandidateResult:
    """The loop's first step from a review store ``db`` (a :class:`db.session.Database`): export the
    expert-review set, fine-tune the store's current default for ``n_leads``-lead records (12, or 1:
    the single-lead model learns from the reviewed records' lead I) or ``base_bundle``, audit it.

    Defaults come from the workspace settings (``db.config``): ``ECG_CANDIDATES_DIR``,
    ``ECG_REHEARSAL_SET``, ``ECG_REFERENCE_TEST_SET``. The export is kept beside the candidates
    (``exports/``) because the candidate's card names it as its lineage.
    """
    from db import config as store_config  # db is optional for training on public data
    from db import model_registry
    from db.export import export_expert_review

    model_registry.check_may_train(db, actor)
    candidates_dir = Path(candidates_dir) if candidates_dir is not None else store_config.candidates_dir()
    base_bundle = base_bundle if base_bundle is not None else model_registry.default_bundle(db, n_leads)
    rehearsal_set = rehearsal_set if rehearsal_set is not None else store_config.rehearsal_set()
    reference_set = reference_set if reference_set is not None else store_config.reference_test_set()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    export = export_expert_review(db, candidates_dir / "exports" / f"reviews-{stamp}", exported_by=actor)
    try:
        result = train_candidate(export, base_bundle, candidates_dir, rehearsal_set=rehearsal_set,
                                 reference_set=reference_set, config=config,
                                 started_by=None if actor is None else str(actor), on_progress=on_progress,
                                 should_stop=should_stop)
    except BaseException:
        shutil.rmtree(export, ignore_errors=True)  # no candidate names it
        raise
    model_registry.record_candidate(db, result.bundle_dir, actor=actor)
    return result


def _patients_known(export_dir: Path) -> bool:
    """Whether the export links records to patients (then the hold-out split is patient-disjoint;
    otherwise each record counts as its own patient)."""
    table = pd.read_csv(export_dir / "labels.csv", usecols=lambda c: c == "patient_key", dtype=str)
    return "patient_key" in table and bool(table["patient_key"].notna().any())


def _candidate_card(base: Bundle, version: str, export_dir: Path, config: CandidateConfig, started_by: str | None, *,
                    n_train: int, n_train_reviewed: int, holdout: list[str], patient_disjoint: bool,
                    rehearsal: dict[str, Any] | None, reference: dict[str, Any] | None) -> ModelCard:
    export = json.loads((export_dir / "manifest.json").read_text())
    lineage = {
        "base_model": {"name": base.card.name, "version": base.card.version, "path": str(base.path),
                       "weights_sha256": base.card.weights_sha256},
        "reviews": {"export": str(export_dir), "exported_at": export.get("created_at"),
                    "exported_by": export.get("exported_by"), "schema_revision": export.get("schema_revision"),
                    "consensus_policy": export.get("consensus_policy"), "n_records": export.get("n_records"),
                    "reviewers": [r.get("name") for r in export.get("reviewers", [])],
                    "review_versions": export.get("reviews", [])},
        "code_version": code_version(),
        "rehearsal_set": rehearsal,
        "reference_test_set": reference,
        "holdout": {"fraction": config.holdout_fraction, "seed": config.seed, "records": holdout,
                    "patient_disjoint": patient_disjoint,
                    "split_by": "patient key" if patient_disjoint else "record (no patient seen twice)"},
        "started_by": started_by,
    }
    description = (f"Candidate fine-tuned from {base.card.display_name} on {n_train_reviewed} reviewed records"
                   f"{' and the rehearsal set' if rehearsal else ' (no rehearsal set: may have forgotten)'}; "
                   "not the default until an admin promotes it. Thresholds are the base model's.")
    # Which labels may be called positive (ecgcore.consistency.validated_labels) follows the base model's
    # evaluation, as its thresholds and calibration do; the candidate's own figures are its comparison.
    base_per_label = (base.card.metrics or {}).get("per_label")
    metrics = {"per_label": base_per_label,
               "per_label_from": f"base model {base.card.display_name}"} if base_per_label else {}
    # The base's embedding reference describes the base's feature space, not the fine-tuned one.
    ood = {k: v for k, v in (base.card.ood or {}).items() if k not in ("embedding", "embedding_from")}
    return ModelCard.from_dict({
        **base.card.to_dict(), "version": version, "default": False, "weights_sha256": "", "metrics": metrics,
        "ood": ood,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "description": description,
        "training": {"kind": "candidate from reviews", "lineage": lineage, "config": config.to_dict(),
                     "n_train": n_train, "n_train_reviewed": n_train_reviewed, "n_holdout": len(holdout),
                     "thresholds_from": f"base model {base.card.display_name}", "base_training": base.card.training},
    })
