"""A fault check shared by the tests of interpreter exit (imported by them; not a test file)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def exits_cleanly_twenty_times(code: str) -> None:
    """Runs `code` in 20 child interpreters, two batches of 10 at once, and asserts each exits
    with status 0 and no "FATAL" (an abort in a daemon thread at exit shows as -6 or as that)."""
    results = []
    for _ in range(2):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(10)
        ]
        for p in procs:
            try:
                _, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            results.append((p.returncode, err))
    for rc, err in results:
        assert rc == 0, err[-2000:]
        assert "FATAL" not in err
