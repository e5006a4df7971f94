"""The Python examples of the root README run, in order, in one namespace."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Python: Flow and Orchestrator") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_examples_run() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["report"].ok  # type: ignore[attr-defined]


def test_the_readme_first_screen_python_example_runs() -> None:
    text = README.read_text()
    first_screen = text[: text.index("\n## ")]
    (block,) = re.findall(r"```python\n(.*?)```", first_screen, flags=re.S)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(block, str(README), "exec"), namespace)
    report = namespace["report"]
    assert report.ok  # type: ignore[attr-defined]
    assert report.tasks["deploy"].result == "deployed"  # type: ignore[attr-defined]


def test_the_package_readme_example_runs() -> None:
    text = (README.parent / "bindings-python" / "README.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(block, "bindings-python/README.md", "exec"), {"__name__": "readme"})
