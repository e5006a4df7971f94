"""Issue 19 #5 and a Low item: what an action call is inside a run. Called while a task runs,
it is a child task of that caller (also inside a flow's step); in async code on the run's loop
every call, a sync action's too, returns an awaitable of its value (blocking the loop for the
value would deadlock the call's hooks, timers and the async actions it may wait for)."""

from __future__ import annotations

import asyncio
import threading

import pytest

import legato


def test_a_sync_action_from_async_main_is_an_awaitable_of_its_value_hooks_in_order() -> None:
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
        call = step_a()
        assert isinstance(call, asyncio.Future)  # not the value: await it
        with pytest.raises(TypeError):
            call + 1
        a = await call
        return a + await step_b()

    assert orch.run(main) == 3
    assert seen == [("begin", "step_a"), ("success", "step_a"), ("begin", "step_b"), ("success", "step_b")]


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
