"""Issue 18: the Python door decides nothing the core decides.

Each test here shows one decision that moved into the core (calls routed in the scheduler,
`main` as a held pseudo-task, fail-fast groups, the call depth limit) and what a Python user
sees of it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import legato


@pytest.mark.parametrize("cls", [legato.Flow, legato.Orchestrator])
def test_max_depth_is_a_run_option_checked_by_the_core(cls: Any) -> None:
    assert cls().max_depth == 10_000
    assert cls(max_depth=3).max_depth == 3
    for bad in (True, 1.5, "3"):
        with pytest.raises(TypeError, match="max_depth"):
            cls(max_depth=bad)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_depth"):
            cls(max_depth=bad)


def test_an_async_action_that_calls_itself_forever_gets_recursion_error() -> None:
    # Rule 8: no freeze, no crash: the call 10,001 deep fails at once, and its callers with it.
    orch = legato.Orchestrator()

    @orch.action
    async def down(n: int) -> int:
        return await down(n + 1)  # type: ignore[no-any-return]

    async def main() -> int:
        return await down(0)

    with pytest.raises(RecursionError, match=r"^call depth exceeded 10000 \(max_depth\)$"):
        orch.run(main)
    r = orch.last_report
    assert r is not None and len(r.all_tasks) == 10_001


def test_a_sync_action_that_calls_itself_forever_gets_recursion_error() -> None:
    # Each sync level blocks a worker thread: a lower limit keeps the thread count small.
    orch = legato.Orchestrator(max_depth=100)

    @orch.action
    def down(n: int) -> int:
        return down(n + 1)  # type: ignore[no-any-return]

    def main() -> int:
        return down(0)

    with pytest.raises(RecursionError, match=r"^call depth exceeded 100 \(max_depth\)$"):
        orch.run(main)


def test_the_run_timeout_and_loop_timers_fire_during_a_runaway_recursion() -> None:
    # The driver hands control back to the asyncio loop between batches of calls.
    orch = legato.Orchestrator(timeout=0.2, max_depth=1_000_000_000)
    fired: list[bool] = []

    @orch.action
    async def down(n: int) -> int:
        return await down(n + 1)  # type: ignore[no-any-return]

    async def main() -> int:
        # A loop timer due at once: it fires only if the loop gets control back while the
        # recursion goes on (it never ends by itself); the run's timeout ends it, no wall-clock
        # bound needed (a freeze would be the suite's timeout).
        asyncio.get_running_loop().call_later(0, fired.append, True)
        return await down(0)

    with pytest.raises(legato.TaskTimeoutError, match=r"^run timed out after 200ms$"):
        orch.run(main)
    assert fired == [True]


def test_a_fail_fast_group_leaves_a_cached_call_another_caller_made_running() -> None:
    # The core cancels only the members the group's caller made.
    orch = legato.Orchestrator()
    started, release = asyncio.Event(), asyncio.Event()

    @orch.action(cache=True)
    async def shared(x: int) -> str:
        started.set()
        await release.wait()
        return "shared"

    @orch.action
    async def other() -> str:
        return await shared(1)  # type: ignore[no-any-return]

    @orch.action
    async def fails(x: int) -> None:
        raise ValueError("boom")

    both = orch.parallel([shared, fails], fail_fast=True)

    async def main() -> str:
        first = other()
        await started.wait()  # other's call of shared(1) is running
        with pytest.raises(ValueError, match="boom"):
            await both(1, 0)  # joins that call, then fails fast
        release.set()
        return await first  # type: ignore[no-any-return]

    assert orch.run(main) == "shared"
    r = orch.last_report
    assert r is not None and r.tasks["shared"].status == "succeeded"


def test_a_main_that_raised_cancels_the_calls_it_left_running() -> None:
    orch = legato.Orchestrator()
    own = KeyError("gone")

    started, never = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []

    @orch.action
    async def slow() -> None:
        started.set()
        try:
            await never.wait()  # ends only when cancelled: the run must not wait for it
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        slow()
        await started.wait()  # slow is running when main raises
        raise own

    with pytest.raises(KeyError) as ei:
        orch.run(main)
    assert ei.value is own
    assert cancelled == [True]
    r = orch.last_report
    assert r is not None and r.stop == "main failed" and r.tasks["slow"].status == "cancelled"


def test_a_cached_call_awaited_twice_at_once_under_one_slot() -> None:
    # Issue 18's table: both callers get the value (the second joins the call in flight).
    orch = legato.Orchestrator(max_parallel=1)

    @orch.action(cache=True)
    async def config() -> int:
        await asyncio.sleep(0.01)
        return 7

    @orch.action
    async def a() -> int:
        return await config()  # type: ignore[no-any-return]

    @orch.action
    async def b() -> int:
        return await config()  # type: ignore[no-any-return]

    async def main() -> list[int]:
        return list(await asyncio.gather(a(), b()))

    assert orch.run(main) == [7, 7]
    r = orch.last_report
    assert r is not None and [t.status for t in r.all_tasks] == ["succeeded"] * 3


def test_a_sync_cached_call_awaited_twice_at_once_under_one_slot() -> None:
    orch = legato.Orchestrator(max_parallel=1)

    @orch.action(cache=True)
    def config() -> int:
        time.sleep(0.01)
        return 7

    @orch.action
    def a(_: Any) -> int:
        return config()  # type: ignore[no-any-return]

    both = orch.parallel([a, a])

    def main() -> list[int]:
        return both(None, None)  # type: ignore[no-any-return]

    assert orch.run(main) == [7, 7]


def test_a_joined_call_that_failed_gives_every_caller_the_bodys_own_exception() -> None:
    orch = legato.Orchestrator()
    own = ValueError("bad config")

    @orch.action(cache=True)
    async def config() -> int:
        await asyncio.sleep(0.01)
        raise own

    async def main() -> list[Any]:
        return list(await asyncio.gather(config(), config(), return_exceptions=True))

    assert orch.run(main) == [own, own]
    # A join of the finished call too.

    async def later() -> Any:
        try:
            await config()
        except ValueError:
            pass
        return await asyncio.gather(config(), return_exceptions=True)

    assert orch.run(later) == [own]
