"""`Predictor`: load a bundle once, turn records into ranked findings, one at a time or by the thousand.

Ranking puts positive findings (probability >= the label's threshold) first, each group by
probability. Labels the bundle was not trained on are left out unless asked for, because their
outputs carry no information (see ``ModelCard.trained_labels``). Positives are made consistent
(:mod:`ecgcore.consistency`): a label without a validated threshold on the card is never positive,
and NORMAL ECG / sinus rhythm yield beside an abnormal finding / atrial fibrillation or flutter; the
prediction's ``notes`` say what was changed. Labels keep the model's names everywhere (CSV, JSON and
the ``ecg predict`` table); the app shows them in sentence case (:func:`ecgcore.labels.display_label`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ecgcore.bundle import Bundle, ModelCard, default_bundle_path, load_bundle
from ecgcore.calibration import Calibrator
from ecgcore.consistency import consistent_findings, validated_labels
from ecgcore.ensemble import combine, networks_of
from ecgcore.errors import ECGError, LabelError
from ecgcore.layout_planner import PlanMeasurement
from ecgcore.model import Net1D
from ecgcore.plan_cache import plan_measurement_for
from ecgcore.planned_forward import PlannedNet1D
from ecgcore.preprocessing import preprocess
from ecgcore.record import Record
from ecgcore.routing import model_lead_count

if TYPE_CHECKING:
    from ecgcore.measurements import Measurements, Statement


@dataclass(frozen=True)
class Finding:
    label: str
    probability: float
    threshold: float
    positive: bool
    trained: bool = True


@dataclass(frozen=True)
class Prediction:
    """Ranked findings for one record, with the model that made them."""

    record_name: str
    model: str
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()  # what the consistency rules changed (ecgcore.consistency)

    @property
    def positives(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.positive)

    def top(self, n: int) -> tuple[Finding, ...]:
        return self.findings[:n]

    def probability(self, label: str) -> float:
        for finding in self.findings:
            if finding.label == label:
                return finding.probability
        raise LabelError(f"{label!r} is not among this prediction's findings")

    def to_dict(self) -> dict:
        return {"record_name": self.record_name, "model": self.model, "findings": [asdict(f) for f in self.findings]}


@dataclass(frozen=True)
class FileResult:
    """Outcome of scoring one file in a batch run: a prediction or the error that stopped it.

    ``measurements`` (:class:`ecgcore.measurements.Measurements`) and the measurement-based
    ``statements`` when the run was asked to measure.
    """

    path: Path
    prediction: Prediction | None = None
    error: str | None = None
    measurements: Measurements | None = None
    statements: tuple[Statement, ...] | None = None


class Predictor:
    """A loaded model ready to score records.

    ``Predictor("models/ecgfounder-default")`` or ``Predictor.default()``; then
    ``predictor.predict(record)``. The network runs in ``torch.inference_mode`` on the CPU
    unless ``device`` says otherwise.
    """

    def __init__(self, bundle: Bundle | str | os.PathLike[str], device: str | torch.device = "cpu",
                 plan_layouts: bool = True):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.device = torch.device(device)
        self.model = self.bundle.model.to(self.device).eval()
        # On the CPU each stage runs in the memory layout measured fastest on this machine
        # (ecgcore.layout_planner, cached by ecgcore.plan_cache). Same outputs, to float32 rounding.
        self.plan_layouts = (plan_layouts and self.device.type == "cpu"
                             and all(isinstance(n, Net1D) for n in networks_of(self.model)))
        self.plan_measurement: PlanMeasurement | None = None
        self._planned_model: torch.nn.Module | None = None
        self._plan_lock = threading.Lock()
        card = self.bundle.card
        self.labels: tuple[str, ...] = tuple(card.labels)
        self.thresholds = np.asarray(card.thresholds, dtype=np.float64)
        self.input_leads: tuple[str, ...] = tuple(card.input_leads)
        self.preprocess_config = card.preprocess_config
        trained = set(card.trained_labels)
        self.trained_mask = np.array([label in trained for label in self.labels])
        self._label_index = {label: i for i, label in enumerate(self.labels)}
        self.validated_labels = validated_labels(card)  # None: the card holds no per-label evaluation
        self.calibrator = Calibrator(self.labels, card.calibration)

    @classmethod
    def default(cls, n_leads: int | Record = 12, device: str = "cpu") -> "Predictor":
        """The installed default bundle for this record, or records with ``n_leads`` leads.

        The single-lead default for one-lead records, the 12-lead default for all others
        (:func:`ecgcore.routing.model_lead_count`); raises NoDefaultModelError if none is installed.
        """
        return cls(default_bundle_path(model_lead_count(n_leads)), device=device)

    @property
    def card(self) -> ModelCard:
        return self.bundle.card

    @property
    def name(self) -> str:
        return self.card.display_name

    def label_index(self, label: str) -> int:
        try:
            return self._label_index[label]
        except KeyError:
            raise LabelError(f"The model {self.name} has no label {label!r}.") from None

    # -- arrays ---------------------------------------------------------------------------
    def prepare(self, record: Record, start_s: float | None = None) -> np.ndarray:
        """The model input for one record: (len(input_leads), 5000) float32."""
        return preprocess(record, leads=self.input_leads, start_s=start_s, config=self.preprocess_config)

    def inference_model(self, batch_size: int) -> torch.nn.Module:
        """The module that scores batches: the layout-planned twin of ``model`` when enabled.

        The plan is looked up (or measured, ~2 s for the official network at batch 32) once, at the
        first batch's size, and reused for every batch after it: only speed depends on it.
        Thread-safe: app sessions share one Predictor.
        """
        if not self.plan_layouts:
            return self.model
        with self._plan_lock:
            if self._planned_model is None:
                networks = networks_of(self.model)  # ensemble members share one architecture, so one plan
                self.plan_measurement, _ = plan_measurement_for(networks[0], batch_size)
                self._planned_model = combine([PlannedNet1D(n, self.plan_measurement.plan) for n in networks])
        return self._planned_model

    def raw_probabilities(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """The network's sigmoid outputs (batch, n_labels) for preprocessed inputs (batch, leads, 5000),
        before calibration (the mean of the members' for an ensemble)."""
        x = torch.as_tensor(batch, dtype=torch.float32, device=self.device)
        model = self.inference_model(x.shape[0])
        with torch.inference_mode():
            return torch.sigmoid(model(x)).double().cpu().numpy()

    def embeddings(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """Pooled features before the head (batch, n_features) for preprocessed inputs: the mean over time
        of the last feature map (an ensemble's members concatenated, :mod:`ecgcore.ensemble`)."""
        x = torch.as_tensor(batch, dtype=torch.float32, device=self.device)
        model = self.inference_model(x.shape[0])
        with torch.inference_mode():
            return model.forward_features(x).mean(-1).double().cpu().numpy()

    def probabilities(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """Calibrated probabilities (batch, n_labels): the card's per-label maps
        (:mod:`ecgcore.calibration`) applied to :meth:`raw_probabilities`; the card's thresholds are on
        this scale. A card without calibration returns the network's outputs."""
        return self.calibrator(self.raw_probabilities(batch))

    # -- records --------------------------------------------------------------------------
    def predict(self, record: Record, *, start_s: float | None = None, include_untrained: bool = False) -> Prediction:
        probabilities = self.probabilities(self.prepare(record, start_s)[np.newaxis])[0]
        return self.rank(record.record_name, probabilities, include_untrained=include_untrained)

    def predict_batch(self, records: Sequence[Record], *, include_untrained: bool = False) -> list[Prediction]:
        if not records:
            return []
        batch = np.stack([self.prepare(r) for r in records])
        probabilities = self.probabilities(batch)
        return [self.rank(r.record_name, p, include_untrained=include_untrained) for r, p in zip(records, probabilities)]

    def rank(self, record_name: str, probabilities: np.ndarray, *, thresholds: np.ndarray | None = None,
             include_untrained: bool = False, consistent: bool = True) -> Prediction:
        """Findings for one output vector: positives first, then by probability.

        ``thresholds`` (one per label) replace the card's, e.g. those stored with a prediction, so a
        stored run is shown against the thresholds it was made with. ``consistent=False`` marks every
        label at or above its threshold positive, without :func:`ecgcore.consistency.consistent_findings`.
        """
        thresholds = self.thresholds if thresholds is None else np.asarray(thresholds, dtype=float)
        if thresholds.shape != self.thresholds.shape:
            raise ValueError(f"thresholds has shape {thresholds.shape}; one per label {self.thresholds.shape} is needed")
        positive = probabilities >= thresholds
        keep = np.ones_like(positive) if include_untrained else self.trained_mask
        order = np.lexsort((-probabilities, ~positive))
        findings = tuple(
            Finding(
                label=self.labels[i],
                probability=float(probabilities[i]),
                threshold=float(thresholds[i]),
                positive=bool(positive[i]),
                trained=bool(self.trained_mask[i]),
            )
            for i in order
            if keep[i]
        )
        notes: tuple[str, ...] = ()
        if consistent:
            findings, notes = consistent_findings(findings, self.validated_labels)
        return Prediction(record_name=record_name, model=self.name, findings=findings, notes=notes)

    # -- files ----------------------------------------------------------------------------
    def predict_files(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int = 32,
        num_workers: int | None = None,
        include_untrained: bool = False,
        progress: bool = False,
        single_lead: "Predictor | None" = None,
        measure: bool = False,
    ) -> Iterator[FileResult]:
        """Score many files: workers read and preprocess while the model runs; errors never stop the run.

        Results come back in input order. A file that cannot be read or preprocessed yields a
        ``FileResult`` with ``error`` set; the others are scored normally. With ``single_lead``,
        the records :func:`ecgcore.routing.model_lead_count` sends to the single-lead model (one
        lead) are scored by that model (each prediction names its model), unless this predictor is
        itself a single-lead model. With ``measure``, each result also carries
        :func:`ecgcore.measure` of the record, on the window the model scored, and its
        measurement-based statements (computed by the workers).
        """
        from ecgcore.batch import iterate_prepared_batches, progress_bar  # local import: DataLoader machinery

        files = [Path(p) for p in paths]
        if files:
            # Plan layouts before the reader processes start: measured on a quiet CPU, not against them.
            self.inference_model(min(batch_size, len(files)))
        bar = progress_bar(len(files), enabled=progress)
        try:
            for items in iterate_prepared_batches(self, files, batch_size=batch_size, num_workers=num_workers,
                                                  single_lead=single_lead, measure=measure):
                scored: dict[int, tuple[Predictor, np.ndarray]] = {}
                for model, routed in ((self, False), (single_lead, True)):
                    good = [item for item in items if item.array is not None and item.single_lead == routed]
                    if good and model is not None:
                        probabilities = model.probabilities(np.stack([g.array for g in good]))
                        scored.update({id(g): (model, p) for g, p in zip(good, probabilities)})
                for item in items:
                    if item.array is None:
                        yield FileResult(path=item.path, error=item.error)
                    else:
                        model, probabilities = scored[id(item)]
                        prediction = model.rank(item.record_name, probabilities, include_untrained=include_untrained)
                        yield FileResult(path=item.path, prediction=prediction, measurements=item.measurements,
                                         statements=item.statements)
                bar.update(len(items))
        finally:
            bar.close()


__all__ = ["Finding", "Prediction", "FileResult", "Predictor", "ECGError"]
