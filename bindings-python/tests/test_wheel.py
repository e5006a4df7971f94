"""The wheel `make dist` builds installs and runs where there is no Rust toolchain.

The wheel is built here as `make dist` builds it (`maturin build --release`, which reuses the
release build of `maturin develop --release`), installed into a fresh virtual environment, and
the README's first Python example runs there with a PATH of that environment's `bin` and
`/usr/bin` only, so `cargo` cannot be found. Skipped only when the toolchain itself is missing.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def first_readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    first_screen = text[: text.index("\n## ")]
    (block,) = re.findall(r"```python\n(.*?)```", first_screen, flags=re.S)
    return block


def run(cmd: list[str], cwd: Optional[pathlib.Path] = None, env: Optional[dict[str, str]] = None) -> str:
    """Runs ``cmd``; its stdout, or a failure showing its stderr."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stderr}"
    return done.stdout


def maturin() -> str:
    found = shutil.which("maturin", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("maturin")
    if found is None or shutil.which("cargo") is None:
        pytest.skip("no Rust toolchain or maturin here: the wheel cannot be built")
    return found


@pytest.mark.timeout(900)
def test_the_abi3_wheel_installs_and_runs_the_readme_example_without_cargo(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "wheels"
    run([maturin(), "build", "--release", "--out", str(out)], cwd=ROOT / "bindings-python")
    (wheel,) = out.glob("legato-*.whl")
    assert "-abi3-" in wheel.name  # one wheel for every CPython >= 3.9

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    path = f"{bin_dir}{os.pathsep}/usr/bin"
    env = {"PATH": path, "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    with pytest.raises(FileNotFoundError):
        subprocess.run(["cargo", "--version"], env=env, capture_output=True)

    python = str(bin_dir / "python")
    run([python, "-m", "pip", "install", "--no-index", "--no-deps", str(wheel)], env=env, cwd=tmp_path)
    where = run([python, "-c", "import legato; print(legato.__file__)"], env=env, cwd=tmp_path)
    assert pathlib.Path(where.strip()).is_relative_to(venv)  # the wheel's copy, not the checkout
    example = tmp_path / "hello.py"
    example.write_text(first_readme_example())
    assert run([python, str(example)], env=env, cwd=tmp_path) == "deployed\n"
