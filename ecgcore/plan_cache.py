"""Remember layout measurements per machine, so only the first run on a machine pays for measuring.

Measuring the official 12-lead network at batch 32 takes ~2-3 s: noise beside thousands of records,
but most of a quick run over a few hundred. The plan depends only on the machine (CPU model, cores,
torch version and thread count), the architecture and the batch size, which together form the
cache key. The cache is one JSON file in :func:`ecgcore.config.cache_dir`; a missing, unreadable or
unwritable cache only means measuring again, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from pathlib import Path

import torch

from ecgcore.config import cache_dir
from ecgcore.errors import ModelError
from ecgcore.layout_planner import PlanMeasurement, measure_layouts
from ecgcore.model import Net1D

log = logging.getLogger(__name__)
CACHE_FILE_NAME = "layout_plans.json"
# Architecture fields that change the convolutions' shapes; the head, dropout and notes do not.
_SHAPE_FIELDS = ("in_channels", "base_filters", "ratio", "filter_list", "m_blocks_list", "kernel_size", "stride",
                 "groups_width", "use_bn", "input_samples")


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def plan_key(model: Net1D, batch_size: int) -> dict:
    config = model.config.to_dict()
    return {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "architecture": {name: config[name] for name in _SHAPE_FIELDS},
    }


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, entries: dict) -> None:
    """Atomic replace: a concurrent reader sees the old file or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
            json.dump(entries, handle, indent=1)
        os.replace(handle.name, path)
    except OSError as exc:
        log.info("layout measurement not cached (%s)", exc)


def plan_measurement_for(model: Net1D, batch_size: int, *,
                         use_cache: bool = True) -> tuple[PlanMeasurement, bool]:
    """The measurement (and so the plan) for ``model`` at ``batch_size`` here, and whether it was cached."""
    key = plan_key(model, batch_size)
    digest = _digest(key)
    path = Path(cache_dir()) / CACHE_FILE_NAME
    if use_cache:
        entry = _read(path).get(digest)
        if isinstance(entry, dict) and entry.get("key") == key:
            try:
                return PlanMeasurement.from_dict(entry["measurement"]), True
            except (KeyError, TypeError, ValueError, ModelError) as exc:
                log.info("ignoring a malformed cached layout measurement (%s)", exc)
    measurement = measure_layouts(model, batch_size)
    if use_cache:
        entries = _read(path)  # re-read: another process may have added plans meanwhile
        entries[digest] = {"key": key, "measurement": measurement.to_dict()}
        _write(path, entries)
    return measurement, False
