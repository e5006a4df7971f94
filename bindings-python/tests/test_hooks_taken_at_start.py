"""Hooks are taken when a run starts: one added during a run applies from the next run,
whether or not its event already had a hook (the same rule as the Node door's)."""

from __future__ import annotations

from typing import Any

import legato


def test_a_hook_added_during_a_flow_run_applies_from_the_next_run() -> None:
    flow = legato.Flow("late-hooks")
    seen: list[str] = []
    added = False

    @flow.step
    def a() -> int:
        return 1

    @flow.step(after=[a])
    def b() -> int:
        return 2

    def begin(e: Any) -> None:
        nonlocal added
        seen.append(f"begin {e.name}")
        if not added:
            added = True
            flow.on_task_begin(lambda e: seen.append(f"late begin {e.name}"))
            flow.on_task_success(lambda e: seen.append(f"late success {e.name}"))

    flow.on_task_begin(begin)
    flow.run()
    assert seen == ["begin a", "begin b"]
    seen.clear()
    flow.run()
    assert seen == ["begin a", "late begin a", "late success a", "begin b", "late begin b", "late success b"]


def test_a_hook_added_during_an_orchestrator_run_applies_from_the_next_run() -> None:
    orch = legato.Orchestrator()
    seen: list[str] = []
    added = False

    @orch.action
    async def a() -> int:
        return 1

    @orch.action
    async def b() -> int:
        return 2

    async def main() -> None:
        await a()
        await b()

    def begin(e: Any) -> None:
        nonlocal added
        seen.append(f"begin {e.name}")
        if not added:
            added = True
            orch.on_task_begin(lambda e: seen.append(f"late begin {e.name}"))
            orch.on_task_success(lambda e: seen.append(f"late success {e.name}"))

    orch.on_task_begin(begin)
    orch.run(main)
    assert seen == ["begin a", "begin b"]
    seen.clear()
    orch.run(main)
    assert seen == ["begin a", "late begin a", "late success a", "begin b", "late begin b", "late success b"]
