"""Helpers the native driver calls: coroutine resumption, timer ordering, hook dispatch."""

from __future__ import annotations

import contextvars
import datetime
import inspect
import types
from typing import Any, Callable, Coroutine, Generator, Optional, Sequence

from .events import EVENTS

#: The context of the running task (async bodies, and an Orchestrator's main).
CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("legato.current", default=None)


@types.coroutine
def _continue(coro: Any, first: Any) -> Generator[Any, Any, Any]:
    # Hand the first yielded future to the Task, then delegate to the coroutine itself.
    try:
        sent = yield first
    except BaseException as exc:  # thrown in by the Task (e.g. CancelledError)
        try:
            first = coro.throw(exc)
        except StopIteration as stop:
            return stop.value
        return (yield from _continue(coro, first))
    if sent is not None:  # pragma: no cover - asyncio Tasks always send None
        try:
            first = coro.send(sent)
        except StopIteration as stop:
            return stop.value
        return (yield from _continue(coro, first))
    return (yield from coro)


async def resume(coro: Any, first: Any) -> Any:
    """Go on with a coroutine that already ran to its first suspension (eager start)."""
    try:
        return await _continue(coro, first)
    finally:
        coro.close()


def after_ready(loop: Any, fn: Callable[[], None], rounds: int = 0) -> None:
    """Call ``fn`` once the loop has run the callbacks already due at this instant.

    Timers of the core (timeouts, backoff, run timeout) come after the attempt completions of
    the same instant; a completion takes a few loop iterations to reach the core.
    """
    ready = getattr(loop, "_ready", None)
    if ready is not None and len(ready) > 0 and rounds < 16:
        loop.call_soon(after_ready, loop, fn, rounds + 1)
    elif ready is None and rounds < 4:
        loop.call_soon(after_ready, loop, fn, rounds + 1)
    else:
        fn()


def dispatch(hooks: dict[str, list[Callable[..., Any]]], kind: str, payload: Any) -> Optional[Coroutine[Any, Any, None]]:
    """Call the hooks of ``kind`` in order. Returns a coroutine when one of them is async.

    A hook that raises fails the run: the exception's text becomes the stop reason.
    """
    fns: Sequence[Callable[..., Any]] = hooks.get(kind, ())
    for i, fn in enumerate(fns):
        r = fn(payload)
        if inspect.isawaitable(r):
            return _rest(r, fns[i + 1 :], payload)
    return None


async def _rest(first: Any, fns: Sequence[Callable[..., Any]], payload: Any) -> None:
    await first
    for fn in fns:
        r = fn(payload)
        if inspect.isawaitable(r):
            await r


def utc(ts: float) -> datetime.datetime:
    """A UTC datetime from seconds since the epoch."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)


__all__ = ["CURRENT", "EVENTS", "after_ready", "dispatch", "resume", "utc"]
