"""The exception tree, exact error texts, pickling, and bad input refused at definition time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import pickle
import threading
from typing import Any

import pytest

import legato


def test_the_tree() -> None:
    assert issubclass(legato.LegatoError, Exception)
    for cls in (
        legato.CycleError,
        legato.MissingDependencyError,
        legato.DuplicateTaskError,
        legato.UnknownTaskError,
    ):
        assert issubclass(cls, legato.GraphError) and issubclass(cls, legato.LegatoError)
    for cls in (legato.TaskFailedError, legato.TaskTimeoutError, legato.CancelledError, legato.FlowError):
        assert issubclass(cls, legato.LegatoError) and not issubclass(cls, legato.GraphError)
    assert legato.LegatoError.__module__ == "legato"


def test_exact_texts() -> None:
    cyc = legato.Flow("c")
    cyc.add(lambda: None, name="task-a", after=["task-b"])
    cyc.add(lambda: None, name="task-b", after=["task-a"])
    with pytest.raises(legato.CycleError, match=r"^Circular dependency detected: task-a → task-b → task-a$"):
        cyc.run()
    with pytest.raises(legato.CycleError):
        cyc.plan()

    missing = legato.Flow("m")
    missing.add(lambda: None, name="build-app")
    missing.add(lambda: None, name="deploy", after=["build"])
    with pytest.raises(legato.MissingDependencyError) as e:
        missing.run()
    assert str(e.value) == 'Task "build" referenced by "deploy" does not exist (did you mean "build-app"?)'

    typo = legato.Flow("t")
    typo.add(lambda: None, name="build-app")
    with pytest.raises(legato.UnknownTaskError) as e2:
        typo.run("biuld-app")
    assert str(e2.value) == 'Task "biuld-app" not found (did you mean "build-app"?)'

    dup = legato.Flow("d")
    dup.add(lambda: None, name="build")
    with pytest.raises(legato.DuplicateTaskError, match=r'^Task "build" is defined twice$'):
        dup.add(lambda: None, name="build")


@pytest.mark.parametrize(
    "cls",
    [
        legato.LegatoError,
        legato.GraphError,
        legato.CycleError,
        legato.MissingDependencyError,
        legato.DuplicateTaskError,
        legato.UnknownTaskError,
        legato.TaskFailedError,
        legato.TaskTimeoutError,
        legato.CancelledError,
        legato.FlowError,
    ],
)
def test_every_error_pickles(cls: type[BaseException]) -> None:
    e = cls("message")
    e.task = "t"  # type: ignore[attr-defined]
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and str(back) == "message" and back.task == "t"  # type: ignore[attr-defined]


def test_a_flow_error_pickles_with_its_report() -> None:
    flow = legato.Flow("p")
    flow.add(lambda: 42, name="ok")

    def bad() -> None:
        raise ValueError("boom")

    flow.add(bad, name="bad")
    flow.add(lambda: None, name="after", after=["bad"])
    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    back = pickle.loads(pickle.dumps(ei.value))
    r, r0 = back.report, ei.value.report  # type: ignore[attr-defined]
    assert not r.ok and r.tasks["ok"].result == 42
    assert isinstance(r.tasks["bad"].error, ValueError) and str(r.tasks["bad"].error) == "boom"
    assert r.tasks["after"].skip_reason == 'dependency "bad" failed'
    assert r.to_json() == r0.to_json() and r.to_mermaid() == r0.to_mermaid()
    assert r.critical_path == r0.critical_path and r.started_at == r0.started_at


def test_the_timeout_error_of_an_action() -> None:
    orch = legato.Orchestrator()

    @orch.action(timeout=0.01)
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        await slow()

    with pytest.raises(legato.TaskTimeoutError, match=r'^task "slow" timed out after 10ms$'):
        orch.run(main)


def nothing() -> None:
    pass


@pytest.mark.parametrize(
    ("kwargs", "exc", "arg"),
    [
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": -1.0}, ValueError, "timeout"),
        ({"timeout": math.nan}, ValueError, "timeout"),
        ({"timeout": "1s"}, TypeError, "timeout"),
        ({"retries": -1}, ValueError, "retries"),
        ({"retries": 1.5}, TypeError, "retries"),
        ({"backoff": 0.5}, TypeError, "backoff"),
        ({"sequences": "db"}, TypeError, "sequences"),
        ({"retry_if": 3}, TypeError, "retry_if"),
        ({"retry_if": int}, TypeError, "retry_if"),
        ({"after": [3]}, TypeError, "after"),
        ({"after": [nothing]}, TypeError, "after"),
        ({"name": 3}, TypeError, "name"),
    ],
)
def test_bad_step_options_are_refused_naming_the_argument(
    kwargs: dict[str, Any], exc: type, arg: str
) -> None:
    flow = legato.Flow("bad")
    with pytest.raises(exc, match=arg):
        flow.add(lambda: None, **kwargs)
    orch = legato.Orchestrator()
    if arg != "after":
        with pytest.raises(exc, match=arg):
            orch.action(lambda: None, **kwargs)


def test_unknown_option_and_non_callable() -> None:
    flow = legato.Flow("bad")
    with pytest.raises(TypeError, match="retrys"):
        flow.step(retrys=3)(lambda: None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="fn"):
        flow.add(42)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="fn"):
        legato.Orchestrator().action(42)
    with pytest.raises(TypeError, match="on_task_begin"):
        flow.on_task_begin(42)  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("kwargs", "exc", "arg"),
    [
        ({"max_parallel": 0}, ValueError, "max_parallel"),
        ({"max_parallel": 1.5}, TypeError, "max_parallel"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": math.nan}, ValueError, "timeout"),
        ({"state": []}, TypeError, "state"),
        ({"executor": object()}, TypeError, "executor"),
        ({"fail_fast": "yes"}, TypeError, "fail_fast"),
    ],
)
def test_bad_run_options(kwargs: dict[str, Any], exc: type, arg: str) -> None:
    with pytest.raises(exc, match=arg):
        legato.Flow("x", **kwargs)
    with pytest.raises(exc, match=arg):
        legato.Orchestrator(**kwargs)


def test_backoff_validation() -> None:
    with pytest.raises(ValueError, match="seconds"):
        legato.Backoff.fixed(-1)
    with pytest.raises(ValueError, match="factor"):
        legato.Backoff.exponential(0.1, factor=0.5)
    with pytest.raises(ValueError, match="max"):
        legato.Backoff.exponential(1.0, max=0.5)
    assert legato.Backoff.fixed(0.5) == legato.Backoff.fixed(0.5)
    assert repr(legato.Backoff.fixed(0.5)) == "Backoff.fixed(0.5)"


def test_an_executor_is_accepted() -> None:
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="given") as ex:
        flow = legato.Flow("ex", executor=ex)
        flow.add(lambda: threading.current_thread().name, name="one")
        assert flow.run().tasks["one"].result.startswith("given_")  # on the executor's threads


def test_a_sync_step_taking_ctx_is_refused_with_an_executor() -> None:
    """Issue 19 #14: the executor runs the body in another process (or machine), where the
    step's context cannot go: refused when the step is defined, the error naming both."""
    with concurrent.futures.ProcessPoolExecutor(1) as ex:
        flow = legato.Flow("procs", executor=ex)
        flow.add(lambda: 1, name="plain")

        with pytest.raises(TypeError) as e:

            @flow.step(after=["plain"])
            def uses_ctx(ctx: legato.TaskContext, plain: int) -> int:
                return plain

        assert str(e.value) == (
            'uses_ctx: a sync step that takes "ctx" cannot run on executor= '
            "(its context does not leave this process); read what it needs from its parameters"
        )
        with pytest.raises(TypeError, match=r'"ctx".*executor='):
            flow.add(lambda ctx: None, name="lam")
        assert flow.plan() == [["plain"]]  # nothing was added

        @flow.step
        async def on_the_loop(ctx: legato.TaskContext) -> str:  # async steps run on the loop
            return ctx.name

        assert flow.plan() == [["plain", "on_the_loop"]]


def test_validation_holes_of_issue_19() -> None:
    """Issue 19 #12: huge ints, a sub-nanosecond timeout and a bool factor are refused at
    definition, each error naming its argument (and the value as given)."""
    for ctor in (legato.Flow, legato.Orchestrator):
        with pytest.raises(ValueError, match=r"^max_parallel\b.*got -1180591620717411303424$"):
            ctor(max_parallel=-(2**70))
        with pytest.raises(ValueError, match=r"^timeout: out of range, got an int of 401 digits$"):
            ctor(timeout=10**400)
        # Greater than zero yet below a nanosecond: refused here, not when run.
        with pytest.raises(ValueError, match=r"^timeout: must be at least 1 nanosecond"):
            ctor(timeout=1e-300)
    assert legato.Flow("huge", max_parallel=2**70).max_parallel is not None
    flow = legato.Flow("x")
    with pytest.raises(ValueError, match=r"^retries\b.*got 9223372036854775808$"):
        flow.add(lambda: None, name="a", retries=2**63)
    with pytest.raises(ValueError, match=r"^timeout: out of range"):
        flow.add(lambda: None, name="b", timeout=10**400)
    with pytest.raises(ValueError, match=r"^timeout: must be at least 1 nanosecond"):
        flow.add(lambda: None, name="c", timeout=1e-300)
    with pytest.raises(ValueError, match=r"^seconds: out of range, got an int of 401 digits$"):
        legato.Backoff.fixed(10**400)
    with pytest.raises(ValueError, match=r"^initial: out of range, got -an int of 401 digits$"):
        legato.Backoff.exponential(-(10**400))
    with pytest.raises(TypeError, match=r"^factor: expected a number, got bool$"):
        legato.Backoff.exponential(0.1, factor=True)
    with pytest.raises(TypeError, match=r"^jitter: expected a bool, got int$"):
        legato.Backoff.exponential(0.1, jitter=1)  # type: ignore[arg-type]
    assert legato.Backoff.exponential(0.1, factor=3) == legato.Backoff.exponential(0.1, factor=3.0)
    # A timeout of a nanosecond is accepted and works.
    f2 = legato.Flow("tiny", timeout=1e-9)
    f2.add(lambda: None, name="t")
    with pytest.raises(legato.FlowError, match="run timed out"):
        f2.run()
