"""Orchestrator: actions, parallel, main, state, recursion, cache, current()."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
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
    slow_started = asyncio.Event()

    @orch.action
    async def down(_: Any) -> None:
        await slow_started.wait()  # slow is running when down fails
        raise ConnectionError("user service down")

    @orch.action
    async def slow(_: Any) -> list[str]:
        slow_started.set()
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


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_async_process_begin_hooks_finish_before_main_starts(kind: str) -> None:
    # Rule 9: the npm README's onProcessBegin sets the API key that main reads.
    orch = legato.Orchestrator()

    @orch.on_process_begin
    async def fetch_key(e: Any) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        e.context["api_key"] = "secret"

    async def main() -> Any:
        return orch.get_state().get("api_key")

    def sync_main() -> Any:
        return orch.get_state().get("api_key")

    assert orch.run(main if kind == "async" else sync_main) == "secret"


def test_a_hook_that_raises_fails_the_orchestrator_run_with_the_hooks_exception_as_cause() -> None:
    # Rule 9: the run fails (main's value is not returned), as a Flow's does.
    orch = legato.Orchestrator()
    own = LookupError("quota exceeded")
    ends: list[bool] = []

    def bad(e: Any) -> None:
        raise own

    orch.on_task_success(bad)
    orch.on_process_completion(lambda e: ends.append(e.report.ok))

    @orch.action
    async def work() -> int:
        return 1

    async def main() -> int:
        return await work()

    with pytest.raises(legato.FlowError) as ei:
        orch.run(main)
    assert str(ei.value) == 'hook for event "task_success" failed: quota exceeded'
    assert ei.value.__cause__ is own
    assert ei.value.report.stop == 'hook for event "task_success" failed: quota exceeded'  # type: ignore[attr-defined]
    assert ends == [False]


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_hook_failure_is_the_orchestrator_runs_error_word_for_word(kind: str) -> None:
    # Rules 9 and 11: run() raises the run's error, worded as in every door (Rust's run error,
    # Node's HookError: `hook for event "…" failed: …`), also when the hook raised after main
    # returned; it is a FlowError with the report, the hook's exception its __cause__.
    for event, register in [("task_begin", "on_task_begin"), ("process_completion", "on_process_completion")]:
        orch = legato.Orchestrator()
        own = RuntimeError("metrics endpoint down")

        def bad(e: Any, own: BaseException = own) -> None:
            raise own

        getattr(orch, register)(bad)

        @orch.action
        def work() -> int:
            return 1

        async def main() -> int:
            return await work()  # type: ignore[no-any-return]

        def sync_main() -> int:
            return work()  # type: ignore[no-any-return]

        with pytest.raises(legato.FlowError) as ei:
            orch.run(main if kind == "async" else sync_main)
        assert str(ei.value) == f'hook for event "{event}" failed: metrics endpoint down'
        assert ei.value.__cause__ is own
        assert ei.value.report.stop == str(ei.value)  # type: ignore[attr-defined]


def test_the_run_timeout_cancels_an_async_main_and_raises_the_timeout_error() -> None:
    # Rule 11: main is cancelled, not awaited; the calls it had in flight end cancelled.
    orch = legato.Orchestrator(timeout=0.1)
    main_cancelled: list[bool] = []

    @orch.action
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        pending = slow()
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            main_cancelled.append(True)
            raise
        await pending

    t0 = time.monotonic()
    with pytest.raises(legato.TaskTimeoutError) as ei:
        orch.run(main)
    assert time.monotonic() - t0 < 0.8
    assert str(ei.value) == "run timed out after 100ms"
    assert main_cancelled == [True]
    assert orch.last_report is not None and orch.last_report.tasks["slow"].status == "cancelled"


def test_the_run_timeout_does_not_wait_for_a_sync_main() -> None:
    orch = legato.Orchestrator(timeout=0.1)
    gate = threading.Event()
    seen: list[str] = []

    @orch.action
    def slow() -> None:
        gate.wait(10)

    def main() -> None:
        try:
            slow()
        except legato.CancelledError as e:
            seen.append(str(e))
        gate.wait(10)  # main goes on; the run does not wait for it

    t0 = time.monotonic()
    try:
        with pytest.raises(legato.TaskTimeoutError, match=r"^run timed out after 100ms$"):
            orch.run(main)
        assert time.monotonic() - t0 < 0.8
    finally:
        gate.set()
    assert orch.last_report is not None and orch.last_report.tasks["slow"].status == "cancelled"


def test_fail_fast_stops_main_and_raises_the_failing_bodys_own_exception() -> None:
    orch = legato.Orchestrator(fail_fast=True)
    own = ValueError("user service down")
    main_cancelled = False
    slow_started = asyncio.Event()

    @orch.action
    async def fails() -> None:
        await slow_started.wait()  # slow is running when fails fails
        raise own

    @orch.action
    async def slow() -> None:
        slow_started.set()
        await asyncio.sleep(10)

    async def main() -> None:
        nonlocal main_cancelled
        calls = [fails(), slow()]
        try:
            await asyncio.sleep(10)  # main does something else meanwhile
        except asyncio.CancelledError:
            main_cancelled = True
            raise
        await asyncio.gather(*calls)

    t0 = time.monotonic()
    with pytest.raises(ValueError) as ei:
        orch.run(main)
    assert time.monotonic() - t0 < 5
    assert ei.value is own and main_cancelled
    r = orch.last_report
    assert r is not None and r.tasks["fails"].status == "failed" and r.tasks["slow"].status == "cancelled"


def test_cancelling_run_async_from_outside_cancels_main_and_its_calls() -> None:
    orch = legato.Orchestrator()
    ends: list[str] = []
    orch.on_process_completion(lambda e: ends.append(e.report.tasks["slow"].status))

    async def scenario() -> None:
        started = asyncio.Event()
        main_cancelled = asyncio.Event()

        @orch.action
        async def slow() -> None:
            started.set()
            await asyncio.sleep(10)

        async def main() -> None:
            pending = slow()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                main_cancelled.set()
                raise
            await pending

        task = asyncio.ensure_future(orch.run_async(main))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert main_cancelled.is_set()

    asyncio.run(scenario())
    assert ends == ["cancelled"]


class _SlowKey:
    """An argument whose hash takes a while (a cached call hashes it while it is made)."""

    def __hash__(self) -> int:
        time.sleep(0.05)
        return 1

    def __eq__(self, other: object) -> bool:
        return self is other


@pytest.mark.parametrize("where", ["sync main", "sync step of a blocking flow"])
def test_parallel_from_sync_code_makes_its_calls_all_at_once(where: str) -> None:
    # `parallel` calls every action at once: from a sync caller's thread too, no call starts
    # (nor runs its hooks) before the last one is made, as on the loop and in the other doors
    # (both task_ready before either task_begin, as in scenario npm-parallel-fail-fast).
    orch = legato.Orchestrator()
    trace: list[str] = []

    @orch.action
    def a(x: Any) -> int:
        return 1

    @orch.action(cache=True)
    def b(k: Any) -> int:
        return 2

    def both() -> list[Any]:
        return orch.parallel([a, b])(None, _SlowKey())  # type: ignore[no-any-return]

    if where == "sync main":
        target: Any = orch
    else:
        target = legato.Flow("f")
        target.add(lambda: both(), name="parent")
    target.on_task_ready(lambda e: trace.append(f"task_ready {e.name}"))
    target.on_task_begin(lambda e: trace.append(f"task_begin {e.name}"))
    if where == "sync main":
        assert orch.run(both) == [1, 2]
    else:
        report = target.run()
        assert report.tasks["parent"].result == [1, 2]
        trace = [t for t in trace if not t.endswith(" parent")]
    assert trace[:2] == ["task_ready a", "task_ready b"], trace


def test_repeated_calls_all_tasks_holds_each_call_and_tasks_the_latest() -> None:
    """Issue 19 #10: five calls of one action are five entries of ``all_tasks`` (in call order),
    and ``tasks[name]`` is the latest call, as Node's ``report.tasks``."""
    orch = legato.Orchestrator()

    @orch.action
    def upload(n: int) -> int:
        if n == 4:
            raise ValueError("call 4 failed")
        return n * 10

    def main() -> list[Any]:
        out: list[Any] = []
        for n in range(1, 6):
            try:
                out.append(upload(n))
            except ValueError as e:
                out.append(e)
        return out

    out = orch.run(main)
    assert out[:3] == [10, 20, 30] and isinstance(out[3], ValueError) and out[4] == 50
    report = orch.last_report
    assert report is not None
    calls = [t for t in report.all_tasks if t.name == "upload"]
    assert [(t.status, t.result) for t in calls] == [
        ("succeeded", 10),
        ("succeeded", 20),
        ("succeeded", 30),
        ("failed", None),
        ("succeeded", 50),
    ]
    assert calls[3].error is out[3]
    assert report.tasks["upload"].result == 50  # the latest call
    assert report.tasks.get("upload").result == 50
    assert list(report.tasks) == ["upload"] and len(report.tasks) == 1
    assert [t.result for t in report.tasks.values()] == [50]


def test_an_unknown_action_option_is_a_type_error_naming_action_and_the_option() -> None:
    """Issue 19 (low): the error named the private _make()."""
    orch = legato.Orchestrator()
    with pytest.raises(TypeError, match=r"^action\(\) got an unknown option 'retry'") as e:
        orch.action(lambda: 1, retry=3)
    assert "_make" not in str(e.value)
    with pytest.raises(TypeError, match=r"^action\(\) got an unknown option 'retry'"):
        orch.action(retry=3)
