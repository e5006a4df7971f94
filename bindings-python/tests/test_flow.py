"""Flow: definition, dependencies, injection, builders, running, reports, hooks."""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import json
import threading
from typing import Any

import pytest

import legato


def test_step_returns_the_function_unchanged_bare_and_with_options() -> None:
    flow = legato.Flow("f")

    def a() -> int:
        return 1

    def b(a: int) -> int:
        return a + 1

    assert flow.step(a) is a
    assert flow.step(after=[a], retries=2, description="second")(b) is b
    assert flow.add(lambda: 3, name="c") is not None
    assert flow.steps == ["a", "b", "c"]
    assert a() == 1 and b(1) == 2  # still plain functions


def test_dependencies_by_function_name_and_sync_point() -> None:
    flow = legato.Flow("deps")
    order: list[str] = []
    lock = threading.Lock()

    def rec(name: str) -> Any:
        def f() -> str:
            with lock:
                order.append(name)
            return name

        f.__name__ = name
        return f

    s1, s2, s4, s5 = rec("s1"), rec("s2"), rec("s4"), rec("s5")
    flow.add(s1)
    flow.add(s2, after=["s1"])
    point = flow.parallel(s4, s5).after(s1)
    flow.add(rec("s3"), after=[s2, point])
    assert flow.plan() == [["s1"], ["s2", "s4", "s5"], ["s3"]]
    report = flow.run()
    assert report.ok
    assert order[0] == "s1" and order[-1] == "s3"


def test_results_are_injected_by_parameter_name_and_ctx() -> None:
    flow = legato.Flow("inject", state={"who": "me"})

    @flow.step
    def install() -> str:
        return "deps"

    @flow.step
    def build(install: str) -> str:  # a parameter named after a step: a dependency
        return f"dist({install})"

    @flow.step(after=["build"])
    async def migrate(ctx: legato.TaskContext, build: str) -> Any:
        assert legato.current() is not None and legato.current().name == "migrate"  # type: ignore[union-attr]
        return (ctx.name, ctx.attempt, ctx.state["who"], ctx.results, ctx.cancelled, build)

    assert flow.plan() == [["install"], ["build"], ["migrate"]]
    report = flow.run()
    assert report.tasks["migrate"].result == (
        "migrate",
        1,
        "me",
        {"install": "deps", "build": "dist(deps)"},
        False,
        "dist(deps)",
    )


def test_ctx_results_holds_every_task_that_succeeded_earlier_not_only_direct_dependencies() -> None:
    # Rule 10: a step reads the result of every task that succeeded earlier in the run.
    flow = legato.Flow("results")
    flow.add(lambda: "a!", name="a")
    flow.add(lambda: "b!", name="b", after=["a"])
    flow.add(lambda: "side!", name="side")
    seen: dict[str, Any] = {}

    @flow.step(after=["b", "side"])
    def c(ctx: legato.TaskContext) -> str:
        seen.update(ctx.results)
        return str(ctx.results["a"])

    @flow.step(after=["c"])
    async def d(ctx: legato.TaskContext, a: str) -> tuple[str, str]:
        return a, ctx.results["c"]

    # A parameter named after a step still gets its result and declares the dependency.
    @flow.step
    def e(side: str) -> str:
        return side.upper()

    assert flow.plan("e") == [["side"], ["e"]]
    report = flow.run()
    assert {"a": "a!", "b": "b!", "side": "side!"}.items() <= seen.items() and "d" not in seen
    assert report.tasks["c"].result == "a!"
    assert report.tasks["d"].result == ("a!", "a!")
    assert report.tasks["e"].result == "SIDE!"


def test_task_completion_error_is_the_last_attempts_none_after_a_successful_retry() -> None:
    # Rule 12; task_failure and task_completion of a failed task give the body's own exception.
    flow = legato.Flow("completion-error")
    raised: list[BaseException] = []

    @flow.step(retries=1)
    def flaky(ctx: legato.TaskContext) -> str:
        if ctx.attempt == 1:
            raised.append(ValueError("first"))
            raise raised[-1]
        return "ok"

    own = KeyError("own")

    @flow.step
    async def broken() -> None:
        raise own

    completion: dict[str, Any] = {}
    failure: dict[str, Any] = {}
    flow.on_task_completion(lambda e: completion.__setitem__(e.name, (e.status, e.error)))
    flow.on_task_failure(lambda e: failure.__setitem__(e.name, e.error))
    with pytest.raises(legato.FlowError):
        flow.run()
    assert completion["flaky"] == ("succeeded", None)
    assert completion["broken"][0] == "failed"
    assert completion["broken"][1] is own and failure["broken"] is own


def test_a_parameter_matching_no_upstream_step_is_refused_at_definition() -> None:
    flow = legato.Flow("bad")
    with pytest.raises(TypeError, match='parameter "nope"'):
        flow.add(lambda nope: None, name="x")

    def with_default(other: int = 3) -> int:
        return other

    flow.add(with_default)  # a default is fine
    assert flow.run().tasks["with_default"].result == 3


@pytest.mark.parametrize("async_c", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("order", ["abc", "acb", "bac", "bca", "cab", "cba"])
def test_a_parameter_named_after_a_step_gets_that_steps_result_whatever_the_order_of_definition(
    order: str, async_c: bool
) -> None:
    # Issue 19 (Low): names are resolved when the flow is planned or run, not when c is added;
    # c(a) is never fed b's result (b finishes beside a, c could take either). Declared before
    # a, c needs a default (a parameter naming no step yet, without one, is refused at once).
    flow = legato.Flow("inject")

    def a() -> str:
        return "A"

    def b() -> str:
        return "B"

    if order.index("a") < order.index("c"):
        if async_c:

            async def c(a: str) -> str:
                return a
        else:

            def c(a: str) -> str:
                return a
    elif async_c:

        async def c(a: str = "default") -> str:
            return a
    else:

        def c(a: str = "default") -> str:
            return a

    fns = {"a": a, "b": b, "c": c}
    for n in order:
        flow.add(fns[n])
    assert flow.plan() == [[n for n in order if n != "c"], ["c"]]
    assert flow.plan("c") == [["a"], ["c"]]
    assert "t" in flow.to_mermaid() and "-->" in flow.to_mermaid()
    report = flow.run()
    assert report.tasks["c"].result == "A"
    assert flow.run("c").tasks["c"].result == "A"


def test_a_parameter_with_a_default_named_after_no_step_or_its_own_step_keeps_its_default() -> None:
    flow = legato.Flow("defaults")

    def a(a: int = 1, later: int = 2, *, never: int = 3) -> int:  # its own name: no cycle
        return a + later + never

    def one_more(x: int, later: int = 0) -> int:
        return x + later

    flow.add(a)
    flow.add(functools.partial(one_more, 1), name="p")  # read by inspect.signature
    assert flow.plan() == [["a", "p"]]
    r = flow.run()
    assert (r.tasks["a"].result, r.tasks["p"].result) == (6, 1)
    flow.add(lambda: 10, name="later")  # now a step of that name exists: a depends on it
    assert flow.plan() == [["later"], ["a", "p"]]
    r = flow.run()
    assert (r.tasks["a"].result, r.tasks["p"].result) == (14, 11)


def test_parameters_are_read_as_inspect_reads_them_keyword_only_wrapped_partial_and_methods() -> None:
    flow = legato.Flow("signatures")
    flow.add(lambda: 2, name="a")
    flow.add(lambda: 3, name="b")

    def kw_only(*args: Any, a: int, b: int = 0, **kw: Any) -> int:
        return a * 10 + b

    def traced(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return ("traced", fn(*args, **kwargs))

        return wrapper

    @traced
    def wrapped(a: int, b: int) -> int:  # inspect follows __wrapped__: a and b are injected
        return a + b

    def three(a: int, b: int, c: int) -> int:
        return a * 100 + b * 10 + c

    class Adder:
        def __init__(self, k: int) -> None:
            self.k = k

        def add(self, a: int) -> int:
            return a + self.k

        async def __call__(self, b: int) -> int:
            return b * self.k

    flow.add(kw_only)
    flow.add(wrapped)
    flow.add(functools.partial(three, c=7), name="partial")
    flow.add(Adder(5).add, name="method")
    flow.add(Adder(4), name="callable_object")
    assert flow.plan() == [["a", "b"], ["kw_only", "wrapped", "partial", "method", "callable_object"]]
    r = flow.run()
    assert r.tasks["kw_only"].result == 23
    assert r.tasks["wrapped"].result == ("traced", 5)
    assert r.tasks["partial"].result == 237
    assert r.tasks["method"].result == 7
    assert r.tasks["callable_object"].result == 12

    def positional_only(a: int, /) -> int:
        return a

    with pytest.raises(TypeError, match='positional_only: parameter "a" is positional-only'):
        flow.add(positional_only)
    with pytest.raises(TypeError, match='parameter "nope" is neither "ctx" nor the name of an upstream step'):
        flow.add(lambda a, *, nope: None, name="x")


def test_follow_chain_and_sync_all() -> None:
    flow = legato.Flow("lightflow")
    names = {n: (lambda n=n: n) for n in ["Step1", "Step2", "Step3", "Step4"]}
    for n, f in names.items():
        f.__name__ = n
    flow.follow(names["Step1"], names["Step2"])
    flow.follow(names["Step3"])
    flow.sync_all(names["Step4"])
    assert flow.plan() == [["Step1", "Step3"], ["Step2"], ["Step4"]]
    mermaid = flow.to_mermaid()
    assert 't3["Step4"]' in mermaid and "t1 --> t3" in mermaid and "t2 --> t3" in mermaid
    assert "digraph" in flow.to_dot()
    assert "Step4" in flow.to_ascii()
    assert flow.run().ok


def test_targets_run_only_their_dependencies() -> None:
    flow = legato.Flow("targets")
    ran: list[str] = []
    for n, after in [("a", []), ("b", ["a"]), ("c", [])]:
        flow.add(lambda n=n: ran.append(n), name=n, after=after)
    report = flow.run("b")
    assert sorted(ran) == ["a", "b"]
    assert set(report.tasks.keys()) == {"a", "b"}
    assert flow.plan("b") == [["a"], ["b"]]


def test_failure_raises_flow_error_with_the_report_and_the_exception_itself() -> None:
    flow = legato.Flow("fails")
    boom = ValueError("boom")

    @flow.step
    def bad() -> None:
        raise boom

    @flow.step(after=[bad])
    def after_bad() -> None:
        pass

    @flow.step
    def independent() -> int:
        return 7

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    report = ei.value.report  # type: ignore[attr-defined]
    assert not report.ok
    t = report.tasks["bad"]
    assert t.status == "failed" and t.error is boom and t.attempts == 1
    assert t.error.__traceback__ is not None
    assert report.tasks["after_bad"].status == "skipped"
    assert report.tasks["after_bad"].skip_reason == 'dependency "bad" failed'
    assert report.tasks["independent"].result == 7


def test_report_fields_and_renderings() -> None:
    flow = legato.Flow("report")

    @flow.step
    async def a() -> str:
        await asyncio.sleep(0.01)
        return "A"

    @flow.step(after=[a])
    def b() -> str:
        return "B"

    before = datetime.datetime.now(datetime.timezone.utc)
    report = flow.run()
    t = report.tasks["a"]
    assert t.status == "succeeded" and t.attempts == 1 and t.result == "A" and t.error is None
    assert t.duration >= 0.009
    assert t.started_at is not None and t.finished_at is not None
    assert t.started_at.tzinfo is datetime.timezone.utc and before <= t.started_at <= t.finished_at
    assert report.critical_path == ["a", "b"]
    data = json.loads(report.to_json())
    assert data["ok"] is True
    assert "gantt" in report.to_mermaid()
    assert "<html" in report.to_html().lower()
    assert len(report.tasks) == 2 and "a" in report.tasks and report.tasks.get("zz") is None
    assert report.counts["succeeded"] == 2


def test_retries_backoff_and_retry_if() -> None:
    flow = legato.Flow("retries")
    calls = {"flaky": 0, "refused": 0, "tuple": 0}

    @flow.step(retries=3, backoff=legato.Backoff.fixed(0.001))
    def flaky() -> int:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError("again")
        return calls["flaky"]

    @flow.step(retries=3, retry_if=ConnectionError)
    def refused() -> None:
        calls["refused"] += 1
        raise KeyError("not retryable")

    @flow.step(retries=2, retry_if=(KeyError, ConnectionError))
    def tuple_() -> None:
        calls["tuple"] += 1
        raise KeyError("retryable")

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    r = ei.value.report  # type: ignore[attr-defined]
    assert r.tasks["flaky"].result == 3 and r.tasks["flaky"].attempts == 3
    assert r.tasks["refused"].attempts == 1
    assert r.tasks["tuple_"].attempts == 3
    b = legato.Backoff.exponential(0.1, factor=3.0, max=0.5)
    assert [b.delay(n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.3, 0.5])


def test_timeout_cancels_the_coroutine_for_real() -> None:
    flow = legato.Flow("timeouts")
    seen: list[str] = []

    @flow.step(timeout=0.02)
    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled inside")
            raise

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    t = ei.value.report.tasks["slow"]  # type: ignore[attr-defined]
    assert t.status == "timed_out"
    assert isinstance(t.error, legato.TaskTimeoutError)
    assert str(t.error) == 'task "slow" timed out after 20ms'
    assert seen == ["cancelled inside"]


def test_a_sync_step_past_its_timeout_is_abandoned_and_sees_its_cancel_flag() -> None:
    flow = legato.Flow("sync-timeout")
    done = threading.Event()
    flags: list[bool] = []

    @flow.step(timeout=0.02)
    def stuck(ctx: legato.TaskContext) -> None:
        while not ctx.cancelled:
            done.wait(0.001)
        flags.append(ctx.cancelled)
        done.set()

    with pytest.raises(legato.FlowError):
        flow.run()
    assert done.wait(5) and flags == [True]


def test_max_parallel_and_sequences() -> None:
    flow = legato.Flow("limits", max_parallel=2)
    lock = threading.Lock()
    state = {"running": 0, "peak": 0, "db": 0, "db_peak": 0}

    def work(key: bool) -> Any:
        def f() -> None:
            with lock:
                state["running"] += 1
                state["peak"] = max(state["peak"], state["running"])
                if key:
                    state["db"] += 1
                    state["db_peak"] = max(state["db_peak"], state["db"])
            threading.Event().wait(0.005)
            with lock:
                state["running"] -= 1
                if key:
                    state["db"] -= 1

        return f

    for i in range(6):
        flow.add(work(i < 3), name=f"t{i}", sequences=["db"] if i < 3 else None)
    flow.run()
    assert state["peak"] == 2 and state["db_peak"] == 1


def test_mixed_sync_and_async_steps_in_run_async() -> None:
    flow = legato.Flow("mixed")

    @flow.step
    def one() -> int:
        return 1

    @flow.step
    async def two(one: int) -> int:
        await asyncio.sleep(0)
        return one + 1

    @flow.step
    def three(two: int) -> int:
        return two + 1

    async def main() -> Any:
        return await flow.run_async()

    report = asyncio.run(main())
    assert report.tasks["three"].result == 3


def test_run_inside_a_running_loop_is_refused() -> None:
    flow = legato.Flow("x")
    flow.add(lambda: None, name="a")

    async def main() -> None:
        with pytest.raises(RuntimeError, match="run_async"):
            flow.run()

    asyncio.run(main())


def test_a_step_added_after_a_run_is_in_the_next_run_with_its_inputs() -> None:
    flow = legato.Flow("grows")
    flow.add(lambda: 2, name="two")
    assert list(flow.run().tasks) == ["two"]

    def double(two: int) -> int:
        return two * 2

    flow.add(double)
    flow.add(lambda double: double + 1, name="plus_one")
    report = flow.run()
    assert [(t.name, t.result) for t in report.all_tasks] == [("two", 2), ("double", 4), ("plus_one", 5)]


def test_a_flow_of_sync_steps_and_sync_hooks_runs_without_an_event_loop() -> None:
    flow = legato.Flow("no-loop")
    loops: list[bool] = []
    flow.add(lambda: 1, name="a")
    flow.on_task_begin(lambda e: loops.append(asyncio._get_running_loop() is not None))
    assert flow.run().tasks["a"].result == 1
    assert loops == [False]

    async def noted(e: Any) -> None:
        pass

    flow.on_task_begin(noted)  # an async hook: the run has a loop again
    flow.run()
    assert loops == [False, True]


def test_a_sync_hook_that_returns_an_awaitable_is_awaited_in_a_run_without_a_loop() -> None:
    flow = legato.Flow("awaitable-hook")
    flow.add(lambda: None, name="a")
    seen: list[str] = []

    async def later(what: str) -> None:
        await asyncio.sleep(0)
        seen.append(what)

    flow.on_task_begin(lambda e: later(f"begin {e.name}"))
    flow.on_task_completion(lambda e: seen.append(f"completion {e.name}"))
    flow.run()
    assert seen == ["begin a", "completion a"]

    async def fails() -> None:
        raise RuntimeError("late refusal")

    flow.on_task_success(lambda e: fails())
    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    assert ei.value.report.stop == 'hook for event "task_success" failed: late refusal'  # type: ignore[attr-defined]


def test_ctrl_c_inside_a_hook_of_a_run_without_a_loop_cancels_it_then_propagates() -> None:
    # Signal handlers run on the thread that runs the hooks: Ctrl-C can land inside one.
    flow = legato.Flow("interrupted-hook")

    @flow.step
    def slow(ctx: legato.TaskContext) -> None:
        while not ctx.cancelled:
            threading.Event().wait(0.001)

    def interrupt(e: Any) -> None:
        raise KeyboardInterrupt

    flow.on_task_begin(interrupt)
    ends: list[str] = []
    flow.on_process_completion(lambda e: ends.append(e.report.tasks["slow"].status))
    with pytest.raises(KeyboardInterrupt):
        flow.run()
    assert ends == ["cancelled"]


@pytest.mark.parametrize("inner_kind", ["sync", "mixed"])
def test_flows_run_inside_sync_steps_do_not_starve_the_worker_pool(inner_kind: str) -> None:
    # More outer steps than the pool's default size, each waiting for a flow of its own whose
    # sync steps need workers too: a waiting worker must not count as one.
    outer = legato.Flow("outer")

    def make(i: int) -> Any:
        def step() -> int:
            inner = legato.Flow(f"inner-{i}")
            for j in range(3):
                inner.add(lambda j=j: j, name=f"s{j}")
            if inner_kind == "mixed":

                async def tail(s2: int) -> int:
                    return s2 * 10

                inner.add(tail)
            return sum(t.result for t in inner.run().all_tasks)

        return step

    for i in range(12):
        outer.add(make(i), name=f"o{i}")
    report = outer.run()
    want = 3 + (20 if inner_kind == "mixed" else 0)
    assert [t.result for t in report.all_tasks] == [want] * 12


def test_a_coroutine_that_never_suspends_gets_no_task() -> None:
    flow = legato.Flow("eager")
    tasks: dict[str, Any] = {}

    @flow.step
    async def eager() -> None:
        tasks["eager"] = asyncio.current_task()

    @flow.step
    async def suspends() -> None:
        await asyncio.sleep(0)
        tasks["suspends"] = asyncio.current_task()

    async def main() -> Any:
        tasks["main"] = asyncio.current_task()
        return await flow.run_async()

    asyncio.run(main())
    # Its one step ran from a loop callback (driver's start_bodies), in no Task at all.
    assert tasks["eager"] is None
    assert tasks["suspends"] is not None and tasks["suspends"] is not tasks["main"]


def test_hooks_all_nine_in_order_sync_and_async_several_per_event() -> None:
    flow = legato.Flow("hooks", state={"n": 0})
    trace: list[str] = []

    @flow.step(retries=1)
    def a(ctx: legato.TaskContext) -> str:
        if ctx.attempt == 1:
            raise RuntimeError("first")
        return "ok"

    @flow.step
    def b() -> None:
        raise RuntimeError("b fails")

    @flow.step(after=[b])
    def c() -> None:
        pass

    flow.on_process_begin(lambda e: trace.append(f"begin {type(e.time).__name__}"))
    flow.on_task_ready(lambda e: trace.append(f"ready {e.name}"))

    async def begin_async(e: Any) -> None:
        await asyncio.sleep(0)
        e.context["n"] += 1
        trace.append(f"task_begin {e.name} {e.attempt}")

    flow.on_task_begin(begin_async)
    flow.on_task_begin(lambda e: trace.append(f"second hook {e.name}"))
    flow.on_task_retry(lambda e: trace.append(f"retry {e.name} {e.attempt} {e.error}"))
    flow.on_task_success(lambda e: trace.append(f"success {e.name} {e.result}"))
    flow.on_task_failure(lambda e: trace.append(f"failure {e.name} {e.error}"))
    flow.on_task_skip(lambda e: trace.append(f"skip {e.name} {e.reason}"))
    flow.on_task_completion(lambda e: trace.append(f"completion {e.name} {e.status}"))
    flow.on_process_completion(lambda e: trace.append(f"end {e.report.ok} {e.context['n']}"))
    with pytest.raises(legato.FlowError):
        flow.run()
    assert trace[0] == "begin datetime" and trace[-1] == "end False 3"
    i = trace.index("task_begin a 1")
    assert trace[i + 1] == "second hook a"
    assert "retry a 1 first" in trace and "success a ok" in trace
    assert "failure b b fails" in trace and 'skip c dependency "b" failed' in trace
    assert trace.index("retry a 1 first") < trace.index("task_begin a 2") < trace.index("success a ok")
    assert trace.index("success a ok") < trace.index("completion a succeeded")


def test_a_hook_that_raises_fails_the_run_naming_the_event() -> None:
    flow = legato.Flow("hook-fails")
    flow.add(lambda: None, name="a")

    def bad(e: Any) -> None:
        raise RuntimeError("quota exceeded")

    flow.on_task_begin(bad)
    ends: list[bool] = []
    flow.on_process_completion(lambda e: ends.append(e.report.ok))
    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    assert ei.value.report.stop == 'hook for event "task_begin" failed: quota exceeded'  # type: ignore[attr-defined]
    assert ends == [False]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_hook_error_is_the_cause_of_the_flow_error(kind: str) -> None:
    # Rule 9: the FlowError carries the hook's own exception object as its __cause__.
    flow = legato.Flow("hook-cause")
    flow.add(lambda: None, name="a")
    raised: list[BaseException] = []

    def bad(e: Any) -> None:
        raised.append(LookupError("quota exceeded"))
        raise raised[-1]

    async def bad_async(e: Any) -> None:
        await asyncio.sleep(0)
        bad(e)

    flow.on_task_success(bad if kind == "sync" else bad_async)
    with pytest.raises(legato.FlowError, match='hook for event "task_success" failed: quota exceeded') as ei:
        flow.run()
    assert ei.value.__cause__ is raised[0]


def test_spawn_and_cancel_from_outside() -> None:
    flow = legato.Flow("cancel")
    seen: list[str] = []
    started = asyncio.Event()

    @flow.step
    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    @flow.step(after=[forever])
    def later() -> None:
        pass

    flow.on_process_completion(lambda e: seen.append("completion"))

    async def main() -> Any:
        h = flow.spawn()
        await started.wait()  # forever is running: cancelled, not skipped
        h.cancel()
        with pytest.raises(legato.FlowError):
            await h
        return h.report()

    r = asyncio.run(main())
    assert r.stop == "run cancelled"
    assert r.tasks["forever"].status == "cancelled" and r.tasks["later"].status == "skipped"
    # The attempt is abandoned at once (the run does not wait for the body); the coroutine
    # gets its CancelledError on the loop's next turn.
    assert sorted(seen) == ["cancelled", "completion"]


def test_cancelling_the_awaiting_task_cancels_the_run() -> None:
    flow = legato.Flow("outer-cancel")
    ends: list[bool] = []
    flow.on_process_completion(lambda e: ends.append(e.report.ok))

    started = asyncio.Event()

    @flow.step
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    async def main() -> None:
        t = asyncio.ensure_future(flow.run_async())
        await started.wait()  # the run is under way
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(main())
    assert ends == [False]
    assert started.is_set()


def test_run_timeout_cancels_everything() -> None:
    flow = legato.Flow("run-timeout", timeout=0.02)

    @flow.step
    async def slow() -> None:
        await asyncio.sleep(60)

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    assert ei.value.report.stop == "run timed out after 20ms"  # type: ignore[attr-defined]


def test_fail_fast_cancels_running_work() -> None:
    flow = legato.Flow("ff", fail_fast=True)
    long_started = asyncio.Event()

    @flow.step
    async def breaker() -> None:
        await long_started.wait()  # long is running when breaker fails
        raise RuntimeError("x")

    @flow.step
    async def long() -> None:
        long_started.set()
        await asyncio.sleep(60)

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    r = ei.value.report  # type: ignore[attr-defined]
    assert r.tasks["long"].status == "cancelled" and r.stop == 'fail-fast: task "breaker" failed'


def test_a_flow_garbage_collected_mid_run_finishes() -> None:
    import gc

    async def main() -> Any:
        def make() -> Any:
            flow = legato.Flow("gc")

            @flow.step
            async def a() -> int:
                await asyncio.sleep(0.01)
                return 1

            return flow.spawn()

        h = make()
        gc.collect()
        return await h

    assert asyncio.run(main()).tasks["a"].result == 1


def test_signature_of_a_step_is_inspected_once() -> None:
    flow = legato.Flow("sig")

    @flow.step
    def a(*args: Any, **kwargs: Any) -> int:
        return len(args) + len(kwargs)

    assert inspect.signature(a).parameters.keys() == {"args", "kwargs"}
    assert flow.run().tasks["a"].result == 0


class _UploadError(Exception):
    pass


async def _upload(name: str, loops: list[asyncio.AbstractEventLoop]) -> str:
    loops.append(asyncio.get_running_loop())
    await asyncio.sleep(0)
    if name == "bad":
        raise _UploadError(name)
    return f"uploaded {name}"


@pytest.mark.parametrize("mode", ["blocking", "async"])
def test_a_sync_step_that_returns_a_coroutine_is_awaited(mode: str) -> None:
    # Rule 13: `flow.add(lambda: upload("a"))`, the usual way to bind arguments, returns a
    # coroutine; it is awaited (on the run's loop when the run has one), never taken as the value.
    loops: list[asyncio.AbstractEventLoop] = []
    flow = legato.Flow("uploads")
    flow.add(lambda: _upload("a", loops), name="a")
    flow.add(lambda: _upload("bad", loops), name="bad")
    seen: list[Any] = []

    @flow.step(after=["a"])
    def after(a: str) -> None:
        seen.append(a)

    run_loop: list[asyncio.AbstractEventLoop] = []
    if mode == "blocking":
        with pytest.raises(legato.FlowError) as info:
            flow.run()
    else:

        async def main() -> None:
            run_loop.append(asyncio.get_running_loop())
            await flow.run_async()

        with pytest.raises(legato.FlowError) as info:
            asyncio.run(main())
    report = info.value.report
    assert report.tasks["a"].result == "uploaded a"
    assert seen == ["uploaded a"]
    assert isinstance(report.tasks["bad"].error, _UploadError)
    assert len(loops) == 2
    if mode == "async":
        assert all(lp is run_loop[0] for lp in loops)


def test_the_flow_error_message_is_worded_by_the_core_as_in_every_door() -> None:
    flow = legato.Flow("release")

    @flow.step()
    def build() -> None:
        raise RuntimeError("exit code 1")

    @flow.step(after=[build])
    def deploy() -> None: ...

    with pytest.raises(legato.FlowError) as info:
        flow.run()
    assert str(info.value) == 'flow failed: task "build" failed: exit code 1'
    assert info.value.report.failure_reason == 'task "build" failed: exit code 1'

    slow = legato.Flow("slow", timeout=0.05)

    @slow.step()
    async def wait() -> None:
        await asyncio.sleep(5)

    with pytest.raises(legato.FlowError) as info:
        slow.run()
    assert str(info.value) == "flow failed: run timed out after 50ms"


def test_a_retry_if_that_raises_fails_the_task_with_its_exception() -> None:
    """Issue 19 #9: the predicate's exception is the task's error (not "do not retry"
    silently); the body's exception is its __context__; no retry follows."""
    flow = legato.Flow("retry_if raises")
    calls = {"body": 0}
    bug = RuntimeError("predicate bug")
    original = ConnectionError("body")

    def pred(e: BaseException) -> bool:
        raise bug

    @flow.step(retries=3, retry_if=pred)
    def body() -> None:
        calls["body"] += 1
        raise original

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    t = ei.value.report.tasks["body"]  # type: ignore[attr-defined]
    assert t.status == "failed" and t.attempts == 1 and calls["body"] == 1
    assert t.error is bug and bug.__context__ is original

    orch = legato.Orchestrator()
    act = orch.action(lambda: (_ for _ in ()).throw(original), retries=2, retry_if=pred)
    with pytest.raises(RuntimeError, match="predicate bug") as e2:
        orch.run(act)
    assert e2.value is bug


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_from_a_step_stop_the_run(exc: type[BaseException]) -> None:
    """Issue 19 #13 (rule 13): not task failures, never retried; they stop the run and
    propagate from run() — from a sync step, from an async one, in a blocking run and on a
    loop, and from an Orchestrator's action."""
    calls: list[str] = []

    # A blocking run (sync steps only).
    flow = legato.Flow("interrupt")

    @flow.step(retries=3)
    def stop() -> None:
        calls.append("sync")
        raise exc("stop")

    with pytest.raises(exc, match="stop"):
        flow.run()
    assert calls == ["sync"]

    # A run on a loop: the independent step that never ends is cancelled, not awaited.
    flow2 = legato.Flow("interrupt on a loop")
    cancelled: list[str] = []

    @flow2.step(retries=3)
    async def stop_async() -> None:
        calls.append("async")
        raise exc("stop async")

    @flow2.step()
    async def forever() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cancelled.append("forever")
            raise

    with pytest.raises(exc, match="stop async"):
        flow2.run()
    assert calls == ["sync", "async"] and cancelled == ["forever"]

    # A sync step on the worker pool of a run on a loop.
    flow3 = legato.Flow("interrupt from the pool")

    @flow3.step(retries=2)
    def p() -> None:
        calls.append("pool")
        raise exc("from the pool")

    @flow3.step()
    async def other() -> None:
        pass

    with pytest.raises(exc, match="from the pool"):
        flow3.run()
    assert calls.count("pool") == 1

    orch = legato.Orchestrator()

    @orch.action(retries=2)
    def act() -> None:
        calls.append("action")
        raise exc("from an action")

    with pytest.raises(exc, match="from an action"):
        orch.run(lambda: act())
    assert calls.count("action") == 1
