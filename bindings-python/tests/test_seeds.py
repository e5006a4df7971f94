"""The seed documents' examples, in Python: the npm Orchestrator (inventory, hooks, parallel,
context), LightFlow's builders, Barista's sequences and events, Pynenc's recursive Fibonacci."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from typing import Any

import looptime
import pytest

import legato

# ----- npm Orchestrator (004) ---------------------------------------------------------------


def test_npm_inventory_check_and_team_notification() -> None:
    orchestrator = legato.Orchestrator()
    log: list[str] = []

    @orchestrator.action
    async def check_inventory(sku: str) -> dict[str, Any]:
        log.append(f"Checking inventory for SKU: {sku}")
        return {"sku": sku, "in_stock": False}

    @orchestrator.action
    async def notify_team(sku: str) -> bool:
        log.append(f"Notifying team about low stock for SKU: {sku}")
        return True

    async def main() -> None:
        result = await check_inventory("ABC123")
        if not result["in_stock"]:
            await notify_team("ABC123")

    orchestrator.run(main)
    assert log == ["Checking inventory for SKU: ABC123", "Notifying team about low stock for SKU: ABC123"]


def test_npm_basic_lifecycle_hooks() -> None:
    orchestrator = legato.Orchestrator()
    log: list[Any] = []
    orchestrator.on_process_begin(lambda e: log.append(("process", type(e.time))))
    orchestrator.on_task_begin(lambda e: log.append(("begin", e.name, type(e.start_time))))
    orchestrator.on_task_completion(lambda e: log.append(("completion", e.name, e.duration >= 0)))
    orchestrator.on_process_completion(lambda e: log.append(("done", e.total_duration >= 0)))

    @orchestrator.action
    def step_a() -> None:  # some synchronous work
        pass

    @orchestrator.action
    async def step_b() -> None:  # some asynchronous work
        await asyncio.sleep(0)

    async def main() -> None:
        await step_a()
        await step_b()

    orchestrator.run(main)
    dt = datetime.datetime
    assert log == [
        ("process", dt),
        ("begin", "step_a", dt),
        ("completion", "step_a", True),
        ("begin", "step_b", dt),
        ("completion", "step_b", True),
        ("done", True),
    ]


def test_npm_parallel_fetch() -> None:
    orchestrator = legato.Orchestrator()

    @orchestrator.action
    async def get_user_profile(user_id: str) -> dict[str, str]:
        await asyncio.sleep(0.01)
        return {"userId": user_id, "name": "Alice"}

    @orchestrator.action
    async def get_shipping_options(destination: str) -> list[str]:
        await asyncio.sleep(0.01)
        return ["Standard", "Express", "Overnight"]

    parallel_tasks = orchestrator.parallel([get_user_profile, get_shipping_options])

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        start = loop.time()
        profile, shipping = await parallel_tasks("user42", "USA")
        return profile, shipping, loop.time() - start

    async def run() -> Any:
        return await orchestrator.run_async(main)

    # On a virtual clock (time moves only when nothing else can happen): exactly 10 ms, both
    # calls at once, where one after the other would take 20.
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
        profile, shipping, took = runner.run(run())
    assert profile == {"userId": "user42", "name": "Alice"}
    assert shipping == ["Standard", "Express", "Overnight"]
    assert round(took, 6) == 0.01


def test_npm_advanced_lifecycle_with_context() -> None:
    orchestrator = legato.Orchestrator()
    metrics: list[dict[str, int]] = []

    async def fetch_api_key() -> str:
        await asyncio.sleep(0)
        return "secret"

    async def on_begin(e: Any) -> None:
        e.context["api_key"] = await fetch_api_key()

    def on_task_begin(e: Any) -> None:
        e.context["request_count"] += 1

    async def on_end(e: Any) -> None:
        metrics.append({"requests": e.context["request_count"], "errors": len(e.context["errors"])})
        e.context["api_key"] = None

    orchestrator.set_state("request_count", 0).set_state("errors", [])
    orchestrator.on_process_begin(on_begin)
    orchestrator.on_task_begin(on_task_begin)
    orchestrator.on_process_completion(on_end)

    @orchestrator.action
    async def fetch_user_data(user_id: str) -> dict[str, Any]:
        context = orchestrator.get_state()
        assert context["api_key"] == "secret"
        error = RuntimeError("Failed to fetch user")
        context["errors"].append(error)
        raise error

    @orchestrator.action
    async def update_profile(user_id: str, data: Any) -> None:  # never called
        raise AssertionError("not reached")

    async def main() -> int:
        try:
            user = await fetch_user_data("user123")
            await update_profile("user123", user)
        except RuntimeError:
            pass
        return len(orchestrator.get_state()["errors"])

    assert orchestrator.run(main) == 1
    assert metrics == [{"requests": 1, "errors": 1}]
    assert orchestrator.get_state()["api_key"] is None
    r = orchestrator.last_report
    assert r is not None and r.tasks["fetch_user_data"].status == "failed" and "update_profile" not in r.tasks


# ----- LightFlow (001) -------------------------------------------------------------------------


def steps(*names: str) -> dict[str, Any]:
    out = {}
    for n in names:

        def f(n: str = n) -> str:
            return n

        f.__name__ = n
        out[n] = f
    return out


def test_lightflow_custom_step_by_string_function_and_sync_point() -> None:
    s = steps("Step1", "Step2", "Step3", "Step4", "Step5", "Step6", "Step7")
    by_string = legato.Flow("strings")
    by_string.add(s["Step1"])
    by_string.add(s["Step2"])
    by_string.add(s["Step3"], name="Step3", after=["Step1", "Step2"])
    assert by_string.plan() == [["Step1", "Step2"], ["Step3"]]

    by_function = legato.Flow("functions")
    by_function.add(s["Step1"])
    by_function.add(s["Step2"])
    by_function.add(s["Step3"], after=[s["Step1"], s["Step2"]])
    assert by_function.plan() == [["Step1", "Step2"], ["Step3"]]

    by_point = legato.Flow("point")
    point = by_point.parallel(s["Step4"], s["Step5"]).point
    by_point.add(s["Step3"], after=[point])
    assert by_point.plan() == [["Step4", "Step5"], ["Step3"]]
    assert by_point.run().ok


def test_lightflow_follow_after_parallel_after_sync_all() -> None:
    s = steps("Step1", "Step2", "Step3", "Step4")
    f = legato.Flow("follow")
    f.add(s["Step1"])
    f.add(s["Step2"])
    f.follow(s["Step3"], s["Step4"]).after(s["Step1"], s["Step2"])
    assert f.plan() == [["Step1", "Step2"], ["Step3"], ["Step4"]]

    p = legato.Flow("parallel")
    p.add(s["Step1"])
    p.parallel(s["Step2"], s["Step3"]).after(s["Step1"])
    assert p.plan() == [["Step1"], ["Step2", "Step3"]]

    a = legato.Flow("sync_all")
    a.follow(s["Step1"], s["Step2"])
    a.follow(s["Step3"])
    a.sync_all(s["Step4"])
    assert a.plan() == [["Step1", "Step3"], ["Step2"], ["Step4"]]
    assert a.run().tasks["Step4"].result == "Step4"


# ----- Barista (000) ---------------------------------------------------------------------------


def test_barista_sequences_serialise_shared_state_while_others_run() -> None:
    flow = legato.Flow("barista")
    lock = threading.Lock()
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    shared: list[str] = []

    def task(name: str, seq: bool) -> Any:
        def execute() -> None:
            with lock:
                inside.append(name)
                overlaps.append(tuple(inside))
            if seq:
                shared.append(f"This comes from {name}")
            time.sleep(0.02)
            with lock:
                inside.remove(name)

        execute.__name__ = name
        return execute

    flow.add(task("TaskOne", True), sequences=["mutates-shared-state"])
    flow.add(task("TaskTwo", True), sequences=["mutates-shared-state"])
    flow.add(task("NonSequencedTask", False))
    flow.run()
    assert not any({"TaskOne", "TaskTwo"} <= set(o) for o in overlaps)  # never together
    assert any("NonSequencedTask" in o and len(o) > 1 for o in overlaps)  # ran beside them
    assert sorted(shared) == ["This comes from TaskOne", "This comes from TaskTwo"]


def test_barista_orchestration_events() -> None:
    flow = legato.Flow("events")
    log: list[str] = []
    flow.on_process_begin(lambda e: log.append("Starting to execute the tasks"))
    flow.on_task_ready(lambda e: log.append(f"unblocked {e.name}"))
    flow.on_task_begin(lambda e: log.append(f"Task {e.name} is starting"))
    flow.on_task_failure(lambda e: log.append(f"Task {e.name} failed with exception: {e.error}"))
    flow.on_task_success(lambda e: log.append(f"Task {e.name} succeeded"))
    flow.on_task_completion(lambda e: log.append(f"Task {e.name} finished"))
    flow.on_process_completion(lambda e: log.append("The tasks are all finished!"))

    @flow.step
    def lint() -> None:
        raise RuntimeError("style errors")

    with pytest.raises(legato.FlowError):
        flow.run()
    assert log == [
        "Starting to execute the tasks",
        "unblocked lint",
        "Task lint is starting",
        "Task lint failed with exception: style errors",
        "Task lint finished",
        "The tasks are all finished!",
    ]


# ----- Pynenc (003) ----------------------------------------------------------------------------


def test_pynenc_recursive_fibonacci_sync() -> None:
    app = legato.Orchestrator(max_parallel=2)
    logged: list[str] = []

    @app.action
    def fibonacci(n: int) -> int:
        logged.append(f"Calculating fibonacci({n})")
        result = n if n <= 1 else fibonacci(n - 1) + fibonacci(n - 2)
        return result  # type: ignore[no-any-return]

    assert app.run(lambda: fibonacci(3)) == 2
    assert sorted(logged) == sorted(
        [
            "Calculating fibonacci(3)",
            "Calculating fibonacci(2)",
            "Calculating fibonacci(1)",
            "Calculating fibonacci(1)",
            "Calculating fibonacci(0)",
        ]
    )


def test_pynenc_recursive_fibonacci_async() -> None:
    app = legato.Orchestrator(max_parallel=1)

    @app.action
    async def fibonacci(n: int) -> int:
        if n <= 1:
            return n
        return await fibonacci(n - 1) + await fibonacci(n - 2)  # type: ignore[no-any-return]

    async def main() -> int:
        return await fibonacci(10)  # type: ignore[no-any-return]

    assert app.run(main) == 55
