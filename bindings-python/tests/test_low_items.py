"""Issue 19, Low items: names (an unknown one in ``parallel``, lone surrogates, dynamic names),
a long cycle's message, ``legato.current()`` in hooks, Ctrl-C in an async run."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from typing import Any, Callable, Optional

import pytest

import legato


def test_parallel_of_an_unknown_name_is_designs_unknown_task_error() -> None:
    flow = legato.Flow("p")
    flow.add(lambda: 1, name="build-app")
    with pytest.raises(legato.UnknownTaskError) as e:
        flow.parallel("nope")
    assert str(e.value) == 'Task "nope" not found'
    with pytest.raises(legato.UnknownTaskError) as e:
        flow.follow("build")
    assert str(e.value) == 'Task "build" not found (did you mean "build-app"?)'


SURROGATE = "b\ud800"


@pytest.mark.parametrize(
    ("argument", "call"),
    [
        ("name", lambda f: f.add(lambda: 1, name=SURROGATE)),
        ("after", lambda f: f.add(lambda: 1, name="c", after=["\udc00"])),
        ("targets[1]", lambda f: f.run("a", SURROGATE)),
        ("targets[0]", lambda f: f.plan(SURROGATE)),
        ("steps[0]", lambda f: f.parallel(SURROGATE)),
        ("name", lambda f: legato.Orchestrator().action(lambda: 1, name=SURROGATE)),
    ],
)
def test_a_lone_surrogate_in_a_name_is_a_value_error_naming_the_argument(
    argument: str, call: Callable[[legato.Flow], Any]
) -> None:
    flow = legato.Flow("s")
    flow.add(lambda: 1, name="a")
    with pytest.raises(ValueError) as e:
        call(flow)
    assert not isinstance(e.value, UnicodeError)
    assert str(e.value).startswith(f"{argument}: Invalid task name ")
    assert "lone surrogates" in str(e.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", 'name: Invalid task name "": a task name must not be empty'),
        (" x", 'name: Invalid task name " x": a task name must not start or end with whitespace'),
        ("a\nb", 'name: Invalid task name "a\\nb": a task name must not contain control characters'),
        ("a\0b", 'name: Invalid task name "a\\0b": a task name must not contain control characters'),
    ],
)
def test_a_dynamic_name_is_checked_as_a_steps_when_the_action_is_defined(name: str, message: str) -> None:
    orch = legato.Orchestrator()
    with pytest.raises(ValueError) as e:
        orch.action(lambda: 1, name=name)
    assert str(e.value) == message
    flow = legato.Flow("same rule")
    with pytest.raises(ValueError) as e:
        flow.add(lambda: 1, name=name)
    assert str(e.value) == message


def test_a_5000_step_cycle_message_lists_twenty_names_then_how_many_more() -> None:
    flow = legato.Flow("cycle")
    for i in range(5000):
        flow.add(lambda: None, name=f"s{i}", after=[f"s{(i + 1) % 5000}"])
    with pytest.raises(legato.CycleError) as e:
        flow.plan()
    text = str(e.value)
    assert len(text) < 400, len(text)  # was 39 KB
    head = text.removeprefix("Circular dependency detected: ").split(" → ")
    assert len(head) == 22 and head[:20] == [f"s{i}" for i in range(20)]
    assert head[20:] == ["… (4980 more) …", "s0"]
    # Short cycles keep DESIGN's format, whole.
    short = legato.Flow("short")
    short.add(lambda: None, name="task-a", after=["task-b"])
    short.add(lambda: None, name="task-b", after=["task-a"])
    with pytest.raises(legato.CycleError) as e:
        short.plan()
    assert str(e.value) == "Circular dependency detected: task-a → task-b → task-a"


def _hooks_seeing_current(target: legato.Flow | legato.Orchestrator, seen: list[Any]) -> None:
    def hook(e: Any) -> None:
        seen.append((type(e).__name__, legato.current()))

    async def ahook(e: Any) -> None:
        seen.append(("async " + type(e).__name__, legato.current()))

    for kind in ("task_begin", "task_success", "task_completion", "process_completion"):
        getattr(target, f"on_{kind}")(hook)
    target.on_task_success(ahook)


def test_legato_current_inside_a_hook_is_none_never_a_tasks_context() -> None:
    seen: list[tuple[str, Optional[legato.TaskContext]]] = []
    flow = legato.Flow("hooks")
    _hooks_seeing_current(flow, seen)

    async def a() -> int:
        await asyncio.sleep(0)
        return 1

    async def b(a: int) -> int:
        return a + 1

    flow.add(a)
    flow.add(b)
    flow.add(lambda: 3, name="c")
    flow.run()

    orch = legato.Orchestrator()
    _hooks_seeing_current(orch, seen)

    @orch.action
    async def x() -> int:
        await asyncio.sleep(0)
        return 1

    @orch.action
    def y() -> int:
        return 2

    async def main() -> int:
        return await x() + await y()  # type: ignore[misc]

    assert orch.run(main) == 3
    assert len(seen) > 20
    assert [s for s in seen if s[1] is not None] == []


@pytest.mark.parametrize("what", ["flow", "orchestrator"])
def test_ctrl_c_in_an_async_run_raises_keyboard_interrupt_alone(what: str) -> None:
    code = """
        import asyncio, sys, legato
        async def forever():
            print("started", flush=True)
            await asyncio.sleep(3600)
        if sys.argv[1] == "flow":
            flow = legato.Flow("ctrl-c")
            flow.add(forever)
            flow.run()
        else:
            orch = legato.Orchestrator()
            act = orch.action(forever)
            async def main():
                await act()
            orch.run(main)
    """
    p = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), what],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "started"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "CancelledError" not in err and "During handling" not in err, err
