"""The report's JSON has the keys every door shares (tests/report-keys.json), at every level."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import legato

KEYS = json.loads((pathlib.Path(__file__).parents[2] / "tests" / "report-keys.json").read_text())


def check_keys(data: dict[str, Any]) -> None:
    assert sorted(data) == KEYS["report"]
    assert sorted(data["counts"]) == KEYS["counts"]
    assert isinstance(data["started_at"], str)
    for t in data["tasks"]:
        assert sorted(t) == KEYS["task"], t["name"]
        for a in t["attempt_log"]:
            assert sorted(a) == KEYS["attempt"], t["name"]
            if a["error"] is not None:
                assert sorted(a["error"]) == KEYS["error"]
        if t["error"] is not None:
            assert sorted(t["error"]) == KEYS["error"]


def test_flow_report_json_keys() -> None:
    flow = legato.Flow("keys")
    calls = {"flaky": 0}

    @flow.step(retries=1)
    def flaky() -> int:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("once")
        return 1

    @flow.step
    def bad() -> None:
        raise RuntimeError("boom")

    @flow.step(after=[bad])
    def after_bad() -> None:
        pass

    with pytest.raises(legato.FlowError) as ei:
        flow.run()
    data = json.loads(ei.value.report.to_json())  # type: ignore[attr-defined]
    check_keys(data)
    by_name = {t["name"]: t for t in data["tasks"]}
    assert len(by_name["flaky"]["attempt_log"]) == 2
    assert by_name["after_bad"]["skip_reason"] == 'dependency "bad" failed'


def test_orchestrator_report_json_keys_with_nested_calls() -> None:
    orch = legato.Orchestrator()

    @orch.action
    async def leaf(x: int) -> int:
        return x

    @orch.action
    async def outer() -> int:
        return await leaf(1)

    async def main() -> int:
        return await outer()

    assert orch.run(main) == 1
    assert orch.last_report is not None
    data = json.loads(orch.last_report.to_json())
    check_keys(data)
    assert {t["name"]: t["parent"] for t in data["tasks"]} == {"outer": None, "leaf": "outer"}
