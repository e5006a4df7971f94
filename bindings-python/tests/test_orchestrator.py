"""Orchestrator: actions, parallel, main, state, recursion, cache, current()."""

from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
from typing import Any

import pytest

import legato


def test_action_forms_keep_name_and_signature_and_call_through_outside_a_run() -> None:
    orch = legato.Orchestrator()

    @orch.action
    def bare(x: int, y: int = 2) -> int:
        """Adds."""
        return x + y

    @orch.action(retries=2, timeout=5.0)
    async def with_options(uid: str) -> str:
        return uid

    def plain(a: int) -> int:
        return a * 2

    called = orch.action(plain, name="doubler")
    assert bare.__name__ == "bare" and bare.__doc__ == "Adds."
    assert str(inspect.signature(bare)) == str(inspect.signature(bare.__wrapped__))  # type: ignore[attr-defined]
    assert with_options.__name__ == "with_options"
    assert bare(1) == 3 and called(4) == 8  # outside a run: the function itself
    assert asyncio.run(with_options("u")) == "u"


def test_run_with_async_main_tracks_each_call_as_a_task() -> None:
    orch = legato.Orchestrator()
    begun: list[str] = []
    orch.on_task_begin(lambda e: begun.append(e.name))

    @orch.action
    async def check_inventory(sku: str) -> dict[str, Any]:
        return {"sku": sku, "in_stock": False}

    @orch.action
    async def notify_team(sku: str) -> bool:
        return True

    async def main() -> str:
        result = await check_inventory("ABC123")
        if not result["in_stock"]:
            await notify_team("ABC123")
        return "done"

    assert orch.run(main) == "done"
    assert begun == ["check_inventory", "notify_team"]
    assert orch.last_report is not None and orch.last_report.ok


def test_sync_main_and_sync_actions_run_on_the_pool() -> None:
    orch = legato.Orchestrator()
    main_thread = threading.get_ident()

    @orch.action
    def where() -> int:
        return threading.get_ident()

    def main() -> list[int]:
        return [where(), where()]

    ids = orch.run(main)
    assert all(i != main_thread for i in ids)
    assert len(orch.last_report.all_tasks) == 2  # type: ignore[union-attr]


def test_main_raises_its_own_exception_and_hooks_still_see_completion() -> None:
    orch = legato.Orchestrator()
    ends: list[bool] = []
    orch.on_process_completion(lambda e: ends.append(e.report.ok))
    err = LookupError("mine")

    async def main() -> None:
        raise err

    with pytest.raises(LookupError) as ei:
        orch.run(main)
    assert ei.value is err and ends == [False]


def test_an_action_call_raises_the_bodys_own_exception_object_with_its_traceback() -> None:
    orch = legato.Orchestrator()
    seen: dict[str, Any] = {}

    @orch.action
    async def fails() -> None:
        e = ValueError("own")
        seen["e"] = e
        raise e

    @orch.action
    def fails_sync() -> None:
        e = KeyError("own sync")
        seen["s"] = e
        raise e

    async def main() -> None:
        with pytest.raises(ValueError) as ei:
            await fails()
        assert ei.value is seen["e"]
        assert "fails" in "".join(traceback.format_tb(ei.value.__traceback__))
        with pytest.raises(KeyError) as ek:
            await fails_sync()
        assert ek.value is seen["s"]

    orch.run(main)
    r = orch.last_report
    assert r is not None and r.tasks["fails"].error is seen["e"]


def test_timeout_of_an_action_raises_task_timeout_error() -> None:
    orch = legato.Orchestrator()

    @orch.action(timeout=0.01)
    async def slow() -> None:
        await asyncio.sleep(60)

    async def main() -> None:
        with pytest.raises(legato.TaskTimeoutError):
            await slow()

    orch.run(main)


def test_parallel_without_fail_fast_keeps_errors_in_place() -> None:
    orch = legato.Orchestrator()

    @orch.action
    async def profile(uid: str) -> dict[str, str]:
        return {"uid": uid, "name": "Alice"}

    @orch.action
    async def shipping(dest: str) -> list[str]:
        raise RuntimeError(f"no shipping to {dest}")

    def plain(x: int) -> int:  # a plain function is accepted
        return x + 1

    both = orch.parallel([profile, shipping, plain])

    async def main() -> list[Any]:
        return await both("user42", "USA", 1)  # type: ignore[no-any-return]

    p, s, n = orch.run(main)
    assert p == {"uid": "user42", "name": "Alice"}
    assert isinstance(s, RuntimeError) and str(s) == "no shipping to USA"
    assert n == 2


def test_parallel_with_fail_fast_cancels_the_others_and_raises() -> None:
    orch = legato.Orchestrator()
    cancelled: list[bool] = []

    @orch.action
    async def down(_: Any) -> None:
        await asyncio.sleep(0.005)
        raise ConnectionError("user service down")

    @orch.action
    async def slow(_: Any) -> list[str]:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return ["Standard"]

    both = orch.parallel([down, slow], fail_fast=True)

    async def main() -> None:
        with pytest.raises(ConnectionError):
            await both(1, 2)
        await asyncio.sleep(0)

    orch.run(main)
    r = orch.last_report
    assert r is not None and r.tasks["slow"].status == "cancelled" and cancelled == [True]


def test_parallel_of_sync_actions_from_sync_code_runs_at_once() -> None:
    orch = legato.Orchestrator()
    barrier = threading.Barrier(3, timeout=5)

    @orch.action
    def meet(i: int) -> int:
        barrier.wait()  # all three must run at the same time
        return i

    def main() -> list[Any]:
        return orch.parallel([meet, meet, meet])(1, 2, 3)  # type: ignore[no-any-return]

    assert orch.run(main) == [1, 2, 3]


def test_parallel_of_sync_actions_fail_fast_raises_first_error() -> None:
    orch = legato.Orchestrator()

    @orch.action
    def ok(i: int) -> int:
        return i

    @orch.action
    def bad(i: int) -> int:
        raise ValueError(str(i))

    def main() -> Any:
        with pytest.raises(ValueError, match="2"):
            orch.parallel([ok, bad], fail_fast=True)(1, 2)
        return orch.parallel([ok, bad])(1, 2)

    r = orch.run(main)
    assert r[0] == 1 and isinstance(r[1], ValueError)


def test_state_set_get_and_context_in_hooks() -> None:
    orch = legato.Orchestrator(state={"request_count": 0})
    assert orch.set_state("errors", []) is orch
    state = orch.get_state()
    assert state == {"request_count": 0, "errors": []}

    def count(e: Any) -> None:
        e.context["request_count"] += 1

    orch.on_task_begin(count)

    @orch.action
    async def fetch(uid: str) -> str:
        assert orch.get_state() is state
        return uid

    async def main() -> None:
        await fetch("a")
        await fetch("b")

    orch.run(main)
    assert state["request_count"] == 2


@pytest.mark.parametrize("max_parallel", [1, None])
def test_recursive_fibonacci_sync_does_not_deadlock(max_parallel: Any) -> None:
    orch = legato.Orchestrator(max_parallel=max_parallel)

    @orch.action
    def fibonacci(n: int) -> int:
        if n <= 1:
            return n
        return fibonacci(n - 1) + fibonacci(n - 2)  # type: ignore[no-any-return]

    assert orch.run(lambda: fibonacci(12)) == 144
    r = orch.last_report
    assert r is not None and r.ok and len(r.all_tasks) == 465


@pytest.mark.parametrize("max_parallel", [1, 3])
def test_recursive_fibonacci_async_does_not_deadlock(max_parallel: int) -> None:
    orch = legato.Orchestrator(max_parallel=max_parallel)

    @orch.action
    async def fibonacci(n: int) -> int:
        if n <= 1:
            return n
        a, b = await asyncio.gather(fibonacci(n - 1), fibonacci(n - 2))
        return a + b  # type: ignore[no-any-return]

    async def main() -> int:
        return await fibonacci(15)  # type: ignore[no-any-return]

    assert orch.run(main) == 610


def test_cache_shares_identical_calls_within_a_run() -> None:
    orch = legato.Orchestrator()
    calls: list[int] = []

    @orch.action(cache=True)
    async def fib(n: int) -> int:
        calls.append(n)
        if n <= 1:
            return n
        return await fib(n - 1) + await fib(n - 2)  # type: ignore[no-any-return]

    async def main() -> int:
        return await fib(20)  # type: ignore[no-any-return]

    assert orch.run(main) == 6765
    assert sorted(calls) == list(range(21))


def test_current_gives_the_running_tasks_context_from_anywhere_inside() -> None:
    orch = legato.Orchestrator()

    def helper() -> str:
        cx = legato.current()
        assert cx is not None
        return f"{cx.name}#{cx.attempt}"

    @orch.action(retries=1)
    def sync_one() -> str:
        return helper()

    @orch.action
    async def async_one() -> str:
        await asyncio.sleep(0)
        return helper()

    async def main() -> Any:
        assert legato.current() is None  # main is not a task
        return (await sync_one(), await async_one())

    assert orch.run(main) == ("sync_one#1", "async_one#1")
    assert legato.current() is None


def test_run_async_inside_a_running_loop() -> None:
    orch = legato.Orchestrator(max_parallel=2)

    @orch.action
    async def double(x: int) -> int:
        return x * 2

    async def main() -> int:
        return sum(await asyncio.gather(*(double(i) for i in range(10))))

    async def outer() -> int:
        return await orch.run_async(main)

    assert asyncio.run(outer()) == 90
