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
def _close_stray_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """looptime's plugin makes the policy's event loop for every test, sync ones too, and leaves
    it open (a ResourceWarning, an error here): close it after sync tests."""
    yield
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        return
    policy: Any = asyncio.get_event_loop_policy()
    loop = getattr(getattr(policy, "_local", None), "_loop", None)
    if loop is not None and not loop.is_running() and not loop.is_closed():
        loop.close()
        policy.set_event_loop(None)
