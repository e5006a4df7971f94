"""A user's file that uses the README's Python API passes ``mypy --strict`` (issue 19 #11)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

USAGE = pathlib.Path(__file__).resolve().parent / "typecheck" / "readme_usage.py"


def test_the_readme_api_passes_mypy_strict() -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file=",
            str(USAGE),
        ],
        capture_output=True,
        text=True,
        cwd=USAGE.parents[2],  # bindings-python: its .mypy_cache
    )
    assert done.returncode == 0, done.stdout + done.stderr
