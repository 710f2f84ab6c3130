"""The ``ecg`` command: installed by the package, forwarding to each package's own CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from app import cli
from tests.conftest import REPO_ROOT, SAMPLES_DIR


def test_usage_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for name in ("predict", "measure", "explain", "report", "train", "db", "app"):
        assert f"ecg {name}" in out


def test_unknown_command_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err


def test_each_command_reaches_its_package(capsys: pytest.CaptureFixture[str]) -> None:
    for command, words in (("db", "review store"), ("train", "fit"), ("predict", "--top")):
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        assert words in capsys.readouterr().out


def test_the_console_script_is_installed_and_predicts() -> None:
    """`pip install -e .` (the README's set-up) puts `ecg` on the PATH; it scores a real record."""
    ecg = shutil.which("ecg")
    assert ecg is not None, "the package is not installed: pip install -e . (requirements.txt does it)"
    result = subprocess.run([ecg, "predict", str(SAMPLES_DIR / "ptbxl" / "00001_hr.hea"), "--top", "3",
                             "--format", "json"], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT.parent)
    assert result.returncode == 0, result.stderr
    assert '"00001_hr"' in result.stdout or "00001_hr" in result.stdout


def test_no_module_edits_sys_path() -> None:
    """Imports work because the packages are installed, not because a file patches sys.path."""
    offenders = [str(p.relative_to(REPO_ROOT)) for folder in ("app", "bench", "db", "ecgcore", "scripts", "train")
                 for p in (REPO_ROOT / folder).rglob("*.py") if "sys.path.insert" in p.read_text()]
    assert offenders == []


def test_python_dash_m_ecgcore_keeps_working() -> None:
    result = subprocess.run([sys.executable, "-m", "ecgcore", "--help"], capture_output=True, text=True, timeout=120,
                            cwd=REPO_ROOT.parent)
    assert result.returncode == 0 and "predict" in result.stdout
