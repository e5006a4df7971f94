"""Issue 19 #5 and a Low item: what an action call is inside a run. Called while a task runs,
it is a child task of that caller (also inside a flow's step). A sync action's call returns its
value, from async code on the run's loop too: the loop is blocked meanwhile, as by any sync
function, while the loop thread does the run's loop work (hooks, timers). A call that could
only end once the loop runs again raises ``RuntimeError`` instead of hanging; a call whose
result is awaited at once gives an awaitable, so code written for awaitables still works."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from typing import Any

import looptime
import pytest

import legato


def test_a_sync_action_from_async_main_gives_its_value_hooks_in_order() -> None:
    orch = legato.Orchestrator()
    seen: list[tuple[str, str]] = []
    orch.on_task_begin(lambda e: seen.append(("begin", e.name)))
    orch.on_task_success(lambda e: seen.append(("success", e.name)))

    @orch.action
    def step_a() -> int:
        return 1

    @orch.action
    async def step_b() -> int:
        return 2

    async def main() -> int:
        a = step_a()
        assert a == 1  # the value itself, at its type
        return step_a() + await step_b()

    assert orch.run(main) == 3
    assert seen == [("begin", "step_a"), ("success", "step_a")] * 2 + [
        ("begin", "step_b"),
        ("success", "step_b"),
    ]
    assert [(t.name, t.status, t.result) for t in orch.last_report.all_tasks] == [  # type: ignore[union-attr]
        ("step_a", "succeeded", 1),
        ("step_a", "succeeded", 1),
        ("step_b", "succeeded", 2),
    ]


def test_the_body_runs_on_the_worker_pool_with_its_context_the_loop_blocked_meanwhile() -> None:
    orch = legato.Orchestrator()
    ticks: list[str] = []

    @orch.action
    def work(x: int) -> tuple[int, str, bool]:
        ctx = legato.current()
        assert ctx is not None
        return x * 2, ctx.name, threading.current_thread() is threading.main_thread()

    async def ticker() -> None:
        ticks.append("tick")

    async def main() -> tuple[int, str, bool]:
        t = asyncio.ensure_future(ticker())
        got = work(21)
        ticks.append("returned")  # the loop ran nothing else meanwhile
        await t
        return got

    assert orch.run(main) == (42, "work", False)
    assert ticks == ["returned", "tick"]


def test_async_hooks_of_the_call_are_awaited_in_order_while_the_loop_is_blocked() -> None:
    orch = legato.Orchestrator()
    seen: list[str] = []

    async def begin(e: Any) -> None:
        await asyncio.sleep(0.001)
        seen.append(f"begin {e.name}")

    orch.on_task_begin(begin)
    orch.on_task_completion(lambda e: seen.append(f"completion {e.name}"))

    @orch.action
    def double(x: int) -> int:
        seen.append(f"body {x}")
        return 2 * x

    async def main() -> int:
        return double(1) + double(2)

    assert orch.run(main) == 6
    assert seen == [
        "begin double",
        "body 1",
        "completion double",
        "begin double",
        "body 2",
        "completion double",
    ]


def test_retries_and_a_timeout_of_a_call_from_async_code_work_as_from_sync_code() -> None:
    orch = legato.Orchestrator()
    release = threading.Event()
    attempts: list[int] = []
    retried: list[float] = []
    orch.on_task_retry(lambda e: retried.append(e.delay))

    @orch.action(retries=2, backoff=legato.Backoff.fixed(0.01))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("not yet")
        return len(attempts)

    @orch.action(timeout=0.05)
    def stuck() -> None:
        release.wait(30)

    async def main() -> tuple[int, str]:
        value = flaky()
        try:
            stuck()
        except legato.TaskTimeoutError as e:
            got = str(e)  # raised at the timeout: the body still runs (it cannot be killed)
        assert not release.is_set()
        release.set()
        return value, got

    value, got = orch.run(main)
    assert value == 3 and retried == [0.01, 0.01]
    assert "timed out" in got
    assert orch.last_report.tasks["stuck"].status == "timed_out"  # type: ignore[union-attr]


def test_a_call_awaited_at_once_gives_an_awaitable_and_does_not_block_the_loop() -> None:
    orch = legato.Orchestrator()
    release = threading.Event()

    @orch.action
    def wait_for_release() -> str:
        assert release.wait(30)
        return "released"

    async def releaser() -> None:
        release.set()  # runs only if the loop is free while the call waits

    async def main() -> str:
        t = asyncio.ensure_future(releaser())
        got: str = await wait_for_release()  # type: ignore[misc]
        await t
        return got

    assert orch.run(main) == "released"


def test_parallel_of_sync_actions_from_async_code_gives_the_list_errors_in_place() -> None:
    orch = legato.Orchestrator()

    @orch.action
    def ok(x: int) -> int:
        return x

    @orch.action
    def bad(x: int) -> int:
        raise ValueError(f"bad {x}")

    async def main() -> tuple[list[Any], str]:
        both = orch.parallel([ok, bad])
        got = both(1, 2)
        try:
            orch.parallel([bad, ok], fail_fast=True)(3, 4)
        except ValueError as e:
            first = str(e)
        awaited = await both(5, 6)  # awaited at once: an awaitable, as before
        return [got[0], type(got[1]).__name__, awaited[0]], first

    assert orch.run(main) == ([1, "ValueError", 5], "bad 3")


@pytest.mark.parametrize("case", ["slot", "key", "async child"])
def test_a_call_that_needs_the_blocked_loop_raises_runtime_error_never_hangs(case: str) -> None:
    orch = legato.Orchestrator(max_parallel=1 if case == "slot" else None)

    @orch.action(uses=["db"])
    async def holder() -> str:
        await asyncio.sleep(0.01)
        return "held"

    @orch.action
    async def inner() -> int:
        return 1

    @orch.action(uses=["db"] if case == "key" else None)
    def blocked() -> int:
        return inner() if case == "async child" else 2

    async def main() -> tuple[str, str]:
        t = asyncio.ensure_future(holder())
        await asyncio.sleep(0)  # holder runs: it holds the slot and the key
        with pytest.raises(RuntimeError) as e:
            blocked()
        return str(e.value), await t

    message, held = orch.run(main)
    assert held == "held"
    assert message.startswith("blocked: a sync action called on the run's event loop blocks the loop")
    assert "await asyncio.to_thread(blocked, ...)" in message
    assert orch.last_report.tasks["blocked"].status == "cancelled"  # type: ignore[union-attr]


def test_a_retry_delay_on_a_virtual_clock_raises_runtime_error_never_hangs() -> None:
    orch = legato.Orchestrator()

    @orch.action(retries=1, backoff=legato.Backoff.fixed(5.0))
    def flaky() -> int:
        raise ValueError("again")

    async def main() -> str:
        try:
            flaky()
        except RuntimeError as e:
            return str(e)
        return "no error"

    async def go() -> str:
        return await orch.run_async(main)

    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
        got = runner.run(go())
    assert got.startswith("flaky: a sync action called on the run's event loop")


def test_a_sync_action_with_a_timeout_awaited_from_async_code_raises_the_timeout() -> None:
    orch = legato.Orchestrator()
    release = threading.Event()

    @orch.action(timeout=0.05)
    def stuck() -> None:
        release.wait(30)

    @orch.action
    def outer() -> int:
        return inner() + 1  # a sync action calling one: the value, at once

    @orch.action
    def inner() -> int:
        return 41

    async def main() -> tuple[str, int]:
        try:
            await stuck()  # type: ignore[misc]
        except legato.TaskTimeoutError as e:
            got = str(e)
        finally:
            release.set()
        return got, await outer()  # type: ignore[misc]

    got, value = orch.run(main)
    assert "timed out" in got and value == 42
    assert [t.name for t in orch.last_report.all_tasks] == ["stuck", "outer", "inner"]  # type: ignore[union-attr]


def test_an_action_called_inside_a_flows_step_is_a_child_task_of_the_flows_run() -> None:
    helpers = legato.Orchestrator()

    @helpers.action
    def checksum(path: str) -> int:
        return len(path)

    flow = legato.Flow("children")

    @flow.step
    def package() -> int:
        return checksum("dist/app.tar")

    report = flow.run()
    assert [(t.name, t.status, t.result) for t in report.all_tasks] == [
        ("package", "succeeded", 12),
        ("checksum", "succeeded", 12),
    ]
    assert report.tasks["checksum"].parent == "package"


def test_to_thread_is_the_same_tracked_call_with_the_value_at_its_type() -> None:
    orch = legato.Orchestrator()

    @orch.action
    def step_a(x: int) -> int:
        return x

    async def main() -> int:
        return await asyncio.to_thread(step_a, 5) + await step_a(1)  # type: ignore[misc,no-any-return]

    assert orch.run(main) == 6
    assert [(t.name, t.result) for t in orch.last_report.all_tasks] == [("step_a", 5), ("step_a", 1)]  # type: ignore[union-attr]


CTRL_C_CHILD = """
import os, signal, threading, legato

orch = legato.Orchestrator()
started, release = threading.Event(), threading.Event()

@orch.action
def slow() -> int:
    started.set()
    release.wait(30)  # never set: only the run's cancel ends the call
    return 1

async def main() -> int:
    threading.Thread(target=lambda: (started.wait(), os.kill(os.getpid(), signal.SIGINT)), daemon=True).start()
    return slow()  # blocks the loop: Ctrl-C must still stop the run

try:
    orch.run(main)
    print("no interrupt")
except KeyboardInterrupt:
    print("KeyboardInterrupt", orch.last_report.tasks["slow"].status)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to itself: POSIX")
def test_ctrl_c_while_a_sync_call_blocks_the_loop_cancels_the_run_at_once() -> None:
    p = subprocess.run([sys.executable, "-c", CTRL_C_CHILD], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "KeyboardInterrupt cancelled", p.stderr[-2000:]
