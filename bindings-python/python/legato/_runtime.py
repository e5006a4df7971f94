"""Helpers the native driver calls: coroutine resumption, closing an instant's batch, hook dispatch."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import inspect
import threading
import types
import weakref
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


_pending: weakref.WeakKeyDictionary[Any, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def when_quiet(loop: Any, fn: Callable[[], None]) -> None:
    """Call ``fn`` once the loop has run the callbacks already due at this instant.

    The driver gives the core what happened at one instant as one batch (the clock's advance,
    an outside cancel, and the attempts that finished then); an attempt's completion takes a
    few loop iterations to reach the driver, so the batch is closed once the loop has nothing
    else ready (a bounded number of iterations on a busy loop). The core orders the batch.
    """
    q = _pending.get(loop)
    if q is None:
        q = _pending[loop] = []
        loop.call_soon(_drain, loop, 0)
    q.append(fn)


def _drain(loop: Any, rounds: int) -> None:
    ready = getattr(loop, "_ready", None)
    busy = len(ready) > 0 if ready is not None else rounds < 4
    if busy and rounds < 64:
        loop.call_soon(_drain, loop, rounds + 1)
        return
    for fn in _pending.pop(loop, []):
        fn()


def dispatch(
    hooks: dict[str, list[Callable[..., Any]]], kind: str, payload: Any
) -> Optional[Coroutine[Any, Any, None]]:
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


def call_hooks(run: Any, hooks: dict[str, list[Callable[..., Any]]], item: list[Any]) -> None:
    """Call the hooks of one event (an asyncio run's loop calls this), then report them.

    ``item`` is ``[kind, payload]``; it is empty when a sync action's call that blocked the loop
    meanwhile called them already (:func:`wait_inline`).

    Hooks are called from here, never under the driver's Rust frames: on a daemon thread a hook
    that releases the GIL (a sleep, logging) while the interpreter exits is ended by CPython
    when it takes the GIL back, and that must not unwind through Rust (it aborts the process).
    """
    if not item:
        return
    kind, payload = item
    item.clear()
    # No task's context: the loop may call this from a task's done-callback, whose context
    # is the task's (legato.current() in a hook is None, also in an async hook's task, which
    # _hook_result makes in this context).
    token = CURRENT.set(None)
    try:
        try:
            cls, fields = payload
            r = dispatch(hooks, kind, cls(**fields))
        except BaseException as exc:
            run._hook_result(exc, None)
        else:
            run._hook_result(None, r)
    finally:
        CURRENT.reset(token)


def start_bodies(
    run: Any, items: list[tuple[int, int, Callable[..., Any], tuple[Any, ...], Any, Any]]
) -> None:
    """Start async bodies (the loop calls this with those one pump of the driver starts): each
    is called and driven to its first suspension with its context current, and what that gave
    goes back to the driver. Called from here, never under the driver's Rust frames (see
    :func:`call_hooks`). An attempt cancelled meanwhile is not started."""
    for task, attempt, fn, args, kwargs, ctx in items:
        if ctx.cancelled:
            continue
        token = CURRENT.set(ctx)
        try:
            try:
                coro = fn(*args) if kwargs is None else fn(*args, **kwargs)
                first = coro.send(None)
            except StopIteration as stop:
                run._started(task, attempt, None, stop.value, None)
            except BaseException as exc:
                run._started(task, attempt, None, None, exc)
            else:
                run._started(task, attempt, coro, first, None)
        finally:
            CURRENT.reset(token)
    run._pump()


def call_and_report(
    run: Any,
    hooks: dict[str, list[Callable[..., Any]]],
    kind: str,
    payload: Any,
    await_with: Callable[[Any], None],
) -> None:
    """Call the hooks of one event here and now, awaiting an async one to its end with
    ``await_with``, then report them to the driver (the exception one raised, if any)."""
    failed: Optional[BaseException] = None
    try:
        cls, fields = payload
        r = dispatch(hooks, kind, cls(**fields))
        if r is not None:
            await_with(r)
    except BaseException as exc:
        failed = exc
    run._hook_result(failed, None)


def wait_inline(run: Any, slots: list[int], tasks: list[int], group: Optional[int], one: bool) -> Any:
    """The outcome of sync action calls made on the run's loop thread (an async ``main``,
    action or step called them): the loop thread blocks until they are done, as a sync
    function called from async code blocks its loop, and meanwhile does the run's loop work
    (the driver's ``_inline_next``). The hooks are called here, from Python (see
    :func:`call_hooks`); an async hook is awaited to its end on a loop of its own, on a thread
    of its own, since the run's loop is blocked. With ``one`` the call's value (its error
    raised); else every call's outcome, errors in place (a fail-fast group raises the first).
    Raises ``RuntimeError`` when the calls could only end once the loop runs again."""
    while True:
        done, a, kind, payload = run._inline_next(slots, tasks, group, one)
        if done:
            return a
        if kind is None:  # a wait went by: is the run or this task being cancelled?
            outer = AWAITING.get(run.key)
            if outer is not None and _cancelling(outer) and not run.finished:
                # What the awaiting task does once the loop runs (Ctrl-C under asyncio.run
                # cancels it): the run is cancelled, these calls with it.
                run.cancel()
            task = asyncio.current_task()
            if task is not None and _cancelling(task):
                run._inline_cancel(slots, tasks)
                raise asyncio.CancelledError()
            continue
        token = CURRENT.set(None)  # no task's context in a hook
        try:
            call_and_report(run, a, kind, payload, run_aside)
        finally:
            CURRENT.reset(token)


#: The task awaiting each run's end (by the run's ``key``, while it awaits): a sync action's call
#: that blocks the loop looks whether it is being cancelled (Ctrl-C under ``asyncio.run``).
AWAITING: dict[int, Any] = {}


def _cancelling(task: Any) -> bool:
    """Whether an asyncio task has been asked to cancel and has not seen it yet."""
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None:
        return bool(cancelling())
    return bool(getattr(task, "_must_cancel", False))


def run_aside(aw: Any) -> None:
    """Await ``aw`` to its end on an event loop of its own, on a thread of its own (an async
    hook while a sync action's call blocks the run's loop thread)."""
    box: list[BaseException] = []

    def go() -> None:
        try:
            run_awaitable(aw)
        except BaseException as exc:
            box.append(exc)

    t = threading.Thread(target=go, name="legato-hook", daemon=True)
    t.start()
    t.join()
    if box:
        raise box[0]


def evaluate(run: Any, task: int, when: Callable[[Any], Any], ctx: Any) -> None:
    """Call a step's ``when`` predicate with the step's context and report its truth, or the
    exception it raised, to the driver (the run's loop, or a blocking run's driving loop, calls
    this: never under the driver's Rust frames, see :func:`call_hooks`).

    Conditions are synchronous, as in every door: an awaitable the predicate returns is not
    awaited (it is closed) and fails the step with a ``TypeError`` saying so. A run that ended
    meanwhile (cancelled, timed out) no longer asks: the predicate is not called.
    """
    if run.finished:
        return
    try:
        r = when(ctx)
        if inspect.isawaitable(r):
            close = getattr(r, "close", None)
            if close is not None:
                close()  # never awaited: no "coroutine was never awaited" warning
            raise TypeError(
                f"the when condition of step {ctx.name!r} returned an awaitable: conditions are"
                " synchronous (compute the value in a step before it and read it from ctx.results)"
            )
        value = bool(r)
    except BaseException as exc:
        run._evaluated(task, False, exc)
    else:
        run._evaluated(task, value, None)


def drive(run: Any, hooks: dict[str, list[Callable[..., Any]]]) -> None:
    """The driving loop of a blocking run (a sync ``Flow.run()`` without an event loop): the
    driver waits and does its loop work in ``_drive_next``; the hooks are called here (see
    :func:`call_hooks`). Ctrl-C cancels the run; KeyboardInterrupt is raised at its end."""
    while True:
        try:
            item = run._drive_next()
            if item is None:
                break
            kind, payload = item
            if kind is None:  # a step's condition
                evaluate(run, *payload)
                continue
            call_and_report(run, hooks, kind, payload, run_awaitable)
        except BaseException as exc:  # Ctrl-C between the loop's steps: the run is cancelled
            run._interrupt(exc)
    run._drive_end()


def run_awaitable(aw: Any) -> None:
    """Await ``aw`` to its end on an event loop of its own (a hook of a run without a loop, a
    sync function that returned an awaitable)."""

    async def main() -> None:
        await aw

    asyncio.run(main())


def worker_loop() -> None:
    """A worker thread of the pool: the sync callable is called here, from Python."""
    from . import _legato

    take, done = _legato._worker_take, _legato._worker_done
    isawaitable = inspect.isawaitable
    job = take()
    while job is not None:
        fn, args, kwargs = job
        try:
            value = fn(*args) if kwargs is None else fn(*args, **kwargs)
            # `None` first: most sync bodies return it, and the check runs once a task.
            if value is not None and isawaitable(value):
                value = await_in_worker(value)
        except BaseException as exc:
            job = done(exc, True)
        else:
            job = done(value, False)


def await_in_worker(aw: Any) -> Any:
    """The value of an awaitable that a sync body returned (``lambda: upload("a")``, rule 13):
    awaited on the run's event loop, where the objects it uses live, while this worker waits
    (the pool does not count on it meanwhile); on a loop of its own when the run has none."""
    from . import _legato

    async def value() -> Any:
        return await aw

    loop = _legato._worker_loop()
    if loop is None or loop.is_closed():
        return asyncio.run(value())
    blocked = _legato._block_worker()
    _legato._worker_awaits_loop(True)
    try:
        return asyncio.run_coroutine_threadsafe(value(), loop).result()
    finally:
        _legato._worker_awaits_loop(False)
        if blocked:
            _legato._unblock_worker()


def utc(ts: float) -> datetime.datetime:
    """A UTC datetime from seconds since the epoch."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)


__all__ = [
    "CURRENT",
    "await_in_worker",
    "call_and_report",
    "call_hooks",
    "drive",
    "evaluate",
    "start_bodies",
    "EVENTS",
    "dispatch",
    "resume",
    "run_awaitable",
    "utc",
    "wait_inline",
    "when_quiet",
    "worker_loop",
]
