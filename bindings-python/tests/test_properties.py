"""Hypothesis on random flows: each task runs once, after its dependencies; skips are exactly
the failures' descendants; never more than max_parallel at once. Sync and async bodies."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Optional

from hypothesis import given, settings
from hypothesis import strategies as st

import legato


@st.composite
def flows(draw: Any) -> tuple[list[list[int]], set[int], Optional[int], bool]:
    n = draw(st.integers(1, 14))
    deps = [sorted(set(draw(st.lists(st.integers(0, i - 1), max_size=3)))) if i else [] for i in range(n)]
    failing = set(draw(st.lists(st.integers(0, n - 1), max_size=3)))
    max_parallel = draw(st.one_of(st.none(), st.integers(1, 4)))
    is_async = draw(st.booleans())
    return deps, failing, max_parallel, is_async


@settings(max_examples=80, deadline=None)
@given(flows())
def test_random_flows(case: tuple[list[list[int]], set[int], Optional[int], bool]) -> None:
    deps, failing, max_parallel, is_async = case
    n = len(deps)
    lock = threading.Lock()
    events: list[tuple[str, int]] = []
    state = {"running": 0, "peak": 0}

    def enter(i: int) -> None:
        with lock:
            events.append(("start", i))
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])

    def leave(i: int) -> None:
        with lock:
            state["running"] -= 1
            events.append(("end", i))

    def body(i: int) -> Any:
        if is_async:

            async def a() -> int:
                enter(i)
                try:
                    await asyncio.sleep(0)
                    if i in failing:
                        raise RuntimeError(f"t{i}")
                    return i
                finally:
                    leave(i)

            return a

        def s() -> int:
            enter(i)
            try:
                if i in failing:
                    raise RuntimeError(f"t{i}")
                return i
            finally:
                leave(i)

        return s

    flow = legato.Flow("random", max_parallel=max_parallel)
    for i in range(n):
        flow.add(body(i), name=f"t{i}", after=[f"t{j}" for j in deps[i]])
    try:
        report = flow.run()
    except legato.FlowError as e:
        report = e.report  # type: ignore[attr-defined]

    # Expected skips: the transitive descendants of failures.
    skipped: set[int] = set()
    for i in range(n):
        if any(d in failing or d in skipped for d in deps[i]):
            skipped.add(i)
    ran = [i for kind, i in events if kind == "start"]
    assert sorted(ran) == sorted(set(range(n)) - skipped)  # each once
    ended_at = {i: k for k, (kind, i) in enumerate(events) if kind == "end"}
    started_at = {i: k for k, (kind, i) in enumerate(events) if kind == "start"}
    for i in ran:
        for d in deps[i]:
            assert ended_at[d] < started_at[i]  # after its dependencies
    for i in range(n):
        t = report.tasks[f"t{i}"]
        want = "skipped" if i in skipped else ("failed" if i in failing else "succeeded")
        assert t.status == want
    if max_parallel is not None:
        assert state["peak"] <= max_parallel
    assert report.ok == (not failing)
