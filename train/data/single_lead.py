"""Single-lead training data made from 12-lead and single-lead training sets.

A single-lead model sees one z-scored lead. 12-lead records give their real lead I for
evaluation (re-z-scored over that lead alone, exactly as ``ecgcore.preprocess`` treats a one-lead
upload) and, during training, a virtual lead from the electrical-axis augmentation when
``axis`` is set. Single-lead records (CinC 2017) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from train.augment import AxisAugmentConfig, virtual_single_lead, zscore_records
from train.data.shards import TrainingSet


class SingleLeadSet(TrainingSet):
    """Concatenation of training sets seen through one lead; indices run over the sets in order."""

    def __init__(self, sets: Sequence[TrainingSet], *, lead: str = "I", axis: AxisAugmentConfig | None = None):
        if not sets:
            raise ValueError("SingleLeadSet needs at least one training set")
        names = {s.label_names for s in sets}
        if len(names) != 1:
            raise ValueError("the training sets use different label vocabularies")
        preprocessing = {str(s.manifest["preprocessing"]) for s in sets}
        if len(preprocessing) != 1:
            raise ValueError("the training sets were preprocessed differently; rebuild them with one config")
        for s in sets:
            if lead not in s.manifest["leads"] or (s.n_leads > 1 and "II" not in s.manifest["leads"]):
                raise ValueError(f"{s.path}: needs lead {lead} (and II when it has several leads)")
        self.sets = list(sets)
        self.lead = lead
        self.axis = axis
        self.path = sets[0].path
        self._offsets = np.cumsum([0] + [len(s) for s in sets])
        self.labels = np.concatenate([s.labels for s in sets])
        self.mask = np.concatenate([s.mask for s in sets])
        self.meta = pd.concat([s.meta for s in sets], ignore_index=True)
        self.label_names = sets[0].label_names
        sources: dict[str, int] = {}
        for s in sets:
            for k, v in s.manifest.get("sources", {}).items():
                sources[k] = sources.get(k, 0) + v
        self.manifest = {"leads": [lead], "n_samples": sets[0].manifest["n_samples"], "sources": sources,
                         "preprocessing": sets[0].manifest["preprocessing"],
                         "description": " + ".join(str(s.manifest.get("description", s.path)) for s in sets)
                         + f", seen through lead {lead}" + (" with electrical-axis augmentation" if axis else "")}

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def n_leads(self) -> int:
        return 1

    def _parts(self, idx: np.ndarray):
        which = np.searchsorted(self._offsets, idx, side="right") - 1
        for k in np.unique(which):
            sel = np.nonzero(which == k)[0]
            yield self.sets[k], sel, idx[sel] - self._offsets[k]

    def signals(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """Real lead, z-scored over itself: float32 ``(len(idx), 1, samples)``."""
        return self._signals(np.asarray(idx, dtype=np.int64), None)

    def training_signals(self, idx: Sequence[int] | np.ndarray, generator: torch.Generator) -> np.ndarray:
        """As :meth:`signals`, but 12-lead records become virtual leads when ``axis`` is set."""
        return self._signals(np.asarray(idx, dtype=np.int64), generator if self.axis else None)

    def _signals(self, idx: np.ndarray, generator: torch.Generator | None) -> np.ndarray:
        out = np.empty((len(idx), 1, self.manifest["n_samples"]), np.float32)
        for s, sel, local in self._parts(idx):
            x = s.signals(local)
            leads = list(s.manifest["leads"])
            if s.n_leads == 1:
                out[sel] = x
                continue
            lead_i = torch.from_numpy(np.ascontiguousarray(x[:, leads.index(self.lead)]))
            if generator is None:
                out[sel] = zscore_records(lead_i[:, None, :]).numpy()
            else:
                lead_ii = torch.from_numpy(np.ascontiguousarray(x[:, leads.index("II")]))
                out[sel] = virtual_single_lead(lead_i, lead_ii, self.axis, generator).numpy()
        return out
