"""Every conformance scenario through the Python door: async steps on a virtual clock (looptime)
with exact times, then async and sync programs on the real clock (times unchecked), the sync
program both on a loop and blocking (a plain ``flow.run()`` / ``orch.run(main)`` from a thread
without an event loop)."""

from __future__ import annotations

import asyncio
from typing import Any

import looptime
import pytest

from scenario_runner import SAME_INSTANT, SYNC_ORDER_RACES, check, load_all, prepare, run_scenario

ALL = load_all()
IDS = [sc["name"] for sc in ALL]

#: Runs of one scenario on the real clock before a mismatch is reported (a starved machine).
REAL_CLOCK_TRIES = 3


def run_virtual(sc: dict[str, Any]) -> list[str]:
    """One scenario on a looptime loop of its own (for checks outside the plugin's tests)."""
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
        obs = runner.run(run_scenario(sc, sync=False))
    return check(sc, obs, exact_times=True)


@pytest.mark.asyncio
@pytest.mark.looptime(start=0)
@pytest.mark.parametrize("sc", ALL, ids=IDS)
async def test_virtual_clock(sc: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, looptime.LoopTimeEventLoop)  # the plugin's virtual clock
    obs = await run_scenario(sc, sync=False)
    bad = check(sc, obs, exact_times=True)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("mode", ["async", "sync", "blocking"])
@pytest.mark.parametrize("sc", ALL, ids=IDS)
def test_real_clock(sc: dict[str, Any], mode: str) -> None:
    sync, blocking = mode != "async", mode == "blocking"
    if sc["name"] in SAME_INSTANT:
        pytest.skip(SAME_INSTANT[sc["name"]])
    if blocking and sc.get("run", {}).get("cancel_at_ms") is not None:
        pytest.skip("a blocking flow.run() has no handle to cancel from outside")
    if sync and sc["name"] in SYNC_ORDER_RACES:
        sc = {**sc, "expect": {k: v for k, v in sc["expect"].items() if k != "started_order"}}
    bad: list[str] = []
    for _ in range(REAL_CLOCK_TRIES):
        obs = asyncio.run(run_scenario(sc, sync=sync, blocking=blocking))
        bad = check(sc, obs, exact_times=False)
        if not bad:
            return
    raise AssertionError("\n".join(bad))


def test_the_checker_is_not_vacuous() -> None:
    # Altering one expectation of a passing scenario is reported.
    sc = next(s for s in ALL if s["name"] == "barista-events")
    assert not run_virtual(sc)
    for key, value in [("ok", True), ("total_ms", 16), ("trace", ["process_begin"])]:
        altered = {**sc, "expect": {**sc["expect"], key: value}}
        assert run_virtual(altered), key
    # The Orchestrator expectations too: main's error and the task_completion errors.
    sc = next(s for s in ALL if s["name"] == "orch-completion-error-after-retry")
    assert not run_virtual(sc)
    for key, value in [("main_error", "boom"), ("completion_errors", {"flaky": "boom"})]:
        altered = {**sc, "expect": {**sc["expect"], key: value}}
        assert run_virtual(altered), key
    # Resume: which tasks ended resumed, and the run.resume the runner reads.
    sc = next(s for s in ALL if s["name"] == "resume-chain-head-done")
    assert not run_virtual(sc)
    assert run_virtual({**sc, "expect": {**sc["expect"], "resumed": []}})
    assert run_virtual({**sc, "run": {}})
    sc = next(s for s in ALL if s["name"] == "orch-hook-failure")
    altered = {**sc, "expect": {k: v for k, v in sc["expect"].items() if k != "main_error"}}
    assert run_virtual(altered)  # absent main_error: main returned, which it did not


#: A scenario of the rules beyond the seeds, inline (the suite's own are checked above): a limit,
#: a per-call key of an action, a condition, a trigger rule and a cost under critical_path.
RULES = {
    "name": "rules-inline",
    "covers": ["limits"],
    "description": "the runner reads uses, when, trigger, cost_ms, limits and priority",
    "tasks": [
        {"name": "q1", "uses": ["db"], "cost_ms": 1, "attempts": [{"ms": 10}]},
        {"name": "q2", "uses": ["db"], "cost_ms": 1, "attempts": [{"ms": 10}]},
        {"name": "q3", "sequences": ["db"], "cost_ms": 30, "attempts": [{"ms": 10}]},
        {"name": "gate", "after": ["q1"], "when": False},
        {"name": "cleanup", "after": ["gate", "q2"], "trigger": "all_done"},
    ],
    "run": {"limits": {"db": 2}, "priority": "critical_path"},
    "expect": {
        "ok": True,
        "max_holding": {"db": 2},
        "started_order": ["q3", "q1", "q2", "cleanup"],
        "status": {"gate": "skipped", "cleanup": "succeeded"},
        "skip_reason": {"gate": "condition false"},
        "total_ms": 20,
    },
}


def test_the_rules_checks_are_not_vacuous() -> None:
    sc = prepare(RULES)
    assert not run_virtual(sc)
    for key, value in [
        ("max_holding", {"db": 1}),
        ("started_order", ["q1", "q2", "q3", "cleanup"]),
        ("status", {"gate": "succeeded"}),
        ("total_ms", 30),
    ]:
        altered = {**sc, "expect": {**sc["expect"], key: value}}
        assert run_virtual(altered), key
    # Each field is read: without the limit, the cost or the condition the run differs.
    for change in [
        {"run": {"priority": "critical_path"}},
        {"run": {"limits": {"db": 2}}},
        {"tasks": [t for t in sc["tasks"] if t["name"] != "gate"] + [{"name": "gate", "after": ["q1"]}]},
    ]:
        assert run_virtual({**sc, **change}), change


def test_the_skip_tables_name_scenarios_of_the_suite() -> None:
    names = {sc["name"] for sc in ALL}
    for table in (SAME_INSTANT, SYNC_ORDER_RACES):
        for name, why in table.items():
            assert name in names and why, name
