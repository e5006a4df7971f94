"""What Flow and Orchestrator share: run options, hooks, retry predicates, running a loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import sys
from typing import Any, Awaitable, Callable, Mapping, Optional, TypeVar, Union

from . import _legato
from ._runtime import AWAITING

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

HOOK_KINDS = (
    "process_begin",
    "task_ready",
    "task_begin",
    "task_retry",
    "task_success",
    "task_failure",
    "task_skip",
    "task_completion",
    "process_completion",
)

RetryIf = Union[type, "tuple[type, ...]", Callable[[BaseException], bool], None]


def check_run_options(
    max_parallel: Optional[int],
    fail_fast: bool,
    timeout: Optional[float],
    state: Any,
    executor: Any,
    max_depth: Optional[int] = None,
) -> tuple[Optional[int], bool, Optional[float], dict[str, Any], Any, int]:
    """Validates the run options shared by Flow and Orchestrator."""
    if not isinstance(fail_fast, bool):
        raise TypeError(f"fail_fast: expected a bool, got {type(fail_fast).__name__}")
    # Values are checked by the core's one validation (legato::policy, RunOptions::validate).
    max_parallel, timeout, max_depth = _legato.run_options(
        max_parallel=max_parallel, timeout=timeout, max_depth=max_depth
    )
    if state is None:
        state = {}
    elif not isinstance(state, dict):
        raise TypeError(f"state: expected a dict, got {type(state).__name__}")
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(f"executor: expected a concurrent.futures.Executor, got {type(executor).__name__}")
    return max_parallel, fail_fast, timeout, state, executor, max_depth


def check_rules(
    limits: Optional[Mapping[str, int]], priority: str, costs: Any
) -> tuple[dict[str, int], str, Any, Any]:
    """Validates the run options beyond the seeds shared by Flow and Orchestrator (``limits``,
    ``priority``, ``costs``) with the core's checks; returns them, and the native rules a run
    takes (None for the defaults)."""
    rules = _legato.run_rules(limits=limits, priority=priority, costs=costs)
    return (
        dict(limits) if limits is not None else {},
        priority if priority is not None else "fifo",
        costs,
        rules,
    )


def check_when(when: Any) -> None:
    """A ``when`` predicate: a sync callable that takes the step context."""
    if not callable(when):
        raise TypeError(
            f"when: expected a callable (a predicate of the step context), got {type(when).__name__}"
        )
    if is_async(when):
        raise TypeError(
            "when: conditions are synchronous, got an async def predicate"
            " (compute the value in a step before it and read it from ctx.results)"
        )
    try:
        sig = inspect.signature(when)
    except (TypeError, ValueError):  # a builtin without a signature: called as it is
        return
    try:
        sig.bind(None)
    except TypeError as e:
        raise TypeError(f"when: the predicate is called with the step context (one argument): {e}") from None


def retry_predicate(retry_if: Any) -> Optional[Callable[[BaseException], bool]]:
    """``retry_if`` as a predicate: an exception class, a tuple of them, or a callable."""
    if retry_if is None:
        return None
    if isinstance(retry_if, type):
        if not issubclass(retry_if, BaseException):
            raise TypeError(
                f"retry_if: expected an exception class, a tuple of them or a predicate, got the class {retry_if.__name__}"
            )
        cls = retry_if
        return lambda e: isinstance(e, cls)
    if isinstance(retry_if, tuple):
        if not all(isinstance(c, type) and issubclass(c, BaseException) for c in retry_if):
            raise TypeError("retry_if: a tuple must hold exception classes only")
        classes = retry_if
        return lambda e: isinstance(e, classes)
    if callable(retry_if):
        return retry_if  # type: ignore[no-any-return]
    raise TypeError(
        f"retry_if: expected an exception class, a tuple of them or a predicate, got {type(retry_if).__name__}"
    )


def check_callable(arg: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{arg}: expected a callable, got {type(fn).__name__}")


def is_async(fn: Any) -> bool:
    """Whether calling ``fn`` gives a coroutine (async def, also behind functools.partial)."""
    while hasattr(fn, "func") and not inspect.isfunction(fn):  # functools.partial
        fn = fn.func
    call = None if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__dict__.get("__call__")
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))


class Hooks:
    """The nine hooks, each keeping every registered function in order (sync or async).

    A run takes the hooks registered when it starts: one added during a run applies from the
    next run, whether or not its event already had one.
    """

    def __init__(self) -> None:
        self._hooks: dict[str, list[Callable[..., Any]]] = {k: [] for k in HOOK_KINDS}

    def _hooks_now(self) -> dict[str, list[Callable[..., Any]]]:
        """The hooks as a run takes them when it starts: one added during a run applies from
        the next run, whether or not its event already had one (as in the Node door)."""
        return {k: list(v) for k, v in self._hooks.items()}

    def _on(self, kind: str, fn: F) -> F:
        check_callable(f"on_{kind}", fn)
        self._hooks[kind].append(fn)
        return fn

    def on_process_begin(self, fn: F) -> F:
        """Call ``fn(event)`` when a run starts (``event.time``, ``event.context``)."""
        return self._on("process_begin", fn)

    def on_task_ready(self, fn: F) -> F:
        """Call ``fn(event)`` when a task is ready: its dependencies ended as its trigger rule
        asks (by default, all succeeded) (``event.name``)."""
        return self._on("task_ready", fn)

    def on_task_begin(self, fn: F) -> F:
        """Call ``fn(event)`` before each attempt (``name``, ``start_time``, ``attempt``, ``context``)."""
        return self._on("task_begin", fn)

    def on_task_retry(self, fn: F) -> F:
        """Call ``fn(event)`` when an attempt failed and another follows (``error``, ``delay``)."""
        return self._on("task_retry", fn)

    def on_task_success(self, fn: F) -> F:
        """Call ``fn(event)`` when a task succeeded (``name``, ``duration``, ``result``, ``context``)."""
        return self._on("task_success", fn)

    def on_task_failure(self, fn: F) -> F:
        """Call ``fn(event)`` when a task failed for good (``name``, ``duration``, ``error``, ``context``)."""
        return self._on("task_failure", fn)

    def on_task_skip(self, fn: F) -> F:
        """Call ``fn(event)`` for a task that will not run (``name``, ``reason``)."""
        return self._on("task_skip", fn)

    def on_task_completion(self, fn: F) -> F:
        """Call ``fn(event)`` when a task is finished (``name``, ``duration``, ``status``, ``error``, ``context``)."""
        return self._on("task_completion", fn)

    def on_process_completion(self, fn: F) -> F:
        """Call ``fn(event)`` when a run is finished, always (``total_duration``, ``report``, ``context``)."""
        return self._on("process_completion", fn)


def no_running_loop(what: str) -> None:
    """Refuses a blocking ``what()`` from a thread whose event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{what}() cannot be called from a running event loop; use 'await {what}_async()'")


def run_sync(factory: Callable[[], Awaitable[T]], what: str) -> T:
    """Runs a coroutine to its end on a new event loop, from sync code.

    Ctrl-C cancels the run (hooks still see process_completion), then KeyboardInterrupt
    propagates.
    """
    no_running_loop(what)
    # Inside a sync step, this worker waits for the run: the pool must not count on it.
    worker = _legato._block_worker()
    try:
        if sys.version_info >= (3, 11):
            with asyncio.Runner() as runner:
                return runner.run(_as_coro(factory))
        return asyncio.run(_as_coro(factory))  # pragma: no cover - Python < 3.11
    except KeyboardInterrupt as e:
        # Ctrl-C: the runner cancelled the run's task and raised KeyboardInterrupt while
        # handling that CancelledError; the cancel is how Ctrl-C stops the run, not a second
        # error: the traceback shows the KeyboardInterrupt alone.
        if isinstance(e.__context__, asyncio.CancelledError):
            e.__suppress_context__ = True
        raise
    finally:
        if worker:
            _legato._unblock_worker()


async def _as_coro(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


async def wait_done(run: Any, done: asyncio.Future[None]) -> None:
    """Awaits the end of a run; a cancel of the awaiting task cancels the run, which still ends
    (hooks see process_completion) before the cancel propagates."""
    AWAITING[run.key] = asyncio.current_task()
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        run.cancel()
        while not done.done():
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                continue
        raise
    finally:
        AWAITING.pop(run.key, None)


def flow_error(report: Any, title: Optional[str], cause: Optional[BaseException] = None) -> BaseException:
    """The FlowError for a report that is not ok; ``cause``: the exception of the hook whose
    failure stopped the run (its ``__cause__``). Its message is the core's, as every door words
    it: ``flow failed: <reason>`` for a flow, the reason alone without ``title`` (an
    Orchestrator's run error)."""
    reason = report.failure_reason or "not every task succeeded"
    err = _legato.FlowError(reason if title is None else f"flow failed: {reason}")
    err.report = report
    err.__cause__ = cause
    return err
