"""Every conformance scenario through the Python door: async steps on a virtual clock (looptime)
with exact times, then async and sync programs on the real clock (times unchecked), the sync
program both on a loop and blocking (a plain ``flow.run()`` / ``orch.run(main)`` from a thread
without an event loop)."""

from __future__ import annotations

import asyncio
from typing import Any

import looptime
import pytest

from scenario_runner import SAME_INSTANT, SYNC_ORDER_RACES, check, load_all, run_scenario

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
    sc = next(s for s in ALL if s["name"] == "orch-hook-failure")
    altered = {**sc, "expect": {k: v for k, v in sc["expect"].items() if k != "main_error"}}
    assert run_virtual(altered)  # absent main_error: main returned, which it did not


def test_the_skip_tables_name_scenarios_of_the_suite() -> None:
    names = {sc["name"] for sc in ALL}
    for table in (SAME_INSTANT, SYNC_ORDER_RACES):
        for name, why in table.items():
            assert name in names and why, name
