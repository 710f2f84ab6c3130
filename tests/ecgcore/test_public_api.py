"""The stable names docs, the app and outside scripts use, importable from the package root."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_public_api_works_after_every_submodule_is_imported(samples_dir) -> None:
    # Run in a fresh interpreter so earlier imports in this test session cannot hide the problem.
    code = f"""
import ecgcore, ecgcore.preprocessing, ecgcore.predict, ecgcore.bundle, ecgcore.batch, ecgcore.io
record = ecgcore.read({str(samples_dir / "ptbxl" / "00001_hr.hea")!r})
x = ecgcore.preprocess(record)
assert x.shape == (12, 5000) and x.dtype.name == "float32", x.shape
net = ecgcore.create_model("ecgfounder-1lead", n_classes=3)
assert net(__import__("torch").zeros(1, 1, 5000)).shape == (1, 3)
assert callable(ecgcore.Predictor) and callable(ecgcore.load_bundle)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_reading_does_not_import_torch() -> None:
    code = "import sys, ecgcore; ecgcore.read; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_attribute_is_an_attribute_error() -> None:
    import ecgcore

    try:
        ecgcore.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
