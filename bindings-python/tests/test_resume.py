"""Resume (DESIGN "Beyond the seeds", issue 22): ``flow.run(resume=report)`` runs no body of a
step that succeeded in ``report`` — a report in memory, read back from its JSON, or pickled —
and hands its result on; ``RunReport.to_json`` / ``RunReport.from_json`` carry the results."""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
from collections import Counter
from typing import Any, Callable

import pytest

import legato

#: How a failed run's report reaches the resumed run.
FORMS: dict[str, Callable[[legato.RunReport], legato.RunReport]] = {
    "memory": lambda r: r,
    "json": lambda r: legato.RunReport.from_json(r.to_json()),
    "pickle": lambda r: pickle.loads(pickle.dumps(r)),
}


class Steps:
    """A flow ``fetch -> build -> deploy`` (plus ``lint`` on its own) whose bodies count their
    calls; ``deploy`` fails until ``fixed`` is set and returns what ``build`` gave it."""

    def __init__(self, kind: str) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.fixed = False
        self.seen: list[Any] = []
        self.flow = flow = legato.Flow("release")
        if kind == "async":

            @flow.step
            async def fetch() -> dict[str, Any]:
                self.count("fetch")
                return {"version": "1.4.2", "files": [1, 2]}

            @flow.step
            async def build(fetch: dict[str, Any]) -> str:
                self.count("build")
                return f"dist/app-{fetch['version']}.tar"

            @flow.step
            async def lint() -> None:
                self.count("lint")

            @flow.step
            async def deploy(build: str, ctx: legato.TaskContext) -> str:
                return self.deploy(build, ctx)

        else:

            @flow.step
            def fetch() -> dict[str, Any]:
                self.count("fetch")
                return {"version": "1.4.2", "files": [1, 2]}

            @flow.step
            def build(fetch: dict[str, Any]) -> str:
                self.count("build")
                return f"dist/app-{fetch['version']}.tar"

            @flow.step
            def lint() -> None:
                self.count("lint")

            @flow.step
            def deploy(build: str, ctx: legato.TaskContext) -> str:
                return self.deploy(build, ctx)

    def count(self, name: str) -> None:
        with self.lock:
            self.calls[name] += 1

    def deploy(self, build: str, ctx: legato.TaskContext) -> str:
        self.count("deploy")
        self.seen.append((build, ctx.results.get("fetch")))
        if not self.fixed:
            raise RuntimeError("no credentials")
        return f"deployed {build}"

    def failed_run(self) -> legato.RunReport:
        with pytest.raises(legato.FlowError) as ei:
            self.flow.run()
        report: legato.RunReport = ei.value.report  # type: ignore[attr-defined]
        assert report.tasks["deploy"].status == "failed"
        assert self.calls == Counter(fetch=1, build=1, lint=1, deploy=1)
        self.fixed = True
        return report


def check_resumed(steps: Steps, report: legato.RunReport) -> None:
    # No body of a step that succeeded ran again; deploy ran once more with build's result.
    assert steps.calls == Counter(fetch=1, build=1, lint=1, deploy=2)
    assert steps.seen[-1] == ("dist/app-1.4.2.tar", {"version": "1.4.2", "files": [1, 2]})
    assert report.ok
    for name in ("fetch", "build", "lint"):
        t = report.tasks[name]
        assert (t.status, t.attempts, t.resumed, t.skip_reason) == ("succeeded", 0, True, None)
    assert report.tasks["build"].result == "dist/app-1.4.2.tar"
    d = report.tasks["deploy"]
    assert (d.status, d.attempts, d.resumed, d.result) == (
        "succeeded",
        1,
        False,
        "deployed dist/app-1.4.2.tar",
    )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_resumed_run_calls_no_body_of_a_step_that_succeeded(kind: str, form: str) -> None:
    # sync steps: a blocking run without an event loop; async steps: flow.run on a loop of its own.
    steps = Steps(kind)
    failed = steps.failed_run()
    check_resumed(steps, steps.flow.run(resume=FORMS[form](failed)))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_run_async_and_spawn_resume_on_the_running_loop(kind: str, form: str) -> None:
    steps = Steps(kind)
    failed = FORMS[form](steps.failed_run())

    async def main() -> legato.RunReport:
        return await steps.flow.run_async(resume=failed)

    check_resumed(steps, asyncio.run(main()))

    async def spawned() -> legato.RunReport:
        return await steps.flow.spawn(resume=failed)

    report = asyncio.run(spawned())
    assert steps.calls["fetch"] == 1 and steps.calls["deploy"] == 3
    assert report.tasks["fetch"].resumed


def test_hooks_see_only_a_resumed_skip_for_a_resumed_step() -> None:
    steps = Steps("sync")
    failed = steps.failed_run()
    seen: list[str] = []
    for kind in ("task_ready", "task_begin", "task_success", "task_skip", "task_completion"):
        getattr(steps.flow, f"on_{kind}")(
            lambda e, kind=kind: seen.append(
                f"{kind} {e.name}" + (f" {e.reason}" if kind == "task_skip" else "")
            )
        )
    steps.flow.run(resume=failed)
    assert seen == [
        "task_skip fetch resumed",
        "task_skip build resumed",
        "task_skip lint resumed",
        "task_ready deploy",
        "task_begin deploy",
        "task_success deploy",
        "task_completion deploy",
    ]


def test_a_resumed_report_resumes_again_and_keeps_its_results() -> None:
    steps = Steps("sync")
    first = steps.flow.run(resume=steps.failed_run())
    again = steps.flow.run(resume=first)
    assert all(t.resumed and t.attempts == 0 for t in again.all_tasks)
    assert again.tasks["deploy"].result == "deployed dist/app-1.4.2.tar"
    assert steps.calls["deploy"] == 2
    # pickled, a report keeps which tasks were resumed
    back = pickle.loads(pickle.dumps(first))
    assert [t.resumed for t in back.all_tasks] == [t.resumed for t in first.all_tasks]
    assert json.loads(back.to_json())["tasks"][0]["resumed"] is True


def test_a_report_of_another_flow_is_refused_before_anything_runs() -> None:
    steps = Steps("sync")
    other = legato.Flow("other")
    other.add(lambda: 1, name="biuld")
    report = other.run()
    for form in FORMS.values():
        with pytest.raises(
            legato.UnknownTaskError, match=r'^Task "biuld" not found \(did you mean "build"\?\)$'
        ):
            steps.flow.run(resume=form(report))
    assert not steps.calls

    async def main() -> None:
        with pytest.raises(legato.UnknownTaskError, match='Task "biuld" not found'):
            steps.flow.spawn(resume=report)

    asyncio.run(main())
    assert not steps.calls


def test_resume_must_be_a_report() -> None:
    steps = Steps("sync")
    with pytest.raises(TypeError, match=r"^resume: expected a RunReport, got str$"):
        steps.flow.run(resume="run.json")  # type: ignore[arg-type]
    assert not steps.calls


def test_steps_not_in_the_report_and_failed_ones_run_as_usual() -> None:
    steps = Steps("sync")
    failed = steps.failed_run()
    # only fetch is in this report: build runs again, given fetch's reused result
    only_fetch = json.loads(failed.to_json())
    only_fetch["tasks"] = [t for t in only_fetch["tasks"] if t["name"] == "fetch"]
    report = steps.flow.run(resume=legato.RunReport.from_json(json.dumps(only_fetch)))
    assert steps.calls == Counter(fetch=1, build=2, lint=2, deploy=2)
    assert [t.name for t in report.all_tasks if t.resumed] == ["fetch"]


def test_to_json_holds_each_result_json_can_hold() -> None:
    flow = legato.Flow("values")
    values: dict[str, Any] = {
        "text": "1.4.2",
        "number": 42,
        "big": 2**80,
        "real": 0.5,
        "nested": {"a": [1, None, True]},
        "pair": (1, 2),
        "nothing": None,
        "opaque": object(),
        "nan": float("nan"),
        "loop": [],
    }
    values["loop"].append(values["loop"])
    for name, v in values.items():
        flow.add(lambda v=v: v, name=name)
    report = flow.run()
    doc = json.loads(report.to_json())
    got = {t["name"]: t["result"] for t in doc["tasks"]}
    assert got == {
        "text": "1.4.2",
        "number": 42,
        "big": 2**80,
        "real": 0.5,
        "nested": {"a": [1, None, True]},
        "pair": [1, 2],
        "nothing": None,
        "opaque": None,
        "nan": None,
        "loop": None,
    }
    back = legato.RunReport.from_json(report.to_json())
    assert back.tasks["big"].result == 2**80  # read by Python's json: exact
    assert back.tasks["nested"].result == {"a": [1, None, True]}
    assert back.tasks["opaque"].result is None
    assert back.to_json() == report.to_json()


def test_from_json_reads_back_statuses_errors_and_times() -> None:
    steps = Steps("sync")
    failed = steps.failed_run()
    back = legato.RunReport.from_json(failed.to_json())
    assert not back.ok
    assert back.failure_reason == failed.failure_reason
    d = back.tasks["deploy"]
    assert (d.status, d.attempts, str(d.error)) == ("failed", 1, "no credentials")
    assert isinstance(d.error, legato.TaskFailedError)
    assert back.tasks["fetch"].result == {"version": "1.4.2", "files": [1, 2]}
    assert back.tasks["fetch"].start_offset == pytest.approx(failed.tasks["fetch"].start_offset, abs=1e-3)
    assert back.started_at is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "text: not a legato run report: EOF while parsing"),
        ("{}", "text: not a legato run report: missing field `total_ms`"),
        (
            '{"total_ms": 1, "tasks": [{"id": 0, "name": "a", "status": "done", "attempts": 1}]}',
            'text: not a legato run report: unknown status "done" of task "a"',
        ),
    ],
)
def test_from_json_refuses_a_text_that_is_not_a_report(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        legato.RunReport.from_json(text)


def test_from_json_wants_a_str() -> None:
    with pytest.raises(TypeError, match=r"^text: expected a str, got bytes$"):
        legato.RunReport.from_json(b"{}")  # type: ignore[arg-type]


def test_a_result_json_cannot_hold_comes_back_as_none_from_json() -> None:
    flow = legato.Flow("opaque")
    fail = [True]
    got: list[Any] = []

    @flow.step
    def connect() -> object:
        return object()  # not JSON: written null

    @flow.step
    def use(connect: object, ctx: legato.TaskContext) -> None:
        got.append((connect, "connect" in ctx.results, ctx.results.get("connect")))
        if fail[0]:
            raise RuntimeError("down")

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    fail[0] = False
    failed: legato.RunReport = ei.value.report  # type: ignore[attr-defined]
    report = flow.run(resume=legato.RunReport.from_json(failed.to_json()))
    # As after a step that returned None: a parameter of None, and ctx.results has the name.
    assert got[-1] == (None, True, None)
    assert report.tasks["connect"].resumed and report.tasks["connect"].result is None
    # In memory, the object itself is handed on.
    flow.run(resume=failed)
    assert got[-1][0] is failed.tasks["connect"].result is not None


@pytest.mark.parametrize("form", FORMS)
def test_calls_of_the_resumed_run_are_not_resumed(form: str) -> None:
    # A step that called an action: the call (a task with a parent, not a step of the flow) is
    # not refused as unknown and not restored; a failed caller runs again and calls it again.
    orch = legato.Orchestrator()
    calls: Counter[str] = Counter()
    fail = [True]

    @orch.action
    def upload(part: int) -> int:
        calls[f"upload {part}"] += 1
        return part * 10

    flow = legato.Flow("parts")

    @flow.step
    def first() -> int:
        calls["first"] += 1
        return upload(1)  # type: ignore[no-any-return]

    @flow.step
    def second() -> int:
        calls["second"] += 1
        got: int = upload(2)
        if fail[0]:
            raise RuntimeError("checksum mismatch")
        return got

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    failed: legato.RunReport = ei.value.report  # type: ignore[attr-defined]
    assert [t.parent for t in failed.all_tasks] == [None, None, "first", "second"]
    fail[0] = False
    report = flow.run(resume=FORMS[form](failed))
    assert calls == Counter({"first": 1, "upload 1": 1, "second": 2, "upload 2": 2})
    assert [(t.name, t.resumed) for t in report.all_tasks] == [
        ("first", True),
        ("second", False),
        ("upload", False),
    ]
    assert report.tasks["second"].result == 20


def test_to_json_writes_null_for_a_result_that_raises_but_lets_an_interrupt_through() -> None:
    class Broken(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise ValueError("no items")

    class Interrupting(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise KeyboardInterrupt

    flow = legato.Flow("raising")
    flow.add(lambda: Broken(a=1), name="broken")
    report = flow.run()
    assert json.loads(report.to_json())["tasks"][0]["result"] is None
    flow.add(lambda: Interrupting(a=1), name="interrupting")
    report = flow.run()
    with pytest.raises(KeyboardInterrupt):
        report.to_json()


def test_a_resumed_run_of_targets_restores_only_what_it_selects() -> None:
    steps = Steps("sync")
    failed = steps.failed_run()
    report = steps.flow.run("deploy", resume=failed)
    assert [(t.name, t.resumed) for t in report.all_tasks] == [
        ("fetch", True),
        ("build", True),
        ("deploy", False),
    ]
    assert steps.calls == Counter(fetch=1, build=1, lint=1, deploy=2)
