"""The README's Python API as a user with ``mypy --strict`` writes it (checked by test_typing.py)."""

from __future__ import annotations

import asyncio
from typing import Any, assert_type

import legato

flow = legato.Flow("release", max_parallel=4)


@flow.step(description="Install dependencies")
def install() -> str:
    return "node_modules"


@flow.step(after=[install], retries=3, backoff=legato.Backoff.exponential(0.1, max=5.0), timeout=30.0)
def build(install: str) -> str:
    return f"dist/app.tar ({install})"


@flow.step(after=["build"], sequences=["db"])
async def migrate(ctx: legato.TaskContext, build: str) -> str:
    await asyncio.sleep(0)
    return f"migrated {ctx.name} with {build}"


flow.add(lambda: "sent", name="notify", after=[migrate])
levels: list[list[str]] = flow.plan()
report: legato.RunReport = flow.run()
status: str = report.tasks["build"].status
calls: list[legato.TaskReport] = report.all_tasks

try:
    flow.run("migrate")
except legato.FlowError as e:
    failed = e.report
    assert_type(failed, legato.RunReport)
    ok: bool = failed.ok

orch = legato.Orchestrator(state={"requests": 0})
orch.on_task_begin(lambda e: e.context.update(requests=e.context["requests"] + 1))


@orch.action(retries=2, timeout=5.0)
async def fetch_user(uid: str) -> dict[str, str]:
    return {"uid": uid, "name": "Alice"}


@orch.action
async def fetch_shipping(dest: str) -> list[str]:
    return ["Standard", "Express"]


both = orch.parallel([fetch_user, fetch_shipping], fail_fast=True)


async def async_main() -> tuple[str, list[str]]:
    user, shipping = await both("user42", "USA")
    return user["name"], shipping


def sync_main() -> int:
    return 3


assert_type(orch.run(async_main), tuple[str, list[str]])
assert_type(orch.run(sync_main), int)
assert_type(orch.run(lambda: 7), int)


async def inside_a_loop() -> None:
    assert_type(await orch.run_async(async_main), tuple[str, list[str]])
    assert_type(await orch.run_async(sync_main), int)


state: dict[str, Any] = orch.get_state()

# Limits, conditions, trigger rules and priority (issue 21).
runbook = legato.Flow(
    "deploy", state={"env": "staging"}, limits={"db": 1}, priority="critical_path", costs=report
)


@runbook.step(when=lambda ctx: ctx.state["env"] == "prod", uses=["db"], cost=2.5)
def publish() -> str:
    return "published"


@runbook.step(after=[publish], trigger="all_done", sequences=["db"])
def release_locks() -> None: ...


runbook.add(
    lambda: None, name="notify", after=[publish], trigger="none_failed", when=lambda ctx: bool(ctx.results)
)
limits: dict[str, int] = runbook.limits
priority: str = runbook.priority

users = legato.Orchestrator(limits={"api": 10}, priority="fifo")


@users.action(uses=lambda user_id: [f"user:{user_id}", "api"])
async def sync_user(user_id: int) -> int:
    return user_id


@users.action(uses=["db"], cache=True)
def query(sql: str) -> list[str]:
    return [sql]


assert_type(query("select 1"), list[str])


@orch.action
def checksum(path: str) -> int:
    return len(path)


async def typed_sync_call() -> int:
    # In async code a sync action's call is awaited; to_thread gives its value at its type.
    value = await asyncio.to_thread(checksum, "a.tar")
    assert_type(value, int)
    return value


# Resume (issue 22): a report in memory or read back from its JSON; TaskReport.resumed.
saved: str = report.to_json()
back = legato.RunReport.from_json(saved)
assert_type(back, legato.RunReport)
resumed = flow.run(resume=back)
assert_type(resumed.tasks["build"].resumed, bool)
assert_type(flow.run("notify", resume=report), legato.RunReport)


async def resume_async() -> None:
    assert_type(await flow.run_async(resume=report), legato.RunReport)
    handle = flow.spawn("build", resume=back)
    assert_type(await handle, legato.RunReport)
