"""Scheduling beyond the seeds through the Python door (issue 21, DESIGN "Beyond the seeds"):
per-key limits (``limits=``, ``uses=``, an action's ``uses`` computed from a call's arguments),
conditions (``when=``) and trigger rules (``trigger=``), ``priority="critical_path"`` with
``cost=`` and ``costs=report``, and the definition-time errors naming the argument.

Timed tests run on looptime's virtual clock (exact times, no real sleeps); sync tests use
events and barriers, never sleeps."""

from __future__ import annotations

import asyncio
import pickle
import threading
import traceback
from typing import Any, Callable

import looptime
import pytest
from exits import exits_cleanly_twenty_times

import legato


def virtual(coro_fn: Callable[[], Any]) -> Any:
    """Runs ``coro_fn()`` on a looptime loop of its own (virtual time from 0)."""
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0.0)) as runner:
        return runner.run(coro_fn())


class Gauge:
    """How many bodies hold a key at once, and the most at any time, per key."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.lock = threading.Lock()

    def enter(self, key: str) -> None:
        with self.lock:
            n = self.now[key] = self.now.get(key, 0) + 1
            self.peak[key] = max(self.peak.get(key, 0), n)

    def leave(self, key: str) -> None:
        with self.lock:
            self.now[key] -= 1

    async def hold(self, key: str, seconds: float) -> None:
        self.enter(key)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.leave(key)


# ----- limits -------------------------------------------------------------------------------


def test_a_flow_runs_no_more_than_a_keys_capacity_at_once() -> None:
    async def go(limits: Any) -> tuple[dict[str, int], float, list[str]]:
        g = Gauge()
        order: list[str] = []
        flow = legato.Flow("db", limits=limits)
        for i in range(5):

            async def q(ctx: legato.TaskContext) -> None:
                order.append(ctx.name)
                await g.hold("db", 0.010)

            flow.add(q, name=f"q{i}", uses=["db"])
        report = await flow.run_async()
        return g.peak, report.total_duration, order

    peak, total, order = virtual(lambda: go({"db": 2}))
    assert peak == {"db": 2}
    assert round(total, 6) == 0.030
    assert order == ["q0", "q1", "q2", "q3", "q4"]  # waiters start in readiness order
    # A key the limits do not name has capacity 1 (a sequence).
    peak, total, _ = virtual(lambda: go(None))
    assert peak == {"db": 1}
    assert round(total, 6) == 0.050


def test_sequences_is_an_alias_of_uses_and_both_add_up() -> None:
    async def go() -> dict[str, int]:
        g = Gauge()
        flow = legato.Flow("alias", limits={"db": 2, "api": 1})

        async def a() -> None:
            g.enter("api")
            await g.hold("db", 0.01)
            g.leave("api")

        async def b() -> None:
            await g.hold("db", 0.01)

        flow.add(a, name="a1", uses=["db"], sequences=["api"])
        flow.add(a, name="a2", sequences=["db", "api"])
        flow.add(b, name="b1", sequences=["db"])
        await flow.run_async()
        return g.peak

    # a1 and a2 share "api" (capacity 1): never together; b1 runs beside one of them on "db".
    assert virtual(go) == {"db": 2, "api": 1}


def test_a_waiter_holds_no_slot_sync_steps() -> None:
    # d2 waits for "db" without a slot, so `free` starts beside d1 under max_parallel=2: d1 and
    # free meet at a barrier (it would time out if free could not start while d1 runs).
    meet = threading.Barrier(2, timeout=10)
    started: list[str] = []
    flow = legato.Flow("waiter", max_parallel=2)

    def body(ctx: legato.TaskContext) -> None:
        started.append(ctx.name)
        if ctx.name in ("d1", "free"):
            meet.wait()

    flow.add(body, name="d1", uses=["db"])
    flow.add(body, name="d2", uses=["db"])
    flow.add(body, name="free")
    assert flow.run().ok
    assert started[2] == "d2"


def test_an_action_computes_its_keys_from_the_calls_arguments() -> None:
    async def go() -> tuple[dict[str, int], float]:
        g = Gauge()
        orch = legato.Orchestrator()

        @orch.action(uses=lambda user_id: [f"user:{user_id}"])
        async def sync_user(user_id: int) -> int:
            await g.hold(f"user:{user_id}", 0.010)
            return user_id

        async def main() -> list[int]:
            return list(await asyncio.gather(*(sync_user(i % 2) for i in range(6))))

        assert await orch.run_async(main) == [0, 1, 0, 1, 0, 1]
        assert orch.last_report is not None
        return g.peak, orch.last_report.total_duration

    peak, total = virtual(go)
    assert peak == {"user:0": 1, "user:1": 1}
    assert round(total, 6) == 0.030  # two users at once, three calls each, one at a time


def test_an_action_with_keyword_arguments_and_a_limit() -> None:
    async def go() -> dict[str, int]:
        g = Gauge()
        orch = legato.Orchestrator(limits={"region:eu": 2})

        @orch.action(uses=lambda name, *, region: [f"region:{region}"])
        async def deploy(name: str, *, region: str) -> str:
            await g.hold(f"region:{region}", 0.01)
            return name

        async def main() -> None:
            await asyncio.gather(*(deploy(f"s{i}", region="eu") for i in range(4)))
            await asyncio.gather(*(deploy(f"s{i}", region="us") for i in range(2)))

        await orch.run_async(main)
        return g.peak

    assert virtual(go) == {"region:eu": 2, "region:us": 1}


def test_an_action_takes_a_list_of_keys_too_sync_actions() -> None:
    meet = threading.Barrier(2, timeout=10)
    g = Gauge()
    orch = legato.Orchestrator(limits={"db": 2})

    @orch.action(uses=["db"])
    def query(i: int) -> int:
        g.enter("db")
        try:
            meet.wait()  # two at once, never three (a third would break the barrier's pairs)
        finally:
            g.leave("db")
        return i

    both = orch.parallel([query] * 4)
    assert orch.run(lambda: both(0, 1, 2, 3)) == [0, 1, 2, 3]
    assert g.peak == {"db": 2}


def test_a_uses_function_that_raises_or_returns_a_str_fails_the_call_in_its_caller() -> None:
    class NoUser(Exception):
        pass

    def keys(user: Any) -> Any:
        if user is None:
            raise NoUser("who?")
        return f"user:{user}"  # a bare str: refused

    orch = legato.Orchestrator()

    @orch.action(uses=keys)
    def act(user: Any) -> Any:
        return user

    def main() -> tuple[str, str]:
        try:
            act(None)
        except NoUser as e:
            first = f"NoUser: {e}"
        try:
            act(1)
        except TypeError as e:
            second = str(e)
        return first, second

    first, second = orch.run(main)
    assert first == "NoUser: who?"
    assert second.startswith("uses: expected a list of keys, got a str")
    assert orch.last_report is not None and len(orch.last_report.all_tasks) == 0  # no task made
    # Outside a run an action is a plain call: its keys are not computed.
    assert act(None) is None


# ----- conditions ---------------------------------------------------------------------------


def test_a_false_condition_skips_the_branch_and_the_run_is_ok() -> None:
    seen: list[tuple[str, Any, Any, int]] = []
    trace: list[str] = []
    flow = legato.Flow("branch", state={"env": "staging"})
    flow.on_task_ready(lambda e: trace.append(f"ready {e.name}"))
    flow.on_task_begin(lambda e: trace.append(f"begin {e.name}"))
    flow.on_task_skip(lambda e: trace.append(f"skip {e.name} {e.reason}"))

    @flow.step
    def check() -> bool:
        return False

    def gate(ctx: legato.TaskContext) -> bool:
        seen.append((ctx.name, dict(ctx.results), ctx.state["env"], ctx.attempt))
        trace.append(f"when {ctx.name}")
        return bool(ctx.results["check"]) and ctx.state["env"] == "prod"

    @flow.step(after=[check], when=gate)
    def deploy() -> str:
        return "deployed"

    @flow.step(after=[deploy])
    def announce() -> None: ...

    @flow.step(after=[deploy, check], trigger="none_failed")
    def summary() -> str:
        return "done"

    report = flow.run()  # returns: a branch not taken is not a failure
    assert report.ok
    assert seen == [("deploy", {"check": False}, "staging", 0)]  # once, with the context
    t = report.tasks
    assert (t["deploy"].status, t["deploy"].skip_reason) == ("skipped", "condition false")
    assert (t["announce"].status, t["announce"].skip_reason) == (
        "skipped",
        "trigger rule all_succeeded not met",
    )
    assert t["summary"].status == "succeeded"
    # After task_ready, before the skip; the step never began.
    assert (
        trace.index("ready deploy") < trace.index("when deploy") < trace.index("skip deploy condition false")
    )
    assert "begin deploy" not in trace
    # A pickled report keeps the branch not taken (it is still ok).
    again = pickle.loads(pickle.dumps(report))
    assert again.ok
    assert again.tasks["deploy"].skip_reason == "condition false"
    assert again.tasks["announce"].skip_reason == "trigger rule all_succeeded not met"


@pytest.mark.parametrize("mode", ["blocking", "loop"])
def test_a_true_condition_runs_the_step_and_is_called_from_the_driving_thread(mode: str) -> None:
    threads: list[threading.Thread] = []
    flow = legato.Flow("true")

    def when(ctx: legato.TaskContext) -> bool:
        threads.append(threading.current_thread())
        return True

    if mode == "blocking":

        @flow.step(when=when)
        def go() -> int:
            return 1

        report = flow.run()
    else:

        @flow.step(when=when)
        async def go_async() -> int:
            return 1

        report = asyncio.run(flow.run_async())
    assert report.ok and [t.status for t in report.all_tasks] == ["succeeded"]
    # Called on the thread that drives the run (the caller's, or the loop's): not a worker.
    assert threads == [threading.current_thread()]


@pytest.mark.parametrize("mode", ["blocking", "loop"])
def test_a_condition_that_raises_fails_the_step_with_its_own_exception(mode: str) -> None:
    class NotReady(Exception):
        pass

    raised: list[BaseException] = []

    def when(ctx: legato.TaskContext) -> bool:
        e = NotReady("the database is not ready")
        raised.append(e)
        raise e

    failures: list[Any] = []
    flow = legato.Flow("raise")
    flow.on_task_failure(lambda e: failures.append(e.error))

    async def body_async() -> None: ...

    flow.add((lambda: None) if mode == "blocking" else body_async, name="migrate", when=when)

    @flow.step(after=["migrate"])
    def seed() -> None: ...

    @flow.step(after=["migrate"], trigger="all_done")
    def teardown() -> str:
        return "clean"

    with pytest.raises(legato.FlowError) as info:
        flow.run() if mode == "blocking" else asyncio.run(flow.run_async())
    assert str(info.value) == 'flow failed: task "migrate" failed: the database is not ready'
    report = info.value.report  # type: ignore[attr-defined]
    t = report.tasks["migrate"]
    assert t.status == "failed" and t.attempts == 0
    assert t.error is raised[0]  # the very object, class and traceback kept
    assert failures == [raised[0]]
    frames = [f.name for f in traceback.extract_tb(t.error.__traceback__)]
    assert frames[-1] == "when"
    assert report.tasks["seed"].skip_reason == 'dependency "migrate" failed'
    assert report.tasks["teardown"].status == "succeeded"


def test_a_condition_that_returns_an_awaitable_fails_the_step_and_async_def_is_refused() -> None:
    async def later(ctx: Any) -> bool:
        return True

    flow = legato.Flow("sync-only")
    with pytest.raises(TypeError, match=r"^when: conditions are synchronous, got an async def predicate"):
        flow.add(lambda: None, name="x", when=later)
    flow.add(lambda: None, name="y", when=lambda ctx: later(ctx))  # returns a coroutine
    with pytest.raises(legato.FlowError):
        flow.run()  # no "coroutine was never awaited" warning (an error under filterwarnings)
    with pytest.raises(legato.FlowError) as info:
        flow.run()
    e = info.value.report.tasks["y"].error  # type: ignore[attr-defined]
    assert isinstance(e, TypeError)
    assert str(e).startswith(
        "the when condition of step 'y' returned an awaitable: conditions are synchronous"
    )


def test_keyboard_interrupt_in_a_condition_stops_the_run_and_propagates() -> None:
    completions: list[str] = []
    flow = legato.Flow("ctrl-c")
    flow.on_process_completion(lambda e: completions.append("done"))

    def when(ctx: legato.TaskContext) -> bool:
        raise KeyboardInterrupt

    flow.add(lambda: None, name="a", when=when)
    with pytest.raises(KeyboardInterrupt):
        flow.run()
    assert completions == ["done"]  # hooks still see process_completion


# ----- trigger rules ------------------------------------------------------------------------


def test_cleanup_runs_after_a_failure_and_the_run_still_fails() -> None:
    flow = legato.Flow("cleanup")
    ran: list[str] = []

    @flow.step
    def up() -> None:
        ran.append("up")

    @flow.step(after=[up])
    def tests() -> None:
        raise RuntimeError("tests failed")

    @flow.step(after=[tests])
    def publish() -> None:
        ran.append("publish")

    @flow.step(after=[tests, publish], trigger="all_done")
    def down() -> None:
        ran.append("down")

    with pytest.raises(legato.FlowError, match='task "tests" failed: tests failed'):
        flow.run()
    assert ran == ["up", "down"]


def test_cleanup_runs_under_fail_fast_once_its_dependencies_ended() -> None:
    async def go() -> Any:
        flow = legato.Flow("ff", fail_fast=True)

        @flow.step
        async def bad() -> None:
            await asyncio.sleep(0.005)
            raise RuntimeError("boom")

        @flow.step
        async def slow() -> None:
            await asyncio.sleep(0.050)

        @flow.step(after=[slow], trigger="all_done")
        async def down() -> str:
            return "down"

        with pytest.raises(legato.FlowError) as info:
            await flow.run_async()
        return info.value.report  # type: ignore[attr-defined]

    report = virtual(go)
    assert report.tasks["slow"].status == "cancelled"
    assert report.tasks["down"].status == "succeeded"
    assert round(report.tasks["down"].start_offset, 6) == 0.005  # when fail-fast stopped slow


def test_any_succeeded_and_none_failed() -> None:
    flow = legato.Flow("mirrors")
    flow.add(lambda: (_ for _ in ()).throw(OSError("down")), name="mirror1")
    flow.add(lambda: "ok", name="mirror2")
    flow.add(lambda: "installed", name="install", after=["mirror1", "mirror2"], trigger="any_succeeded")
    flow.add(lambda: None, name="strict", after=["mirror1", "mirror2"], trigger="none_failed")
    with pytest.raises(legato.FlowError) as info:
        flow.run()
    t = info.value.report.tasks  # type: ignore[attr-defined]
    assert t["install"].status == "succeeded" and t["install"].result == "installed"
    assert (t["strict"].status, t["strict"].skip_reason) == ("skipped", 'dependency "mirror1" failed')


# ----- priority -----------------------------------------------------------------------------


def _order_flow(priority: str, costs: Any = None, with_costs: bool = True) -> tuple[legato.Flow, list[str]]:
    order: list[str] = []
    flow = legato.Flow("order", max_parallel=1, priority=priority, costs=costs)

    def body(ctx: legato.TaskContext) -> None:
        order.append(ctx.name)

    for name, cost, after in [
        ("short", 0.001, None),
        ("short2", 0.001, None),
        ("long", 0.010, None),
        ("tail", 0.020, "long"),
    ]:
        flow.add(body, name=name, after=[after] if after else None, cost=cost if with_costs else None)
    return flow, order


def test_critical_path_starts_the_longest_remaining_path_first() -> None:
    flow, order = _order_flow("fifo")
    flow.run()
    assert order == ["short", "short2", "long", "tail"]
    flow, order = _order_flow("critical_path")
    assert flow.priority == "critical_path"
    flow.run()
    assert order == ["long", "tail", "short", "short2"]


def test_costs_come_from_a_previous_report() -> None:
    async def first() -> legato.RunReport:
        flow = legato.Flow("first", max_parallel=1)

        @flow.step
        async def a() -> None:
            await asyncio.sleep(0.001)

        @flow.step
        async def b() -> None:
            await asyncio.sleep(0.030)

        return await flow.run_async()

    report = virtual(first)
    order: list[str] = []
    flow = legato.Flow("second", max_parallel=1, priority="critical_path", costs=report)
    assert flow.costs is report
    flow.add(lambda: order.append("a"), name="a")
    flow.add(lambda: order.append("b"), name="b")
    flow.run()
    assert order == ["b", "a"]  # b took longer last time
    # Without the costs every task costs the same: declaration order.
    order.clear()
    flow = legato.Flow("third", max_parallel=1, priority="critical_path")
    flow.add(lambda: order.append("a"), name="a")
    flow.add(lambda: order.append("b"), name="b")
    flow.run()
    assert order == ["a", "b"]


def test_drawings_show_keys_conditions_and_trigger_rules() -> None:
    flow = legato.Flow("marks", limits={"db": 2})
    flow.add(lambda: None, name="a", uses=["db"])
    flow.add(lambda: None, name="b", after=["a"], when=lambda ctx: True)
    flow.add(lambda: None, name="c", after=["b"], trigger="all_done")
    assert flow.to_ascii().splitlines() == ["a [uses db]", "└─▶ b [when]", "    └─▶ c [trigger all_done]"]
    assert '["b [when]"]' in flow.to_mermaid()


# ----- bad input, at definition time --------------------------------------------------------


@pytest.mark.parametrize("cls", [legato.Flow, legato.Orchestrator])
@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"limits": {"db": 0}}, ValueError, 'limits["db"] must be a whole number >= 1, got 0'),
        ({"limits": {"db": -2}}, ValueError, 'limits["db"] must be a whole number >= 1, got -2'),
        ({"limits": {"db": 1.5}}, TypeError, 'limits["db"]: expected an int, got float'),
        ({"limits": {"db": True}}, TypeError, 'limits["db"]: expected an int, got bool'),
        ({"limits": {1: 2}}, TypeError, "limits: keys must be str, got int"),
        ({"limits": ["db"]}, TypeError, "limits: expected a dict of key -> capacity, got list"),
        (
            {"priority": "critical_pat"},
            ValueError,
            'priority must be one of fifo, critical_path, got "critical_pat" (did you mean "critical_path"?)',
        ),
        (
            {"priority": "lifo"},
            ValueError,
            'priority must be one of fifo, critical_path, got "lifo" (did you mean "fifo"?)',
        ),
        ({"priority": 1}, TypeError, "priority: expected a str, got int"),
        (
            {"costs": {"a": 1.0}},
            TypeError,
            "costs: expected a legato.RunReport (a previous run's report), got dict",
        ),
    ],
)
def test_bad_run_options_are_refused_naming_the_argument(
    cls: Any, kwargs: dict[str, Any], exc: type, message: str
) -> None:
    with pytest.raises(exc) as info:
        cls(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"uses": "db"}, TypeError, "uses: expected a list of keys, got a str: write ['db']"),
        ({"sequences": "db"}, TypeError, "sequences: expected a list of keys, got a str: write ['db']"),
        ({"uses": [1]}, TypeError, "uses: keys must be str, got int"),
        ({"uses": 3}, TypeError, "uses: expected a list of keys, got int"),
        (
            {"trigger": "alldone"},
            ValueError,
            'trigger must be one of all_succeeded, all_done, any_succeeded, none_failed, got "alldone"'
            ' (did you mean "all_done"?)',
        ),
        ({"trigger": 2}, TypeError, "trigger: expected a str, got int"),
        ({"when": True}, TypeError, "when: expected a callable (a predicate of the step context), got bool"),
        ({"cost": -1}, ValueError, "cost must be a finite number of seconds >= 0, got -1"),
        ({"cost": "1s"}, TypeError, "cost: expected a number, got str"),
    ],
)
def test_bad_step_options_are_refused_naming_the_argument(
    kwargs: dict[str, Any], exc: type, message: str
) -> None:
    flow = legato.Flow()
    with pytest.raises(exc) as info:
        flow.add(lambda: None, name="x", **kwargs)
    assert str(info.value) == message
    assert flow.steps == []  # nothing was added


def test_a_when_that_cannot_take_the_context_is_refused() -> None:
    flow = legato.Flow()
    with pytest.raises(
        TypeError, match=r"^when: the predicate is called with the step context \(one argument\)"
    ):
        flow.add(lambda: None, name="x", when=lambda: True)
    with pytest.raises(TypeError, match=r"^when: the predicate is called with the step context"):
        flow.add(lambda: None, name="x", when=lambda ctx, other: True)
    flow.add(lambda: None, name="ok", when=lambda *args: True)  # takes it


def test_bad_action_keys_are_refused_naming_the_argument() -> None:
    orch = legato.Orchestrator()
    with pytest.raises(TypeError, match=r"^uses: expected a list of keys, got a str"):
        orch.action(lambda: None, uses="db")
    with pytest.raises(TypeError, match=r"action\(\) got an unknown option 'when'.*uses"):
        orch.action(lambda: None, when=lambda ctx: True)


# ----- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", ["sync", "async"])
def test_exit_while_a_daemon_thread_evaluates_conditions_that_release_the_gil_does_not_abort(
    steps: str,
) -> None:
    """A condition is user code: like a hook, it is called from Python, never under the
    driver's Rust frames, so a predicate that releases the GIL (a 2 ms sleep) on a daemon thread
    inside run() when the interpreter exits does not abort the process. Twenty exits, all
    clean; in a child process each, with a timeout."""
    code = f"""
        import sys, threading, time, legato
        started = threading.Event()
        def when(ctx):
            started.set()
            time.sleep(0.002)
            return True
        flow = legato.Flow("exit")
        async def a():
            return None
        for i in range(100):
            flow.add(a if {steps!r} == "async" else (lambda: None), name=f"s{{i}}", when=when)
        def forever():
            while True:
                flow.run()
        threading.Thread(target=forever, daemon=True).start()
        started.wait()
    """
    exits_cleanly_twenty_times(code)


def test_a_condition_is_not_called_once_its_run_is_over() -> None:
    # a and b are ready at once; a's condition cancels the run from another thread (at once,
    # not batched), which ends it: b's condition, queued on the loop already, is not called.
    called: list[str] = []

    async def go() -> Any:
        flow = legato.Flow("over")
        handle: Any = None

        def when(ctx: legato.TaskContext) -> bool:
            called.append(ctx.name)
            if ctx.name == "a":
                t = threading.Thread(target=handle.cancel)
                t.start()
                t.join()
            return True

        flow.add(lambda: None, name="a", when=when)
        flow.add(lambda: None, name="b", when=when)
        handle = flow.spawn()
        with pytest.raises(legato.FlowError):
            await handle
        return handle.report()

    report = asyncio.run(go())
    assert report.stop == "run cancelled"
    assert [t.status for t in report.all_tasks] == ["skipped", "skipped"]
    assert called == ["a"]


def test_a_cached_actions_keys_are_asked_only_for_the_call_that_makes_the_task() -> None:
    asked: list[int] = []
    orch = legato.Orchestrator()

    def keys(n: int) -> list[str]:
        asked.append(n)
        return [f"n:{n}"]

    @orch.action(cache=True, uses=keys)
    def square(n: int) -> int:
        return n * n

    def main() -> list[int]:
        return [square(2), square(2), square(3), *orch.parallel([square, square])(2, 3)]

    assert orch.run(main) == [4, 4, 9, 4, 9]
    assert asked == [2, 3]  # the joins of square(2) and square(3) did not ask


def test_a_conditions_value_is_taken_by_truthiness() -> None:
    flow = legato.Flow("truthy")
    values: list[Any] = [0, "", None, [], 1, "yes", object()]
    for i, v in enumerate(values):
        flow.add(lambda: None, name=f"s{i}", when=lambda ctx, v=v: v)
    report = flow.run()
    assert [t.status for t in report.all_tasks] == ["skipped"] * 4 + ["succeeded"] * 3


def test_a_condition_waits_for_an_async_task_ready_hook() -> None:
    trace: list[str] = []

    async def go() -> None:
        flow = legato.Flow("hook")

        async def ready(e: Any) -> None:
            trace.append("hook")
            await asyncio.sleep(0.010)  # virtual time
            trace.append("hook done")

        async def body() -> None:
            trace.append("body")

        flow.on_task_ready(ready)
        flow.add(body, name="a", when=lambda ctx: trace.append("when") or True)
        await flow.run_async()

    virtual(go)
    assert trace == ["hook", "hook done", "when", "body"]
