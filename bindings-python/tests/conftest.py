"""Shared test setup."""

from __future__ import annotations

import asyncio
import inspect
import pathlib
import sys
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture(autouse=True)
def _own_policy_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """looptime's plugin asks the policy for an event loop in every test, sync ones too, which
    makes one and leaves it open (a ResourceWarning, an error here). Sync tests get a loop of
    ours for that, closed afterwards whoever replaced it meanwhile (asyncio.Runner does)."""
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        yield
        return
    policy: Any = asyncio.get_event_loop_policy()
    loop = asyncio.new_event_loop()
    policy.set_event_loop(loop)
    try:
        yield
    finally:
        loop.close()
        policy.set_event_loop(None)
