"""Issue 19 #6: out of memory while drawing a graph or writing a report is ``MemoryError``, not
``pyo3_runtime.PanicException`` (nor the abort of a failed Rust allocation). Each case runs in a
child process whose address space is capped a little above what it uses once the graph (and
the run) exist."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: The end of each child: ``call()`` must raise MemoryError (exit 0), nothing else.
OUTCOME = """
try:
    call()
except MemoryError as e:
    print("MemoryError", e)
    sys.exit(0)
except BaseException as e:
    print("other", type(e).__module__, type(e).__name__, e)
    sys.exit(2)
print("no error")
sys.exit(3)
"""

CHILD = (
    """
import re, resource, sys, legato

flow = legato.Flow("deep")
prev = []
for i in range(20_000):
    name = f"{i:06d}-" + "x" * 200
    flow.add(lambda: None, name=name, after=prev)
    prev = [name]
report = flow.run()
assert len(report.to_json()) > 1_000_000          # fits without the cap
vm = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
cap = vm + 8 * 1024 * 1024                         # 8 MB more: less than one drawing takes
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
what = sys.argv[1]
call = {
    "to_ascii": flow.to_ascii,
    "to_mermaid": flow.to_mermaid,
    "to_dot": flow.to_dot,
    "plan": flow.plan,
    "report.to_json": report.to_json,
    "report.to_html": report.to_html,
    "report.to_mermaid": report.to_mermaid,
}[what]
"""
    + OUTCOME
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
@pytest.mark.parametrize(
    "what",
    ["to_ascii", "to_mermaid", "to_dot", "plan", "report.to_json", "report.to_html", "report.to_mermaid"],
)
def test_out_of_memory_while_rendering_is_memory_error_and_a_clean_exit(what: str) -> None:
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), what], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr[-2000:])
    assert p.stdout.startswith("MemoryError"), p.stdout
    assert f"{what.split('.')[-1]}(): out of memory" in p.stdout
    assert "Panic" not in p.stderr and "memory allocation" not in p.stderr


RUN_CHILD = (
    """
import re, resource, sys, legato

flow = legato.Flow("wide")
for i in range(200_000):
    flow.add(lambda: None, name=f"s{i}")
vm = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
cap = vm + 48 * 1024 * 1024                        # far less than 200,000 tasks' run takes
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
call = flow.run
"""
    + OUTCOME
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_a_run_whose_memory_cannot_be_had_is_memory_error_before_it_starts() -> None:
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUN_CHILD)], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr[-2000:])
    assert p.stdout.startswith("MemoryError run: out of memory")
