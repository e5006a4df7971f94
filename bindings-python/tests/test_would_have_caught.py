"""Issue 19, "tests that would have caught it": behaviours a mutation pass could break with no
test failing — cache keys, ``parallel`` outside a run, ``task_retry``'s payload — each checked
here exactly (identity, seconds, virtual times)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine, TypeVar

import looptime
import pytest

import legato

T = TypeVar("T")


def on_virtual_clock(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs ``main()`` on a looptime loop: time moves only when nothing else can happen, so
    every duration is exact."""
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
        return runner.run(main())


# ----- cache=True keys on every argument ----------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_cached_action_keys_on_keyword_arguments_too(kind: str) -> None:
    orch = legato.Orchestrator()
    calls: list[tuple[int, int]] = []

    def power_body(base: int, exp: int = 1) -> int:
        calls.append((base, exp))
        return int(base**exp)

    if kind == "sync":
        power = orch.action(cache=True)(power_body)

        def main() -> list[int]:
            return [power(2, exp=2), power(2, exp=3), power(2, exp=2)]
    else:

        @orch.action(cache=True)
        async def power(base: int, exp: int = 1) -> int:
            return power_body(base, exp)

        async def main() -> list[int]:  # type: ignore[misc]
            return [await power(2, exp=2), await power(2, exp=3), await power(2, exp=2)]

    assert orch.run(main) == [4, 8, 4]
    # power(2, exp=2) and power(2, exp=3) are two tasks; the repeat of power(2, exp=2) shares one.
    assert calls == [(2, 2), (2, 3)]
    r = orch.last_report
    assert r is not None and [t.result for t in r.all_tasks] == [4, 8]


# ----- parallel outside a run: plain calls ----------------------------------------------------


class _Bad(ValueError):
    pass


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_parallel_outside_a_run_calls_the_functions_and_keeps_errors_in_place(kind: str) -> None:
    orch = legato.Orchestrator()
    raised: list[BaseException] = []

    def fail(x: int) -> None:
        raised.append(_Bad(f"bad {x}"))
        raise raised[-1]

    if kind == "sync":

        @orch.action
        def ok(x: int) -> int:
            return x

        @orch.action
        def bad(x: int) -> None:
            fail(x)
    else:

        @orch.action
        async def ok(x: int) -> int:  # type: ignore[misc]
            return x

        @orch.action
        async def bad(x: int) -> None:  # type: ignore[misc]
            fail(x)

    def settle(out: Any) -> Any:
        if kind == "async":
            assert asyncio.iscoroutine(out)  # an awaitable, as inside a run from async code
            return asyncio.run(out)
        return out

    out = settle(orch.parallel([ok, bad])(1, 2))
    assert out[0] == 1 and out[1] is raised[-1] and len(out) == 2
    with pytest.raises(_Bad, match=r"^bad 4$") as e:
        settle(orch.parallel([ok, bad], fail_fast=True)(3, 4))
    assert e.value is raised[-1]
    assert orch.last_report is None  # no run was made


# ----- task_retry: the error itself, the delay in seconds, exact times -------------------------


@pytest.mark.parametrize("where", ["flow", "orchestrator"])
def test_task_retry_gives_the_raised_exception_and_the_delay_in_seconds_on_the_virtual_clock(
    where: str,
) -> None:
    raised: list[BaseException] = []
    begins: list[float] = []
    retries: list[tuple[int, Any, float]] = []
    backoff = legato.Backoff.exponential(0.1, factor=3)

    async def flaky(attempt: int) -> str:
        begins.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.05)  # each attempt takes 50 ms of the virtual clock
        if attempt <= 2:
            raised.append(ConnectionError(f"attempt {attempt}"))
            raise raised[-1]
        return "ok"

    def on_retry(e: Any) -> None:
        retries.append((e.attempt, e.error, e.delay))

    if where == "flow":
        flow = legato.Flow("retry")

        @flow.step(retries=2, backoff=backoff)
        async def step(ctx: legato.TaskContext) -> str:
            return await flaky(ctx.attempt)

        flow.on_task_retry(on_retry)

        async def main() -> legato.RunReport:
            return await flow.run_async()

        task = on_virtual_clock(main).tasks["step"]
    else:
        orch = legato.Orchestrator()
        count = [0]

        @orch.action(retries=2, backoff=backoff)
        async def call() -> str:
            count[0] += 1
            return await flaky(count[0])

        orch.on_task_retry(on_retry)

        async def main() -> legato.RunReport:
            assert await orch.run_async(call) == "ok"
            assert orch.last_report is not None
            return orch.last_report

        task = on_virtual_clock(main).tasks["call"]

    # The body's own exception objects, the delays in seconds (0.1, then 0.1 x 3).
    assert [(a, d) for a, _, d in retries] == [(1, pytest.approx(0.1)), (2, pytest.approx(0.3))]
    assert retries[0][1] is raised[0] and retries[1][1] is raised[1]
    assert [d for _, _, d in retries] == [0.1, legato.Backoff.exponential(0.1, factor=3).delay(2)]
    # Attempts at 0, 0.05 + 0.1 and 0.2 + 0.3; the task ends 50 ms after the last one starts.
    assert [round(t, 6) for t in begins] == [0.0, 0.15, 0.5]
    assert task.status == "succeeded" and task.attempts == 3
    assert round(task.duration, 6) == 0.55
