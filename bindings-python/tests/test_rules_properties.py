"""Hypothesis on random flows with keys, limits, conditions and trigger rules (issue 21): no key
ever has more running holders than its capacity, and every step ends as a trigger-rule model
says (the model of core/tests/it/rules.rs), through the Python door: sync steps on the worker
pool, async steps on a virtual clock (looptime), fifo and critical_path."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, Optional

import looptime
from hypothesis import given, settings
from hypothesis import strategies as st

import legato

TRIGGERS = ["all_succeeded", "all_done", "any_succeeded", "none_failed"]

#: A step's condition: none, true, false, or one that raises.
RAISE = "raise"


@dataclass
class Sim:
    name: str
    after: list[str]
    ms: int
    ok: bool
    when: Any  # None, True, False or RAISE
    uses: list[str]
    trigger: str


@dataclass
class Case:
    tasks: list[Sim]
    max_parallel: Optional[int]
    limit_k0: Optional[int]
    priority: str
    is_async: bool


@st.composite
def cases(draw: Any) -> Case:
    n = draw(st.integers(1, 16))
    tasks = []
    for i in range(n):
        deps = sorted(set(draw(st.lists(st.integers(0, i - 1), max_size=3)))) if i else []
        tasks.append(
            Sim(
                name=f"t{i}",
                after=[f"t{d}" for d in deps],
                ms=draw(st.integers(1, 20)),
                ok=draw(st.integers(0, 4)) > 0,  # 80% succeed
                when=draw(st.sampled_from([None, None, None, True, False, RAISE])),
                uses=sorted(set(draw(st.lists(st.sampled_from(["k0", "k1", "k2"]), max_size=2)))),
                trigger=draw(st.sampled_from(TRIGGERS)),
            )
        )
    return Case(
        tasks=tasks,
        max_parallel=draw(st.one_of(st.none(), st.integers(1, 3))),
        limit_k0=draw(st.one_of(st.none(), st.integers(1, 3))),
        priority=draw(st.sampled_from(["fifo", "critical_path"])),
        is_async=draw(st.booleans()),
    )


def model(tasks: list[Sim]) -> dict[str, tuple[str, Optional[str]]]:
    """Each task's status and why it was skipped ("failed", "condition", "not taken"), from its
    dependencies' ends (no fail-fast)."""
    ends: dict[str, str] = {}  # "ok", "not_taken", "failed"
    out: dict[str, tuple[str, Optional[str]]] = {}
    for t in tasks:
        deps = [ends[d] for d in t.after]
        failed = "failed" in deps
        if t.trigger == "all_done":
            run: Optional[str] = None
        elif t.trigger == "any_succeeded" and (not deps or "ok" in deps):
            run = None
        elif failed:
            run = "failed"
        elif t.trigger == "all_succeeded" and all(e == "ok" for e in deps):
            run = None
        elif t.trigger == "none_failed":
            run = None
        else:
            run = "not taken"
        if run == "failed":
            status, end, why = "skipped", "failed", "failed"
        elif run == "not taken":
            status, end, why = "skipped", "not_taken", "not taken"
        elif t.when is False:
            status, end, why = "skipped", "not_taken", "condition"
        elif t.when == RAISE or not t.ok:
            status, end, why = "failed", "failed", None
        else:
            status, end, why = "succeeded", "ok", None
        ends[t.name] = end
        out[t.name] = (status, why)
    return out


class Holding:
    """Running holders per key, and the most at once."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.lock = threading.Lock()

    def enter(self, keys: list[str]) -> None:
        with self.lock:
            for k in keys:
                n = self.now[k] = self.now.get(k, 0) + 1
                self.peak[k] = max(self.peak.get(k, 0), n)

    def leave(self, keys: list[str]) -> None:
        with self.lock:
            for k in keys:
                self.now[k] -= 1


class ConditionRaised(Exception):
    pass


def build(case: Case, holding: Holding) -> legato.Flow:
    flow = legato.Flow(
        "random",
        max_parallel=case.max_parallel,
        limits={"k0": case.limit_k0} if case.limit_k0 else None,
        priority=case.priority,
    )
    for t in case.tasks:

        def body(t: Sim = t) -> Any:
            if case.is_async:

                async def a() -> str:
                    holding.enter(t.uses)
                    try:
                        await asyncio.sleep(t.ms / 1000)  # virtual time
                        if not t.ok:
                            raise RuntimeError(t.name)
                        return t.name
                    finally:
                        holding.leave(t.uses)

                return a

            def s() -> str:
                holding.enter(t.uses)
                try:
                    if not t.ok:
                        raise RuntimeError(t.name)
                    return t.name
                finally:
                    holding.leave(t.uses)

            return s

        when: Any = None
        if t.when == RAISE:

            def when(ctx: Any) -> bool:
                raise ConditionRaised(ctx.name)

        elif t.when is not None:
            value = t.when
            when = lambda ctx, value=value: value  # noqa: E731

        flow.add(body(), name=t.name, after=t.after, uses=t.uses or None, when=when, trigger=t.trigger)
    return flow


def run(flow: legato.Flow, is_async: bool) -> Any:
    try:
        if is_async:
            with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
                return runner.run(flow.run_async())
        return flow.run()
    except legato.FlowError as e:
        return e.report  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(cases())
def test_keys_hold_their_capacity_and_statuses_match_the_trigger_rule_model(case: Case) -> None:
    holding = Holding()
    report = run(build(case, holding), case.is_async)
    for key, peak in holding.peak.items():
        capacity = case.limit_k0 if key == "k0" and case.limit_k0 else 1
        assert peak <= capacity, f"key {key} held by {peak} > {capacity}"
    expected = model(case.tasks)
    for t in case.tasks:
        got = report.tasks[t.name]
        status, why = expected[t.name]
        assert got.status == status, (t.name, got.status, got.skip_reason)
        if why == "failed":
            assert got.skip_reason.startswith('dependency "'), (t.name, got.skip_reason)
        elif why == "condition":
            assert got.skip_reason == "condition false"
        elif why == "not taken":
            assert got.skip_reason == f"trigger rule {t.trigger} not met", (t.name, got.skip_reason)
        if t.when == RAISE and status == "failed":
            assert isinstance(got.error, ConditionRaised) and got.attempts == 0
    ok = all(
        t.status == "succeeded"
        or (t.skip_reason == "condition false" or (t.skip_reason or "").startswith("trigger rule "))
        for t in report.all_tasks
    )
    assert report.ok == ok
